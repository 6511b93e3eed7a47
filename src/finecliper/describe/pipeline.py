"""The describe pipeline: a backend over a manifest into a resumable descriptions file, and refine-only runs.

Output: one JSON line per clip (`finecliper.data.descriptions`) with `id`, `raw`, `refined`, `removed`,
`status`, `backend`, `model`, `prompt` (its name), `prompt_hash`, `generation` and `refiner`. `status` is
"ok" (refined text present), "emptied" (the refiner removed everything: `refined` is null rather than the leak), "empty"
(the backend gave no text) or "no-face" (landmarks: too few tracked frames); `note` explains the last
three.

Resumable and crash-safe: every record is appended as one whole line and flushed; a run first cuts an
unfinished last line left by a crash (so that the next record does not get glued to it), then skips
clips whose record is already in the file. A file made with other settings (backend, model, prompt,
generation) is refused instead of being mixed. Clips are prepared (frames read, cues loaded) in
worker threads one batch ahead of the model. A clip that cannot be read is reported and left out of
the file, so that the next run retries it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from finecliper import atomic
from finecliper.data.descriptions import append_record, coverage, read_descriptions, read_records, repair_tail
from finecliper.data.jsonl import read_jsonl
from finecliper.data.manifest import ClipRecord
from finecliper.data.shards import Shard
from finecliper.describe.backends import Backend, Output, Skip
from finecliper.describe.refine import Refiner
from finecliper.describe.shards import clear_marker, merge_shards, write_marker
from finecliper.errors import UserError
from finecliper.run_lock import lock_file

log = logging.getLogger(__name__)

# Tokens of CLIP's text tower, start and end of text included: every real CLIP of arch/ (the demo's `small`
# takes 128, and describe has no model to ask).
CLIP_CONTEXT = 77
# Record fields that must agree between a file and a run that appends to it.
_PROVENANCE = ("backend", "model", "prompt_hash", "generation")


@dataclass
class DescribeSummary:
    """What one describe (or refine) run did; `failed` is the clips that failed, as in `CuesSummary`."""

    clips: int = 0  # clips in the manifest (distinct ids)
    already_done: int = 0  # skipped because the file already holds them
    written: int = 0  # records written by this run
    changed: int = 0  # records whose text the refiner changed
    emptied: int = 0  # records the refiner emptied
    empty: int = 0  # records whose describer gave no text
    no_face: int = 0
    # ids of the clips the describer had nothing for (e.g. no caption): not recorded
    skipped: list[str] = field(default_factory=list)
    # {"id", "reason"} of the clips that could not be read: not recorded, retried by the next run
    failed: list[dict] = field(default_factory=list)
    repaired_bytes: int = 0  # bytes of an unfinished last line cut before appending
    seconds: float = 0.0
    # per split of the manifest, over the whole file: clips without a description, descriptions cut at the
    # text tower's context (`data.descriptions.coverage`)
    splits: dict[str, dict] = field(default_factory=dict)

    def add(self, record: dict) -> None:
        """Count one record written by this run."""
        self.written += 1
        self.changed += bool(record.get("removed"))
        self.emptied += record.get("status") == "emptied"
        self.empty += record.get("status") == "empty"
        self.no_face += record.get("status") == "no-face"

    def failure_lines(self, limit: int = 20) -> list[str]:
        """"ID: reason" of the first `limit` failures."""
        return [f"{f['id']}: {f['reason']}" for f in self.failed[:limit]]

    @property
    def clips_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict:
        """The object `finecliper describe --json` prints (docs/design.md §8): `failed` is a count there."""
        return {
            "clips": self.clips, "already_done": self.already_done, "written": self.written,
            "changed": self.changed, "emptied": self.emptied, "empty": self.empty, "no_face": self.no_face,
            "skipped": len(self.skipped), "failed": len(self.failed), "failures": self.failure_lines(),
            "repaired_bytes": self.repaired_bytes, "seconds": round(self.seconds, 3),
            "clips_per_second": round(self.clips_per_second, 3), "splits": self.splits,
        }


def refiner_info(refiner: Refiner) -> dict:
    lex = refiner.lexicon
    digest = hashlib.sha256(json.dumps(asdict(lex), sort_keys=True).encode()).hexdigest()[:16]
    return {"lexicon": digest, "strict": refiner.strict}


def make_record(clip_id: str, output: Output, refiner: Refiner, provenance: dict) -> dict:
    raw = output.raw if output.raw is None else output.raw.strip()
    result = refiner.refine(raw)
    record = {"id": clip_id, "raw": raw, "refined": result.text, "removed": result.removed}
    note = output.note
    if output.status is not None:
        status = output.status
    elif not raw:
        status, note = "empty", note or "the backend gave no text"
    elif result.text is None:
        status, note = "emptied", note or "refinement removed every sentence: all of it named or implied an emotion"
    else:
        status = "ok"
    record["status"] = status
    if note:
        record["note"] = note
    record.update(provenance)
    return record


def _provenance(backend: Backend, refiner: Refiner) -> dict:
    return {
        "backend": backend.name,
        "model": backend.model,
        "prompt": backend.prompt_name,
        "prompt_hash": backend.prompt_hash,
        "generation": backend.generation,
        "refiner": refiner_info(refiner),
    }


def _check_compatible(path: Path, records: list[dict], provenance: dict) -> None:
    for record in records:
        for key in _PROVENANCE:
            if key in record and record[key] != provenance[key]:
                raise UserError(
                    f"{path} already holds descriptions made with another {key.replace('_', ' ')} "
                    f"({record[key]!r}, this run: {provenance[key]!r}); write to another --out file"
                )


def _prepare(backend: Backend, clip: ClipRecord):
    try:
        return "ok", backend.prepare(clip)
    except Skip as exc:
        return "skip", str(exc)
    except UserError as exc:
        return "error", str(exc)


def describe_manifest(clips: list[ClipRecord], out: str | Path, backend: Backend, refiner: Refiner | None = None,
                      *, limit: int | None = None, workers: int = 2, progress: bool | None = None,
                      too_long: Callable[[list[str]], int] | None = None,
                      shard: Shard | None = None) -> DescribeSummary:
    """Describe every clip not yet in `out`, appending one record per clip; returns the run's summary, with
    per split the clips left without a description and, with `too_long` (counts the texts over CLIP's
    context), the descriptions the text tower will cut.

    With `shard`, only that shard's clips, into the shard's own file (`describe.shards`)."""
    out = Path(out)
    refiner = refiner or Refiner()
    provenance = _provenance(backend, refiner)
    summary = DescribeSummary()
    unique = _unique(clips)
    if shard is not None:
        unique = {clip_id: unique[clip_id] for clip_id in shard.select(list(unique))}
        out = shard.file(out)
    summary.clips = len(unique)
    with lock_file(out, "descriptions file"):  # one writer per file: no interleaved or cut records
        if shard is not None:
            clear_marker(out)  # unfinished until this run has given every clip its turn
        todo = _not_yet_described(out, unique, provenance, summary)
        whole = limit is None or limit >= len(todo)  # every clip of the run gets its turn
        if limit is not None:
            todo = todo[: max(0, limit)]
        if todo:
            backend.check(todo)
            start = time.perf_counter()
            _describe(todo, out, backend, refiner, provenance, summary, workers, progress)
            summary.seconds = time.perf_counter() - start
        summary.splits = split_coverage(unique, out, too_long)
        if shard is not None and whole:
            write_marker(out, shard, summary.clips, [f["id"] for f in summary.failed], summary.skipped)
    return summary


def merge_descriptions(clips: list[ClipRecord], out: str | Path, shards: int) -> DescribeSummary:
    """Merge the descriptions files of `shards` finished shards of `out` into `out` (`describe.shards`)."""
    summary = DescribeSummary()
    with lock_file(Path(out), "descriptions file"):
        merge_shards(_unique(clips), out, shards, summary)
    return summary


def split_coverage(unique: dict[str, ClipRecord], out: Path, too_long=None) -> dict[str, dict]:
    """Per split of the manifest's clips (`split`, else "all"): `coverage` of their texts in `out`."""
    texts = read_descriptions(out) if out.exists() else {}
    by_split: dict[str, list[str | None]] = {}
    for clip_id, clip in unique.items():
        by_split.setdefault(clip.split or "all", []).append(texts.get(clip_id))
    return {split: coverage(values, too_long, CLIP_CONTEXT) for split, values in by_split.items()}


def _unique(clips: list[ClipRecord]) -> dict[str, ClipRecord]:
    unique: dict[str, ClipRecord] = {}
    for clip in clips:
        unique.setdefault(clip.id, clip)
    if len(unique) < len(clips):
        log.warning("the manifest lists %d clip ids more than once; each is described once", len(clips) - len(unique))
    return unique


def _not_yet_described(out: Path, unique: dict[str, ClipRecord], provenance: dict,
                       summary: DescribeSummary) -> list[ClipRecord]:
    """The clips `out` does not hold yet, after cutting an unfinished last line and checking its settings."""
    summary.repaired_bytes = repair_tail(out)
    if summary.repaired_bytes:
        log.warning("cut an unfinished last line (%d bytes) left in %s by an interrupted run", summary.repaired_bytes, out)
    done: set[str] = set()
    if out.exists():
        existing = read_records(out)
        _check_compatible(out, existing, provenance)
        done = {str(r["id"]) for r in existing}
    todo = [clip for clip_id, clip in unique.items() if clip_id not in done]
    summary.already_done = len(unique) - len(todo)
    return todo


def _describe(todo: list[ClipRecord], out: Path, backend: Backend, refiner: Refiner, provenance: dict,
              summary: DescribeSummary, workers: int, progress: bool | None) -> None:
    """Batches through the describer, each prepared in worker threads while the one before it runs."""
    size = max(1, backend.batch_size)
    batches = [todo[i:i + size] for i in range(0, len(todo), size)]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, \
            tqdm(total=len(todo), unit="clip", desc=f"describe ({backend.name})",
                 disable=None if progress is None else not progress) as bar:
        ahead = [pool.submit(_prepare, backend, clip) for clip in batches[0]]
        for index, batch in enumerate(batches):
            current = ahead
            if index + 1 < len(batches):  # read the next batch while the model works on this one
                ahead = [pool.submit(_prepare, backend, clip) for clip in batches[index + 1]]
            ready, inputs = _collect(batch, current, summary)
            outputs = backend.run(inputs) if inputs else []
            if len(outputs) != len(ready):
                raise RuntimeError(f"backend {backend.name} returned {len(outputs)} outputs for {len(ready)} clips")
            for clip, output in zip(ready, outputs, strict=True):
                record = make_record(clip.id, output, refiner, provenance)
                append_record(out, record)
                summary.add(record)
            bar.update(len(batch))


def _collect(batch: list[ClipRecord], futures, summary: DescribeSummary) -> tuple[list[ClipRecord], list]:
    """The batch's clips that were prepared, and their inputs; skips and failures are counted."""
    ready, inputs = [], []
    for clip, future in zip(batch, futures, strict=True):
        kind, value = future.result()
        if kind == "ok":
            ready.append(clip)
            inputs.append(value)
        elif kind == "skip":
            summary.skipped.append(clip.id)
        else:
            summary.failed.append({"id": clip.id, "reason": value})
            log.error("%s: %s", clip.id, value)
    return ready, inputs


# -- refine-only -----------------------------------------------------------------------------------
_TEXT_FIELDS = ("raw", "caption", "text", "description")


def refine_file(src: str | Path, out: str | Path, refiner: Refiner | None = None,
                field: str | None = None) -> DescribeSummary:
    """Refine the text of every JSON line of `src` into a descriptions file `out` (written atomically)."""
    # Locked from the start: a describe run appending to `out` meanwhile would lose its records.
    with lock_file(out, "descriptions file"):
        return _refine_into(src, out, refiner, field)


def _refine_into(src: str | Path, out: str | Path, refiner: Refiner | None,
                 field: str | None) -> DescribeSummary:
    refiner = refiner or Refiner()
    info = refiner_info(refiner)
    summary = DescribeSummary()
    lines = []
    start = time.perf_counter()
    for lineno, item in read_jsonl(src, "input file", complete_only=True):
        text = _input_text(item, field, f"{src}:{lineno}")
        provenance = {
            "backend": item.get("backend", "refine"),
            "model": item.get("model"),
            "prompt": item.get("prompt"),
            "prompt_hash": item.get("prompt_hash"),
            "generation": item.get("generation", {}),
            "refiner": info,
        }
        status = "no-face" if item.get("status") == "no-face" else None
        record = make_record(str(item["id"]), Output(text, status, item.get("note")), refiner, provenance)
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        summary.clips += 1
        summary.add(record)
    atomic.write_text(out, "".join(lines))
    summary.seconds = time.perf_counter() - start
    return summary


def _input_text(item: dict, field: str | None, where: str) -> str | None:
    """The text to refine of one input line: `field`, else the first of _TEXT_FIELDS it has."""
    if "id" not in item:
        raise UserError(f"{where} has no 'id'")
    name = field or next((f for f in _TEXT_FIELDS if f in item), None)
    if name is None or name not in item:
        wanted = field or " or ".join(_TEXT_FIELDS)
        raise UserError(f"{where} has no text field ({wanted}); choose one with --field")
    text = item[name]
    if text is not None and not isinstance(text, str):
        raise UserError(f"{where}: field {name!r} is not text")
    return text
