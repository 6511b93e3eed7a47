"""The frames of a user's clip that a prediction reads: only those the model samples.

A clip longer than the model's `num_frames` is cut down to the frames test-mode sampling picks
(`data.sampling`, the middle of each segment), decoded in one streaming pass and written losslessly (BMP)
to a temporary frame folder; cue extraction and the dataset then read that short clip, whose own test-mode
sampling takes every frame once, i.e. exactly the frames the whole clip's sampling takes. Before this, a
prediction tracked the face through, and held landmarks and parsing maps of, every frame: a 10-minute
128 px video peaked at 1.31 GB. Shorter clips, and clips that need no cues, are read in place as before.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from finecliper.data.sampling import sample_indices
from finecliper.data.video import read_clip, write_frames


@contextmanager
def sampled_clip(path: Path, length: int, num_frames: int, needs_cues: bool) -> Iterator[tuple[Path, int, bool]]:
    """(clip to read, its frame count, sparse: its frames are samples far apart in time) for `path`, a
    clip of `length` frames that the model reads `num_frames` of; a temporary folder lives while held."""
    if not needs_cues or length <= num_frames:
        yield path, length, False
        return
    frames = read_clip(path, sample_indices(length, num_frames, train=False))
    with frame_folder(frames, prefix="finecliper-sampled-") as folder:
        yield folder, len(frames), True


@contextmanager
def frame_folder(frames, prefix: str = "finecliper-clip-") -> Iterator[Path]:
    """A temporary frame folder holding `frames` ((T, H, W, 3) uint8 RGB) losslessly (BMP), so that frames in
    memory take exactly the path of a frame folder; it lives while held."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        folder = Path(tmp) / "frames"
        write_frames(folder, frames, ext="bmp")
        yield folder
