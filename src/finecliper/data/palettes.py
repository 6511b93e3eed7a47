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

from finecliper.face_layout import NUM_PARSING_CLASSES, PARSING_CLASSES
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


# The palettes in the column order of the table below, each with its landmark dot colour (RGB).
_LANDMARK_COLOURS = {DEFAULT_PALETTE: (255, 255, 0), LEGACY_PALETTE: (0, 255, 0)}
# A parsing class's colour in each palette, side by side; rows are looked up by class name, so every palette
# follows `face_layout.PARSING_CLASSES`'s order whatever order the table is written in.
_PARSING_COLOURS: dict[str, tuple[tuple[int, int, int], ...]] = {
    # class: (facexformer, legacy)
    "background": ((0, 0, 0), (0, 0, 0)),
    "skin": ((0, 153, 255), (204, 153, 102)),
    "left_brow": ((102, 255, 153), (255, 0, 0)),
    "right_brow": ((0, 204, 153), (0, 255, 0)),
    "left_eye": ((255, 255, 102), (0, 0, 255)),
    "right_eye": ((255, 255, 204), (255, 255, 0)),
    "nose": ((255, 153, 0), (255, 0, 255)),
    "upper_lip": ((255, 102, 255), (0, 255, 255)),
    "inner_mouth": ((102, 0, 51), (128, 0, 128)),
    "lower_lip": ((255, 204, 255), (255, 128, 0)),
    "hair": ((255, 0, 102), (90, 60, 30)),
}


def _register_palettes() -> None:
    for column, (name, dots) in enumerate(_LANDMARK_COLOURS.items()):
        parsing = np.array([_PARSING_COLOURS[c][column] for c in PARSING_CLASSES], dtype=np.uint8)
        PALETTES.add(name, Palette(name, parsing, dots))


_register_palettes()


def get_palette(name: str | Palette) -> Palette:
    """The palette called `name` (a Palette is returned as it is); UserError listing the known ones."""
    return name if isinstance(name, Palette) else PALETTES.get(name)
