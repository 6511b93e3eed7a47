"""Frame sampling: which frame indices of a clip the model sees [PAPER: 16 frames; OURS: TSN].

The clip's `length` frames are cut into `num_segments` equal segments; training takes one random frame
per segment (from the caller's generator, so runs are reproducible and workers independent), testing
the middle frame of each. Clips shorter than `num_segments` frames repeat frames deterministically
(each frame about num_segments / length times, in order), in both modes. The result is always
`num_segments` int64 indices, in range and non-decreasing, so cues of exactly those frames can be
loaded and videos decoded in one forward pass.
"""

from __future__ import annotations

import numpy as np

from finecliper.errors import UserError


def sample_indices(
    length: int,
    num_segments: int = 16,
    train: bool = False,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """`num_segments` frame indices into a clip of `length` frames: (num_segments,) int64, non-decreasing."""
    length = int(length)
    if length < 1:
        raise UserError(f"cannot sample frames from a clip of {length} frames")
    if num_segments < 1:
        raise UserError(f"the number of segments must be at least 1, got {num_segments}")
    # Frame i covers the time interval [i, i + 1); segment k covers [k, k + 1) * length / num_segments.
    # A sample is a time point inside the segment and its frame is floor(time): time points increase
    # with k, so indices are non-decreasing, and lengths that are not multiples spread evenly.
    seg = np.arange(num_segments, dtype=np.float64)
    width = length / num_segments
    if train and length >= num_segments:
        if rng is None:
            raise UserError("training-mode sampling needs a random generator (rng)")
        offset = rng.random(num_segments)  # one uniform draw per segment
    else:
        # Test mode, and every clip shorter than num_segments (there is nothing to choose between):
        # the middle of each segment. For a short clip this repeats each frame about
        # num_segments / length times, in order, the same way every time.
        offset = np.full(num_segments, 0.5)
    idx = np.floor((seg + offset) * width).astype(np.int64)
    return np.clip(idx, 0, length - 1)
