"""A model's class set against the dataset a manifest's clips come from.

DFEW's 7 classes are a subset of MAFW's 11, so a MAFW model reads a DFEW manifest without a label error and
would be scored on a task it was not trained for. A manifest whose clips belong to a dataset with its own
class list must use exactly the model's classes; a transfer to other classes is asked for explicitly
(`finecliper eval --dataset NAME`, zero-shot). Clips of a dataset without its own classes (csv) are checked
label by label, as the dataset does anyway.
"""

from __future__ import annotations

from finecliper.data.manifest import ClipRecord
from finecliper.datasets.spec import DATASETS
from finecliper.errors import UserError


def check_class_set(records: list[ClipRecord], class_names: list[str], source: str, manifest: str,
                    fix: str = "pass --dataset {dataset} to classify against {dataset}'s classes (zero-shot "
                               "transfer)") -> None:
    """Refuse `records` of a dataset whose class list is not `class_names` (the classes of `source`); `fix`
    ends the sentence ({dataset}: the manifest's)."""
    for dataset in sorted({r.dataset for r in records}):
        if dataset not in DATASETS.names() or DATASETS.get(dataset).classes is None:
            continue
        theirs = list(DATASETS.get(dataset).classes)
        if theirs != list(class_names):
            raise UserError(
                f"manifest {manifest} holds {dataset} clips ({len(theirs)} classes) but {source} classifies "
                f"{len(class_names)} other classes ({', '.join(class_names)}); use a manifest of its own dataset, "
                f"or {fix.format(dataset=dataset)}")
