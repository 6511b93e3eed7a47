"""The folder `finecliper explain --out DIR` writes: three PNGs and the JSON of every number in them."""

from __future__ import annotations

import json
from pathlib import Path

from finecliper import atomic
from finecliper.explain.explainer import Explanation
from finecliper.explain.figures import frames_figure, similarity_figure

FILES = {"inputs": "inputs.png", "attention": "attention.png", "similarity": "similarity.png",
         "numbers": "explain.json"}


def write_explanation(expl: Explanation, out: str | Path) -> dict[str, Path]:
    """Write the figures and `explain.json` into `out` (each file atomically); their paths by FILES' keys."""
    out = Path(out)
    paths = {key: out / name for key, name in FILES.items()}
    frames_figure(expl, paths["inputs"], overlay=False)
    frames_figure(expl, paths["attention"], overlay=True)
    similarity_figure(expl, paths["similarity"])
    atomic.write_text(paths["numbers"], json.dumps(expl.to_dict(), indent=2) + "\n")
    return paths
