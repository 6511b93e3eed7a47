"""Counts of what the refiner leaves in MAFW's English captions: the figures of docs/design.md §5.

    .venv/bin/python scripts/refiner_counts.py "DATASETS/MAFW/Train & Test Set/single/with_caption/set_1"

Reads train.txt and test.txt of the folder (GBK, tab-separated: file, class, Chinese, English), refines
every English caption with the default refiner and with `--strict`, and prints per setting: captions
changed and emptied; the share of refined happiness captions that still say smile/laugh/grin and of
sadness ones that still say tears/cry/sob/weep; and how many of the raw captions' movement words (frown,
raise, open, narrow, shake, ...) the refined texts keep. It uses only `Refiner(strict=...).refine` and the
MAFW split-file reader, so the same script measures an older checkout (PYTHONPATH=OLD/src) for a
before/after comparison.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from finecliper.datasets import DATASETS
from finecliper.datasets.records import SplitFile
from finecliper.describe.refine import Refiner

LEAKS = {
    "happiness": re.compile(r"\b(smil|laugh|grin)\w*", re.IGNORECASE),
    "sadness": re.compile(r"\b(tear|cry|cries|cried|crying|sob|weep|wept)\w*", re.IGNORECASE),
}
MOVEMENTS = re.compile(r"\b(frown|rais|open|narrow|shak|nod|wide|lower|droop|compress|wrinkl|pout)\w*",
                       re.IGNORECASE)


def read_captions(folder: Path) -> list[tuple[str, str]]:
    """(class, English caption) of every captioned line of the folder's train.txt and test.txt, read by the
    package's MAFW reader."""
    rows = []
    for split in ("train", "test"):
        split_rows, _ = DATASETS.get("mafw").read_split_file(SplitFile(folder / f"{split}.txt", split, None), "", True)
        rows += [(row.raw_label, row.caption) for row in split_rows if row.caption]
    return rows


def counts(rows: list[tuple[str, str]], refiner: Refiner) -> dict:
    changed = emptied = moves_raw = moves_kept = 0
    leak = {label: [0, 0] for label in LEAKS}  # [refined captions of the class, those still saying it]
    for label, caption in rows:
        result = refiner.refine(caption)
        changed += bool(result.removed)
        emptied += result.text is None
        moves_raw += len(MOVEMENTS.findall(caption))
        moves_kept += len(MOVEMENTS.findall(result.text or ""))
        if label in leak and result.text is not None:
            leak[label][0] += 1
            leak[label][1] += bool(LEAKS[label].search(result.text))
    return {"changed": changed, "emptied": emptied, "moves_raw": moves_raw, "moves_kept": moves_kept, "leak": leak}


def main(folder: str) -> None:
    rows = read_captions(Path(folder))
    print(f"{len(rows)} captions in {folder}")
    for name, refiner in (("default", Refiner()), ("strict", Refiner(strict=True))):
        c = counts(rows, refiner)
        happy, sad = c["leak"]["happiness"], c["leak"]["sadness"]
        print(f"{name:8s} changed {c['changed']} ({c['changed'] / len(rows):.1%}), emptied {c['emptied']}; "
              f"happiness still smile/laugh/grin {happy[1]}/{happy[0]} ({happy[1] / max(1, happy[0]):.1%}); "
              f"sadness still tears/cry/sob/weep {sad[1]}/{sad[0]} ({sad[1] / max(1, sad[0]):.1%}); "
              f"movement words kept {c['moves_kept']}/{c['moves_raw']} ({c['moves_kept'] / c['moves_raw']:.1%})")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
