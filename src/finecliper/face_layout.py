"""Face layouts shared by cue extraction, transforms and rendering: 68 landmarks and 11 parsing classes.

Landmarks follow the iBUG 300-W 68-point layout: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47,
mouth 48-67. "Left" and "right" are always the subject's: in an upright frontal image the subject's
right eye (points 36-41) is on the image's left. Parsing classes are FaceXFormer's 11 [PAPER]
(LaPa's, in LaPa's order); the colours they are drawn in are `data/palettes.py`'s.
A horizontal flip mirrors the image, so it must also swap left and right points and classes.
"""

from __future__ import annotations

import numpy as np

NUM_LANDMARKS = 68

# Index groups of the 68-point layout.
JAW = list(range(0, 17))
RIGHT_BROW = list(range(17, 22))
LEFT_BROW = list(range(22, 27))
NOSE_BRIDGE = list(range(27, 31))
NOSE_BOTTOM = list(range(31, 36))
RIGHT_EYE = list(range(36, 42))
LEFT_EYE = list(range(42, 48))
OUTER_LIPS = list(range(48, 60))


def _mirror_pairs() -> list[tuple[int, int]]:
    pairs = [(i, 16 - i) for i in range(8)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows
    pairs += [(31, 35), (32, 34)]  # nostrils
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes, corner to corner
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lips
    pairs += [(60, 64), (61, 63), (65, 67)]  # inner lips
    return pairs


def _flip_permutation() -> np.ndarray:
    perm = np.arange(NUM_LANDMARKS)
    for a, b in _mirror_pairs():
        perm[a], perm[b] = b, a
    return perm


# After mirroring the coordinates, point i of the flipped face is point LANDMARK_FLIP[i] of the original.
LANDMARK_FLIP = _flip_permutation()

PARSING_CLASSES = (
    "background", "skin", "left_brow", "right_brow", "left_eye", "right_eye",
    "nose", "upper_lip", "inner_mouth", "lower_lip", "hair",
)
NUM_PARSING_CLASSES = len(PARSING_CLASSES)
PARSING_INDEX = {name: i for i, name in enumerate(PARSING_CLASSES)}


def _parsing_flip() -> np.ndarray:
    table = np.arange(NUM_PARSING_CLASSES, dtype=np.uint8)
    for a, b in (("left_brow", "right_brow"), ("left_eye", "right_eye")):
        table[PARSING_INDEX[a]], table[PARSING_INDEX[b]] = PARSING_INDEX[b], PARSING_INDEX[a]
    return table


# Class lookup table applied to a mirrored parsing map.
PARSING_FLIP = _parsing_flip()
