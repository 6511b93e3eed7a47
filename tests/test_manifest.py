"""Manifests from the official split files, validation of clips on disk, and the `manifest` command."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from finecliper.cli import main
from finecliper.data.manifest import ClipRecord, read_manifest, write_manifest
from finecliper.data.video import count_frames, is_video_file, list_frame_files
from finecliper.datasets import DATASETS
from finecliper.datasets.manifest_builder import build_manifests, format_report, write_manifests
from finecliper.datasets.text import read_text
from finecliper.errors import UserError
from media import numbered_frames, write_frames, write_video
from shared_data import SPLITS

SHARED = SPLITS
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"official split files not found at {SHARED}")
MAFW_SETS = SHARED / "MAFW" / "Train & Test Set"


def _line_count(path: Path, header: bool = False) -> int:
    return sum(1 for line in read_text(path).splitlines() if line.strip()) - int(header)


def _link_tree(root: Path, folders, image: Path) -> None:
    """One hard-linked tiny JPEG in each clip folder: a whole dataset's layout in a few seconds."""
    for rel in folders:
        folder = root / rel
        folder.mkdir(parents=True, exist_ok=True)
        os.link(image, folder / "00001.jpg")


@pytest.fixture(scope="module")
def official_root(tmp_path_factory):
    """A data root with every clip folder of the official split files of DFEW, FERV39k and MAFW."""
    if not SHARED.is_dir():
        pytest.skip(f"official split files not found at {SHARED}")
    root = tmp_path_factory.mktemp("official")
    image = root / "tiny.jpg"
    Image.fromarray(np.full((4, 4, 3), 128, np.uint8)).save(image)
    dfew = {line.split(",")[0] for f in (SHARED / "DFEW").rglob("set_*.csv") for line in read_text(f).splitlines()[1:]}
    _link_tree(root, (f"Clip/clip_224x224/{i}" for i in dfew), image)
    ferv = {line.split()[0] for f in (SHARED / "FERV39k").rglob("*_All.csv") for line in read_text(f).splitlines()}
    _link_tree(root, (f"2_ClipsforFaceCrop/{i}" for i in ferv), image)
    mafw = {line.split()[0].split(".")[0] for f in MAFW_SETS.rglob("*.txt") for line in read_text(f).splitlines()
            if line.strip()}
    _link_tree(root, (f"data/faces/{i}" for i in mafw), image)
    return root


def find_split_files(dataset: str, splits_dir: Path):
    return DATASETS.get(dataset).find_split_files(splits_dir)


def _by_id(records: list[ClipRecord]) -> dict[str, ClipRecord]:
    return {r.id: r for r in records}


@needs_shared
def test_dfew_every_fold(official_root):
    result = build_manifests("dfew", official_root, splits=SHARED / "DFEW", workers=2)
    assert result.problems == []
    m = result.manifests
    assert len(m["dfew_fold1_train.jsonl"]) == 9356 and len(m["dfew_fold1_test.jsonl"]) == 2341
    split_dir = SHARED / "DFEW" / "EmoLabel_DataSplit"
    for fold in range(1, 6):
        for split in ("train", "test"):
            expected = _line_count(split_dir / f"{split}(single-labeled)" / f"set_{fold}.csv", header=True)
            assert len(m[f"dfew_fold{fold}_{split}.jsonl"]) == expected
    # This copy's labels are 0-based (0 = happiness ... 6 = fear; it has 0s and no 7): read from the files.
    assert result.info["dfew_label_base"] == 0
    train = _by_id(m["dfew_fold1_train.jsonl"])
    test = _by_id(m["dfew_fold1_test.jsonl"])
    assert train["02522"].label == "disgust"  # "02522,5"
    assert test["00001"].label == "sadness"  # "00001,1"
    rec = train["02522"]
    assert (rec.path, rec.num_frames, rec.fold, rec.split, rec.source) == (
        "Clip/clip_224x224/02522", 1, 1, "train", "clip_224x224")
    # Disgust is DFEW's rarest class (about 1 %): a 1-based reading would make it surprise.
    counts = {}
    for r in list(train.values()) + list(test.values()):
        counts[r.label] = counts.get(r.label, 0) + 1
    assert counts["disgust"] == 145 and counts["neutral"] == 2669 and counts["happiness"] == 2445
    # A clip keeps its label in every fold.
    everywhere = {}
    for records in m.values():
        for r in records:
            assert everywhere.setdefault(r.id, r.label) == r.label


@needs_shared
def test_dfew_one_based_copy_gives_the_same_names(official_root, tmp_path):
    split_dir = tmp_path / "EmoLabel_DataSplit"
    for split in ("train", "test"):
        src = SHARED / "DFEW" / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / "set_1.csv"
        lines = read_text(src).splitlines()
        shifted = [lines[0]] + [f"{n},{int(v) + 1}" for n, v in (line.split(",") for line in lines[1:])]
        (split_dir / f"{split}(single-labeled)").mkdir(parents=True)
        (split_dir / f"{split}(single-labeled)" / "set_1.csv").write_text("\n".join(shifted) + "\n")
    shifted = build_manifests("dfew", official_root, splits=tmp_path, workers=2)
    original = build_manifests("dfew", official_root, splits=SHARED / "DFEW", fold=1, workers=2)
    assert shifted.info["dfew_label_base"] == 1
    for name in ("dfew_fold1_train.jsonl", "dfew_fold1_test.jsonl"):
        assert [r.label for r in shifted.manifests[name]] == [r.label for r in original.manifests[name]]


@needs_shared
def test_dfew_as_peers_name_its_files(official_root, tmp_path):
    # S2D ships DFEW's official files as {train,test}(single-labeled)/{train,test}_set_K.csv: the same manifests.
    for fold in range(1, 6):
        for split in ("train", "test"):
            src = SHARED / "DFEW" / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / f"set_{fold}.csv"
            dst = tmp_path / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / f"{split}_set_{fold}.csv"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
    renamed = build_manifests("dfew", official_root, splits=tmp_path, workers=2)
    official = build_manifests("dfew", official_root, splits=SHARED / "DFEW", workers=2)
    assert renamed.problems == [] and renamed.info == official.info
    assert renamed.manifests == official.manifests and len(renamed.manifests) == 10


@needs_shared
def test_ferv39k(official_root):
    result = build_manifests("ferv39k", official_root, splits=SHARED / "FERV39k", workers=2)
    assert result.problems == []
    assert sorted(result.manifests) == ["ferv39k_test.jsonl", "ferv39k_train.jsonl"]
    train, test = result.manifests["ferv39k_train.jsonl"], result.manifests["ferv39k_test.jsonl"]
    assert (len(train), len(test)) == (31088, 7847)
    rec = _by_id(train)["Crime/Angry/0063"]
    assert (rec.label, rec.path, rec.fold) == ("anger", "2_ClipsforFaceCrop/Crime/Angry/0063", None)
    assert _by_id(train)["Argue/Surprise/0196"].label == "surprise"
    assert _by_id(test)["Interview/Happy/0118"].label == "happiness"
    assert {r.label for r in train} == {"happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"}


@needs_shared
def test_mafw_single_every_fold(official_root):
    result = build_manifests("mafw", official_root, splits=SHARED / "MAFW", workers=2)
    assert result.problems == []
    for fold in range(1, 6):
        for split in ("train", "test"):
            expected = _line_count(MAFW_SETS / "single" / "no_caption" / f"set_{fold}" / f"{split}.txt")
            assert len(result.manifests[f"mafw_fold{fold}_{split}.jsonl"]) == expected
    assert len(result.manifests["mafw_fold1_train.jsonl"]) == 7333
    rec = _by_id(result.manifests["mafw_fold1_train.jsonl"])["03747"]
    assert (rec.label, rec.path, rec.source, rec.caption) == ("anger", "data/faces/03747", "faces", None)
    labels = {r.label for r in result.manifests["mafw_fold1_test.jsonl"]}
    assert len(labels) == 11 and "helplessness" in labels


@needs_shared
def test_mafw_captions_decode_as_english(official_root):
    result = build_manifests("mafw", official_root, splits=SHARED / "MAFW", captions=True, workers=2)
    assert result.problems == []
    train, test = result.manifests["mafw_fold1_train.jsonl"], result.manifests["mafw_fold1_test.jsonl"]
    assert (len(train), len(test)) == (6423, 1611)
    rec = _by_id(train)["03747"]
    assert rec.label == "anger"
    assert rec.caption == ("A man speaks excitedly to the man in front of him. "
                           "The deep frown and the slightly wrinkled nose.")
    # English captions hold no Chinese characters (some keep full-width punctuation, as written).
    assert all(r.caption and not any("\u4e00" <= ch <= "\u9fff" for ch in r.caption) for r in train + test)
    assert sum(r.caption.isascii() for r in train) > 0.9 * len(train)
    with pytest.raises(UserError, match="no fold 2"):
        build_manifests("mafw", official_root, splits=SHARED / "MAFW", captions=True, fold=2)


@needs_shared
def test_mafw_compound_keeps_label_lists(official_root):
    result = build_manifests("mafw-compound", official_root, splits=SHARED / "MAFW", workers=2)
    assert result.problems == []
    train = result.manifests["mafw-compound_fold1_train.jsonl"]
    test = result.manifests["mafw-compound_fold1_test.jsonl"]
    assert (len(train), len(test)) == (7178, 1818)
    lines = read_text(MAFW_SETS / "compound" / "no_caption" / "set_1" / "train.txt").splitlines()
    name, raw = next(line.split() for line in lines if line.split()[1] == "sadness_anxiety_helplessness")
    assert _by_id(train)[name.split(".")[0]].label == ["sadness", "anxiety", "helplessness"]
    assert all(isinstance(r.label, list) for r in train)
    assert len({tuple(r.label) for r in train}) == 43


@needs_shared
def test_cli_writes_fold_manifests(official_root, tmp_path, capsys):
    out = tmp_path / "manifests"
    rc = main(["manifest", "--dataset", "dfew", "--data-root", str(official_root), "--splits",
               str(SHARED / "DFEW"), "--out", str(out), "--fold", "1", "--workers", "2", "--quiet"])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["dfew_fold1_test.jsonl", "dfew_fold1_train.jsonl"]
    records = read_manifest(out / "dfew_fold1_train.jsonl")
    assert len(records) == 9356 and records[0].root == str(official_root.resolve())
    assert "9356 clips" in capsys.readouterr().out


@needs_shared
def test_split_files_found_in_distribution_layout():
    files = find_split_files("dfew", SHARED / "DFEW")
    assert [(f.fold, f.split) for f in files[:2]] == [(1, "train"), (1, "test")] and len(files) == 10
    # --splits may also name the inner folder itself.
    assert len(find_split_files("dfew", SHARED / "DFEW" / "EmoLabel_DataSplit")) == 10
    assert len(find_split_files("ferv39k", SHARED / "FERV39k")) == 2
    assert len(find_split_files("mafw-compound", SHARED / "MAFW")) == 2
    with pytest.raises(UserError, match="no dfew split files"):
        find_split_files("dfew", SHARED / "MAFW")


# --- validation on a small hand-made dataset ---------------------------------------------------------


def _dfew_like(tmp_path: Path, rows: list[str]) -> Path:
    split_dir = tmp_path / "EmoLabel_DataSplit"
    for split in ("train", "test"):
        (split_dir / f"{split}(single-labeled)").mkdir(parents=True, exist_ok=True)
    (split_dir / "train(single-labeled)" / "set_1.csv").write_text("video_name,label\n" + "\n".join(rows) + "\n")
    (split_dir / "test(single-labeled)" / "set_1.csv").write_text("video_name,label\n00090,1\n")
    return tmp_path


@pytest.fixture
def messy_root(tmp_path):
    """A DFEW-style root with one clip of every kind of problem, and good clips beside them."""
    clips = tmp_path / "Clip" / "clip_224x224"
    write_frames(clips / "00001", numbered_frames(5, size=8))  # good, 5 frames
    write_frames(clips / "00002", numbered_frames(2, size=8), ext="png")  # good
    write_frames(clips / "00090", numbered_frames(3, size=8))  # good (test)
    (clips / "00003").mkdir()  # empty
    (clips / "00003" / "notes.txt").write_text("not a frame")
    write_frames(clips / "00004", numbered_frames(2, size=8))
    (clips / "00004" / "00001.jpg").write_bytes(b"garbage, not a jpeg")  # unreadable
    write_frames(clips / "00005", numbered_frames(2, size=8))  # unknown label
    write_frames(clips / "00006", numbered_frames(2, size=8))  # listed twice
    # 00007: missing. 00008: a truncated video.
    video = write_video(tmp_path / "v.mp4", numbered_frames(10, size=16))
    data = video.read_bytes()
    (clips / "00008.mp4").write_bytes(data[: len(data) // 2])
    write_video(clips / "00009.mp4", numbered_frames(7, size=16))  # good video, 7 frames
    rows = ["00001,1", "00002,7", "00003,2", "00004,3", "00005,9", "00006,4", "00006,4", "00007,5", "00008,6",
            "00009,2", ",3"]
    return _dfew_like(tmp_path, rows)


def test_every_problem_is_reported(messy_root):
    result = build_manifests("dfew", messy_root, workers=2)
    kinds = {}
    for p in result.problems:
        kinds.setdefault(p.kind, []).append(p)
    assert {k: sorted(p.id for p in v) for k, v in kinds.items()} == {
        "bad row": [str(messy_root / "EmoLabel_DataSplit" / "train(single-labeled)" / "set_1.csv") + ":12"],
        "unknown label": ["00005"],
        "duplicate id": ["00006"],
        "missing": ["00007"],
        "empty": ["00003"],
        "unreadable": ["00004", "00008"],
    }
    messages = {p.id: p.message for p in result.problems}
    assert "00001.jpg" in messages["00004"] and "00008.mp4" in messages["00008"]
    assert "'9'" in messages["00005"] and "listed 2 times" in messages["00006"]
    report = format_report(result.problems)
    for line in ("bad row: 1", "unknown label: 1", "duplicate id: 1", "missing: 1", "empty: 1", "unreadable: 2"):
        assert line in report
    train = _by_id(result.manifests["dfew_fold1_train.jsonl"])
    assert sorted(train) == ["00001", "00002", "00009"]
    assert (train["00001"].num_frames, train["00002"].num_frames, train["00009"].num_frames) == (5, 2, 7)
    assert train["00009"].path == "Clip/clip_224x224/00009.mp4" and train["00002"].label == "fear"


def test_nothing_written_unless_skip_bad(messy_root, tmp_path):
    result = build_manifests("dfew", messy_root, workers=1)
    out = tmp_path / "out"
    with pytest.raises(UserError, match="7 problem"):
        write_manifests(result, out)
    assert not out.exists()
    written = write_manifests(result, out, skip_bad=True, fold=1)
    assert sorted(p.name for p in written) == ["dfew_fold1_skipped.tsv", "dfew_fold1_test.jsonl",
                                              "dfew_fold1_train.jsonl"]
    assert [r.id for r in read_manifest(out / "dfew_fold1_train.jsonl")] == ["00001", "00002", "00009"]
    skipped = (out / "dfew_fold1_skipped.tsv").read_text().splitlines()
    ids = [line.split("\t")[0] for line in skipped[1:]]
    assert {"00003", "00004", "00005", "00006", "00007", "00008"} <= set(ids)


def test_duplicate_across_train_and_test(tmp_path):
    write_frames(tmp_path / "Clip" / "clip_224x224" / "00090", numbered_frames(2, size=8))
    root = _dfew_like(tmp_path, ["00090,1"])
    result = build_manifests("dfew", root, workers=1)
    assert [(p.kind, p.id) for p in result.problems] == [("duplicate id", "00090")]
    assert "several splits of fold 1: test, train" in result.problems[0].message


def test_cli_reports_problems_and_fails(messy_root, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["manifest", "--dataset", "dfew", "--data-root", str(messy_root), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert "missing: 1" in err and "unreadable: 2" in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("finecliper manifest: error:")
    rc = main(["manifest", "--dataset", "dfew", "--data-root", str(messy_root), "--out", str(out), "--quiet",
               "--skip-bad"])
    assert rc == 0 and (out / "dfew_skipped.tsv").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "dfew", "--data-root", "/nonexistent/root"], "data root"),
    (["--dataset", "ferv39k", "--data-root", ".", "--fold", "0"], "--fold"),
    (["--dataset", "csv", "--data-root", "."], "CSV"),
    (["--dataset", "dfew", "--data-root", ".", "--captions"], None),
])
def test_cli_bad_input_is_one_line(argv, message, tmp_path, capsys):
    rc = main(["manifest", *argv, "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("finecliper manifest: error:")
    if message:
        assert message in err[0]


def test_frame_source_is_recorded(tmp_path):
    write_frames(tmp_path / "Clip" / "clip_224x224_16f" / "00001", numbered_frames(16, size=8))
    write_frames(tmp_path / "Clip" / "clip_224x224_16f" / "00090", numbered_frames(16, size=8))
    root = _dfew_like(tmp_path, ["00001,3"])
    result = build_manifests("dfew", root, frames="Clip/clip_224x224_16f", workers=1)
    rec = result.manifests["dfew_fold1_train.jsonl"][0]
    assert (rec.source, rec.num_frames, rec.path) == ("clip_224x224_16f", 16, "Clip/clip_224x224_16f/00001")
    with pytest.raises(UserError, match="--frames"):
        build_manifests("dfew", root, workers=1)  # the default Clip/clip_224x224 is not there


def test_mafw_videos_and_gbk_caption_file(tmp_path):
    sets = tmp_path / "Train & Test Set" / "single" / "with_caption" / "set_1"
    sets.mkdir(parents=True)
    line = "00001.mp4\tanger\t一个男人皱眉。\tA man frowns.\r\n"
    (sets / "train.txt").write_bytes(line.encode("gbk"))
    (sets / "test.txt").write_bytes("00002.mp4\tneutral\t她笑了。\tShe smiles.\r\n".encode("gbk"))
    write_video(tmp_path / "data" / "clips" / "00001.mp4", numbered_frames(6, size=16))
    write_video(tmp_path / "data" / "clips" / "00002.mp4", numbered_frames(4, size=16))
    result = build_manifests("mafw", tmp_path, frames="data/clips", captions=True, workers=1)
    assert result.problems == []
    rec = result.manifests["mafw_fold1_train.jsonl"][0]
    assert (rec.id, rec.path, rec.num_frames, rec.caption, rec.source) == (
        "00001", "data/clips/00001.mp4", 6, "A man frowns.", "clips")
    assert rec.is_video


def test_generic_csv(tmp_path):
    write_frames(tmp_path / "clips" / "a", numbered_frames(3, size=8))
    write_video(tmp_path / "clips" / "b.mp4", numbered_frames(4, size=16))
    write_frames(tmp_path / "clips" / "c", numbered_frames(2, size=8))
    csv_file = tmp_path / "mine.csv"
    csv_file.write_text("path,label,split,fold,caption\n"
                        "clips/a,Happy,train,1,smiles\n"
                        "clips/b.mp4,boredom,test,1,\n"
                        f"{tmp_path / 'clips' / 'c'},fear,train,2,\n"
                        "clips/d,fear,train,x,\n")
    result = build_manifests("csv", tmp_path, splits=csv_file, workers=1)
    assert [(p.kind, p.id) for p in result.problems] == [("bad row", f"{csv_file}:5")]
    m = result.manifests
    assert sorted(m) == ["csv_fold1_test.jsonl", "csv_fold1_train.jsonl", "csv_fold2_train.jsonl"]
    a = m["csv_fold1_train.jsonl"][0]
    assert (a.id, a.label, a.caption, a.num_frames) == ("clips/a", "happiness", "smiles", 3)
    b = m["csv_fold1_test.jsonl"][0]
    assert (b.id, b.path, b.label, b.num_frames) == ("clips/b", "clips/b.mp4", "boredom", 4)
    assert m["csv_fold2_train.jsonl"][0].path == "clips/c"  # absolute path made relative to the root
    restricted = build_manifests("csv", tmp_path, splits=csv_file, classes=["happiness", "fear"], workers=1)
    assert [p.id for p in restricted.problems if p.kind == "unknown label"] == ["clips/b"]
    with pytest.raises(UserError, match="header"):
        (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
        build_manifests("csv", tmp_path, splits=tmp_path / "bad.csv")


def test_a_subfolder_named_like_an_image_is_no_frame(tmp_path):
    folder = tmp_path / "clips" / "a"
    write_frames(folder, numbered_frames(3, size=8))
    (folder / "00000.jpg").mkdir()  # sorts first: were it a frame, its "first image" would be a folder
    (folder / "x.jpg").mkdir()
    csv_file = tmp_path / "mine.csv"
    csv_file.write_text("path,label\nclips/a,happiness\n")
    result = build_manifests("csv", tmp_path, splits=csv_file, workers=1)
    assert result.problems == []
    [rec] = [r for records in result.manifests.values() for r in records]
    # The manifest counts the frames exactly as the reader lists them.
    assert rec.num_frames == 3 == count_frames(folder) == len(list_frame_files(folder))


def test_label_names_and_video_suffixes():
    rec = ClipRecord("x", "clips/x.MP4", ["anger", "disgust"], 3, "train", 1, "mafw-compound", "faces", "/data")
    assert rec.label_name == "anger_disgust" and rec.is_video
    rec.label, rec.path = "anger", "clips/x"
    assert rec.label_name == "anger" and not rec.is_video
    rec.label = None
    assert rec.label_name is None
    assert is_video_file("a/b.webm") and is_video_file(Path("b.MKV")) and not is_video_file("a.mp4/00001.jpg")


def test_manifest_round_trip_and_bad_lines(tmp_path):
    rec = ClipRecord("x", "clips/x", ["anger", "disgust"], 3, "train", 1, "mafw-compound", "faces", "/data",
                     caption="说话 speaks")
    write_manifest(tmp_path / "m.jsonl", [rec])
    assert read_manifest(tmp_path / "m.jsonl") == [rec]
    assert read_manifest(tmp_path / "m.jsonl", data_root=tmp_path)[0].root == str(tmp_path.resolve())
    (tmp_path / "bad.jsonl").write_text(json.dumps({"id": "x", "colour": 1}) + "\n")
    with pytest.raises(UserError, match="bad.jsonl:1") as err:
        read_manifest(tmp_path / "bad.jsonl")
    # The fields listed in the record's order, the same sentence every run (not a set's order).
    assert str(err.value).endswith("has an unknown field 'colour'; a manifest record has id, path, label, num_frames, "
                                   "split, fold, dataset, source, root, caption")


def test_ferv39k_label_must_match_its_folder(tmp_path):
    setups = tmp_path / "4_setups" / "All_scenes"
    setups.mkdir(parents=True)
    (setups / "train_All.csv").write_text("Crime/Angry/0001 Angry\nCrime/Angry/0002 Happy\nCrime/0003 Angry\n")
    (setups / "test_All.csv").write_text("Talkshow/Sad/0001 Sad\n")
    for rel in ("Crime/Angry/0001", "Crime/Angry/0002", "Talkshow/Sad/0001"):
        write_frames(tmp_path / "2_ClipsforFaceCrop" / rel, numbered_frames(2, size=8))
    result = build_manifests("ferv39k", tmp_path, workers=1)
    assert sorted((p.kind, p.id) for p in result.problems) == [
        ("bad row", f"{setups / 'train_All.csv'}:3"), ("unknown label", "Crime/Angry/0002")]
    assert [r.id for r in result.manifests["ferv39k_train.jsonl"]] == ["Crime/Angry/0001"]
    assert result.manifests["ferv39k_test.jsonl"][0].label == "sadness"
