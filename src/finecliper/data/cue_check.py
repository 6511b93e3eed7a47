"""Every clip's cues, checked when a run's datasets are built, before the first step (docs/design.md §4, §5).

A clip that `finecliper cues` could not do (no face in any frame: it writes no file) or whose face the
detector did not confirm (`data.face_verdict`: a cat, a car) would otherwise be found only when the data
loader reaches it: training would die mid-epoch, hours in, and under DDP the other ranks would wait for it
until their timeout. Every rank runs this same check on the same files, so all of them stop, or all leave
the same clips out, before any of them starts. A cue file is read without its parsing maps (the face track
only), about a millisecond a clip.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from finecliper.config.experiment import DataConfig
from finecliper.data.cue_store import CueStore
from finecliper.data.face_verdict import face_verdict
from finecliper.data.manifest import ClipRecord
from finecliper.errors import UserError

log = logging.getLogger(__name__)

PROBLEMS = {  # kind -> what it means, for messages
    "missing": "no cue file (`finecliper cues` found no face in any frame, or was not run on it)",
    "corrupt": "a cue file that does not load",
    "stale": "a cue file with another frame count than the manifest's",
    "no_face": "no real face (the face detector confirmed too few frames)",
}


@dataclass
class CueCheck:
    """The clips of a run whose cues cannot be used, by kind (PROBLEMS), and how many were checked."""

    checked: int = 0
    problems: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in PROBLEMS})
    unmeasured: int = 0  # clips whose store file holds no face scores (stores of older versions)

    @property
    def bad(self) -> set[str]:
        return {cid for ids in self.problems.values() for cid in ids}

    def summary(self) -> dict:
        """What results.json records."""
        return {"checked": self.checked, "left_out": len(self.bad), "unmeasured": self.unmeasured,
                **{kind: ids for kind, ids in self.problems.items()}}

    def text(self) -> str:
        parts = [f"{len(ids)} with {PROBLEMS[kind]} (first: {', '.join(ids[:5])})"
                 for kind, ids in self.problems.items() if ids]
        return f"{len(self.bad)} of {self.checked} clips have unusable cues: " + "; ".join(parts)


def check_cues(records: list[ClipRecord], store: CueStore, data: DataConfig) -> CueCheck:
    """Check the cue file of every clip of `records` in `store`, with data's face thresholds."""
    check = CueCheck(checked=len(records))
    for record in records:
        if not store.has(record.id):
            check.problems["missing"].append(record.id)
            continue
        try:
            cues = store.load(record.id, parsing=False, kinds=())
        except UserError:
            check.problems["corrupt"].append(record.id)
            continue
        if cues.num_frames != record.num_frames:
            check.problems["stale"].append(record.id)
            continue
        verdict = face_verdict(cues, data.face_min_score, data.face_min_share)
        check.unmeasured += int(not verdict.measured)
        if not verdict.is_face:
            check.problems["no_face"].append(record.id)
    return check


def screen_splits(splits: dict[str, list[ClipRecord]], data: DataConfig) -> tuple[dict[str, list[ClipRecord]], dict]:
    """The splits' clips with usable cues in data.cues, and the check's summary for results.json.

    A clip with unusable cues is refused (UserError listing them), or, with data.skip_clips_without_cues,
    left out with a warning that counts them.
    """
    store = CueStore(data.cues)
    if not store.root.is_dir():
        raise UserError(f"cue store {store.root} does not exist; run `finecliper cues` first")
    unique = {r.id: r for records in splits.values() for r in records}  # a clip in two splits is checked once
    check = check_cues(list(unique.values()), store, data)
    if check.unmeasured:
        log.warning("%d of %d clips' cue files hold no face scores (a store of an older finecliper): "
                    "their faces are taken as real; rerun `finecliper cues` into a new folder to check them",
                    check.unmeasured, check.checked)
    bad = check.bad
    if not bad:
        return splits, check.summary()
    if not data.skip_clips_without_cues:
        raise UserError(f"{check.text()}; fix them or set data.skip_clips_without_cues=true to leave them out")
    log.warning("left out: %s", check.text())
    kept = {name: [r for r in records if r.id not in bad] for name, records in splits.items()}
    empty = [name for name, records in kept.items() if splits[name] and not records]
    if empty:
        raise UserError(f"no clip of the {empty[0]} manifest has usable cues ({check.text()})")
    return kept, check.summary()
