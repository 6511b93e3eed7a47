"""A tiny example of every registered dataset, in that dataset's own split-file format and layout.

Each writer puts split files and one small frame folder per listed clip under a folder and returns what the
manifest builder must make of them. Written here byte by byte after the formats the datasets document, not
with the package's readers, so that a reader that misreads its format fails. The registry's tests demand an
entry here for every registered dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from media import numbered_frames, write_frames


@dataclass
class Example:
    splits: Path  # what --splits names: the split folder, or the CSV file
    expected: set[tuple]  # (manifest name, clip id, label; a tuple for a compound label, caption)


def _clips(folder: Path, ids) -> None:
    for clip_id in ids:
        write_frames(folder / clip_id, numbered_frames(2, size=8))


def dfew(root: Path) -> Example:
    # 1-based labels (the documented base; a 7 makes it unambiguous), ids as 5-digit text, one lost its zeros.
    split_dir = root / "EmoLabel_DataSplit"
    files = {
        "train(single-labeled)/set_1.csv": "video_name,label\n00001,1\n00002,7\n",
        "test(single-labeled)/set_1.csv": "video_name,label\n3,4\n",
        "train(single-labeled)/set_2.csv": "video_name,label\n00001,1\n00003,4\n",
        "test(single-labeled)/set_2.csv": "video_name,label\n00002,7\n",
    }
    for name, text in files.items():
        (split_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (split_dir / name).write_text(text)
    _clips(root / "Clip" / "clip_224x224", ["00001", "00002", "00003"])
    return Example(root, {
        ("dfew_fold1_train.jsonl", "00001", "happiness", None), ("dfew_fold1_train.jsonl", "00002", "fear", None),
        ("dfew_fold1_test.jsonl", "00003", "anger", None),
        ("dfew_fold2_train.jsonl", "00001", "happiness", None), ("dfew_fold2_train.jsonl", "00003", "anger", None),
        ("dfew_fold2_test.jsonl", "00002", "fear", None),
    })


def ferv39k(root: Path) -> Example:
    setups = root / "4_setups" / "All_scenes"
    setups.mkdir(parents=True)
    (setups / "train_All.csv").write_text("Crime/Angry/0063 Angry\nTalkshow/Happy/0001 Happy\n")
    (setups / "test_All.csv").write_text("Argue/Surprise/0196 Surprise\n")
    _clips(root / "2_ClipsforFaceCrop", ["Crime/Angry/0063", "Talkshow/Happy/0001", "Argue/Surprise/0196"])
    return Example(root, {
        ("ferv39k_train.jsonl", "Crime/Angry/0063", "anger", None),
        ("ferv39k_train.jsonl", "Talkshow/Happy/0001", "happiness", None),
        ("ferv39k_test.jsonl", "Argue/Surprise/0196", "surprise", None),
    })


def _mafw_tree(root: Path, kind: str, train: str, test: str) -> Path:
    fold = root / "Train & Test Set" / kind / "no_caption" / "set_1"
    fold.mkdir(parents=True)
    (fold / "train.txt").write_text(train)
    (fold / "test.txt").write_text(test)
    _clips(root / "data" / "faces", ["03747", "03785", "01199"])
    return root


def mafw(root: Path) -> Example:
    splits = _mafw_tree(root, "single", "03747.mp4 anger\n03785.mp4 helplessness\n", "01199.mp4 neutral\n")
    return Example(splits, {
        ("mafw_fold1_train.jsonl", "03747", "anger", None), ("mafw_fold1_train.jsonl", "03785", "helplessness", None),
        ("mafw_fold1_test.jsonl", "01199", "neutral", None),
    })


def mafw_compound(root: Path) -> Example:
    splits = _mafw_tree(root, "compound", "03747.mp4 anger_disgust\n03785.mp4 sadness_anxiety_helplessness\n",
                        "01199.mp4 neutral\n")
    return Example(splits, {
        ("mafw-compound_fold1_train.jsonl", "03747", ("anger", "disgust"), None),
        ("mafw-compound_fold1_train.jsonl", "03785", ("sadness", "anxiety", "helplessness"), None),
        ("mafw-compound_fold1_test.jsonl", "01199", ("neutral",), None),
    })


def generic_csv(root: Path) -> Example:
    _clips(root / "clips", ["a", "b"])
    (root / "mine.csv").write_text("path,label,split,caption\nclips/a,Happy,train,smiles\nclips/b,boredom,test,\n")
    return Example(root / "mine.csv", {
        ("csv_train.jsonl", "clips/a", "happiness", "smiles"), ("csv_test.jsonl", "clips/b", "boredom", None),
    })


EXAMPLES: dict[str, Callable[[Path], Example]] = {
    "dfew": dfew, "ferv39k": ferv39k, "mafw": mafw, "mafw-compound": mafw_compound, "csv": generic_csv,
}
