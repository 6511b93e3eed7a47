"""The PNGs of `finecliper explain`: the branches' inputs, their attention maps laid out as the paper's
attention figure (a row of frames per branch), and the class-wise cosines as its class-wise figure."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from finecliper.explain.attention import METHODS
from finecliper.explain.explainer import Explanation
from finecliper.plotting import pyplot, save

ROW_TITLES = {"video": "frames", "parsing": "parsing map", "landmarks": "landmarks"}


def _upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """A (g, g) map as (size, size), each patch a block: the map shows patches, not a smoothed guess."""
    return np.kron(grid, np.ones((size // grid.shape[0] + 1, size // grid.shape[1] + 1)))[:size, :size]


def frames_figure(expl: Explanation, path: str | Path, overlay: bool) -> Path:
    """A row of the sampled frames per image branch: what the tower read, with its attention map on top
    when `overlay` (each map scaled to its own maximum)."""
    plt = pyplot()
    branches = list(expl.images)
    t = len(expl.frame_indices)
    fig, axes = plt.subplots(len(branches), t, figsize=(1.3 * t + 1.0, 1.4 * len(branches) + 0.9), dpi=100,
                             squeeze=False)
    for r, branch in enumerate(branches):
        for c in range(t):
            ax = axes[r][c]
            image = expl.images[branch][c]
            ax.imshow(image)
            if overlay:
                grid = expl.maps[branch][c]
                ax.imshow(_upsample(grid / max(grid.max(), 1e-12), image.shape[0]), cmap="jet", alpha=0.45,
                          vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {expl.frame_indices[c]}", fontsize=7)
            if c == 0:
                ax.set_ylabel(ROW_TITLES.get(branch, branch), fontsize=8)
    what = f"{METHODS[expl.method]} of the adapted image tower (CLS token over patches)" if overlay else \
        "what each image branch reads (frames and cue renderings, at model resolution)"
    fig.suptitle(f"{what}\npredicted: {expl.prediction.label}", fontsize=9)
    fig.tight_layout()
    return save(fig, path)


def similarity_figure(expl: Explanation, path: str | Path) -> Path:
    """Class-wise cosine similarity of the clip's embedding z to the positive (green) and negative (red)
    sentences, with the description the model read and its weight w."""
    plt = pyplot()
    n = len(expl.class_names)
    x = np.arange(n)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * n, 4.2), dpi=100)
    width = 0.38 if expl.negative is not None else 0.6
    ax.bar(x - (width / 2 if expl.negative is not None else 0), expl.positive, width, color="tab:green",
           label="positive sentence")
    if expl.negative is not None:
        ax.bar(x + width / 2, expl.negative, width, color="tab:red", label="negative sentence")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(x, expl.class_names, rotation=30, ha="right")
    ax.set_ylabel("cosine similarity to z")
    ax.legend(fontsize=7)
    pred = expl.prediction
    text = pred.description or "(no description: the video features alone, w = 1)"
    caption = "\n".join(textwrap.wrap(f"description: {text}", 110)[:4])
    ax.set_title(f"predicted: {pred.label} ({pred.probabilities[pred.label] * 100:.1f}%), "
                 f"w = {pred.weight:.2f} on the video features", fontsize=9)
    fig.text(0.01, 0.01, caption, fontsize=7, va="bottom", ha="left")
    fig.tight_layout(rect=(0, 0.03 + 0.04 * caption.count("\n"), 1, 1))
    return save(fig, path)
