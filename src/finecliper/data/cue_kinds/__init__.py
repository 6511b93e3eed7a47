"""Cue kinds: the middle-level cues the image tower reads, one module each, registered in `CUE_KINDS`.

`base.py` says what a kind owns; importing this package registers every built-in kind. The registry's order
is the order of the model's cue branches (`config.IMAGE_BRANCHES`), which datasets and batches follow.
"""

from finecliper.data.cue_kinds import parsing  # noqa: F401  isort: skip  (importing a kind registers it)
from finecliper.data.cue_kinds import landmarks  # noqa: F401  isort: skip
from finecliper.data.cue_kinds.base import CUE_KINDS, CueKind

__all__ = ["CUE_KINDS", "CueKind"]
