"""Colour jitter of a clip's frames [OURS, docs/design.md §4]: brightness, contrast, saturation and hue.

Frames only: cue renderings keep their fixed colours. One set of factors per clip, so the clip does not
flicker; applied with probability `jitter_p`. All randomness comes from the `numpy.random.Generator` passed in.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from finecliper.config.experiment import AugmentConfig

# RGB <-> YIQ: a hue rotation is a rotation of the (I, Q) plane; cheaper than a round trip through HSV.
_RGB2YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=np.float32)
_YIQ2RGB = np.linalg.inv(_RGB2YIQ).astype(np.float32)
_GRAY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def color_jitter(frames: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation and hue jitter with one set of factors for the whole clip.

    frames (T, S, S, 3) uint8 -> (T, S, S, 3) uint8. With probability 1 - jitter_p the clip is returned
    unchanged (the draws are still made, so later draws do not depend on the outcome).
    """
    apply = rng.random() < cfg.jitter_p
    b = rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
    c = rng.uniform(1 - cfg.contrast, 1 + cfg.contrast)
    s = rng.uniform(1 - cfg.saturation, 1 + cfg.saturation)
    h = rng.uniform(-cfg.hue, cfg.hue)
    if not apply:
        return frames
    # One 3x3 colour matrix for saturation, hue and brightness; contrast then blends each frame towards
    # its mean grey (as torchvision does per image), which folds into the same affine map per frame.
    m = _colour_matrix(b, s, h)
    out = np.empty_like(frames)
    affine = np.empty((3, 4), dtype=np.float32)
    affine[:, :3] = c * m
    for i in range(frames.shape[0]):
        mean_rgb = np.asarray(cv2.mean(frames[i])[:3], dtype=np.float32)
        grey = float(_GRAY @ (m @ mean_rgb))  # mean grey of the frame after the colour matrix
        affine[:, 3] = (1 - c) * grey
        cv2.transform(frames[i], affine, dst=out[i])  # rounds and saturates to uint8
    return out


def _colour_matrix(brightness: float, saturation: float, hue: float) -> np.ndarray:
    """The 3x3 RGB matrix of a hue rotation, then a saturation blend towards grey, then a brightness scale."""
    angle = 2 * math.pi * hue
    rot = np.array([[1, 0, 0], [0, math.cos(angle), -math.sin(angle)], [0, math.sin(angle), math.cos(angle)]],
                   dtype=np.float32)
    hue_m = _YIQ2RGB @ rot @ _RGB2YIQ
    sat_m = saturation * np.eye(3, dtype=np.float32) + (1 - saturation) * np.outer(np.ones(3, np.float32), _GRAY)
    return (sat_m @ hue_m) * brightness
