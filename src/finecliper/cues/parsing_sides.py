"""Left and right eyes and brows of a parsing map, decided by the face's own geometry.

A parsing model's "left" depends on its training set's convention (the subject's or the image's), which
its published labels do not always say; ours is the subject's (face_layout). So a model backend only
says *which* pixels are eye or brow (the EYE and BROW codes, outside the 11 classes) and `assign_sides`
gives each pixel its side: the side of the face's vertical mid-line, on the axis from the subject's
right eye to their left one, from the clip's landmarks.
"""

from __future__ import annotations

import numpy as np

from finecliper.face_layout import LEFT_EYE, PARSING_INDEX, RIGHT_EYE

# Codes of the model-side classes before the side is known; both are outside the 11 parsing classes.
EYE, BROW = 254, 253


def assign_sides(maps: np.ndarray, landmarks: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Turn EYE / BROW codes of (T, h, w) maps into left/right classes by the side of the face.

    landmarks: (T, 68, 2) in frame pixels; `scale` maps them to the maps' pixels.
    """
    out = maps.copy()
    h, w = maps.shape[1:]
    ys, xs = np.mgrid[0:h, 0:w] + 0.5  # pixel centres in continuous coordinates
    for t in range(len(maps)):
        eyes = (maps[t] == EYE) | (maps[t] == BROW)
        if not eyes.any():
            continue
        lm = landmarks[t].astype(np.float64) * scale
        right, left = lm[RIGHT_EYE].mean(0), lm[LEFT_EYE].mean(0)
        mid, axis = (right + left) / 2, left - right
        # Positive projection on the right-eye -> left-eye axis: the subject's left side of the face.
        on_left = ((xs - mid[0]) * axis[0] + (ys - mid[1]) * axis[1]) > 0
        for code, lname, rname in ((EYE, "left_eye", "right_eye"), (BROW, "left_brow", "right_brow")):
            sel = maps[t] == code
            out[t][sel & on_left] = PARSING_INDEX[lname]
            out[t][sel & ~on_left] = PARSING_INDEX[rname]
    return out
