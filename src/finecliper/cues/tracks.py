"""Time-series helpers shared by the cue modules: filling gaps in per-frame tracks, picking frames evenly.

They sit apart from the orchestrator (`extract`) so that the modules it calls (`face_crop`,
`mesh_to_ibug`, `preview`) can use them without importing it back.
"""

from __future__ import annotations

import numpy as np


def interpolate_missing(series: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill the invalid entries of (T, ...) `series` linearly in time from the nearest valid ones
    (the first / last valid one before the first / after the last)."""
    if valid.all():
        return series
    t = np.arange(len(series))
    flat = series.reshape(len(series), -1)
    out = flat.copy()
    for c in range(flat.shape[1]):
        out[:, c] = np.interp(t, t[valid], flat[valid, c])
    return out.reshape(series.shape)


def spread_indices(n: int, k: int) -> np.ndarray:
    """At most `k` indices of range(n) spread evenly from the first to the last, without repeats."""
    return np.unique(np.linspace(0, n - 1, min(n, k)).round().astype(int))
