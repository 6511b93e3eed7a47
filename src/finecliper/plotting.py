"""Headless matplotlib for the package's figures (`explain`, `report --figures`), saved atomically."""

from __future__ import annotations

from pathlib import Path

from finecliper import atomic


def pyplot():
    """matplotlib.pyplot on the headless Agg backend. Imported on first use: matplotlib takes a second to
    import, and the backend must be chosen before pyplot is first imported."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: str | Path) -> Path:
    """Write `fig` as a PNG at `path` (temporary file, then rename) and close it."""
    plt = pyplot()
    path = Path(path)
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
