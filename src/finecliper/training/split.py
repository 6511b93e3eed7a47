"""The validation split held out of a training fold: stratified by class, seeded [OURS].

Each class gives round(fraction x its count) clips (at least one when it has two or more), so rare
classes are represented; the same seed always holds out the same clips, whatever the manifest order.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from finecliper.data.manifest import ClipRecord


def stratified_split(records: list[ClipRecord], fraction: float, seed: int) -> tuple[list[ClipRecord], list[ClipRecord]]:
    """(train, val) records."""
    if fraction <= 0:
        return list(records), []
    by_class: dict[str, list[ClipRecord]] = defaultdict(list)
    for record in sorted(records, key=lambda r: r.id):
        by_class[str(record.label)].append(record)
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for label in sorted(by_class):
        group = by_class[label]
        count = round(fraction * len(group))
        if count == 0 and len(group) >= 2:
            count = 1
        for i in rng.permutation(len(group))[:count]:
            held.add(group[i].id)
    return [r for r in records if r.id not in held], [r for r in records if r.id in held]
