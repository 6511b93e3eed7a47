"""The dataset registry: every entry's classes, spellings and split files; each dataset's special cases;
the file names peer repositories give the same official files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dataset_examples import EXAMPLES
from finecliper.cli import main
from finecliper.data.manifest import ClipRecord
from finecliper.datasets import DATASETS, OfficialSplits, class_names
from finecliper.datasets.class_sets import check_class_set
from finecliper.datasets.dfew import detect_label_base
from finecliper.datasets.generic_csv import parse_class_list
from finecliper.datasets.mafw import compound_label
from finecliper.datasets.manifest_builder import build_manifests
from finecliper.errors import UserError
from finecliper.labels import CANONICAL_NAMES


def _label_key(label):
    return tuple(label) if isinstance(label, list) else label


def _built(result) -> set[tuple]:
    assert result.problems == [], result.problems
    return {(name, r.id, _label_key(r.label), r.caption) for name, records in result.manifests.items()
            for r in records}


# --- every registered dataset ------------------------------------------------------------------------


@pytest.mark.parametrize("name", DATASETS.names())
def test_classes_are_unique_canonical_names(name):
    spec = DATASETS.get(name)
    if spec.classes is None:  # the user names the classes (csv)
        with pytest.raises(UserError, match="no class list of its own"):
            class_names(name)
        return
    assert len(spec.classes) >= 2 and len(set(spec.classes)) == len(spec.classes)
    assert set(spec.classes) <= CANONICAL_NAMES, set(spec.classes) - CANONICAL_NAMES
    assert class_names(name) == list(spec.classes)


@pytest.mark.parametrize("name", DATASETS.names())
def test_spellings_map_onto_its_classes(name):
    spec = DATASETS.get(name)
    spellings = spec.spellings()
    classes = set(spec.classes) if spec.classes is not None else CANONICAL_NAMES
    assert set(spellings.values()) <= classes
    if spec.classes is not None:
        assert set(spellings.values()) == classes, "every class needs a spelling"
    read, _ = spec.label_reader(list(spellings), None)
    for raw, canonical in spellings.items():
        assert read(raw) == ([canonical] if spec.compound else canonical)


@pytest.mark.parametrize("name", DATASETS.names())
def test_reads_a_tiny_example_of_its_own_format(name, tmp_path):
    assert name in EXAMPLES, (f"dataset {name!r} has no example in tests/dataset_examples.py: add a writer of a "
                              "few lines of its split files in its own format")
    example = EXAMPLES[name](tmp_path)
    spec = DATASETS.get(name)
    if isinstance(spec, OfficialSplits):
        files = spec.find_split_files(example.splits)
        assert files and all(f.path.is_file() for f in files)
        assert [f.split for f in files] == ["train", "test"] * (len(files) // 2)
    assert _built(build_manifests(name, tmp_path, splits=example.splits, workers=1)) == example.expected


def test_unknown_dataset_lists_the_registry(tmp_path):
    for call in (lambda: DATASETS.get("affectnet"), lambda: class_names("affectnet"),
                 lambda: build_manifests("affectnet", tmp_path)):
        with pytest.raises(UserError, match="unknown dataset 'affectnet'") as caught:
            call()
        assert all(name in str(caught.value) for name in DATASETS.names())


def test_manifest_command_offers_the_registry(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["manifest", "--dataset", "affectnet", "--data-root", str(tmp_path), "--out", str(tmp_path)])
    choices = ", ".join(repr(name) for name in DATASETS.names())
    assert f"(choose from {choices})" in capsys.readouterr().err


# --- class orders and each dataset's spellings -------------------------------------------------------


def test_canonical_orders():
    assert class_names("dfew") == ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]
    assert class_names("ferv39k") == class_names("dfew")
    assert class_names("mafw") == class_names("dfew") + ["contempt", "anxiety", "helplessness", "disappointment"]
    assert class_names("mafw-compound") == class_names("mafw")


def _read(dataset: str, raw: str, base: int | None = None):
    read, _ = DATASETS.get(dataset).label_reader([raw], base if base is not None else 1)
    return read(raw)


@pytest.mark.parametrize(
    "dataset, raw, base, expected",
    [
        pytest.param("dfew", "1", None, "happiness", id="dfew-1"),
        pytest.param("dfew", "7", None, "fear", id="dfew-7"),
        pytest.param("dfew", "0", 0, "happiness", id="dfew-base0-0"),
        pytest.param("dfew", "5", 0, "disgust", id="dfew-base0-5"),
        pytest.param("dfew", "5", 1, "surprise", id="dfew-base1-5"),
        pytest.param("ferv39k", "Angry", None, "anger", id="ferv39k-Angry"),
        pytest.param("ferv39k", "Happy", None, "happiness", id="ferv39k-Happy"),
        pytest.param("mafw", "helplessness", None, "helplessness", id="mafw-helplessness"),
        # A user's CSV: known spellings mapped, anything else kept.
        pytest.param("csv", " Happy ", None, "happiness", id="csv-Happy"),
        pytest.param("csv", "surprised", None, "surprise", id="csv-surprised"),
        pytest.param("csv", "boredom", None, "boredom", id="csv-own-class"),
    ],
)
def test_label_spellings(dataset, raw, base, expected):
    assert _read(dataset, raw, base) == expected


@pytest.mark.parametrize(
    "dataset, raw, base, message",
    [
        *(pytest.param("dfew", bad, base, "unknown dfew label", id=f"dfew-base{base}-{bad!r}")
          for bad, base in (("0", 1), ("8", 1), ("7", 0), ("x", 1), ("", 1))),
        pytest.param("ferv39k", "angry", None, "unknown ferv39k label", id="ferv39k-lowercase"),
        pytest.param("mafw", "Anger", None, "unknown mafw label", id="mafw-capitalised"),
        pytest.param("csv", " ", None, "empty", id="csv-empty"),
    ],
)
def test_unknown_labels_are_refused(dataset, raw, base, message):
    with pytest.raises(UserError, match=message):
        _read(dataset, raw, base)


def test_dfew_label_base_from_values(caplog):
    assert detect_label_base(["0", "3", "6"]) == 0
    assert detect_label_base(["1", "7"]) == 1
    with pytest.raises(UserError, match="both 0 and 7"):
        detect_label_base(["0", "7"])
    with caplog.at_level("WARNING"):
        assert detect_label_base(["2", "3"]) == 1
    assert "assuming" in caplog.text
    _, info = DATASETS.get("dfew").label_reader(["0", "6"], None)
    assert info == {"dfew_label_base": 0}
    with pytest.raises(UserError, match="must be 0 or 1"):
        DATASETS.get("dfew").label_reader(["1"], 2)


def test_compound_labels():
    assert compound_label("anger_disgust") == ["anger", "disgust"]
    assert compound_label("sadness_anxiety_helplessness") == ["sadness", "anxiety", "helplessness"]
    assert compound_label("neutral") == ["neutral"]
    for bad in ("anger_joy", "", "anger__disgust", "anger_anger"):
        with pytest.raises(UserError):
            compound_label(bad)


def test_class_list_of_a_csv():
    assert parse_class_list(None) is None
    assert parse_class_list("mafw") == class_names("mafw")
    assert parse_class_list("Happy, boredom,fearful") == ["happiness", "boredom", "fear"]
    for bad in ("csv", "happy", " , "):
        with pytest.raises(UserError, match="at least two"):
            parse_class_list(bad)


# --- file names peer repositories use for the same official files ------------------------------------


def _move(root: Path, renames: dict[str, str]) -> None:
    for old, new in renames.items():
        (root / new).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(root / old, root / new)


@pytest.mark.parametrize("renames", [
    pytest.param({f"EmoLabel_DataSplit/{s}(single-labeled)/set_{k}.csv":
                  f"EmoLabel_DataSplit/{s}(single-labeled)/{s}_set_{k}.csv" for s in ("train", "test") for k in (1, 2)},
                 id="S2D-train_set_K"),
    pytest.param({f"EmoLabel_DataSplit/{s}(single-labeled)/set_{k}.csv": f"label/single_{s}set_{k}.csv"
                  for s in ("train", "test") for k in (1, 2)}, id="DFEW-authors-single_trainset_K"),
])
def test_dfew_peer_file_names(renames, tmp_path):
    example = EXAMPLES["dfew"](tmp_path)
    _move(tmp_path, renames)
    assert _built(build_manifests("dfew", tmp_path, workers=1)) == example.expected


@pytest.mark.parametrize("folder", ["anno", "split"])
def test_mafw_peer_folders(folder, tmp_path):
    example = EXAMPLES["mafw"](tmp_path)
    _move(tmp_path, {"Train & Test Set": folder})
    assert _built(build_manifests("mafw", tmp_path, workers=1)) == example.expected


def test_ferv39k_archive_folder_kept(tmp_path):
    example = EXAMPLES["ferv39k"](tmp_path)
    _move(tmp_path, {"4_setups": "FERV39k/4_setups"})
    assert _built(build_manifests("ferv39k", tmp_path, workers=1)) == example.expected


def test_two_copies_are_refused_not_guessed_between(tmp_path):
    EXAMPLES["dfew"](tmp_path)
    train = tmp_path / "EmoLabel_DataSplit" / "train(single-labeled)"
    shutil.copy(train / "set_1.csv", train / "train_set_1.csv")
    with pytest.raises(UserError, match="twice.*set_1.csv.*train_set_1.csv"):
        build_manifests("dfew", tmp_path, workers=1)
    (train / "train_set_1.csv").unlink()
    EXAMPLES["mafw"](tmp_path)
    shutil.copytree(tmp_path / "Train & Test Set", tmp_path / "anno")
    with pytest.raises(UserError, match="twice"):
        build_manifests("mafw", tmp_path, workers=1)


@pytest.mark.parametrize("dataset, path, text, message", [
    # S2D's re-encoded FERV39k file (path,id with alphabetical indices) under the official name.
    ("ferv39k", "4_setups/All_scenes/train_All.csv", "path,id\nCrime/Angry/0063,0\n", "not a ferv39k split file"),
    # DFER-CLIP's derived list (path, frame count, index) under the official name.
    ("dfew", "EmoLabel_DataSplit/train(single-labeled)/set_1.csv", "/data/DFEW/00001 120 0\n", "not a DFEW split"),
    # A captioned MAFW file read as the one without captions.
    ("mafw", "Train & Test Set/single/no_caption/set_1/train.txt", "03747.mp4\tanger\t生气\tA man frowns.\n",
     "not a mafw split file"),
])
def test_a_file_of_another_format_is_one_error(dataset, path, text, message, tmp_path):
    EXAMPLES[dataset](tmp_path)
    (tmp_path / path).write_text(text)
    with pytest.raises(UserError, match=message):
        build_manifests(dataset, tmp_path, workers=1)


def test_class_set_of_a_manifest_against_a_models_classes():
    """DFEW's classes are a subset of MAFW's: a MAFW model reading DFEW clips is refused unless asked for."""
    def clips(dataset):
        return [ClipRecord(f"{dataset}{i}", f"c{i}", None, 8, "test", None, dataset, "frames", "/data")
                for i in range(2)]

    check_class_set(clips("dfew"), class_names("dfew"), "checkpoint a.pt", "m.jsonl")  # its own classes
    check_class_set(clips("csv") + clips("bench"), class_names("mafw"), "checkpoint a.pt", "m.jsonl")  # no own list
    with pytest.raises(UserError) as err:
        check_class_set(clips("dfew"), class_names("mafw"), "checkpoint a.pt", "m.jsonl")
    assert str(err.value).startswith("manifest m.jsonl holds dfew clips (7 classes) but checkpoint a.pt classifies "
                                     "11 other classes (")
    assert str(err.value).endswith("or pass --dataset dfew to classify against dfew's classes (zero-shot transfer)")
    with pytest.raises(UserError, match="or set data.dataset=mafw$"):
        check_class_set(clips("mafw"), class_names("dfew"), "data.dataset=dfew", "m.jsonl",
                        fix="set data.dataset={dataset}")
