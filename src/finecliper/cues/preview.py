"""`finecliper cues --preview CLIP_ID`: a PNG strip to see with one's own eyes that a clip's cues are right.

A few evenly spaced frames of the clip, one column each, in three rows: the frame, the landmarks drawn
on it and the parsing map, rendered by the model's own renderers (the cue kinds' `render`, `finecliper.data.cue_kinds`) so the
preview shows what the model will see. Clips that were cropped to the face (raw videos) are shown on
their face crop; each column is titled with its frame index, and frames without a detected face (points
interpolated from neighbours, not drawn by the renderer) are marked "no face". A caption (the clip's
description, in the demo) can be printed under the strip.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from finecliper import atomic
from finecliper.cues.tracks import spread_indices
from finecliper.data.cue_kinds.landmarks import render_landmarks
from finecliper.data.cue_kinds.parsing import render_parsing
from finecliper.data.cue_store import ClipCues
from finecliper.data.images import crop_square as crop
from finecliper.data.video import read_clip

PANEL = 224  # panel height in pixels: the model's resolution
GAP = 4


def _panels(frame: np.ndarray, parsing: np.ndarray, landmarks: np.ndarray, cues: ClipCues, t: int):
    """(frame, parsing) panels of one frame and the landmarks in panel pixels."""
    h, w = cues.frame_size
    mh, mw = parsing.shape
    sx, sy = mw / w, mh / h
    if cues.boxes is not None:
        x0, y0, side = (int(v) for v in cues.boxes[t])
        region = (x0, y0, side, side)
        image = crop(frame, cues.boxes[t])
        mbox = np.array([round(x0 * sx), round(y0 * sy), max(1, round(side * sx))])
        pmap = crop(parsing, mbox)
    else:
        region = (0, 0, w, h)
        image, pmap = frame, parsing
    pw = max(1, round(PANEL * region[2] / region[3]))
    image = cv2.resize(image, (pw, PANEL), interpolation=cv2.INTER_AREA)
    pmap = cv2.resize(pmap, (pw, PANEL), interpolation=cv2.INTER_NEAREST_EXACT)
    points = (landmarks - np.array(region[:2], dtype=np.float32)) * np.float32(pw / region[2])
    return image, pmap, points


def make_preview(frames: np.ndarray, cues: ClipCues, indices: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 strip for frames (K, H, W, 3) at `indices` of a clip with cues `cues`."""
    columns = []
    for frame, t in zip(frames, indices, strict=True):
        image, pmap, points = _panels(frame, cues.parsing[t], cues.landmarks[t], cues, int(t))
        dots = render_landmarks(image[None], points[None], cues.valid[t : t + 1])[0]
        colours = render_parsing(pmap[None])[0]
        title = np.full((18, image.shape[1], 3), 255, dtype=np.uint8)
        label = Image.fromarray(title)
        ImageDraw.Draw(label).text((3, 3), f"frame {int(t)}" + ("" if cues.valid[t] else "  no face"),
                                   fill=(0, 0, 0) if cues.valid[t] else (200, 0, 0))
        gap = np.full((GAP, image.shape[1], 3), 255, dtype=np.uint8)
        columns.append(np.concatenate([np.asarray(label), image, gap, dots, gap, colours]))
    height = max(c.shape[0] for c in columns)
    sep = np.full((height, GAP, 3), 255, dtype=np.uint8)
    parts = []
    for c in columns:
        parts += [c, sep]
    return np.concatenate(parts[:-1], axis=1)


def caption_band(text: str, width: int, line_height: int = 14) -> np.ndarray:
    """(h, width, 3) uint8 white band with `text` wrapped onto it in PIL's default font."""
    lines = textwrap.wrap(text, width=max(10, (width - 6) // 6)) or [""]
    band = Image.new("RGB", (width, line_height * len(lines) + 8), (255, 255, 255))
    draw = ImageDraw.Draw(band)
    for i, line in enumerate(lines):
        draw.text((3, 4 + i * line_height), line, fill=(0, 0, 0))
    return np.asarray(band)


def write_preview(record, store, path: str | Path, num_frames: int = 4, caption: str | None = None) -> Path:
    """Write the preview strip of `record` (cues from `store`) as a PNG at `path`, with `caption` under it."""
    cues = store.load(record.id)
    indices = spread_indices(cues.num_frames, num_frames)
    frames = read_clip(record.full_path, indices)
    strip = make_preview(frames, cues, indices)
    if caption:
        strip = np.concatenate([strip, caption_band(caption, strip.shape[1])])
    path = Path(path)
    with atomic.atomic_path(path) as tmp:
        Image.fromarray(strip).save(tmp, format="PNG")
    return path
