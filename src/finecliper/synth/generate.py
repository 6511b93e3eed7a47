"""`finecliper synth`: a synthetic dynamic-expression dataset in DFEW's (or MAFW's) own file layout.

Layout under the output folder:

    clips/<id>/00001.jpg ... (or clips/<id>.mp4)   the clips, 5-digit ids as DFEW's
    EmoLabel_DataSplit/{train,test}(single-labeled)/set_1.csv    DFEW split files, labels 1-based
    (MAFW classes: Train & Test Set/single/no_caption/set_1/{train,test}.txt)
    cues/                                           the oracle cue store: the landmarks and parsing
                                                    maps the generator drew (backend "oracle")
    clips.jsonl                                     per clip: identity, split, label, its random plan
    synth.json                                      the settings and counts; written last

Identities are split before any clip is drawn: a test identity never appears in training. Every
identity has the same number of clips of every class, so classes are balanced in both splits.
Everything is drawn from seeds derived from (seed, what, index), so a clip is the same whichever
process draws it and whether or not the run was interrupted; a rerun with the same settings skips
the clips already written, and one with other settings into the same folder is refused.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from finecliper import __version__, atomic
from finecliper.data.cue_store import ClipCues, CueStore
from finecliper.data.jsonl import read_jsonl
from finecliper.data.video import write_frames, write_video
from finecliper.datasets import class_names
from finecliper.errors import UserError
from finecliper.face_layout import PARSING_CLASSES
from finecliper.labels import BASIC7
from finecliper.synth.expressions import ClipPlan, course, plan_clip
from finecliper.synth.face import Pose, draw, random_identity
from finecliper.synth.settings import SynthSettings

log = logging.getLogger(__name__)

CLIP_DIR = "clips"
CUE_DIR = "cues"
@dataclass
class ClipInfo:
    """One clip of the dataset: what clips.jsonl holds per line."""

    id: str
    identity: int
    split: str
    label: str
    repeat: int
    plan: dict


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def class_list(settings: SynthSettings) -> list[str]:
    return class_names(settings.classes)


def identity_of(settings: SynthSettings, index: int):
    return random_identity(_rng(settings.seed, 0, index))


def plan_dataset(settings: SynthSettings) -> list[ClipInfo]:
    """Every clip of the dataset with its plan, in id order (ids are shuffled over identities and classes)."""
    classes = class_list(settings)
    keys = [(i, c, r) for i in range(settings.identities) for c in range(len(classes))
            for r in range(settings.clips_per_class)]
    order = _rng(settings.seed, 2).permutation(len(keys))  # ids do not give the class or identity away
    clips = []
    for number, k in enumerate(order, 1):
        identity, c, r = keys[k]
        plan = plan_clip(classes[c], _rng(settings.seed, 1, identity, c, r))
        split = "train" if identity < settings.train_identities else "test"
        clips.append(ClipInfo(f"{number:05d}", identity, split, classes[c], r, asdict(plan)))
    return clips


# ------------------------------------------------------------------------------------------ render


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random backdrop: a few colour blobs, blurred together."""
    base = rng.uniform(50, 200) + rng.normal(0, 20, 3)  # a muted colour, as rooms and walls are
    grid = np.clip(base + rng.normal(0, 15, (4, 4, 3)), 0, 255).astype(np.uint8)
    return cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)


def render_clip(settings: SynthSettings, info: ClipInfo) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames (T, S, S, 3) uint8, parsing (T, S, S) uint8, landmarks (T, 68, 2) pixels) of one clip."""
    plan = ClipPlan(**info.plan)
    identity = identity_of(settings, info.identity)
    size, t = settings.size, settings.frames
    rng = np.random.default_rng(plan.seed)
    background = _background(size, rng)
    _, states, poses = course(plan, t)
    # Lighting, camera blur and sensor noise: one draw per clip (flicker and noise per frame).
    gain = rng.uniform(0.75, 1.2) * rng.uniform(0.9, 1.1, 3)
    angle, slope = rng.uniform(0, 2 * np.pi), rng.uniform(0.0, 0.5)
    ramp = np.linspace(-0.5, 0.5, size)
    light = 1 + slope * (np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None])  # (S, S)
    blur = rng.uniform(0.3, 0.9) if rng.random() < 0.5 else 0.0
    noise = rng.uniform(0.0, 6.0)
    frames = np.empty((t, size, size, 3), dtype=np.uint8)
    parsing = np.empty((t, size, size), dtype=np.uint8)
    points = np.empty((t, 68, 2), dtype=np.float32)
    for k, (state, pose) in enumerate(zip(states, poses, strict=True)):
        pixels = Pose(pose.cx * size, pose.cy * size, pose.scale * size, pose.roll, pose.yaw)
        image, parsing[k], points[k] = draw(identity, state, pixels, size, background)
        image = image.astype(np.float32) * (light[..., None] * gain * rng.normal(1.0, 0.02))
        if blur:
            image = cv2.GaussianBlur(image, (0, 0), blur)
        image += rng.normal(0.0, noise, image.shape)
        frames[k] = np.clip(image, 0, 255).astype(np.uint8)
    return frames, parsing, points


def _write_frames(folder: Path, frames: np.ndarray) -> None:
    """A frame folder of JPEGs (as DFEW's: 00001.jpg, ...), complete or absent."""
    # Full-resolution colour (no 4:2:0 subsampling): at 64 px lips and eyes are a few pixels.
    write_frames(folder, frames, quality=95, subsampling=0)


def clip_path(out: Path, settings: SynthSettings, clip_id: str) -> Path:
    return out / CLIP_DIR / (f"{clip_id}.mp4" if settings.format == "mp4" else clip_id)


def _make_clip(out: str, settings: SynthSettings, info: ClipInfo) -> str:
    """Render one clip and write it and its oracle cues (skipped when both exist)."""
    out_path = Path(out)
    store = CueStore(out_path / CUE_DIR)
    path = clip_path(out_path, settings, info.id)
    if path.exists() and store.has(info.id):
        return "skipped"
    frames, parsing, points = render_clip(settings, info)
    if settings.format == "mp4":
        write_video(path, frames, fps=settings.fps)
    else:
        _write_frames(path, frames)
    # The generator drew a face in every frame: its face score is certainty (else training warns it is unmeasured).
    store.save(info.id, ClipCues(landmarks=points, valid=np.ones(len(points), dtype=bool), parsing=parsing,
                                 frame_size=(settings.size, settings.size),
                                 face_score=np.ones(len(points), dtype=np.float32)))
    return "done"


# ------------------------------------------------------------------------------------- split files


def write_split_files(out: Path, settings: SynthSettings, clips: list[ClipInfo]) -> list[Path]:
    """The official split files of the class set's dataset (fold 1 only), as the manifest builder reads them."""
    written = []
    for split in ("train", "test"):
        rows = [c for c in clips if c.split == split]
        if settings.classes == "dfew":
            # DFEW's documented convention: 1-based indices into the canonical order (labels.BASIC7).
            text = "video_name,label\n" + "".join(f"{c.id},{BASIC7.index(c.label) + 1}\n" for c in rows)
            path = out / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / "set_1.csv"
        else:
            suffix = ".mp4" if settings.format == "mp4" else ""
            text = "".join(f"{c.id}{suffix} {c.label}\n" for c in rows)
            path = out / "Train & Test Set" / "single" / "no_caption" / "set_1" / f"{split}.txt"
        atomic.write_text(path, text)
        written.append(path)
    return written


def oracle_provenance(settings: SynthSettings) -> dict:
    return {
        "settings": {"backend": "oracle", "generator": "finecliper synth", **asdict(settings)},
        "versions": {"finecliper": __version__},
        "landmarks": "68 iBUG points in continuous pixels of the frame as read (pixel i spans [i, i+1)), "
                     "exactly as drawn",
        "parsing_classes": list(PARSING_CLASSES),
    }


# ------------------------------------------------------------------------------------------ the run


def read_settings(out: str | Path) -> SynthSettings | None:
    """The settings of a finished dataset in `out`, or None when there is none."""
    path = Path(out) / "synth.json"
    if not path.is_file():
        return None
    try:
        return SynthSettings(**json.loads(path.read_text())["settings"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UserError(f"{path} is not a synth record ({exc}); remove the folder or choose another --out") from None


def read_clips(out: str | Path) -> list[ClipInfo]:
    path = Path(out) / "clips.jsonl"
    if not path.is_file():
        raise UserError(f"{out} holds no synthetic dataset (no clips.jsonl); run `finecliper synth --out {out}`")
    return [ClipInfo(**obj) for _, obj in read_jsonl(path, "clip list")]


def generate(out: str | Path, settings: SynthSettings, workers: int = 1, progress: bool = True,
             force: bool = False) -> dict:
    """Write the dataset into `out`; returns the record written to synth.json (last, so that it marks a
    finished dataset)."""
    settings.validate()
    out = Path(out)
    finished = _prepare_folder(out, settings, force)
    if finished is not None:
        return finished
    clips = plan_dataset(settings)
    store = CueStore(out / CUE_DIR)
    store.root.mkdir(parents=True, exist_ok=True)
    store.write_provenance(oracle_provenance(settings))
    atomic.write_text(out / "clips.jsonl", "".join(json.dumps(asdict(c)) + "\n" for c in clips))
    counts = _make_clips(out, settings, clips, workers, progress)
    split_files = write_split_files(out, settings, clips)
    record = _record(out, settings, clips, split_files, written=counts["done"])
    atomic.write_text(out / "synth.json", json.dumps(record, indent=2) + "\n")
    return record


def _prepare_folder(out: Path, settings: SynthSettings, force: bool) -> dict | None:
    """Refuses a folder holding another dataset (unless `force`, which clears it); returns the record of
    the same dataset when it is already finished, else None (a partial one resumes)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    old = CueStore(out / CUE_DIR).provenance()
    if old and old.get("settings") != oracle_provenance(settings)["settings"] and not force:
        raise UserError(f"{out} already holds a synthetic dataset made with other settings; "
                        "choose another --out or pass --force to replace it")
    if force and (out / "synth.json").exists():
        (out / "synth.json").unlink()
    if read_settings(out) == settings:
        return json.loads((out / "synth.json").read_text())
    if force and old:
        for name in (CLIP_DIR, CUE_DIR):
            shutil.rmtree(out / name, ignore_errors=True)
    return None


def _make_clips(out: Path, settings: SynthSettings, clips: list[ClipInfo], workers: int,
                progress: bool) -> dict[str, int]:
    """Draw and write every clip not written yet; counts of "done" and "skipped"."""
    counts = {"done": 0, "skipped": 0}
    with tqdm(total=len(clips), unit="clip", desc="synth", disable=not progress) as bar:
        if workers <= 1:
            for c in clips:
                counts[_make_clip(str(out), settings, c)] += 1
                bar.update(1)
            return counts
        # fork: the workers need nothing but the arguments, and start in milliseconds. An OpenCV
        # thread pool that exists when a process forks deadlocks the child: one thread here, as in
        # the data loader's workers.
        cv2.setNumThreads(1)
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            jobs = [(str(out), settings, c) for c in clips]
            for status in pool.imap_unordered(_make_clip_star, jobs, chunksize=8):
                counts[status] += 1
                bar.update(1)
    return counts


def _record(out: Path, settings: SynthSettings, clips: list[ClipInfo], split_files: list[Path],
            written: int) -> dict:
    """synth.json: the settings, classes, counts and where everything is."""
    return {
        "settings": asdict(settings),
        "classes": class_list(settings),
        "clips": {split: sum(c.split == split for c in clips) for split in ("train", "test")},
        "identities": {"train": list(range(settings.train_identities)),
                       "test": list(range(settings.train_identities, settings.identities))},
        "split_files": [str(p.relative_to(out)) for p in split_files],
        "frames_folder": CLIP_DIR,
        "cues": CUE_DIR,
        "manifest_dataset": settings.classes,  # the `finecliper manifest --dataset` of the split files
        "written": written,
    }


def _make_clip_star(job) -> str:
    return _make_clip(*job)
