"""Test media: real face photos shipped inside installed packages, and writers of tiny clips.

Frame folders are written with PIL, videos with PyAV (H.264 in mp4), so tests read the same formats the
datasets ship.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo (Eileen Collins): (512, 512, 3) uint8 RGB, one frontal face."""
    from skimage import data

    return data.astronaut()


def grace_hopper() -> np.ndarray:
    """matplotlib's Grace Hopper sample photo: (600, 512, 3) uint8 RGB, one frontal face."""
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
        return np.asarray(Image.open(fh).convert("RGB"))


def cameraman() -> np.ndarray:
    """scikit-image's cameraman photo as (512, 512, 3) uint8 RGB: one real face in near profile, looking down."""
    from skimage import data

    return np.repeat(data.camera()[..., None], 3, axis=2)


def non_face_photos() -> dict:
    """Photos without a face that ship with scikit-image, by name -> (H, W, 3) uint8 RGB. MediaPipe's face
    mesh fires on the cat and on the motorcycle's front in some frames of a pan; on coffee and rocket in none."""
    from skimage import data

    return {"cat": data.chelsea(), "motorcycle": data.stereo_motorcycle()[0], "coffee": data.coffee(),
            "rocket": data.rocket()}


def write_frames(folder: str | Path, frames: np.ndarray, ext: str = "jpg", start: int = 1) -> list[Path]:
    """Write (N, H, W, 3) uint8 frames as numbered images (`00001.jpg`, ...) as the folder `folder` (the
    package's own writer, PIL's default JPEG quality)."""
    from finecliper.data.video import write_frames as write

    return write(folder, frames, ext=ext, start=start)


def write_video(path: str | Path, frames: np.ndarray, fps: int = 25, faststart: bool = False) -> Path:
    """Write (N, H, W, 3) uint8 frames (H, W even) as an H.264 mp4 with PyAV (the package's own writer)."""
    from finecliper.data.video import write_video as write

    return write(path, frames, fps=fps, faststart=faststart)


def numbered_frames(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) uint8 frames whose mean brightness encodes the frame index (for order checks)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 20, size=(n, size, size, 3))
    levels = np.linspace(30, 220, n).round().astype(int)[:, None, None, None]
    return np.clip(base + levels, 0, 255).astype(np.uint8)
