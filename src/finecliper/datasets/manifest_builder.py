"""Building and validating manifests from a dataset's split files and the clips on disk.

`build_manifests` asks the dataset's registry entry (`finecliper.datasets`) for the rows of its split files,
maps labels to canonical names, finds each clip under the data root and counts its frames (`clip_check`),
and collects *every* problem instead of stopping at the first: bad rows, unknown labels, duplicate ids,
missing clips, empty clips, unreadable files. `write_manifests` writes nothing while problems remain unless
asked to skip them; skipped ids then go to a side file.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from finecliper import atomic
from finecliper.data.manifest import ClipRecord, leaves_root, write_manifest
from finecliper.datasets import DATASETS, DatasetSpec
from finecliper.datasets.clip_check import ClipState, Location, inspect_clips
from finecliper.datasets.records import PROBLEM_KINDS, Problem, SplitRow
from finecliper.datasets.spec import Label
from finecliper.errors import UserError
from finecliper.paths import existing_folder, output_folder


@dataclass
class BuildResult:
    dataset: str
    manifests: dict[str, list[ClipRecord]]  # output file name -> records, problem clips removed
    problems: list[Problem]
    skipped_ids: list[str]  # ids left out of the manifests because of a problem
    info: dict = field(default_factory=dict)  # frame source, DFEW label base, ...


def manifest_name(dataset: str, fold: int | None, split: str) -> str:
    return f"{dataset}{'' if fold is None else f'_fold{fold}'}_{split}.jsonl"


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
    frame_check: str = "all",
) -> BuildResult:
    """Read the split files, validate every clip on disk and return the manifests and all problems.

    `classes` restricts the labels of a dataset without classes of its own (csv) to a class list;
    `dfew_base` overrides the DFEW label base read from the files; `frames` is the frame folder (or video
    folder) relative to the data root, by default the dataset's own; `frame_check` ("all" or "first") how
    much of each frame folder is decoded (datasets/clip_check.py).
    """
    spec = DATASETS.get(dataset)
    if classes is not None and spec.classes is not None:
        takes = [name for name, s in DATASETS.items() if s.classes is None]
        raise UserError(f"a class list can only be given for --dataset {' or '.join(takes)}; {dataset} has its own")
    root = _data_root(data_root)
    frames = _frame_folder(root, spec.frames if frames is None else frames)
    rows, problems = spec.read_rows(root, Path(splits).expanduser() if splits else None, frames, captions, fold)
    rows = _inside_root(rows, problems)
    info: dict = {"dataset": dataset, "root": str(root), "frames": frames}
    labels, label_info = _canonical_labels(spec, rows, classes, dfew_base, problems)
    info.update(label_info)
    duplicated = _duplicated_rows(rows, problems)
    states = _check_clips(root, rows, workers, progress, problems, frame_check)
    info["source"] = Path(frames).name if frames else "files"
    manifests = _manifests(dataset, rows, labels, duplicated, states, info["source"], root)
    return BuildResult(dataset, manifests, problems, sorted({p.id for p in problems}), info)


def _data_root(data_root: str | Path) -> Path:
    return existing_folder(Path(data_root).expanduser().resolve(), "data root")


def _frame_folder(root: Path, frames: str) -> str:
    frames = frames.strip("/")
    if Path(frames).is_absolute() or ".." in Path(frames).parts:
        raise UserError(f"--frames {frames!r} must be a folder relative to the data root")
    if frames:
        existing_folder(root / frames, "frame folder", "pass --frames to name where the clips are")
    return frames


def _inside_root(rows: list[SplitRow], problems: list[Problem]) -> list[SplitRow]:
    """The rows whose id and clip stay under the data root; the others are bad rows (`../../x`, `/etc`)."""
    kept = []
    for row in rows:
        outside = [text for text in (row.id, row.base, row.name) if text and leaves_root(text)]
        if outside:
            problems.append(Problem("bad row", row.id, f"{row.where}: {outside[0]!r} points outside the data root"))
        else:
            kept.append(row)
    return kept


def _canonical_labels(spec: DatasetSpec, rows: list[SplitRow], classes: list[str] | None, label_base: int | None,
                      problems: list[Problem]) -> tuple[dict[int, Label], dict]:
    """Row index -> canonical label (a list for compound labels), and the dataset's facts about its labels."""
    read, info = spec.label_reader([r.raw_label for r in rows], label_base)
    labels: dict[int, Label] = {}
    for k, row in enumerate(rows):
        try:
            label = read(row.raw_label)
            if classes is not None and label not in classes:
                raise UserError(f"label {row.raw_label!r} is not one of the classes given")
            labels[k] = label
        except UserError as exc:
            problems.append(Problem("unknown label", row.id, f"{row.where}: {exc}"))
    return labels, info


def _duplicated_rows(rows: list[SplitRow], problems: list[Problem]) -> set[int]:
    """Rows whose id is listed twice in one manifest, or in both train and test of one fold (a leak)."""
    by_group: dict[tuple, list[int]] = defaultdict(list)
    by_fold: dict[tuple, list[int]] = defaultdict(list)
    for k, row in enumerate(rows):
        by_group[(row.fold, row.split, row.id)].append(k)
        by_fold[(row.fold, row.id)].append(k)
    duplicated: set[int] = set()
    for (_, _, clip_id), ks in by_group.items():
        if len(ks) > 1:
            duplicated.update(ks)
            where = ", ".join(rows[k].where for k in ks)
            problems.append(Problem("duplicate id", clip_id, f"id {clip_id} is listed {len(ks)} times ({where})"))
    for (fold_k, clip_id), ks in by_fold.items():
        names = sorted({rows[k].split for k in ks})
        if len(names) > 1:
            duplicated.update(ks)
            fold_text = "" if fold_k is None else f" of fold {fold_k}"
            problems.append(Problem("duplicate id", clip_id,
                                    f"id {clip_id} is in several splits{fold_text}: {', '.join(names)}"))
    return duplicated


def _check_clips(root: Path, rows: list[SplitRow], workers: int, progress: bool,
                 problems: list[Problem], frame_check: str) -> dict[Location, ClipState]:
    """Each distinct clip location checked once (DFEW's folds share their clips), its problem reported once."""
    locations = sorted({(r.base, r.name) for r in rows}, key=lambda loc: (loc[0], loc[1] or ""))
    states = inspect_clips(root, locations, workers, progress, frame_check)
    reported: set[Location] = set()
    for row in rows:
        location = (row.base, row.name)
        state = states[location]
        if state.kind is not None and location not in reported:
            reported.add(location)
            problems.append(Problem(state.kind, row.id, state.message))
    return states


def _manifests(dataset: str, rows: list[SplitRow], labels: dict[int, Label], duplicated: set[int],
               states: dict[Location, ClipState], source: str, root: Path) -> dict[str, list[ClipRecord]]:
    """One record per row without a problem of its own or of its clip, in each split's manifest."""
    manifests: dict[str, list[ClipRecord]] = {}
    for k, row in enumerate(rows):
        records = manifests.setdefault(manifest_name(dataset, row.fold, row.split), [])
        state = states[(row.base, row.name)]
        if k in duplicated or k not in labels or state.kind is not None:
            continue
        records.append(ClipRecord(
            id=row.id, path=state.path, label=labels[k], num_frames=state.num_frames, split=row.split,
            fold=row.fold, dataset=dataset, source=source, root=str(root), caption=row.caption,
        ))
    return manifests


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
    empty = [name for name, records in sorted(result.manifests.items()) if not records]
    if empty:
        which = "every clip has a problem" if len(empty) == len(result.manifests) else \
            f"every clip of {empty[0]} has a problem"
        raise UserError(f"{which} ({len(result.problems)} problem(s)), so there is no manifest to write; "
                        "nothing was written")
    out_dir = output_folder(out_dir)
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
