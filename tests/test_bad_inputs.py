"""Bad inputs across the commands, as one table: each is refused before any work with one sentence on stderr
(`finecliper CMD: error: ...`, exit 2), no traceback, and nothing is left behind.

Rows: output locations that cannot be written (a file in the way, a folder where a file is wanted, a
read-only place), config values out of range, manifests with fields of the wrong type or paths escaping the
data root, clips shorter than the manifest says, damaged frames, `--skip-bad` with nothing left, a checkpoint
of another class set, crafted resume states, a folder given as a file.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from builders import make_clips, random_checkpoint, tiny_experiment
from finecliper.cli import main
from finecliper.config import ranges
from finecliper.config.experiment import ExperimentConfig
from finecliper.config.loading import experiment_from_dict
from finecliper.config.strict import apply_overrides
from finecliper.data.manifest import write_manifest
from finecliper.errors import UserError
from finecliper.inference.checkpoint import load_model
from finecliper.model import build_model

LOG_LINE = re.compile(r"^(DEBUG|INFO|WARNING) [\w.]+: ")  # logging's lines, not error messages


@dataclass
class World:
    root: Path  # everything shared by the rows
    data: Path  # the clips' data root
    manifest: Path  # 4 good clips of 12 frames (DFEW classes)
    checkpoint: Path  # tiny B16 checkpoint, DFEW's classes
    mafw_checkpoint: Path  # the same of MAFW's 11 classes
    config: Path  # a tiny experiment over `manifest`
    run: Path  # a finished 1-epoch run of `config` (resume.pt, checkpoints/last)
    file: Path  # an ordinary file, in the way of anything under it
    csv_root: Path  # data root of a `--dataset csv` table (clips/a, clips/b)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("world")
    data = root / "data"
    records = make_clips(data, 1, frames=12)
    manifest = root / "m.jsonl"
    write_manifest(manifest, records)
    config = root / "exp.yaml"
    config.write_text(yaml.safe_dump(tiny_experiment(manifest, epochs=1, batch_size=2)))
    run = root / "run"
    assert main(["train", "--config", str(config), "--out", str(run), "--device", "cpu"]) == 0
    (root / "afile").write_text("in the way\n")
    csv_root = root / "csvdata"
    make_clips(csv_root / "clips", 1, frames=8)
    return World(root, data, manifest, random_checkpoint(root / "ck" / "dfew", "B16", 0),
                 random_checkpoint(root / "ck" / "mafw", "B16", 0, dataset="mafw"), config, run, root / "afile",
                 csv_root)


def read_only_place(tmp: Path) -> Path:
    """A folder this process cannot write in: a 0555 folder, or (as root, who writes anywhere) /sys."""
    folder = tmp / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return folder
    if Path("/sys").is_dir() and not _writable(Path("/sys")):
        return Path("/sys")
    pytest.skip("this process can write everywhere (root without a read-only file system)")


def _writable(folder: Path) -> bool:
    try:
        fd, name = tempfile.mkstemp(dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def manifest_with(w: World, tmp: Path, **change) -> Path:
    """The world's manifest with `change` applied to its first row."""
    rows = [json.loads(line) for line in w.manifest.read_text().splitlines()]
    rows[0].update(change)
    path = tmp / "changed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def config_over(w: World, tmp: Path, manifest: Path) -> Path:
    path = tmp / "exp.yaml"
    path.write_text(yaml.safe_dump(tiny_experiment(manifest, epochs=1, batch_size=2)))
    return path


def run_with_resume(w: World, tmp: Path, change: Callable[[dict], object]) -> Path:
    """A copy of the world's finished run whose resume.pt is `change`d (a dict, or anything pickled)."""
    run = tmp / "run"
    shutil.copytree(w.run, run)
    state = torch.load(run / "resume.pt", weights_only=True)
    new = change(state)
    if isinstance(new, bytes):
        (run / "resume.pt").write_bytes(new)
    else:
        torch.save(new, run / "resume.pt")
    return run


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def evil_file(tmp: Path) -> Path:
    """A torch file whose unpickling would run a command."""
    path = tmp / "evil.pt"
    torch.save({"state_dict_backbone": Evil()}, path)
    return path


def csv_table(w: World, tmp: Path, rows: str) -> Path:
    path = tmp / "table.csv"
    path.write_text("path,label,split\n" + rows)
    return path


def broken_eighth_frame(w: World, tmp: Path) -> Path:
    root = tmp / "data"
    shutil.copytree(w.csv_root, root)
    frames = sorted((root / "clips" / "happiness_00").iterdir())
    frames[7].write_bytes(b"")  # the 8th frame: zero bytes
    return root


T = "train"
Row = Callable[[World, Path], list[str]]
ROWS: dict[str, tuple[Row, str]] = {
    # ----- output locations (item 4)
    "predict out under a file": (lambda w, t: ["predict", str(w.data / "happiness_00"), "--checkpoint",
                                               str(w.checkpoint), "--crop", "none", "--out", f"{w.file}/p.json"],
                                 "is a file"),
    "predict out is a folder": (lambda w, t: ["predict", str(w.data / "happiness_00"), "--checkpoint",
                                              str(w.checkpoint), "--crop", "none", "--out", str(t)], "is a folder"),
    "predict out read-only": (lambda w, t: ["predict", str(w.data / "happiness_00"), "--checkpoint",
                                            str(w.checkpoint), "--crop", "none", "--out",
                                            str(read_only_place(t) / "p.json")], "cannot be written"),
    "eval out is a file": (lambda w, t: ["eval", "--checkpoint", str(w.checkpoint), "--manifest", str(w.manifest),
                                         "--out", str(w.file), "--device", "cpu"], "is a file"),
    "eval out under a file": (lambda w, t: ["eval", "--checkpoint", str(w.checkpoint), "--manifest",
                                            str(w.manifest), "--out", f"{w.file}/e", "--device", "cpu"], "is a file"),
    "train out is a file": (lambda w, t: [T, "--config", str(w.config), "--out", str(w.file), "--device", "cpu"],
                            "is a file"),
    "train out read-only": (lambda w, t: [T, "--config", str(w.config), "--out", str(read_only_place(t) / "r"),
                                          "--device", "cpu"], "cannot be written"),
    "zeroshot out under a file": (lambda w, t: ["zeroshot", "--config", str(w.config), "--out", f"{w.file}/z",
                                                "--device", "cpu"], "is a file"),
    "cues out is a file": (lambda w, t: ["cues", "--manifest", str(w.manifest), "--out", str(w.file),
                                         "--no-progress"], "is a file"),
    "cues out read-only": (lambda w, t: ["cues", "--manifest", str(w.manifest), "--out",
                                         str(read_only_place(t) / "c"), "--no-progress"], "cannot be written"),
    "describe out is a folder": (lambda w, t: ["describe", "--manifest", str(w.manifest), "--backend", "captions",
                                               "--out", str(t), "--no-progress"], "is a folder"),
    "describe --refine out under a file": (lambda w, t: ["describe", "--refine", str(w.manifest), "--out",
                                                         f"{w.file}/d.jsonl"], "is a file"),
    "manifest out is a file": (lambda w, t: ["manifest", "--dataset", "csv", "--data-root", str(w.csv_root),
                                             "--splits", str(csv_table(w, t, "clips/happiness_00,happy,train\n")),
                                             "--out", str(w.file), "--quiet"], "is a file"),
    "report out is a file": (lambda w, t: ["report", str(w.run), "--out", str(w.file)], "is a file"),
    "synth out under a file": (lambda w, t: ["synth", "--out", f"{w.file}/s", "--no-progress"], "is a file"),
    "demo out under a file": (lambda w, t: ["demo", "--out", f"{w.file}/d"], "is a file"),
    # ----- config values (item 5)
    "train.lr negative": (lambda w, t: [T, "--config", str(w.config), "--set", "train.lr=-1e-3", "--out",
                                        str(t / "r")], "train.lr"),
    "train.lr nan": (lambda w, t: [T, "--config", str(w.config), "--set", "train.lr=.nan", "--out", str(t / "r")],
                     "train.lr"),
    "train.lr inf": (lambda w, t: [T, "--config", str(w.config), "--set", "train.lr=.inf", "--out", str(t / "r")],
                     "train.lr"),
    "weight_decay negative": (lambda w, t: [T, "--config", str(w.config), "--set", "train.weight_decay=-0.1",
                                            "--out", str(t / "r")], "train.weight_decay"),
    "warmup_epochs negative": (lambda w, t: [T, "--config", str(w.config), "--set", "train.warmup_epochs=-1",
                                             "--out", str(t / "r")], "train.warmup_epochs"),
    "grad_clip negative": (lambda w, t: [T, "--config", str(w.config), "--set", "train.grad_clip=-1",
                                         "--out", str(t / "r")], "train.grad_clip"),
    "image_size 0": (lambda w, t: [T, "--config", str(w.config), "--set", "data.image_size=0",
                                   "--out", str(t / "r")], "data.image_size"),
    "adapter_scale nan": (lambda w, t: [T, "--config", str(w.config), "--set", "model.adapter_scale=.nan",
                                        "--out", str(t / "r")], "model.adapter_scale"),
    # ----- manifests (items 6, 8)
    "num_frames 'sixteen' (train)": (lambda w, t: [T, "--config", str(config_over(w, t, manifest_with(
        w, t, num_frames="sixteen"))), "--out", str(t / "r")], ":1 field num_frames"),
    "num_frames 'sixteen' (cues)": (lambda w, t: ["cues", "--manifest", str(manifest_with(w, t, num_frames="sixteen")),
                                                  "--out", str(t / "c")], ":1 field num_frames"),
    "num_frames larger than the clip": (lambda w, t: [T, "--config", str(config_over(w, t, manifest_with(
        w, t, num_frames=40))), "--out", str(t / "r")], "holds 12 frames"),
    "path escaping the data root": (lambda w, t: [T, "--config", str(config_over(w, t, manifest_with(
        w, t, path="../../x"))), "--out", str(t / "r")], "outside the data root"),
    "absolute path outside the root": (lambda w, t: ["cues", "--manifest", str(manifest_with(w, t, path="/etc")),
                                                     "--out", str(t / "c")], "outside the data root"),
    "id escaping": (lambda w, t: ["eval", "--checkpoint", str(w.checkpoint), "--manifest",
                                  str(manifest_with(w, t, id="../../x")), "--out", str(t / "e")], "field id"),
    "split file path escaping": (lambda w, t: ["manifest", "--dataset", "csv", "--data-root", str(w.csv_root),
                                               "--splits", str(csv_table(w, t, "../../../etc,happy,train\n"
                                                                           "clips/happiness_00,happy,train\n")),
                                               "--out", str(t / "m"), "--quiet"], "problem(s) found"),
    "zero-byte 8th frame": (lambda w, t: ["manifest", "--dataset", "csv", "--data-root", str(broken_eighth_frame(w, t)),
                                          "--splits", str(csv_table(w, t, "clips/happiness_00,happy,train\n")),
                                          "--out", str(t / "m"), "--quiet"], "problem(s) found"),
    "--skip-bad with every row bad": (lambda w, t: ["manifest", "--dataset", "csv", "--data-root", str(w.csv_root),
                                                    "--splits", str(csv_table(w, t, "clips/nothing,happy,train\n")),
                                                    "--out", str(t / "m"), "--quiet", "--skip-bad"],
                                      "every clip has a problem"),
    # ----- checkpoints and resume states (items 10, 11, 12)
    "DFEW manifest for a MAFW run": (lambda w, t: [T, "--config", str(w.config), "--set", "data.dataset=mafw",
                                                   "--out", str(t / "r")], "set data.dataset=dfew"),
    "MAFW checkpoint on a DFEW manifest": (lambda w, t: ["eval", "--checkpoint", str(w.mafw_checkpoint),
                                                         "--manifest", str(w.manifest), "--out", str(t / "e")],
                                           "--dataset dfew"),
    "checkpoint is a folder (predict)": (lambda w, t: ["predict", str(w.data / "happiness_00"), "--checkpoint",
                                                       str(w.checkpoint.parent), "--crop", "none"], "is a folder"),
    "checkpoint is a folder (eval)": (lambda w, t: ["eval", "--checkpoint", str(w.checkpoint.parent), "--manifest",
                                                    str(w.manifest), "--out", str(t / "e")], "is a folder"),
    "manifest is a folder (cues)": (lambda w, t: ["cues", "--manifest", str(w.data), "--out", str(t / "c")],
                                    "is a folder, not a file"),
    "config is a folder (train)": (lambda w, t: [T, "--config", str(w.data), "--out", str(t / "r")],
                                   "is a folder, not a file"),
    "cue store is a file (describe)": (lambda w, t: ["describe", "--manifest", str(w.manifest), "--backend",
                                                     "landmarks", "--cues", str(w.file), "--out", str(t / "d.jsonl")],
                                       "is a file, not a folder"),
    # ----- cue backends with a model (facexformer)
    "cues facexformer without --weights": (lambda w, t: ["cues", "--manifest", str(w.manifest), "--out", str(t / "c"),
                                                         "--backend", "facexformer"], "needs --weights"),
    "cues --weights is a folder": (lambda w, t: ["cues", "--manifest", str(w.manifest), "--out", str(t / "c"),
                                                 "--backend", "facexformer", "--weights", str(w.data)],
                                   "is a folder, not a file"),
    "cues --weights not a checkpoint": (lambda w, t: ["cues", "--manifest", str(w.manifest), "--out", str(t / "c"),
                                                      "--backend", "facexformer", "--weights", str(w.file)],
                                        "is not a torch checkpoint"),
    "cues --weights malicious pickle": (lambda w, t: ["cues", "--manifest", str(w.manifest), "--out", str(t / "c"),
                                                      "--backend", "facexformer", "--weights", str(evil_file(t))],
                                        "need code to be run"),
    "cues --weights with mediapipe": (lambda w, t: ["cues", "--manifest", str(w.manifest), "--out", str(t / "c"),
                                                    "--weights", str(w.file)], "only used with --backend facexformer"),
    "cues facexformer with mesh parsing": (lambda w, t: ["cues", "--manifest", str(w.manifest), "--out",
                                                         str(t / "c"), "--backend", "facexformer", "--weights",
                                                         str(w.file), "--parsing-backend", "mesh"],
                                           "do not go together"),
    "predict facexformer without --weights": (lambda w, t: ["predict", str(w.data / "happiness_00"), "--checkpoint",
                                                            str(w.checkpoint), "--backend", "facexformer"],
                                              "needs --weights"),
    "bench cues facexformer without --weights": (lambda w, t: ["bench", "cues", "--backend", "facexformer"],
                                                 "needs --weights"),
    # ----- options added with issues 13-17: their bad values
    "model.pn_loss unknown": (lambda w, t: [T, "--config", str(w.config), "--set", "model.pn_loss=both", "--out",
                                            str(t / "r")], "pn_loss must be one of"),
    "model.zero_shot_score unknown": (lambda w, t: [T, "--config", str(w.config), "--set",
                                                    "model.zero_shot_score=neg", "--out", str(t / "r")],
                                      "zero_shot_score must be one of"),
    "data.palette unknown": (lambda w, t: [T, "--config", str(w.config), "--set", "data.palette=rainbow", "--out",
                                           str(t / "r")], "unknown palette 'rainbow'"),
    "data.select_on unknown": (lambda w, t: [T, "--config", str(w.config), "--set", "data.select_on=train", "--out",
                                             str(t / "r")], "data.select_on must be one of"),
    "data.prefetch_factor 0": (lambda w, t: [T, "--config", str(w.config), "--set", "data.prefetch_factor=0",
                                             "--out", str(t / "r")], "data.prefetch_factor"),
    "gradient_checkpointing unknown": (lambda w, t: [T, "--config", str(w.config), "--set",
                                                     "model.gradient_checkpointing=maybe", "--out", str(t / "r")],
                                       "gradient_checkpointing must be"),
    "data.face_min_score 2": (lambda w, t: [T, "--config", str(w.config), "--set", "data.face_min_score=2",
                                            "--out", str(t / "r")], "data.face_min_score must be in [0, 1]"),
    "train.compile not a bool": (lambda w, t: [T, "--config", str(w.config), "--set", "train.compile=yes please",
                                               "--out", str(t / "r")], "train.compile must be bool"),
    "data.classes unknown class": (lambda w, t: [T, "--config", str(w.config), "--set", "data.classes=[happy, nope]",
                                                 "--out", str(t / "r")], "data.classes names"),
    "cues --shard out of range": (lambda w, t: ["cues", "--manifest", str(w.manifest), "--out", str(t / "c"),
                                                "--shard", "3/2"], "counts from 0 to 1"),
    "describe --shard not I/N": (lambda w, t: ["describe", "--manifest", str(w.manifest), "--backend", "captions",
                                               "--out", str(t / "d.jsonl"), "--shard", "x"], "--shard takes I/N"),
    "describe --merge 0": (lambda w, t: ["describe", "--merge", "0", "--manifest", str(w.manifest), "--out",
                                         str(t / "d.jsonl")], "--merge takes the number of shards"),
    "describe --merge without shards": (lambda w, t: ["describe", "--merge", "2", "--manifest", str(w.manifest),
                                                      "--out", str(t / "d.jsonl")], "has no file"),
    "describe --prompt missing": (lambda w, t: ["describe", "--show-prompt", "--prompt", str(t / "nope.txt")],
                                  "neither a prompt of the package"),
    "demo --ablation-rows unknown": (lambda w, t: ["demo", "--ablation", "--ablation-rows", "nope", "--out",
                                                   str(t / "demo")], "unknown ablation row 'nope'"),
    "explain out read-only": (lambda w, t: ["explain", str(w.data / "happiness_00"), "--checkpoint", str(w.checkpoint),
                                            "--out", str(read_only_place(t) / "x")], "cannot be written"),
    "explain --attention unknown": (lambda w, t: ["explain", str(w.data / "happiness_00"), "--checkpoint",
                                                  str(w.checkpoint), "--out", str(t / "x"), "--attention", "grad"],
                                    "invalid choice: 'grad'"),
    "serve --max-upload-mb 0": (lambda w, t: ["serve", "--checkpoint", str(w.checkpoint), "--max-upload-mb", "0"],
                                "--max-upload-mb must be at least 1"),
    "predict --quantize unknown": (lambda w, t: ["predict", str(w.data / "happiness_00"), "--checkpoint",
                                                 str(w.checkpoint), "--quantize", "int4"], "invalid choice: 'int4'"),
    "report --figures without --out": (lambda w, t: ["report", str(w.run), "--figures"], "give --out DIR"),
    "resume epoch 'x'": (lambda w, t: [T, "--config", str(w.config), "--resume", "--out",
                                       str(run_with_resume(w, t, lambda s: {**s, "epoch": "x"}))], "epoch"),
    "resume global_step negative": (lambda w, t: [T, "--config", str(w.config), "--resume", "--out",
                                                  str(run_with_resume(w, t, lambda s: {**s, "global_step": -3}))],
                                    "global_step"),
    "resume missing torch_rng": (lambda w, t: [T, "--config", str(w.config), "--resume", "--out",
                                               str(run_with_resume(w, t, lambda s: {k: v for k, v in s.items()
                                                                                    if k != "torch_rng"}))],
                                 "torch_rng"),
    "resume malicious pickle": (lambda w, t: [T, "--config", str(w.config), "--resume", "--out",
                                              str(run_with_resume(w, t, lambda s: pickle.dumps(Evil())))],
                                "refused"),
}
# Rows whose command prints a problem report (several lines) before its one-sentence error.
REPORTS = {"split file path escaping", "zero-byte 8th frame", "--skip-bad with every row bad"}
# Rows argparse refuses itself (a choice outside the option's list): its usage lines come before the error sentence.
REPORTS |= {"explain --attention unknown", "predict --quantize unknown"}


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every path under `folders` with its size and modification time."""
    found = {}
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            for name in dirnames + filenames:
                path = Path(dirpath, name)
                stat = path.lstat()
                found[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.mark.parametrize("name", list(ROWS))
def test_bad_input_is_one_sentence_before_any_work(name, world, tmp_path, capsys):
    make_argv, phrase = ROWS[name]
    argv = make_argv(world, tmp_path)
    before = snapshot(world.root, tmp_path)
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals exit from inside the parser
        code = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err and "pwned" not in err
    lines = [line for line in err.splitlines() if line.strip() and not LOG_LINE.match(line)]
    assert code == 2, err
    if name not in REPORTS:
        assert len(lines) == 1, err
    assert lines[-1].startswith(f"finecliper {argv[0]}: error: ") and phrase in lines[-1], lines[-1]
    assert snapshot(world.root, tmp_path) == before  # nothing written, nothing left behind


# ----------------------------------------------------------------------------------------- config ranges


def numeric_fields(cls, prefix=""):
    """(dotted name, annotation) of every int or float field of config dataclass `cls`, nested ones included."""
    import dataclasses
    import typing

    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls, include_extras=True)[f.name]
        if dataclasses.is_dataclass(tp):
            yield from numeric_fields(tp, f"{prefix}{f.name}.")
            continue
        text = str(tp)
        if any(word in text for word in ("int", "float")):
            yield f"{prefix}{f.name}", tp


def test_every_numeric_config_field_declares_its_range():
    fields = dict(numeric_fields(ExperimentConfig))
    assert {"train.lr", "train.grad_clip", "data.image_size", "model.num_frames", "data.augment.hue"} <= set(fields)
    undeclared = [name for name, tp in fields.items() if "Range(" not in str(tp)]
    assert not undeclared, f"numeric config fields without a range: {undeclared}"


@pytest.mark.parametrize("override, accepted", [
    ("train.lr=1e-4", True), ("train.lr=0", False), ("train.warmup_epochs=0", True), ("train.grad_clip=0", True),
    ("train.seed=-1", False), ("data.val_fraction=1", False), ("data.augment.scale=[0, 1]", False),
    ("model.video_weight=null", True), ("model.video_weight=-0.1", False), ("model.image_adapter_layers=[-1]", False),
])
def test_range_edges(override, accepted):
    cfg = experiment_from_dict({"preset": "B16", "model": {"backbone": "tiny"}})
    if accepted:
        apply_overrides(cfg, [override]).validate()
    else:
        with pytest.raises(ranges.RangeError, match=override.split("=")[0].split(".")[-1]):
            apply_overrides(cfg, [override]).validate()


def test_a_config_made_in_python_is_range_checked_too():
    cfg = ExperimentConfig()
    cfg.train.weight_decay = -1.0
    with pytest.raises(UserError, match="config.train.weight_decay must be at least 0"):
        cfg.validate()


# ------------------------------------------------------------------------------- special tokens in text


def test_special_token_strings_in_a_description_are_plain_text():
    """A literal <|endoftext|> is text, not the end of the text: what follows it still counts."""
    cfg = experiment_from_dict({"preset": "B16-FT", "model": {"backbone": "tiny"}})
    model = build_model(cfg.model, ["happiness", "sadness"]).eval()
    eos, bos = model.tokenizer.eos_token_id, model.tokenizer.bos_token_id
    for text in ("the mouth opens <|endoftext|> then the brows rise", "eyes close <|startoftext|> slowly"):
        real = model._tokenize([text])[0].tolist()  # one text: no padding
        assert real[0] == bos and real[-1] == eos and real.count(eos) == 1 and real.count(bos) == 1
    with torch.no_grad():
        cut = model.encode_text(["the mouth opens <|endoftext|> then the brows rise"], "desc")
        head = model.encode_text(["the mouth opens"], "desc")
    assert not torch.allclose(cut, head)  # before: equal, the text was cut at the literal token


# ------------------------------------------------------------------------- code in files a user receives


def _checkpoint_naming(tmp_path: Path, weights: Path) -> Path:
    """A tiny checkpoint whose record names `weights` as its backbone, with that file's true hash (and the
    built-in tokenizer beside it, where a backbone file's tokenizer is looked for)."""
    import hashlib

    from finecliper.model.tokenizer import builtin_tokenizer

    builtin_tokenizer().save_pretrained(str(weights.parent))
    ckpt = random_checkpoint(tmp_path / "ck", "B16", 0)
    record_path = ckpt.with_suffix(".json")
    record = json.loads(record_path.read_text())
    record["config"]["model"]["weights"] = str(weights)
    record["backbone"] = {"architecture": "tiny", "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}
    record_path.write_text(json.dumps(record))
    return ckpt


def test_torchscript_named_by_a_checkpoint_is_never_loaded(tmp_path, monkeypatch):
    archive = tmp_path / "clip.pt"
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(archive))
    ckpt = _checkpoint_naming(tmp_path, archive)
    loads = []
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: loads.append(a) or torch.nn.Linear(2, 2))
    with pytest.raises(UserError, match="TorchScript archive.*--set model.weights="):
        load_model(ckpt)
    assert not loads
    # Named by the user themselves, the same file is theirs to trust: it is read (and then does not fit).
    with pytest.raises(UserError, match="does not hold a CLIP state dict|do not fit"):
        load_model(ckpt, [f"model.weights={archive}"])
    assert loads


def test_the_weights_hash_is_compared_before_the_weights_are_read(tmp_path, monkeypatch):
    weights = tmp_path / "clip.pt"
    torch.save({"x": torch.zeros(1)}, weights)
    ckpt = _checkpoint_naming(tmp_path, weights)
    weights.write_bytes(weights.read_bytes() + b"changed")  # not the file the checkpoint was trained on
    reads = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: reads.append(a))
    with pytest.raises(UserError, match="was trained on backbone tiny with weights"):
        load_model(ckpt)
    assert not reads


# ----------------------------------------------------------------------- a frame that breaks mid-run


def test_an_unreadable_frame_mid_run_is_skipped_and_counted_when_asked(world, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(world.data, data)
    records = [json.loads(line) for line in world.manifest.read_text().splitlines()]
    for r in records:
        r["root"] = str(data)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in records))
    experiment = tiny_experiment(manifest, epochs=1, batch_size=2)
    experiment["data"]["test_manifest"] = str(world.manifest)  # scored whole: the option is for training clips
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump(experiment))
    for frame in sorted((data / "sadness_00").iterdir()):
        frame.write_bytes(b"")  # after the manifest was built: every frame of one clip now unreadable
    # By default the run stops with one sentence naming the frame.
    assert main([T, "--config", str(config), "--out", str(tmp_path / "a"), "--device", "cpu"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "finecliper train: error:" in line]
    assert len(errors) == 1 and "sadness_00" in errors[0]
    # With data.skip_unreadable the clip is left out, and the run says which.
    assert main([T, "--config", str(config), "--out", str(tmp_path / "b"), "--device", "cpu", "--set",
                 "data.skip_unreadable=true"]) == 0
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert results["unreadable_clips"] == ["sadness_00"]
