"""UAR and WAR, the DFER metrics, from a confusion matrix.

WAR (weighted average recall) is plain accuracy. UAR (unweighted average recall) is the mean of the
per-class recalls over the classes that occur in the labels; a class that never occurs has no recall and
is left out (scikit-learn's `balanced_accuracy_score` does the same), while a class that occurs but is
never predicted counts with recall 0.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) counts; row = true class, column = predicted class."""
    labels = np.asarray(labels, dtype=np.int64)
    preds = np.asarray(preds, dtype=np.int64)
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, preds), 1)
    return matrix


def classification_metrics(labels, preds, class_names: list[str]) -> dict:
    """UAR, WAR (fractions), per-class recall (None for classes absent from the labels), confusion matrix."""
    matrix = confusion_matrix(labels, preds, len(class_names))
    support = matrix.sum(axis=1)
    present = support > 0
    recall = np.divide(np.diag(matrix), support, out=np.zeros(len(class_names)), where=present)
    total = int(support.sum())
    return {
        "uar": float(recall[present].mean()) if present.any() else 0.0,
        "war": float(np.trace(matrix) / total) if total else 0.0,
        "per_class_recall": {
            name: (float(recall[i]) if present[i] else None) for i, name in enumerate(class_names)
        },
        "support": {name: int(support[i]) for i, name in enumerate(class_names)},
        "confusion": matrix.tolist(),
        "num_clips": total,
        "class_names": list(class_names),
    }


def uar_war_line(metrics: dict) -> str:
    """The one-line summary `finecliper train` and `eval` print: UAR and WAR in %, and the number of clips."""
    return f"UAR {metrics['uar'] * 100:.2f}  WAR {metrics['war'] * 100:.2f}  ({metrics['num_clips']} clips)"


SCORE_TITLES = {"pos_minus_neg": "pos - neg", "pos": "pos alone"}


def by_score_line(metrics: dict) -> str | None:
    """UAR / WAR under each score kind (evaluate's "by_score"), the decision score marked; None when there
    is only one kind (positive sentences only)."""
    kinds = metrics.get("by_score", {})
    if len(kinds) < 2:
        return None
    parts = [f"{SCORE_TITLES[k]}{' (used)' if k == metrics.get('score') else ''} UAR {m['uar'] * 100:.2f} "
             f"WAR {m['war'] * 100:.2f}" for k, m in kinds.items()]
    return "scored by " + "; ".join(parts)
