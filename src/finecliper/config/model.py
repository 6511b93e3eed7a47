"""The model's config: every field that decides the FineCLIPER network and its losses.

Every choice the paper leaves open is a field here, so a user can change it; the comment beside each
field says whether the paper fixes it ([PAPER]) or we chose it ([OURS]) (docs/design.md §3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from finecliper.errors import UserError

# Branch names of the two shared frozen towers (docs/design.md §3). The image tower carries one adapter set
# per visual stream; the text tower one per kind of sentence.
IMAGE_BRANCHES = ("video", "parsing", "landmarks")
TEXT_BRANCHES = ("pos", "neg", "desc")
CUE_BRANCHES = ("parsing", "landmarks")


def _default_adapter_ratio() -> dict[str, float]:
    # [OURS] Bottleneck width as a fraction of the tower's width, per branch; 0 disables that branch's
    # adapters (the "no video adapter" and "no text adapter" ablations). The frame ratio 0.25 is AIM's;
    # the others are chosen so that the four ViT-B/16 presets land on the paper's 13 / 19 / 14 / 20 M
    # tunable parameters (`finecliper params` prints the counts).
    return {"video": 0.25, "parsing": 0.1, "landmarks": 0.1, "pos": 0.125, "neg": 0.125, "desc": 0.0625}


@dataclass
class ModelConfig:
    """Everything that decides the FineCLIPER network and its losses."""

    # Architecture preset of the frozen CLIP: "ViT-B/16" [PAPER], "ViT-B/32", "ViT-L/14", "tiny" (tests) or
    # "small" (the synthetic demo's, which `finecliper demo` pretrains).
    backbone: str = "ViT-B/16"
    # Local CLIP weights: a Hugging Face CLIP folder or an OpenAI CLIP .pt file. None: random weights,
    # with a warning (only useful for tests and parameter counts).
    weights: str | None = None
    # Folder holding the tokenizer; None: the weights folder (or the .pt file's folder). Random-weight
    # models use the built-in byte-level tokenizer.
    tokenizer: str | None = None
    # Frames per clip [PAPER: 16].
    num_frames: int = 16
    # Middle-level cue branches on the image tower: any of "parsing", "landmarks" [PAPER: both, for *].
    cues: list[str] = field(default_factory=list)
    # High-level branch: refined fine-grained descriptions through the text tower [PAPER: †].
    descriptions: bool = False
    adapter_ratio: dict[str, float] = field(default_factory=_default_adapter_ratio)
    # Which encoder layers carry adapters; None means every layer [OURS].
    image_adapter_layers: list[int] | None = None
    text_adapter_layers: list[int] | None = None
    # Scale s of the adapter parallel to the MLP [PAPER: 0.5; 0.3 and 0.7 were worse].
    adapter_scale: float = 0.5
    # PN descriptors [PAPER]: "A person with an expression of {label}" and its negation with "no"
    # ("no" beat "less" in the paper's ablation).
    positive_template: str = "A person with an expression of {label}"
    negative_template: str = "A person with an expression of {negation} {label}"
    negation: str = "no"
    # False drops the negative sentences and their loss term (positive-only descriptors).
    use_negative: bool = True
    # Temporal-fusion transformer over the frame tokens of every enabled image branch [OURS: 1 layer, 8 heads].
    fusion_layers: int = 1
    fusion_heads: int = 8
    # Weight w of the video features against the description features: None learns it per sample
    # [PAPER: adaptive beat every fixed w]; a number in [0, 1] fixes it (the ablation).
    video_weight: float | None = None
    # Weight λ of the video-description alignment loss [OURS].
    align_weight: float = 1.0
    # τ of the PN loss [OURS: CLIP's logit scale, 100]; learn_logit_scale makes it a trainable head.
    logit_scale: float = 100.0
    learn_logit_scale: bool = False
    # Recompute activations in the backward pass of the frozen towers to save memory: true, false, or "auto"
    # (on when the estimated activation memory of a training step does not fit the device's free memory;
    # training/memory.py decides once the model is on its device, and logs why).
    gradient_checkpointing: bool | str = False

    def validate(self) -> None:
        """Check values that types alone cannot; raise UserError with one sentence."""
        unknown = [c for c in self.cues if c not in CUE_BRANCHES]
        if unknown:
            raise UserError(f"unknown cue branch {unknown[0]!r}; choose from {', '.join(CUE_BRANCHES)}")
        if len(set(self.cues)) != len(self.cues):
            raise UserError(f"cues lists a branch twice: {self.cues}")
        extra = sorted(set(self.adapter_ratio) - set(IMAGE_BRANCHES + TEXT_BRANCHES))
        if extra:
            raise UserError(
                f"adapter_ratio names unknown branch {extra[0]!r}; branches are "
                f"{', '.join(IMAGE_BRANCHES + TEXT_BRANCHES)}"
            )
        missing = [b for b in IMAGE_BRANCHES + TEXT_BRANCHES if b not in self.adapter_ratio]
        if missing:
            raise UserError(f"adapter_ratio has no entry for branch {missing[0]!r}")
        for name, ratio in self.adapter_ratio.items():
            if ratio < 0:
                raise UserError(f"adapter_ratio.{name} must be >= 0 (0 disables that branch's adapters), got {ratio}")
        if self.num_frames < 1:
            raise UserError(f"num_frames must be at least 1, got {self.num_frames}")
        for name in ("fusion_layers", "fusion_heads"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.video_weight is not None and not 0.0 <= self.video_weight <= 1.0:
            raise UserError(f"video_weight must be in [0, 1] or null (adaptive), got {self.video_weight}")
        if "{label}" not in self.positive_template or "{label}" not in self.negative_template:
            raise UserError("positive_template and negative_template must both contain '{label}'")
        if isinstance(self.gradient_checkpointing, str) and self.gradient_checkpointing != "auto":
            raise UserError(f"gradient_checkpointing must be true, false or auto, got {self.gradient_checkpointing!r}")
        if self.logit_scale <= 0:
            raise UserError(f"logit_scale must be positive, got {self.logit_scale}")

    @property
    def image_branches(self) -> list[str]:
        """Enabled image branches, frames first."""
        return ["video", *[b for b in CUE_BRANCHES if b in self.cues]]

    @property
    def text_branches(self) -> list[str]:
        """Enabled text branches."""
        return ["pos"] + (["neg"] if self.use_negative else []) + (["desc"] if self.descriptions else [])
