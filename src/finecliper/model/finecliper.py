"""The FineCLIPER network: frozen CLIP towers with branch adapters, temporal fusion, PN head, descriptions.

Input is a batch dict:
    frames        (B, T, 3, H, W) float, CLIP-normalised
    parsing       (B, T, 3, H, W) rendered parsing maps   (when cues include "parsing")
    landmarks     (B, T, 3, H, W) rendered landmark images (when cues include "landmarks")
    descriptions  list of B strings or None               (when descriptions are enabled; optional)
    labels        (B,) class indices                      (optional: without them there is no PN loss)
Output is a dict of embeddings, per-class scores and loss terms (see `forward`).

Trainable: the adapters, the temporal-fusion transformer, the adaptive-weight gate, and the logit scale
if configured learnable. Everything else is frozen, and only trainable tensors reach the optimizer.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from finecliper.config.model import ModelConfig
from finecliper.errors import UserError
from finecliper.model.adapter import Adapter, bottleneck_width, inject_adapters
from finecliper.model.backbone import Backbone, load_backbone
from finecliper.model.description import AdaptiveWeight, alignment_loss, mix
from finecliper.model.gather import gather_rows, world_size
from finecliper.model.pn import pn_losses, pn_scores, pn_sentences
from finecliper.model.temporal import TemporalFusion


class FineCLIPER(nn.Module):
    """FineCLIPER around a frozen CLIP: branch adapters, temporal fusion, PN head, description branch.

    Built from a `ModelConfig` (branches, adapter widths and layers, fusion, PN templates, the weight w),
    the class names (whose PN sentences it embeds) and a loaded `Backbone` (default: the one `cfg` names,
    loaded strictly before any adapter goes in). Everything is frozen except the adapters, the fusion
    transformer, the adaptive-weight gate and, if configured, the logit scale: `trainable_state_dict()`
    is what a checkpoint holds. `forward(batch)` gives embeddings, PN scores and losses (module docstring).
    """

    def __init__(self, cfg: ModelConfig, class_names: list[str], backbone: Backbone | None = None,
                 zero_shot: bool = False):
        super().__init__()
        cfg.validate()
        if len(class_names) < 2:
            raise UserError(f"a classifier needs at least 2 classes, got {class_names}")
        self.cfg = cfg
        self.class_names = list(class_names)
        # The decision score: pos - neg once the PN adapters have trained; a zero-shot run's never do, so it
        # scores as model.zero_shot_score says (docs/design.md §3).
        self.score_kind = cfg.zero_shot_score if zero_shot else "pos_minus_neg"
        if backbone is None:
            backbone = load_backbone(cfg.backbone, cfg.weights, cfg.tokenizer)
        self.tokenizer = backbone.tokenizer
        self.clip = backbone.clip
        vision, text = self.clip.config.vision_config, self.clip.config.text_config
        self.image_size = vision.image_size
        self.context_length = text.max_position_embeddings
        dim = self.clip.config.projection_dim

        # Adapters go in after the CLIP weights are loaded (load_backbone), so loading stays strict.
        ratio = cfg.adapter_ratio
        self.image_branch = inject_adapters(
            self.clip.vision_model.encoder.layers, vision.hidden_size,
            {b: bottleneck_width(ratio[b], vision.hidden_size) for b in cfg.image_branches},
            cfg.image_adapter_layers, cfg.adapter_scale,
        )
        self.text_branch = inject_adapters(
            self.clip.text_model.encoder.layers, text.hidden_size,
            {b: bottleneck_width(ratio[b], text.hidden_size) for b in cfg.text_branches},
            cfg.text_adapter_layers, cfg.adapter_scale,
        )
        self.fusion = TemporalFusion(dim, cfg.num_frames, cfg.image_branches, cfg.fusion_heads, cfg.fusion_layers)
        self.weight_gate = AdaptiveWeight(dim) if cfg.descriptions and cfg.video_weight is None else None
        # τ is stored as its log, as CLIP does, so that a learnable scale stays positive.
        self.log_logit_scale = nn.Parameter(
            torch.tensor(float(cfg.logit_scale)).log(), requires_grad=cfg.learn_logit_scale
        )

        positive, negative = pn_sentences(class_names, cfg.positive_template, cfg.negative_template, cfg.negation)
        self.positive_sentences, self.negative_sentences = positive, negative
        self.register_buffer("pos_ids", self._tokenize(positive), persistent=False)
        self.register_buffer("neg_ids", self._tokenize(negative), persistent=False)
        self._pn_cache: tuple[torch.Tensor, torch.Tensor | None] | None = None

        self._freeze()
        if cfg.gradient_checkpointing is True:  # "auto" is decided on the device (training/memory.py)
            self.enable_gradient_checkpointing()

    # ----------------------------------------------------------------------------------- parameters

    def _freeze(self) -> None:
        """Freeze by module type: adapters and the listed heads train, everything else is frozen."""
        self.requires_grad_(False)
        for module in self.clip.modules():
            if isinstance(module, Adapter):
                module.requires_grad_(True)
        self.fusion.requires_grad_(True)
        if self.weight_gate is not None:
            self.weight_gate.requires_grad_(True)
        self.log_logit_scale.requires_grad_(self.cfg.learn_logit_scale)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the trainable tensors, by name: what a checkpoint stores."""
        return {k: v for k, v in self.named_parameters() if v.requires_grad}

    def count_parameters(self) -> tuple[int, int]:
        """(tunable, total) parameter counts."""
        total = sum(p.numel() for p in self.parameters())
        return sum(p.numel() for p in self.trainable_parameters()), total

    def enable_gradient_checkpointing(self) -> None:
        """Recompute the frozen towers' activations in backward; each tower re-activates its branch.

        Done the way transformers' own `_set_gradient_checkpointing` does it (4.35 to 5.x): every module
        of the tower with a `gradient_checkpointing` flag (the encoder, and the layers where they carry
        it) gets the flag and `_gradient_checkpointing_func`. The towers themselves are plain modules in
        transformers 4.x (no `gradient_checkpointing_enable`), and each needs its own `context_fn`.
        """
        for tower, selector in ((self.clip.vision_model, self.image_branch), (self.clip.text_model, self.text_branch)):
            func = partial(checkpoint, use_reentrant=False, context_fn=selector.checkpoint_contexts)
            flagged = [m for m in tower.modules() if hasattr(m, "gradient_checkpointing")]
            if not flagged:
                raise RuntimeError(f"{type(tower).__name__} has no gradient_checkpointing flag to set")
            for module in flagged:
                module._gradient_checkpointing_func = func
                module.gradient_checkpointing = True

    def train(self, mode: bool = True):
        self._pn_cache = None  # PN text embeddings change while their adapters train
        return super().train(mode)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self._pn_cache = None
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.log_logit_scale.exp()

    # ------------------------------------------------------------------------------------- encoders

    def _tokenize(self, texts: list[str]) -> torch.Tensor:
        # Padded at the end to the longest text, not to the context length: the text tower is causal and
        # pools at the end-of-text token, so padding after it changes nothing but the cost (PN sentences
        # are a dozen tokens of CLIP's 77), and needs no attention mask (with one, transformers checks the
        # mask on the host: a device sync in every step). split_special_tokens: a literal "<|endoftext|>" in
        # a description is text, not the token the tower pools at, which would silently cut the text there
        # (docs/design.md §3).
        return self.tokenizer(texts, padding="longest", truncation=True, max_length=self.context_length,
                              return_tensors="pt", split_special_tokens=True)["input_ids"]

    def encode_images(self, images: torch.Tensor, branch: str) -> torch.Tensor:
        """(N, 3, H, W) -> (N, D) projected CLIP image embeddings through `branch`'s adapters."""
        with self.image_branch.use(branch):
            pooled = self.clip.vision_model(pixel_values=images).pooler_output  # (N, width)
        return self.clip.visual_projection(pooled)  # (N, D)

    def encode_text(self, texts: list[str] | torch.Tensor, branch: str,
                    attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Strings (or token ids, with their attention mask when padded before the end) -> (N, D) projected
        CLIP text embeddings through `branch`'s adapters."""
        ids = texts if isinstance(texts, torch.Tensor) else self._tokenize(texts)
        device = self.clip.text_projection.weight.device
        # Non-blocking: a blocking copy would make the host wait for the queued image passes (docs/design.md §3).
        ids = ids.to(device, non_blocking=True)
        attention_mask = None if attention_mask is None else attention_mask.to(device, non_blocking=True)
        with self.text_branch.use(branch):
            pooled = self.clip.text_model(input_ids=ids, attention_mask=attention_mask).pooler_output
        return self.clip.text_projection(pooled)  # (N, D)

    def pn_embeddings(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Unit embeddings of the positive (C, D) and negative (C, D) sentences.

        Recomputed every training step (their adapters learn); computed once per evaluation.
        """
        if not self.training and self._pn_cache is not None:
            return self._pn_cache
        p = F.normalize(self.encode_text(self.pos_ids, "pos"), dim=-1)
        n = None
        if self.cfg.use_negative:
            n = F.normalize(self.encode_text(self.neg_ids, "neg"), dim=-1)
        if self.training:
            return p, n
        self._pn_cache = (p, n)
        return self._pn_cache

    # -------------------------------------------------------------------------------------- forward

    def _check_clip_tensor(self, name: str, x: torch.Tensor, like: torch.Tensor | None = None) -> None:
        expected = f"(B, {self.cfg.num_frames}, 3, {self.image_size}, {self.image_size})"
        if x.dim() != 5 or x.shape[2] != 3 or x.shape[3] != self.image_size or x.shape[4] != self.image_size:
            raise UserError(f"{name} must have shape {expected}, got {tuple(x.shape)}")
        if x.shape[1] != self.cfg.num_frames:
            raise UserError(f"{name} has {x.shape[1]} frames but the model takes {self.cfg.num_frames}")
        if like is not None and x.shape != like.shape:
            raise UserError(f"{name} has shape {tuple(x.shape)} but frames have {tuple(like.shape)}")

    def encode_clip(self, batch: dict) -> torch.Tensor:
        """The fused video representation v: (B, D), not normalised."""
        frames = batch.get("frames")
        if not isinstance(frames, torch.Tensor):
            raise UserError("the batch has no 'frames' tensor")
        self._check_clip_tensor("frames", frames)
        b, t = frames.shape[:2]
        tokens = {}
        for branch in self.cfg.image_branches:
            x = frames if branch == "video" else batch.get(branch)
            if x is None:
                raise UserError(f"this model uses {branch} cues but the batch has no {branch!r} images")
            self._check_clip_tensor(branch, x, like=frames)
            # All frames of all clips go through the shared tower at once: (B*T, 3, H, W).
            tokens[branch] = self.encode_images(x.flatten(0, 1), branch).view(b, t, -1)  # (B, T, D)
        return self.fusion(tokens)

    def _mix_descriptions(self, batch: dict, v: torch.Tensor, scale: torch.Tensor):
        """(w, z, d, alignment loss) of the batch's clips with descriptions mixed in; clips without one keep
        w = 1 and z = v exactly (d and the loss are None when no clip has one). In training under
        `torchrun` the loss is the global batch's (docs/design.md §3), computed on every process."""
        b = v.shape[0]
        weight = v.new_ones(b)
        texts = batch.get("descriptions") or [None] * b
        if len(texts) != b:
            raise UserError(f"the batch has {b} clips but {len(texts)} descriptions")
        # Decided on the host: no device tensor is read back (a sync) to choose the path.
        keep = [bool(t and t.strip()) for t in texts]
        global_batch = self.training and torch.is_grad_enabled() and world_size() > 1
        if not any(keep) and not global_batch:
            return weight, v, None, None
        # With the global batch every process runs the same graph, whatever its texts: gathering is a
        # collective in both passes, and DDP expects the same parameters used everywhere. A process without
        # any text encodes an empty placeholder that no clip uses (its gradients are exactly zero).
        present = [t for t, k in zip(texts, keep, strict=True) if k] or [""]
        d_present = F.normalize(self.encode_text(present, "desc"), dim=-1).to(v.dtype)
        # The rows come indexed by `collate` and moved with the batch (pinned, non-blocking); built here only
        # for a hand-made batch. Index ops instead of boolean-mask indexing (which syncs).
        rows = batch.get("description_rows")
        if rows is None:
            rows = torch.tensor([i for i, k in enumerate(keep) if k], dtype=torch.long)
        rows = rows.to(v.device, non_blocking=True)
        has = torch.zeros(b, dtype=torch.bool, device=v.device).index_fill_(0, rows, True)
        # A process without text puts its placeholder in row 0, which `has` leaves out.
        d = v.new_zeros(v.shape).index_copy(0, rows if any(keep) else rows.new_zeros(1), d_present)
        if self.weight_gate is not None:
            w = self.weight_gate(v, d).to(v.dtype)
        else:
            w = v.new_full((b,), float(self.cfg.video_weight))
        weight = torch.where(has, w, weight)
        z = torch.where(has[:, None], mix(v, d, weight), v)  # clips without text keep v exactly
        if global_batch:
            # One collective for both embeddings and the mask (a constant column: it gets no gradient).
            rows_all = gather_rows(torch.cat([v, d, has[:, None].to(v.dtype)], dim=1))
            dim = v.shape[1]
            loss = alignment_loss(rows_all[:, :dim], rows_all[:, dim:2 * dim], rows_all[:, -1] > 0.5, scale)
        else:
            loss = alignment_loss(v, d, has, scale)
        return weight, z, (d if any(keep) else torch.zeros_like(d)), loss

    def forward(self, batch: dict) -> dict[str, torch.Tensor | None]:
        """Returns:
        video (B, D) unit clip embedding v; description (B, D) unit description embedding d or None;
        weight (B,) the weight w of v; embedding (B, D) the unit embedding z used to classify;
        pos_sim, neg_sim (B, C) cosines to the PN sentences (neg_sim None without negatives);
        scores (B, C), by `score_kind`; and, when labels or descriptions allow, the PN terms (loss_pos and
        loss_neg, or loss_pn with model.pn_loss=joint), loss_align and loss.
        """
        v = F.normalize(self.encode_clip(batch), dim=-1)
        scale = self.logit_scale
        out: dict[str, torch.Tensor | None] = {"video": v, "description": None}
        weight, z, loss_align = v.new_ones(v.shape[0]), v, None
        if self.cfg.descriptions:
            weight, z, out["description"], loss_align = self._mix_descriptions(batch, v, scale)

        p, n = self.pn_embeddings()
        pos_sim = z @ p.to(z.dtype).t()  # (B, C)
        neg_sim = None if n is None else z @ n.to(z.dtype).t()  # (B, C)
        out.update(weight=weight, embedding=z, pos_sim=pos_sim, neg_sim=neg_sim,
                   scores=pn_scores(pos_sim, neg_sim, self.score_kind))

        labels = batch.get("labels")
        losses = []
        if labels is not None:
            labels = labels.to(v.device)
            terms = pn_losses(pos_sim, neg_sim, labels, scale, self.cfg.pn_loss)
            out.update(terms)
            losses += list(terms.values())
        if loss_align is not None:
            out["loss_align"] = loss_align
            losses.append(self.cfg.align_weight * loss_align)
        if losses:
            out["loss"] = torch.stack(losses).sum()
        return out
