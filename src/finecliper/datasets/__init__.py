"""The datasets the package reads, one registry entry each (`DATASETS`): dfew, ferv39k, mafw, mafw-compound, csv.

An entry (`spec.DatasetSpec`) owns its classes in canonical order, its labels' spellings, its default frame
folder, where its split files are and the names they go by, how they read, and its special cases. Everything
else asks `DATASETS.get(name)` or `class_names(name)`; an unknown name is a `UserError` listing the entries.

A new dataset is one module here that subclasses `OfficialSplits` (or `DatasetSpec` for another kind of
source), calls `register(...)`, and is imported below; plus an example of its split files in
`tests/dataset_examples.py`, which the registry's tests demand of every entry.
"""

# Each module registers its entry when imported, in the order `--dataset` lists them.
# isort: off
from finecliper.datasets import dfew, ferv39k, mafw, generic_csv  # noqa: F401
# isort: on
from finecliper.datasets.spec import DATASETS, DatasetSpec, OfficialSplits, class_names

__all__ = ["DATASETS", "DatasetSpec", "OfficialSplits", "class_names"]
