"""What a run's results say about its inputs: its class sets and, per split, its descriptions.

Written into `results.json` by the trainer (docs/design.md §4), so that a figure can be read with what it was
measured on:
- `classes`: the classes the model scores (its PN sentences), those the training and test clips hold, and
  those it scores without ever training on a clip of them (MAFW's captions hold no neutral clip, so the
  captions zero-shot protocol trains on 10 classes and tests on 11). A config may name its class sets
  (`data.classes`, `data.train_classes`); the manifests must then agree, or the run stops before training.
- `descriptions`: per split, the clips without a description (they are classified from the video alone,
  w = 1) and the descriptions longer than the text tower's context (CLIP's 77 tokens), which are cut; and
  the prompts (name and hash) the descriptions file was made with.
"""

from __future__ import annotations

import logging
from collections import Counter

from finecliper.config.experiment import ExperimentConfig
from finecliper.data.dataset import CAPTIONS, ClipDataset
from finecliper.data.descriptions import coverage, read_records
from finecliper.data.manifest import ClipRecord
from finecliper.errors import UserError
from finecliper.model.tokenizer import count_too_long

log = logging.getLogger(__name__)


def classes_present(records: list[ClipRecord], class_names: list[str]) -> list[str]:
    """The classes the records' labels name (parts of compound labels included), in the order of `class_names`."""
    names = set()
    for record in records:
        if record.label is not None:
            names.update([record.label] if isinstance(record.label, str) else record.label)
    return [name for name in class_names if name in names] + sorted(names - set(class_names))


def class_sets(cfg: ExperimentConfig, class_names: list[str], train: list[ClipRecord],
               test: list[ClipRecord]) -> dict:
    """The run's class sets; UserError when the config names class sets the data does not have."""
    if cfg.data.classes is not None and list(cfg.data.classes) != list(class_names):
        raise UserError(f"data.classes names {', '.join(cfg.data.classes)} but the {cfg.data.dataset} model scores "
                        f"{', '.join(class_names)} (in this order)")
    in_train = classes_present(train, class_names)
    if cfg.data.train_classes is not None and set(cfg.data.train_classes) != set(in_train):
        raise UserError(f"data.train_classes names {', '.join(cfg.data.train_classes)} but the training manifest "
                        f"holds clips of {', '.join(in_train)}")
    sets = {"scored": list(class_names), "train": in_train, "test": classes_present(test, class_names)}
    sets["scored_not_trained"] = [name for name in class_names if name not in in_train]
    if sets["scored_not_trained"]:
        log.warning("the model scores %d classes but no training clip is of %s", len(class_names),
                    ", ".join(sets["scored_not_trained"]))
    return sets


def description_stats(dataset: ClipDataset, tokenizer, context_length: int) -> dict:
    """Clips without a description and descriptions longer than `context_length` tokens, of one split."""
    return coverage(dataset.description_texts(), lambda texts: count_too_long(tokenizer, texts, context_length),
                    context_length)


def descriptions_summary(cfg: ExperimentConfig, splits: dict[str, ClipDataset], tokenizer,
                         context_length: int) -> dict | None:
    """The `descriptions` entry of results.json (None for a model without descriptions); logs the counts."""
    if not cfg.model.descriptions:
        return None
    summary = {"source": cfg.data.descriptions, "prompts": _prompts(cfg.data.descriptions), "splits": {}}
    for split, dataset in splits.items():
        stats = description_stats(dataset, tokenizer, context_length)
        summary["splits"][split] = stats
        if stats["without_description"] or stats["truncated"]:
            log.warning("%s: %d of %d clips have no description (classified from the video alone, w = 1); "
                        "%d descriptions are longer than %d tokens and are cut", split, stats["without_description"],
                        stats["clips"], stats["truncated"], context_length)
    return summary


def _prompts(source: str | None) -> list[dict]:
    """[{"prompt", "prompt_hash", "records"}] of the descriptions file: the prompts its texts were made with."""
    if source in (None, CAPTIONS):
        return []
    counts = Counter((r.get("prompt"), r.get("prompt_hash")) for r in read_records(source))
    return [{"prompt": name, "prompt_hash": digest, "records": n} for (name, digest), n in sorted(
        counts.items(), key=lambda item: -item[1])]
