"""The model's config: every field that decides the FineCLIPER network and its losses.

Every choice the paper leaves open is a field here, so a user can change it; the comment beside each
field says whether the paper fixes it ([PAPER]) or we chose it ([OURS]) (docs/design.md §3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from finecliper.config.ranges import AT_LEAST_1, NON_NEGATIVE, POSITIVE, PROBABILITY
from finecliper.config.strict import check_ranges
from finecliper.errors import UserError

# Branch names of the two shared frozen towers (docs/design.md §3). The image tower carries one adapter set
# per visual stream; the text tower one per kind of sentence.
IMAGE_BRANCHES = ("video", "parsing", "landmarks")
TEXT_BRANCHES = ("pos", "neg", "desc")
CUE_BRANCHES = ("parsing", "landmarks")
# Forms of the PN loss and the class scores (model/pn.py, which uses the same names).
PN_LOSSES = ("separate", "joint")
SCORES = ("pos_minus_neg", "pos")


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
    num_frames: Annotated[int, AT_LEAST_1] = 16
    # Middle-level cue branches on the image tower: any of "parsing", "landmarks" [PAPER: both, for *].
    cues: list[str] = field(default_factory=list)
    # High-level branch: refined fine-grained descriptions through the text tower [PAPER: †].
    descriptions: bool = False
    adapter_ratio: dict[str, Annotated[float, NON_NEGATIVE]] = field(default_factory=_default_adapter_ratio)
    # Which encoder layers carry adapters; None means every layer [OURS].
    image_adapter_layers: list[Annotated[int, NON_NEGATIVE]] | None = None
    text_adapter_layers: list[Annotated[int, NON_NEGATIVE]] | None = None
    # Scale s of the adapter parallel to the MLP [PAPER: 0.5; 0.3 and 0.7 were worse].
    adapter_scale: Annotated[float, NON_NEGATIVE] = 0.5
    # PN descriptors [PAPER]: "A person with an expression of {label}" and its negation with "no"
    # ("no" beat "less" in the paper's ablation).
    positive_template: str = "A person with an expression of {label}"
    negative_template: str = "A person with an expression of {negation} {label}"
    negation: str = "no"
    # False drops the negative sentences and their loss term (positive-only descriptors).
    use_negative: bool = True
    # Form of the PN loss [OURS: the paper does not write it down] (model/pn.py): "separate" =
    # CE(τ·pos) + CE(-τ·neg); "joint" = CE(τ·(pos - neg)), the decision score itself. Chosen on
    # `finecliper demo --ablation --ablation-rows pn-loss` over seeds 0, 1, 2 (docs/design.md §3): separate
    # 91.07 / 82.74 / 79.17 UAR (mean 84.33), joint 91.67 / 71.43 / 82.14 (mean 81.75; seed 1 lost sadness).
    pn_loss: str = "separate"
    # Decision score of a zero-shot run, whose PN adapters never train [OURS] (model/pn.py): "pos_minus_neg"
    # (the supervised score) or "pos" (positive sentences alone, as plain CLIP zero-shot scores). Chosen on the
    # demo's zero-shot rows, seeds 0, 1, 2: pos 30.36 / 26.79 / 13.69 UAR, pos - neg 27.98 / 25.00 / 13.69
    # (docs/design.md §3). Evaluations report both scores either way.
    zero_shot_score: str = "pos"
    # Temporal-fusion transformer over the frame tokens of every enabled image branch [OURS: 1 layer, 8 heads].
    fusion_layers: Annotated[int, AT_LEAST_1] = 1
    fusion_heads: Annotated[int, AT_LEAST_1] = 8
    # Weight w of the video features against the description features: None learns it per sample
    # [PAPER: adaptive beat every fixed w]; a number in [0, 1] fixes it (the ablation).
    video_weight: Annotated[float, PROBABILITY] | None = None
    # Weight λ of the video-description alignment loss [OURS].
    align_weight: Annotated[float, NON_NEGATIVE] = 1.0
    # τ of the PN loss [OURS: CLIP's logit scale, 100]; learn_logit_scale makes it a trainable head.
    logit_scale: Annotated[float, POSITIVE] = 100.0
    learn_logit_scale: bool = False
    # Recompute activations in the backward pass of the frozen towers to save memory: true, false, or "auto"
    # (on when the estimated activation memory of a training step does not fit the device's free memory;
    # training/memory.py decides once the model is on its device, and logs why).
    gradient_checkpointing: bool | str = False

    def validate(self) -> None:
        """Check values that types alone cannot; raise UserError with one sentence."""
        check_ranges(self, "model")  # every numeric field against the range on its annotation
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
        if "{label}" not in self.positive_template or "{label}" not in self.negative_template:
            raise UserError("positive_template and negative_template must both contain '{label}'")
        if self.pn_loss not in PN_LOSSES:
            raise UserError(f"pn_loss must be one of {', '.join(PN_LOSSES)}, got {self.pn_loss!r}")
        if self.zero_shot_score not in SCORES:
            raise UserError(f"zero_shot_score must be one of {', '.join(SCORES)}, got {self.zero_shot_score!r}")
        if isinstance(self.gradient_checkpointing, str) and self.gradient_checkpointing != "auto":
            raise UserError(f"gradient_checkpointing must be true, false or auto, got {self.gradient_checkpointing!r}")

    @property
    def image_branches(self) -> list[str]:
        """Enabled image branches, frames first."""
        return ["video", *[b for b in CUE_BRANCHES if b in self.cues]]

    @property
    def text_branches(self) -> list[str]:
        """Enabled text branches."""
        return ["pos"] + (["neg"] if self.use_negative else []) + (["desc"] if self.descriptions else [])
