"""The FineCLIPER network and its parts; `build_model` is the entry point."""

from __future__ import annotations

import torch

from finecliper.config.model import ModelConfig
from finecliper.model.backbone import load_backbone
from finecliper.model.finecliper import FineCLIPER

__all__ = ["FineCLIPER", "build_model"]


def build_model(cfg: ModelConfig, class_names: list[str], meta: bool = False,
                allow_torchscript: bool = True, zero_shot: bool = False) -> FineCLIPER:
    """Load the backbone of `cfg` (strictly, before any adapter), then build FineCLIPER around it.

    meta=True builds the whole network on PyTorch's meta device: exact parameter counts of real-size
    architectures in a fraction of a second, without memory or weights. `cfg` is validated by FineCLIPER.
    allow_torchscript=False: `cfg.weights` came from a file the user received, and a TorchScript archive
    there is refused (model/openai_clip.py).
    zero_shot=True: a model of a zero-shot run, which scores by `cfg.zero_shot_score`.
    """
    backbone = load_backbone(cfg.backbone, cfg.weights, cfg.tokenizer, meta=meta, allow_torchscript=allow_torchscript)
    if meta:
        with torch.device("meta"):
            return FineCLIPER(cfg, class_names, backbone, zero_shot)
    return FineCLIPER(cfg, class_names, backbone, zero_shot)
