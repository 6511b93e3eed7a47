"""`train.compile`: `torch.compile` of the frozen CLIP towers (docs/design.md §3).

Each tower is compiled in place (`nn.Module.compile`), so parameter names, `trainable_state_dict()` and
checkpoints stay those of the eager model. The adapters read which branch is active from the tower's
`BranchSelector`; the compiler guards on it and keeps one graph per branch (at most three per tower).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def compile_towers(model, **options) -> None:
    """Compile `model.clip`'s image and text towers in place; `options` go to `torch.compile`."""
    for tower in (model.clip.vision_model, model.clip.text_model):
        tower.compile(**options)
    log.info("the image and text towers will be compiled on their first pass (torch.compile%s)",
             f" {options}" if options else "")
