"""`finecliper cues` over a manifest: resumable, parallel, with a progress bar and a final summary.

Every clip of the manifest becomes one file of a `CueStore`. A rerun skips clips whose file loads and
has the manifest's frame count, and redoes corrupt or stale ones; files are written atomically, so a
run killed at any point leaves only complete files, and since every clip is computed independently of
the others (fresh tracker per clip) the resumed store equals an uninterrupted one. A store remembers
its settings in `provenance.json`; writing into it with other settings is refused, so a store never
mixes two kinds of cues.

`--workers N` runs clips in N spawned processes (MediaPipe's graphs and torch do not survive a fork
safely), each loading the backends once; they end with the parent process, even a SIGKILLed one
(`worker_lifetime`). A clip that fails (unreadable frame, no face in any frame)
is listed in the summary with its reason and does not stop the run; `summary.json` in the store holds
the last run's summary: clips done / skipped / redone / failed, the frames without a face, and the clips
whose face the detector did not confirm (`data.face_verdict`).

`--shard I/N` (`data.shards`) processes only every N-th clip from the I-th, so that several machines or
GPUs share a manifest; the shards may write into one store at once, as every clip is its own file written
atomically and `provenance.json` is the same from every shard (written atomically too). Each shard keeps
its summary in `summary.shard-I-of-N.json`, so that no two processes write one file. A shard holds the
store's lock only to check and write the provenance, then its own shard's lock: a second run of the same
shard is refused, and an unsharded run (which holds the store's lock throughout) refuses shards. Shards
leave the temporary files of killed runs to the next unsharded run, which removes them.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from finecliper import atomic
from finecliper.cues.extract import CueSettings, Extractor
from finecliper.cues.worker_lifetime import die_with_parent
from finecliper.data.cue_store import CueStore
from finecliper.data.face_verdict import MIN_SHARE, face_verdict
from finecliper.data.manifest import ClipRecord
from finecliper.data.shards import Shard
from finecliper.errors import UserError
from finecliper.run_lock import lock_dir, lock_file

log = logging.getLogger(__name__)


@dataclass
class CuesSummary:
    """What one `finecliper cues` run did; `failed` is the clips that failed, as in `DescribeSummary`."""

    clips: int = 0
    done: int = 0
    skipped: int = 0  # complete already
    redone: int = 0  # corrupt or stale files computed again (counted in `done` too)
    failed: list[dict] = field(default_factory=list)  # {"id", "reason"}
    frames: int = 0  # frames of the clips done in this run
    frames_without_face: int = 0  # of those, interpolated and flagged invalid
    clips_with_frames_without_face: int = 0
    # Clips done in this run whose face the detector did not confirm (data.face_verdict, default thresholds):
    # {"id", "frames", "confirmed", "median_score"}; training leaves them out or refuses, predict refuses.
    no_face: list[dict] = field(default_factory=list)

    def text(self) -> str:
        lines = [
            f"{self.clips} clips: {self.done} done ({self.redone} of them redone: corrupt or stale), "
            f"{self.skipped} skipped (already complete), {len(self.failed)} failed",
            f"{self.frames_without_face} of {self.frames} frames had no face (landmarks interpolated, flagged "
            f"invalid) in {self.clips_with_frames_without_face} clips",
        ]
        if self.no_face:
            lines.append(f"{len(self.no_face)} clips show no real face (the face detector confirmed a face in under "
                         f"{MIN_SHARE:.0%} of their frames), first: " + ", ".join(c["id"] for c in self.no_face[:5]))
        for item in self.failed[:10]:
            lines.append(f"failed {item['id']}: {item['reason']}")
        if len(self.failed) > 10:
            lines.append(f"... and {len(self.failed) - 10} more failures (see summary.json)")
        return "\n".join(lines)


# --- one clip, in whichever process runs it -----------------------------------------------------------

_EXTRACTOR: Extractor | None = None


def _init_worker(settings: CueSettings, threads: int, parent: int) -> None:
    global _EXTRACTOR
    die_with_parent(parent)  # a SIGKILLed parent cannot shut its pool down: the workers must go by themselves
    torch.set_num_threads(threads)  # the parsing model's share of the cores
    _EXTRACTOR = Extractor(settings)


def _process(clip_id: str, path: str, num_frames: int | None, store_root: str) -> dict:
    """Skip, or compute and save, one clip. Returns its outcome; never raises for a clip's own failure."""
    store = CueStore(store_root)
    redo = False
    known = num_frames  # the manifest's count spares decoding a video to count its frames
    if store.has(clip_id):
        try:
            cues = store.load(clip_id, parsing=False)  # the frame count is all this needs
        except UserError:
            redo = True  # corrupt: computed again below
        else:
            if num_frames is None or cues.num_frames == num_frames:
                return {"id": clip_id, "status": "skipped"}
            redo = True  # stale: the clip on disk changed since its cues were made
            known = None  # the manifest and the store disagree: count the frames afresh
    try:
        cues = _EXTRACTOR.extract(path, known)
    except UserError as exc:
        return {"id": clip_id, "status": "failed", "reason": str(exc)}
    except Exception as exc:  # a backend crash on one clip must not cost the others
        log.debug("clip %s", clip_id, exc_info=True)
        return {"id": clip_id, "status": "failed", "reason": f"internal error: {type(exc).__name__}: {exc}"}
    store.save(clip_id, cues)
    verdict = face_verdict(cues)
    return {"id": clip_id, "status": "done", "redone": redo, "frames": int(cues.num_frames),
            "without_face": int((~cues.valid).sum()), "confirmed": verdict.confirmed,
            "median_score": round(verdict.median_score, 3), "is_face": verdict.is_face}


# --- the run ----------------------------------------------------------------------------------------


def check_provenance(store: CueStore, provenance: dict) -> None:
    """Refuse a store that was written with other settings; warn when only versions differ."""
    old = store.provenance()
    if not old:
        return
    if old.get("settings") != provenance["settings"]:
        diffs = [
            f"{k}: {old.get('settings', {}).get(k)!r} there, {v!r} now"
            for k, v in provenance["settings"].items() if old.get("settings", {}).get(k) != v
        ]
        raise UserError(
            f"the cue store {store.root} was written with other settings ({'; '.join(diffs) or 'unknown'}); "
            "choose another --out folder"
        )
    old_hash = old.get("landmark_model", {}).get("sha256")
    new_hash = provenance.get("landmark_model", {}).get("sha256")
    if old_hash and new_hash and old_hash != new_hash:
        raise UserError(
            f"the cue store {store.root} was written with another {provenance['settings']['backend']} weights file "
            f"(sha256 {old_hash[:12]}... there, {new_hash[:12]}... now); choose another --out folder"
        )
    if old.get("versions") != provenance["versions"]:
        log.warning("cue store %s was written with other versions (%s); new clips use %s",
                    store.root, old.get("versions"), provenance["versions"])


def run_cues(records: list[ClipRecord], out: str | Path, settings: CueSettings, workers: int = 1,
             progress: bool = True, shard: Shard | None = None) -> CuesSummary:
    """Cues of every record (of `shard`'s records) into the store at `out`; returns (and writes) the run's
    summary."""
    if workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise UserError(f"clip id {dup!r} appears more than once in the manifest")
    if shard is not None:
        records = shard.select(records)
    store = CueStore(out)
    extractor = Extractor(settings)  # validates the settings and the parsing model before any work
    # One writer per store: checking the provenance and writing it are one step under the lock, so two
    # runs with other settings cannot both pass the check (docs/design.md §5). Shards of one run share the
    # store: each takes its lock only for that step, then holds its own shard's lock while it works.
    if shard is None:
        with lock_dir(store.root, "cue store"):
            _claim_provenance(store, extractor)
            return _run_locked(records, store, settings, extractor, workers, progress, shard)
    with lock_dir(store.root, "cue store", clean=False):
        _claim_provenance(store, extractor)
    with lock_file(summary_path(store.root, shard), f"shard {shard.tag} of cue store"):
        return _run_locked(records, store, settings, extractor, workers, progress, shard)


def _claim_provenance(store: CueStore, extractor: Extractor) -> None:
    provenance = extractor.provenance()
    check_provenance(store, provenance)
    store.write_provenance(provenance)


def _run_locked(records: list[ClipRecord], store: CueStore, settings: CueSettings, extractor: Extractor,
                workers: int, progress: bool, shard: Shard | None) -> CuesSummary:

    summary = CuesSummary(clips=len(records))
    tasks = [(r.id, str(r.full_path), r.num_frames, str(store.root)) for r in records]
    bar = tqdm(total=len(tasks), unit="clip", desc="cues", disable=not progress, file=sys.stderr)

    def record(outcome: dict) -> None:
        status = outcome["status"]
        if status == "skipped":
            summary.skipped += 1
        elif status == "failed":
            summary.failed.append({"id": outcome["id"], "reason": outcome["reason"]})
        else:
            summary.done += 1
            summary.redone += int(outcome["redone"])
            summary.frames += outcome["frames"]
            summary.frames_without_face += outcome["without_face"]
            summary.clips_with_frames_without_face += int(outcome["without_face"] > 0)
            if not outcome["is_face"]:
                summary.no_face.append({k: outcome[k] for k in ("id", "frames", "confirmed", "median_score")})
        bar.update(1)
        bar.set_postfix(failed=len(summary.failed), refresh=False)

    try:
        if workers == 1:
            global _EXTRACTOR
            _EXTRACTOR = extractor
            for task in tasks:
                record(_process(*task))
        else:
            _run_parallel(tasks, settings, workers, record)
    finally:
        bar.close()
    atomic.write_text(summary_path(store.root, shard), json.dumps(asdict(summary), indent=2) + "\n")
    return summary


def summary_path(root: Path, shard: Shard | None) -> Path:
    """Where a run's summary goes: summary.json, or the shard's own summary.shard-I-of-N.json."""
    return root / ("summary.json" if shard is None else f"summary.{shard.tag}.json")


def _run_parallel(tasks, settings: CueSettings, workers: int, record) -> None:
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                               initargs=(settings, threads, os.getpid()))
    try:
        futures = [pool.submit(_process, *task) for task in tasks]
        for future in as_completed(futures):
            record(future.result())
    except BrokenProcessPool:
        pool.shutdown(wait=False, cancel_futures=True)
        raise UserError(
            "a worker process died (out of memory, or a crash inside a backend); finished clips are kept, "
            "rerun the same command to resume"
        ) from None
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
