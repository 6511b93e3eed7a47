"""`finecliper demo`: the whole pipeline on a synthetic dataset, each stage with the package's own code.

    synth -> manifest -> cues -> descriptions -> pretrain CLIP -> train FineCLIPER -> evaluate -> report

Stages and what they call: `synth.generate` (clips, DFEW split files, oracle cues); the manifest
builder (`datasets.manifest_builder`) on those split files; the oracle cue store as written, or the
MediaPipe extractor (`cues.pipeline.run_cues`) with `cues="mediapipe"`; the landmark describer through
`describe.pipeline.describe_manifest`; `demo.pretrain` for the small CLIP, saved as a HF CLIP folder;
`training.Trainer` for FineCLIPER with that folder as `model.weights`; the report writers of
`training` (metrics, confusion matrix, tables) and the cue preview of `cues.preview`.

Output folder: data/ (the synthetic dataset), manifests/, descriptions.jsonl, clip/ (the pretrained CLIP
folder), runs/<variant>/ (Trainer run directories), report.json, confusion.png, preview.png, and with
the ablation ablation.md / ablation.json. A rerun skips every stage whose output is complete (the
Trainer resumes an interrupted run); `force` starts over.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from finecliper import atomic
from finecliper.config.loading import experiment_from_dict
from finecliper.config.model import IMAGE_BRANCHES, PN_LOSSES, TEXT_BRANCHES, ModelConfig
from finecliper.cues.extract import CueSettings
from finecliper.cues.pipeline import run_cues
from finecliper.cues.preview import write_preview
from finecliper.data.cue_store import CueStore
from finecliper.data.descriptions import read_descriptions
from finecliper.data.manifest import read_manifest
from finecliper.datasets.manifest_builder import build_manifests, manifest_name, write_manifests
from finecliper.demo.pretrain import ARCHITECTURE, pretrain_clip, pretraining_pairs
from finecliper.demo.probe import linear_probe
from finecliper.demo.settings import VAL_FRACTION, DemoSettings
from finecliper.demo.vocabulary import demo_tokenizer
from finecliper.describe.landmarks import LandmarkBackend
from finecliper.describe.pipeline import describe_manifest
from finecliper.errors import UserError
from finecliper.model.architectures import architecture_dict
from finecliper.model.backbone import load_backbone
from finecliper.run_lock import LOCK_NAME, RunLock, lock_dir
from finecliper.synth.generate import generate, read_clips
from finecliper.training.metrics import SCORE_TITLES, by_score_line
from finecliper.training.plots import save_confusion_png
from finecliper.training.report import markdown, summarise
from finecliper.training.trainer import Trainer

log = logging.getLogger(__name__)

_OTHER_PN_LOSS = next(k for k in PN_LOSSES if k != ModelConfig().pn_loss)

# The ablation's variants: the preset, the name of its row and its changes to the experiment. The paper's
# semantic levels, then the PN loss that is not the default, then FineCLIPER† trained without labels,
# which gives one row per zero-shot score (docs/design.md §3: the defaults of model.pn_loss and
# model.zero_shot_score were chosen on these rows).
VARIANTS: dict[str, tuple[str, str, dict]] = {
    "frames": ("B16", "frames only", {}),
    "pl": ("B16-PL", "+ parsing, landmarks (*)", {}),
    "ft": ("B16-FT", "+ descriptions (†)", {}),
    "full": ("B16-Full", "full (*†)", {}),
    "pn-loss": ("B16-Full", f"full (*†), PN loss {_OTHER_PN_LOSS}", {"model": {"pn_loss": _OTHER_PN_LOSS}}),
    "zero-shot": ("B16-FT", "zero-shot (†)", {"train": {"zero_shot": True}}),
}
# Ablation rows a user may pick with --ablation-rows: the variants and the probes.
ABLATION_ROWS = (*VARIANTS, "probes")


class Stages:
    """Prints one line per stage with its wall time, and collects the times for report.json."""

    def __init__(self, total: int, echo=print):
        self.total, self.done, self.echo = total, 0, echo
        self.seconds: dict[str, float] = {}

    def run(self, name: str, fn, describe):
        self.done += 1
        start = time.perf_counter()
        result = fn()
        self.seconds[name] = round(time.perf_counter() - start, 1)
        self.echo(f"[{self.done}/{self.total}] {name}: {describe(result)} ({self.seconds[name]:.1f} s)")
        return result


# ------------------------------------------------------------------------------------------ stages


def make_data(out: Path, settings: DemoSettings, progress: bool) -> dict:
    return generate(out / "data", settings.synth, workers=2, progress=progress)


def make_manifests(out: Path, synth: dict) -> dict[str, Path]:
    """Manifests of the synthetic split files, built by the real builder (as for DFEW)."""
    dataset = synth["manifest_dataset"]
    paths = {split: out / "manifests" / manifest_name(dataset, 1, split) for split in ("train", "test")}
    if all(p.is_file() for p in paths.values()):
        return paths
    result = build_manifests(dataset, out / "data", frames=synth["frames_folder"], workers=2)
    write_manifests(result, out / "manifests")  # refuses (UserError) if the builder found any problem
    return paths


def make_cues(out: Path, settings: DemoSettings, records, progress: bool) -> Path:
    """The cue store the model reads: the generator's oracle store, or MediaPipe's on the same clips."""
    if settings.cues == "oracle":
        return out / "data" / "cues"
    store = out / "cues-mediapipe"
    summary = run_cues(records, store, CueSettings(crop="none"), workers=2, progress=progress)
    if summary.failed:
        raise UserError(f"MediaPipe found no face in {len(summary.failed)} clips (first: {summary.failed[0]['id']}); "
                        f"see {store}/summary.json")
    return store


def make_descriptions(out: Path, cues: Path, records, backend_name: str, progress: bool) -> Path:
    path = out / f"descriptions-{backend_name}.jsonl"
    describe_manifest(records, path, LandmarkBackend(cues), progress=progress)
    return path


def make_clip(out: Path, settings: DemoSettings, train_records, cues: Path, descriptions: Path,
              classes: list[str], progress: bool) -> dict:
    """The pretrained small CLIP folder (training identities only); skipped when it exists."""
    folder = out / "clip"
    record_path = out / "clip.json"
    if folder.is_dir() and record_path.is_file():
        return json.loads(record_path.read_text())
    plans = {c.id: c.plan for c in read_clips(out / "data")}
    arch = architecture_dict(ARCHITECTURE)
    images, targets, texts = pretraining_pairs(train_records, plans, CueStore(cues), classes,
                                               settings.synth.frames, settings.pretrain_frames,
                                               np.random.default_rng(settings.seed), arch["vision_config"]["image_size"])
    # The tokenizer learns its words from everything the CLIP will read: its pretraining texts and the
    # descriptions of the training clips (never the test clips').
    train_ids = {r.id for r in train_records}
    corpus = texts + [t for i, t in read_descriptions(descriptions).items() if i in train_ids and t]
    tokenizer = demo_tokenizer(corpus, arch["text_config"]["vocab_size"])
    summary = pretrain_clip(images, targets, texts, tokenizer, folder, steps=settings.pretrain_steps,
                            batch_size=settings.pretrain_batch, seed=settings.seed, progress=progress)
    atomic.write_text(record_path, json.dumps(summary, indent=2) + "\n")
    return summary


def experiment(out: Path, settings: DemoSettings, preset: str, manifests: dict[str, Path], cues: Path,
               descriptions: Path, changes: dict | None = None) -> dict:
    """The Trainer config of one variant on the demo's data (absolute paths: the checkpoints record them,
    and `finecliper predict` must find the small CLIP from any working directory), with the variant's
    `changes` ({section: {field: value}}) on top."""
    config = {
        "name": "demo", "preset": preset,
        # [OURS] for the small CLIP: a softer PN temperature than CLIP's 100 (its embeddings are not
        # calibrated like real CLIP's, and 100 saturates the loss), and wider adapters (the paper's
        # ratios are sized for ViT-B's 768 / 512 channels; on 128 they leave bottlenecks of 8).
        "model": {"backbone": "small", "weights": str((out / "clip").resolve()), "num_frames": settings.num_frames,
                  "logit_scale": settings.logit_scale,
                  "adapter_ratio": {branch: settings.adapter_ratio for branch in IMAGE_BRANCHES + TEXT_BRANCHES}},
        "data": {"dataset": settings.synth.classes, "train_manifest": str(manifests["train"]),
                 "test_manifest": str(manifests["test"]), "cues": str(cues.resolve()),
                 "descriptions": str(descriptions.resolve()),
                 "workers": settings.workers, "val_fraction": VAL_FRACTION, "select_on": "val"},
        "train": {"epochs": settings.epochs, "batch_size": settings.batch_size, "lr": settings.lr,
                  "warmup_epochs": 0.5, "tensorboard": False, "log_every": 10, "checkpoint_every": 10_000,
                  "seed": settings.seed},
    }
    for section, fields in (changes or {}).items():
        config[section].update(fields)
    return config


def train_variant(run_dir: Path, config: dict) -> dict:
    """Train (or resume, or reuse) one variant; returns its results.json."""
    results = run_dir / "results.json"
    if results.is_file():
        return json.loads(results.read_text())
    trainer = Trainer(experiment_from_dict(config), run_dir, "cpu")
    resume = (run_dir / "resume.pt").is_file()
    return trainer.run(resume=resume, force=not resume)  # a run killed before its first resume state starts over


# ------------------------------------------------------------------------------------------ ablation


def run_probes(out: Path, train_records, test_records, cues: Path, classes: list[str], seed: int) -> dict:
    """Middle-frame linear probes on the frozen CLIP: frames only, and frames with their cue renderings."""
    path = out / "probes.json"
    if path.is_file():
        return json.loads(path.read_text())
    backbone = load_backbone(ARCHITECTURE, str(out / "clip"))  # strictly, as FineCLIPER loads it
    size = backbone.clip.config.vision_config.image_size
    store = CueStore(cues)
    probes = {
        name: linear_probe(backbone.clip, train_records, test_records, classes, size, store, branches, seed)
        for name, branches in PROBES.items()
    }
    atomic.write_text(path, json.dumps(probes, indent=2) + "\n")
    return probes


# Probes on the middle frame alone: the image branches each one embeds.
PROBES: dict[str, tuple[str, ...]] = {"frames": (), "frames+cues": ("parsing", "landmarks")}
PROBE_LABELS = {"frames": "linear probe, middle frame", "frames+cues": "linear probe, middle frame + its cues"}


def variant_rows(name: str, results: dict) -> list[dict]:
    """The table rows (results.json objects named by their row) of one variant: one, or for the zero-shot
    variant one per score kind, the score it decides by marked."""
    label = VARIANTS[name][1]
    if not results.get("zero_shot"):
        return [{**results, "preset": label, "dataset": "synthetic"}]
    used = results["test"]["score"]
    return [{**results, "preset": f"{label}, score {SCORE_TITLES[kind]}{' (default)' if kind == used else ''}",
             "dataset": "synthetic", "test": metrics} for kind, metrics in results["test"]["by_score"].items()]


def write_ablation(out: Path, results: dict[str, dict], probes: dict[str, dict]) -> str:
    """ablation.md (the table of `finecliper report`, one row per variant, zero-shot score and probe) and
    ablation.json."""
    rows = [row for name in VARIANTS if name in results for row in variant_rows(name, results[name])]
    rows += [{"preset": PROBE_LABELS[name], "dataset": "synthetic", "fold": 1, "selection": "none",
              "test": metrics} for name, metrics in probes.items()]
    text = markdown(summarise(rows))  # rows in the paper's order, which summarise keeps
    atomic.write_text(out / "ablation.md", text + "\n")
    table = {row["preset"]: {"uar": row["test"]["uar"], "war": row["test"]["war"]} for row in rows}
    atomic.write_text(out / "ablation.json", json.dumps(table, indent=2) + "\n")
    return text


# ------------------------------------------------------------------------------------------ the demo


def run_demo(out: str | Path, settings: DemoSettings, ablation: bool = False, force: bool = False,
             progress: bool = False, echo=print, rows: list[str] | None = None) -> dict:
    """Run every stage into `out`; returns report.json's content (with the ablation table under "ablation").
    `rows` (names of ABLATION_ROWS; default all) limits the ablation to those rows and the full variant."""
    settings.validate()
    rows = list(ABLATION_ROWS) if rows is None else rows
    unknown = [r for r in rows if r not in ABLATION_ROWS]
    if unknown:
        raise UserError(f"unknown ablation row {unknown[0]!r}; choose from {', '.join(ABLATION_ROWS)}")
    out = Path(out)
    lock = _claim_folder(out, settings, force)
    try:
        return _run_stages(out, settings, ablation, progress, echo, rows)
    finally:
        lock.release()


def _run_stages(out: Path, settings: DemoSettings, ablation: bool, progress: bool, echo, rows: list[str]) -> dict:
    start = time.perf_counter()
    names = [n for n in VARIANTS if n == "full" or (ablation and n in rows)]
    probing = ablation and "probes" in rows
    # Six stages besides the variants (the full one always) and, with the ablation, the probes.
    stages = Stages(6 + len(names) + probing, echo)
    data = _prepare_data(out, settings, stages, progress)
    results = {}
    for name in names:
        preset, label, changes = VARIANTS[name]
        config = experiment(out, settings, preset, data["manifests"], data["cues"], data["descriptions"], changes)
        results[name] = stages.run(f"train {label}", lambda c=config, n=name: train_variant(out / "runs" / n, c),
                                   _trained_line)
    full = results["full"]["test"]
    report = {"uar": full["uar"], "war": full["war"], "per_class_recall": full["per_class_recall"],
              "confusion": full["confusion"], "class_names": full["class_names"], "num_clips": full["num_clips"],
              "held_out_identities": len(data["synth"]["identities"]["test"]), "cues": settings.cues,
              "pretrain": data["clip"]}
    if ablation:
        probes = {}
        if probing:
            probes = stages.run("linear probes", lambda: run_probes(out, data["train"], data["test"], data["cues"],
                                                                    data["synth"]["classes"], settings.seed),
                                lambda p: ", ".join(f"{PROBE_LABELS[k]} UAR {v['uar'] * 100:.2f}"
                                                    for k, v in p.items()))
        report["ablation"] = write_ablation(out, results, probes)
    shown = next((r for r in data["test"] if r.label != "neutral"), data["test"][0])
    stages.run("report", lambda: write_report(out, report, shown, data["cues"], data["descriptions"]),
               lambda paths: ", ".join(p.name for p in paths))
    report["stage_seconds"] = stages.seconds
    report["seconds"] = round(time.perf_counter() - start, 1)
    atomic.write_text(out / "report.json", json.dumps(report, indent=2) + "\n")  # once every time is known
    return report


def _trained_line(results: dict) -> str:
    """A trained variant's stage line: its test UAR, and for a zero-shot run the UAR / WAR of each score."""
    test = results["test"]
    return (f"test {by_score_line(test)}" if results.get("zero_shot") and by_score_line(test)
            else f"test UAR {test['uar'] * 100:.2f}")


def _claim_folder(out: Path, settings: DemoSettings, force: bool) -> RunLock:
    """Locks the folder (one demo writes it at a time) and records the settings in demo.json; refuses a folder
    of a demo with other settings (or, with `force`, one that is not a demo's), so that a rerun resumes only
    what it would have made itself. Returns the held lock."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    record_path = out / "demo.json"
    wanted = asdict(settings)
    lock = lock_dir(out, "demo folder").acquire()
    try:
        contents = [p for p in out.iterdir() if p.name != LOCK_NAME]
        if force and contents:
            if not record_path.is_file():
                raise UserError(f"--force replaces only a folder of an earlier demo, and {out} holds other files")
            for path in contents:  # all but the lock, which this run holds
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        elif record_path.is_file() and json.loads(record_path.read_text()) != wanted:
            raise UserError(f"{out} holds a demo run with other settings; choose another --out or pass --force")
        atomic.write_text(record_path, json.dumps(wanted, indent=2) + "\n")
    except BaseException:
        lock.release()
        raise
    return lock


def _prepare_data(out: Path, settings: DemoSettings, stages: Stages, progress: bool) -> dict:
    """The stages before training: synthetic data, manifests, cues, descriptions and the small CLIP."""
    synth = stages.run("synth", lambda: make_data(out, settings, progress), lambda r: (
        f"{r['clips']['train'] + r['clips']['test']} clips of {len(r['classes'])} classes, "
        f"{len(r['identities']['train'])} training / {len(r['identities']['test'])} held-out identities"))
    manifests = stages.run("manifest", lambda: make_manifests(out, synth),
                           lambda p: ", ".join(f"{len(read_manifest(v))} {k}" for k, v in p.items()))
    train_records, test_records = read_manifest(manifests["train"]), read_manifest(manifests["test"])
    records = train_records + test_records
    cues = stages.run("cues", lambda: make_cues(out, settings, records, progress),
                      lambda p: f"{settings.cues} landmarks and parsing maps in {p}")
    descriptions = stages.run("describe", lambda: make_descriptions(out, cues, records, settings.cues, progress),
                              lambda p: f"landmark descriptions in {p}")
    clip = stages.run("pretrain", lambda: make_clip(out, settings, train_records, cues, descriptions,
                                                    synth["classes"], progress), lambda s: (
        f"small CLIP on {s['images']} images x {s['texts']} texts of the training identities; "
        f"expression sentence accuracy {s['expression_accuracy'] * 100:.0f}%"))
    return {"synth": synth, "manifests": manifests, "train": train_records, "test": test_records, "cues": cues,
            "descriptions": descriptions, "clip": clip}


def write_report(out: Path, report: dict, record, cues: Path, descriptions: Path) -> list[Path]:
    """The confusion matrix and the preview strip of one held-out clip with its description (report.json
    itself is written by run_demo, once the stage times are in it)."""
    confusion = out / "confusion.png"
    save_confusion_png(report["confusion"], report["class_names"], confusion,
                       f"held-out identities: UAR {report['uar'] * 100:.1f}")
    text = read_descriptions(descriptions).get(record.id) or "(no description)"
    preview = write_preview(record, CueStore(cues), out / "preview.png", num_frames=6,
                            caption=f"clip {record.id} ({record.label}): {text}")
    return [confusion, preview]


def summary_lines(report: dict, out: str | Path) -> list[str]:
    """What the command prints at the end: the scores, then where the outputs are."""
    chance = 100 / len(report["class_names"])
    lines = [
        f"UAR {report['uar'] * 100:.2f}  WAR {report['war'] * 100:.2f}  on {report['num_clips']} clips of "
        f"{report['held_out_identities']} held-out identities (chance {chance:.2f}); {report['seconds']:.0f} s",
        f"report: {out}/report.json  confusion matrix: {out}/confusion.png  preview: {out}/preview.png",
    ]
    if "ablation" in report:
        table = report["ablation"].split("\n\nPer-class recall")[0]  # per-class tables: in the file only
        lines = ["", table, "", f"per-class recall of every row: {out}/ablation.md", *lines]
    return lines
