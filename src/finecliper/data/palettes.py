"""The colours the cue renderings are drawn in (`data.palette`), one registry entry per palette.

[PAPER] The paper's figures show FaceXFormer's renderings: the parsing map as FaceXFormer's colour mask and
the 68 landmarks as yellow (255, 255, 0) dots. `facexformer`, the default, is that: the colour list of
FaceXFormer's public `inference.py` (`visualize_mask`, RGB), whose classes are LaPa's 11 in LaPa's order,
the order of `face_layout.PARSING_CLASSES`, and the dot colour of its `visualize_landmarks` call.
`legacy` [OURS] is the palette this package used before (tan skin, brown hair, green dots): checkpoints
recorded without a `data.palette` were trained on it, and `inference.checkpoint` reads them with it.
A model must see its renderings in the palette it was trained on: the choice is part of the run's config.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finecliper.face_layout import NUM_PARSING_CLASSES
from finecliper.registry import Registry

DEFAULT_PALETTE = "facexformer"
LEGACY_PALETTE = "legacy"  # what checkpoints without a recorded palette were trained on


@dataclass(frozen=True, eq=False)
class Palette:
    name: str
    parsing: np.ndarray  # (NUM_PARSING_CLASSES, 3) uint8 RGB, one row per face_layout.PARSING_CLASSES entry
    landmarks: tuple[int, int, int]  # RGB of the landmark dots

    def __post_init__(self) -> None:
        if self.parsing.shape != (NUM_PARSING_CLASSES, 3) or self.parsing.dtype != np.uint8:
            raise ValueError(f"palette {self.name}: parsing colours must be ({NUM_PARSING_CLASSES}, 3) uint8")


PALETTES: Registry[Palette] = Registry("palette")


def _add(name: str, parsing: list[tuple[int, int, int]], landmarks: tuple[int, int, int]) -> None:
    PALETTES.add(name, Palette(name, np.array(parsing, dtype=np.uint8), landmarks))


_add("facexformer", [
    (0, 0, 0),  # background
    (0, 153, 255),  # skin
    (102, 255, 153),  # left brow
    (0, 204, 153),  # right brow
    (255, 255, 102),  # left eye
    (255, 255, 204),  # right eye
    (255, 153, 0),  # nose
    (255, 102, 255),  # upper lip
    (102, 0, 51),  # inner mouth
    (255, 204, 255),  # lower lip
    (255, 0, 102),  # hair
], landmarks=(255, 255, 0))

_add("legacy", [
    (0, 0, 0),  # background
    (204, 153, 102),  # skin
    (255, 0, 0),  # left brow
    (0, 255, 0),  # right brow
    (0, 0, 255),  # left eye
    (255, 255, 0),  # right eye
    (255, 0, 255),  # nose
    (0, 255, 255),  # upper lip
    (128, 0, 128),  # inner mouth
    (255, 128, 0),  # lower lip
    (90, 60, 30),  # hair
], landmarks=(0, 255, 0))


def get_palette(name: str | Palette) -> Palette:
    """The palette called `name` (a Palette is returned as it is); UserError listing the known ones."""
    return name if isinstance(name, Palette) else PALETTES.get(name)
