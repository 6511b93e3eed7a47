"""Building and validating manifests from a dataset's split files and the clips on disk.

`build_manifests` reads every requested split file, maps labels to canonical names, finds each clip
under the data root (a frame folder, else a video file), counts its frames on disk in a thread pool
(FERV39k has 39k clips), and collects *every* problem instead of stopping at the first: bad rows,
unknown labels, duplicate ids, missing clips, empty clips, unreadable files. `write_manifests` writes
nothing while problems remain unless asked to skip them; skipped ids then go to a side file.

Checks per clip: a folder must hold at least one image and its first image must start like a
JPEG/PNG/BMP file (a cheap test, one small read per clip); a video is decoded to the end
(`video.count_frames`), which also finds truncated files.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from finecliper import atomic, labels
from finecliper.data.manifest import ClipRecord, write_manifest
from finecliper.data.splits import (
    DATASETS,
    DEFAULT_FRAMES,
    PROBLEM_KINDS,
    Problem,
    SplitRow,
    find_split_files,
    read_dfew,
    read_ferv39k,
    read_generic_csv,
    read_mafw,
)
from finecliper.data.video import VIDEO_SUFFIXES, count_frames, frame_names, is_video_file, natural_key
from finecliper.errors import UserError

log = logging.getLogger(__name__)

_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM")


@dataclass
class BuildResult:
    dataset: str
    manifests: dict[str, list[ClipRecord]]  # output file name -> records, problem clips removed
    problems: list[Problem]
    skipped_ids: list[str]  # ids left out of the manifests because of a problem
    info: dict = field(default_factory=dict)  # frame source, DFEW label base, ...


@dataclass
class _ClipState:
    path: str  # relative to the data root
    num_frames: int = 0
    kind: str | None = None  # problem kind, None when the clip is fine
    message: str = ""


def manifest_name(dataset: str, fold: int | None, split: str) -> str:
    return f"{dataset}{'' if fold is None else f'_fold{fold}'}_{split}.jsonl"


def _inspect(root: str, base: str, listed: str | None) -> _ClipState:
    """Find the clip (folder `base`, else a video) and count its frames, classifying any problem."""
    # os.path on strings, not pathlib: this runs once per clip, 39k times for FERV39k.
    folder = os.path.join(root, base)
    try:
        names = frame_names(folder)  # exactly the frames the reader will see
    except (FileNotFoundError, NotADirectoryError):
        names = None  # not a folder: look for a video below
    except OSError as exc:
        return _ClipState(base, 0, "unreadable", f"folder {base} cannot be listed ({exc.strerror})")
    if names is not None:
        if not names:
            return _ClipState(base, 0, "empty", f"folder {base} holds no images")
        first = min(names, key=natural_key)
        try:
            with open(os.path.join(folder, first), "rb") as fh:
                head = fh.read(8)
        except OSError as exc:
            return _ClipState(base, len(names), "unreadable", f"frame {base}/{first} cannot be read ({exc.strerror})")
        if not head.startswith(_MAGIC):
            return _ClipState(base, len(names), "unreadable", f"frame {base}/{first} is not a JPEG, PNG or BMP image")
        return _ClipState(base, len(names))
    candidates = []
    if listed:
        candidates.append(listed)
    if is_video_file(base):
        candidates.append(base)
    candidates += [base + suffix for suffix in sorted(VIDEO_SUFFIXES)]
    for rel in candidates:
        video = os.path.join(root, rel)
        if os.path.isfile(video):
            try:
                n = count_frames(video)
            except UserError as exc:
                return _ClipState(rel, 0, "unreadable", str(exc))
            if n == 0:
                return _ClipState(rel, 0, "empty", f"video {rel} decodes to no frames")
            return _ClipState(rel, n)
    return _ClipState(base, 0, "missing", f"no frame folder or video {base} under the data root")


def _read_rows(dataset: str, root: Path, splits: Path | None, frames: str, captions: bool,
               fold: int | None) -> tuple[list[SplitRow], list[Problem]]:
    if dataset == "csv":
        if splits is None or not splits.is_file():
            raise UserError("--dataset csv needs --splits pointing at the CSV file (path,label[,split][,fold][,caption])")
        rows, problems = read_generic_csv(splits, frames, root)
        if fold is not None:
            rows = [r for r in rows if r.fold == fold]
            if not rows:
                raise UserError(f"the CSV has no rows of fold {fold}")
        return rows, problems
    files = find_split_files(dataset, splits if splits is not None else root, captions)
    if fold is not None:
        folds = sorted({f.fold for f in files if f.fold is not None})
        if not folds:
            raise UserError(f"{dataset} has a single train/test split; drop --fold")
        if fold not in folds:
            raise UserError(f"{dataset} has no fold {fold} here; folds found: {', '.join(map(str, folds))}")
        files = [f for f in files if f.fold == fold]
    rows, problems = [], []
    for file in files:
        if not file.path.is_file():
            raise UserError(f"split file {file.path} is missing")
        if dataset == "dfew":
            got = read_dfew(file, frames)
        elif dataset == "ferv39k":
            got = read_ferv39k(file, frames)
        else:
            got = read_mafw(file, frames, captions)
        rows += got[0]
        problems += got[1]
    return rows, problems


def build_manifests(
    dataset: str,
    data_root: str | Path,
    splits: str | Path | None = None,
    fold: int | None = None,
    frames: str | None = None,
    captions: bool = False,
    classes: list[str] | None = None,
    dfew_base: int | None = None,
    workers: int = 8,
    progress: bool = False,
) -> BuildResult:
    """Read the split files, validate every clip on disk and return the manifests and all problems.

    `classes` (csv only) restricts labels to a class list; `dfew_base` overrides the DFEW label base
    read from the files; `frames` is the frame folder (or video folder) relative to the data root.
    """
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    if classes is not None and dataset != "csv":
        raise UserError("a class list can only be given for --dataset csv; the official datasets have theirs")
    root = Path(data_root).expanduser().resolve()
    if not root.is_dir():
        raise UserError(f"data root {root} does not exist")
    frames = (DEFAULT_FRAMES[dataset] if frames is None else frames).strip("/")
    if Path(frames).is_absolute() or ".." in Path(frames).parts:
        raise UserError(f"--frames {frames!r} must be a folder relative to the data root")
    if frames and not (root / frames).is_dir():
        raise UserError(f"frame folder {root / frames} does not exist; pass --frames to name where the clips are")
    rows, problems = _read_rows(dataset, root, Path(splits).expanduser() if splits else None, frames, captions, fold)
    info: dict = {"dataset": dataset, "root": str(root), "frames": frames}

    # Labels: canonical names (lists for compound labels).
    base = 1
    if dataset == "dfew":
        base = dfew_base if dfew_base is not None else labels.dfew_label_base(r.raw_label for r in rows)
        info["dfew_label_base"] = base
    canonical: dict[int, str | list[str]] = {}
    for k, row in enumerate(rows):
        try:
            if dataset == "mafw-compound":
                canonical[k] = labels.compound_label(row.raw_label)
            else:
                name = labels.canonical_label(dataset, row.raw_label, dfew_base=base)
                if classes is not None and name not in classes:
                    raise UserError(f"label {row.raw_label!r} is not one of the classes given")
                canonical[k] = name
        except UserError as exc:
            problems.append(Problem("unknown label", row.id, f"{row.where}: {exc}"))

    # Duplicate ids: twice in one manifest, or in both train and test of one fold (a leak).
    by_group: dict[tuple, list[int]] = defaultdict(list)
    by_fold: dict[tuple, list[int]] = defaultdict(list)
    for k, row in enumerate(rows):
        by_group[(row.fold, row.split, row.id)].append(k)
        by_fold[(row.fold, row.id)].append(k)
    bad_rows: set[int] = set()
    for (_, _, clip_id), ks in by_group.items():
        if len(ks) > 1:
            bad_rows.update(ks)
            where = ", ".join(rows[k].where for k in ks)
            problems.append(Problem("duplicate id", clip_id, f"id {clip_id} is listed {len(ks)} times ({where})"))
    for (fold_k, clip_id), ks in by_fold.items():
        names = sorted({rows[k].split for k in ks})
        if len(names) > 1:
            bad_rows.update(ks)
            fold_text = "" if fold_k is None else f" of fold {fold_k}"
            problems.append(Problem("duplicate id", clip_id,
                                    f"id {clip_id} is in several splits{fold_text}: {', '.join(names)}"))

    # Clips on disk: each distinct location once (DFEW's folds share their clips).
    locations = sorted({(r.base, r.name) for r in rows}, key=lambda loc: (loc[0], loc[1] or ""))
    states = _inspect_all(root, locations, workers, progress)
    reported: set[tuple] = set()
    for row in rows:
        state = states[(row.base, row.name)]
        if state.kind is not None and (row.base, row.name) not in reported:
            reported.add((row.base, row.name))
            problems.append(Problem(state.kind, row.id, state.message))

    # Records: every row without a problem of its own or of its clip.
    bad_ids = {p.id for p in problems}
    source = Path(frames).name if frames else "files"
    manifests: dict[str, list[ClipRecord]] = {}
    for k, row in enumerate(rows):
        name = manifest_name(dataset, row.fold, row.split)
        manifests.setdefault(name, [])
        state = states[(row.base, row.name)]
        if k in bad_rows or k not in canonical or state.kind is not None:
            continue
        manifests[name].append(ClipRecord(
            id=row.id, path=state.path, label=canonical[k], num_frames=state.num_frames, split=row.split,
            fold=row.fold, dataset=dataset, source=source, root=str(root), caption=row.caption,
        ))
    info["source"] = source
    return BuildResult(dataset, manifests, problems, sorted(bad_ids), info)


def _inspect_all(root: Path, locations: list[tuple], workers: int, progress: bool) -> dict[tuple, _ClipState]:
    from tqdm import tqdm

    # Batches of clips per task: one future per clip costs more than a folder listing does.
    batch = 128
    chunks = [locations[i:i + batch] for i in range(0, len(locations), batch)]
    states: dict[tuple, _ClipState] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, \
            tqdm(total=len(locations), desc="counting frames", unit="clip", disable=not progress) as bar:
        work = pool.map(lambda chunk: [_inspect(str(root), base, name) for base, name in chunk], chunks)
        for chunk, found in zip(chunks, work, strict=True):
            states.update(zip(chunk, found, strict=True))
            bar.update(len(chunk))
    return states


def format_report(problems: list[Problem], examples: int = 5) -> str:
    """Counts per problem kind and the first examples of each, one line per example."""
    if not problems:
        return "no problems found"
    by_kind: dict[str, list[Problem]] = defaultdict(list)
    for p in problems:
        by_kind[p.kind].append(p)
    lines = [f"{len(problems)} problem(s) found:"]
    for kind in PROBLEM_KINDS + tuple(k for k in by_kind if k not in PROBLEM_KINDS):
        if kind not in by_kind:
            continue
        found = by_kind[kind]
        lines.append(f"  {kind}: {len(found)}")
        lines += [f"    {p.message}" for p in found[:examples]]
        if len(found) > examples:
            lines.append(f"    ... and {len(found) - examples} more")
    return "\n".join(lines)


def format_summary(result: BuildResult) -> str:
    lines = []
    for name, records in sorted(result.manifests.items()):
        counts = Counter(r.label_name for r in records)
        frames = sum(r.num_frames for r in records)
        lines.append(f"{name}: {len(records)} clips, {frames} frames, {len(counts)} classes")
    extra = [f"{k}={v}" for k, v in result.info.items() if k not in ("dataset",)]
    lines.append("  ".join(extra))
    return "\n".join(lines)


def skipped_file_name(dataset: str, fold: int | None) -> str:
    return f"{dataset}{'' if fold is None else f'_fold{fold}'}_skipped.tsv"


def write_manifests(result: BuildResult, out_dir: str | Path, skip_bad: bool = False,
                    fold: int | None = None) -> list[Path]:
    """Write every manifest atomically; with problems, only when `skip_bad` (skipped ids to a side file)."""
    if result.problems and not skip_bad:
        raise UserError(f"{len(result.problems)} problem(s) found, nothing was written; "
                        "fix them or pass --skip-bad to leave those clips out")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file, not a folder")
    written = []
    try:
        for name, records in sorted(result.manifests.items()):
            path = out_dir / name
            write_manifest(path, records)
            written.append(path)
        if result.problems:
            # One line per skipped id with every reason it was skipped.
            reasons: dict[str, list[str]] = defaultdict(list)
            for p in result.problems:
                reasons[p.id].append(f"{p.kind}: {p.message}")
            text = "id\treasons\n" + "".join(f"{i}\t{' | '.join(reasons[i])}\n" for i in result.skipped_ids)
            path = out_dir / skipped_file_name(result.dataset, fold)
            atomic.write_text(path, text)
            written.append(path)
    except OSError as exc:
        raise UserError(f"cannot write manifests to {out_dir} ({exc.strerror or exc})") from None
    return written
