"""The renderers of the built-in cue kinds, importable by this module's old name.

Each cue kind renders itself (`data/cue_kinds/`: `CUE_KINDS.get(name).render`); cues/preview.py and the
demo's pretraining draw single renderings with these functions, imported from here.
"""

from finecliper.data.cue_kinds.landmarks import LANDMARK_COLOR, dot_radius, render_landmarks
from finecliper.data.cue_kinds.parsing import render_parsing

__all__ = ["LANDMARK_COLOR", "dot_radius", "render_landmarks", "render_parsing"]
