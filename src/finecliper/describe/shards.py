"""Sharded descriptions: each shard's finish marker, and the merge of the shards' files into one.

`finecliper describe --shard I/N --out D.jsonl` appends only to its own file `D.shard-I-of-N.jsonl`
(`data.shards`), so no two processes ever append to one file. A shard run removes its marker
`D.shard-I-of-N.jsonl.done.json` when it starts and writes it (atomically) when it has gone through every
clip of its shard, listing the clips it could not read or had nothing for (those have no record, as in an
unsharded run). `finecliper describe --merge N --manifest M --out D.jsonl` then checks that all N shards
finished, that each file holds exactly its shard's clips (but the ones its marker lists) and that the shards
were made with the same settings, and writes D.jsonl atomically: the shards' lines, unchanged, in manifest
order, so that it equals the file one unsharded run would have written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from finecliper import atomic
from finecliper.data.manifest import ClipRecord
from finecliper.data.shards import Shard, all_shards
from finecliper.errors import UserError

_SETTINGS = ("backend", "model", "prompt_hash", "generation", "refiner")  # must agree between shards


def marker(shard_file: Path) -> Path:
    """The finish marker of a shard's descriptions file."""
    return shard_file.with_name(shard_file.name + ".done.json")


def clear_marker(shard_file: Path) -> None:
    """A run of the shard starts: until it finishes, the shard is not complete."""
    marker(shard_file).unlink(missing_ok=True)


def write_marker(shard_file: Path, shard: Shard, clips: int, failed: list[str], skipped: list[str]) -> None:
    info = {"shard": shard.index, "shards": shard.count, "clips": clips, "failed": failed, "skipped": skipped}
    atomic.write_text(marker(shard_file), json.dumps(info, indent=2) + "\n")


def merge_shards(unique: dict[str, ClipRecord], out: str | Path, count: int, summary) -> None:
    """Check the `count` shards of `out` against the manifest's clips `unique` (id -> record, in manifest
    order) and write `out`; fills `summary` (a DescribeSummary). UserError, before writing, when a shard is
    missing, unfinished, made from another manifest or with other settings, or when `out` exists."""
    out = Path(out)
    start = time.perf_counter()
    if out.exists():
        raise UserError(f"{out} already exists; remove it (or merge into another --out) to merge the shards")
    lines: dict[str, tuple[str, dict]] = {}
    settings: dict | None = None
    for shard in all_shards(count):
        shard_lines, info = _read_shard(shard, out, shard.select(list(unique)))
        for _, record in shard_lines.values():
            settings = _same_settings(settings, record, shard)
        lines.update(shard_lines)
        summary.failed += [{"id": i, "reason": f"could not be read in shard {shard.index}/{count}"}
                           for i in info["failed"]]
        summary.skipped += info["skipped"]
    ordered = [lines[clip_id] for clip_id in unique if clip_id in lines]
    atomic.write_text(out, "".join(line for line, _ in ordered))
    summary.clips = len(unique)
    for _, record in ordered:
        summary.add(record)
    summary.seconds = time.perf_counter() - start


def _read_shard(shard: Shard, out: Path, expected: list[str]) -> tuple[dict[str, tuple[str, dict]], dict]:
    """The shard's (line, record) by clip id and its marker, checked against the clips the shard should hold.
    Each line is parsed once here; the merge writes the line itself, unchanged."""
    path = shard.file(out)
    again = f"run `finecliper describe` with --shard {shard.index}/{shard.count} again (it resumes)"
    if not path.is_file():
        raise UserError(f"shard {shard.index}/{shard.count} has no file {path}; {again}")
    done = marker(path)
    if not done.is_file():
        raise UserError(f"shard {shard.index}/{shard.count} has not finished ({done} is missing); {again}")
    try:
        info = json.loads(done.read_text())
        failed, skipped = set(info["failed"]), set(info["skipped"])
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UserError(f"{done} is not a shard's finish marker; {again}") from None
    if info.get("shards") != shard.count or info.get("clips") != len(expected):
        raise UserError(f"{done} was written for another manifest or shard count ({info.get('clips')} clips of "
                        f"{info.get('shards')} shards, here {len(expected)} of {shard.count})")
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        raise UserError(f"{path} ends with an unfinished line; {again}")
    lines = {}
    for lineno, line in enumerate(text.splitlines(keepends=True), 1):
        if line.strip():
            record = _record(line, path, lineno)
            lines[str(record["id"])] = (line, record)  # a later record of an id wins, as readers do
    wanted = set(expected)
    stray = next((i for i in lines if i not in wanted), None)
    if stray is not None:
        raise UserError(f"{path} holds clip {stray!r}, which is not in shard {shard.index}/{shard.count} of "
                        "this manifest; merge with the manifest the shards were run on")
    missing = wanted - set(lines) - failed - skipped
    if missing:
        raise UserError(f"{path} lacks {len(missing)} clips of its shard (e.g. {sorted(missing)[0]!r}); {again}")
    return lines, info


def _record(line: str, path: Path, lineno: int) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        raise UserError(f"{path}:{lineno} is not valid JSON") from None
    if not isinstance(record, dict) or "id" not in record:
        raise UserError(f"{path}:{lineno} is not a description record (needs 'id')")
    return record


def _same_settings(settings: dict | None, record: dict, shard: Shard) -> dict:
    mine = {key: record.get(key) for key in _SETTINGS}
    if settings is not None and mine != settings:
        key = next(k for k in _SETTINGS if mine[k] != settings[k])
        raise UserError(f"shard {shard.index}/{shard.count} was described with another {key.replace('_', ' ')} "
                        f"({mine[key]!r}, the shards before it: {settings[key]!r}); run every shard alike")
    return mine
