"""Confusion-matrix figure (PNG), drawn with the package's headless matplotlib (`plotting.py`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from finecliper.plotting import pyplot, save


def save_confusion_png(matrix, class_names: list[str], path: str | Path, title: str = "") -> None:
    plt = pyplot()
    matrix = np.asarray(matrix, dtype=float)
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * n, 0.8 + 0.7 * n), dpi=120)
    ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            colour = "white" if normalised[i, j] > 0.5 else "black"
            ax.text(j, i, f"{normalised[i, j]:.2f}\n({int(matrix[i, j])})", ha="center", va="center",
                    fontsize=7, color=colour)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    save(fig, path)
