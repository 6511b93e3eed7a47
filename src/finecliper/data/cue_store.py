"""The cue store: per-clip landmarks, parsing maps (and any further cue kind's arrays) on disk, written by
`finecliper cues`.

Layout: `<store>/provenance.json` (backend, versions, settings) and one compressed `.npz` per clip,
named by its clip id (`/` in ids becomes `__`). Each file holds, for every frame of the clip in reading
order, the face track: 68 landmarks in pixels of the frame as read, a validity flag (False: no face was
found and the points were interpolated from neighbouring frames), `frame_size` (the frame's own size), and,
for clips that were not face crops (raw videos), `boxes`: the square face crop (x0, y0, side) in frame
pixels that the cues were computed on, per frame, so that readers can crop the frames the same way. Next to
the track, one array per cue kind (`data/cue_kinds/`), under the kind's name: `parsing`, a map of class ids
(possibly stored at reduced resolution), and whatever a later kind adds. Readers decompress only the cue
arrays they ask for (`load(kinds=...)`; `parsing=False` leaves out the parsing maps, most of a file). Files
are written atomically, so a file that exists is complete; one that fails to load is reported as corrupt
and redone by the next run.
"""

from __future__ import annotations

import io
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from finecliper import atomic
from finecliper.errors import UserError
from finecliper.paths import existing_folder

_TRACK = ("landmarks", "valid", "frame_size", "boxes", "face_score")  # read from every file, whatever kinds are asked for


def _cue_kinds():
    """The cue-kind registry, which validates and types the cue arrays.

    Imported on first use, not with this module: the cue kinds import OpenCV (about 50 ms), and this module
    is imported when the command line starts (through cli/predict.py and cues/), which must answer at once.
    """
    from finecliper.data.cue_kinds import CUE_KINDS

    return CUE_KINDS


@dataclass
class ClipCues:
    """One clip's cues: the face track (landmarks, validity, frame size, boxes) and the cue kinds' arrays
    (`parsing`, and `extra` for kinds added later), each with one entry per frame; checked on construction."""

    landmarks: np.ndarray  # (N, 68, 2) float32, x and y in pixels of the frame as read
    valid: np.ndarray  # (N,) bool: True where a face was detected in that frame
    parsing: np.ndarray | None  # (N, h, w) uint8 class ids (face_layout.PARSING_CLASSES); None: not loaded
    frame_size: tuple[int, int]  # (H, W) of the frames the landmarks refer to
    # (N, 3) int64 square face crop (x0, y0, side) per frame, in frame pixels (may reach outside the
    # frame); None when the frames were already face crops and were used whole.
    boxes: np.ndarray | None = None
    # (N,) float32 face detector's confidence for a face where the landmarks are (0: none), which the
    # per-clip verdict of `data.face_verdict` reads; None in stores written before it existed, and oracle stores.
    face_score: np.ndarray | None = None
    # Per-frame arrays of further cue kinds, by kind name (absent: not in the store, or not loaded).
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.landmarks)
        clash = set(self.extra) & {*_TRACK, "parsing"}
        if clash:
            raise ValueError(f"extra cue arrays may not be named {sorted(clash)[0]!r}: that is a field of ClipCues")
        kinds = _cue_kinds()
        for name, array in self.cue_arrays().items():
            if name in kinds:
                kinds.get(name).check(array, n)
            elif len(array) != n:  # a kind this version does not know: its frame count at least
                raise ValueError(f"{name} must have one entry per frame of the landmarks, got {len(array)}")
        if self.valid.shape != (n,):
            raise ValueError("valid must have one entry per frame of the landmarks")
        if self.boxes is not None and self.boxes.shape != (n, 3):
            raise ValueError(f"boxes must be (N, 3) crops (x0, y0, side), got {self.boxes.shape}")
        if self.face_score is not None and self.face_score.shape != (n,):
            raise ValueError(f"face_score must have one entry per frame, got {self.face_score.shape}")

    @property
    def num_frames(self) -> int:
        return len(self.landmarks)

    def cue_arrays(self) -> dict[str, np.ndarray]:
        """The loaded per-frame cue arrays by kind name (landmarks always; the others when loaded)."""
        arrays = {"landmarks": self.landmarks}
        if self.parsing is not None:
            arrays["parsing"] = self.parsing
        return arrays | self.extra

    def array(self, name: str) -> np.ndarray | None:
        """The cue kind `name`'s array (N, ...), or None when it is not in the store or was not loaded."""
        return self.cue_arrays().get(name)


class CueStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, clip_id: str) -> Path:
        return self.root / (clip_id.replace("/", "__") + ".npz")

    def has(self, clip_id: str) -> bool:
        return self.path(clip_id).is_file()

    def save(self, clip_id: str, cues: ClipCues) -> None:
        if cues.parsing is None:
            raise ValueError(f"cues of clip {clip_id} were loaded without parsing maps; a store file needs them")
        registry = _cue_kinds()
        kinds = {name: array.astype(registry.get(name).dtype) if name in registry else array
                 for name, array in cues.cue_arrays().items()}
        arrays = {"landmarks": kinds.pop("landmarks"), "valid": cues.valid.astype(bool), "parsing": kinds.pop("parsing"),
                  "frame_size": np.asarray(cues.frame_size, dtype=np.int64)}
        if cues.boxes is not None:
            arrays["boxes"] = cues.boxes.astype(np.int64)
        if cues.face_score is not None:
            arrays["face_score"] = cues.face_score.astype(np.float32)
        arrays |= kinds
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic.write_bytes(self.path(clip_id), buffer.getvalue())

    def load(self, clip_id: str, parsing: bool = True, kinds: Collection[str] | None = None) -> ClipCues:
        """The clip's cues: the face track, and the arrays of the cue `kinds` (None: every kind in the file);
        `parsing=False` leaves out the parsing maps. Arrays left out stay compressed on disk and read as
        absent (`parsing` None). UserError when the clip has no file or it is corrupt."""
        path = self.path(clip_id)
        if not path.is_file():
            raise UserError(f"the cue store {self.root} has no cues for clip {clip_id}; run `finecliper cues`")
        try:
            with np.load(path) as data:
                wanted = [name for name in data.files if name not in _TRACK
                          and (kinds is None or name in kinds) and (parsing or name != "parsing")]
                arrays = {name: data[name] for name in wanted}  # decompresses exactly these
                return ClipCues(
                    landmarks=data["landmarks"],
                    valid=data["valid"],
                    parsing=arrays.pop("parsing", None),
                    frame_size=tuple(int(v) for v in data["frame_size"]),
                    boxes=data["boxes"] if "boxes" in data.files else None,
                    face_score=data["face_score"] if "face_score" in data.files else None,
                    extra=arrays,
                )
        except Exception as exc:  # a damaged zip fails in many ways: BadZipFile, zlib.error, ValueError, ...
            raise UserError(f"cue file {path} is corrupt ({exc}); rerun `finecliper cues` to redo it") from None

    def write_provenance(self, info: dict) -> None:
        atomic.write_text(self.root / "provenance.json", json.dumps(info, indent=2, sort_keys=True) + "\n")

    def provenance(self) -> dict:
        path = self.root / "provenance.json"
        return json.loads(path.read_text()) if path.is_file() else {}


class CueMapping:
    """Cues held in memory (id -> ClipCues), read like a cue store (e.g. one clip's in `finecliper predict`)."""

    def __init__(self, cues: Mapping[str, ClipCues]):
        self.cues = cues

    def load(self, clip_id: str, parsing: bool = True, kinds: Collection[str] | None = None) -> ClipCues:
        found = self.cues.get(clip_id)
        if found is None:
            raise UserError(f"no cues were given for clip {clip_id}")
        return found


def open_cues(source: str | Path | CueStore | Mapping[str, ClipCues] | None) -> CueStore | CueMapping | None:
    """Where a dataset reads cues from: a cue store (or its folder), or the clips' cues in memory."""
    if source is None:
        return None
    if isinstance(source, Mapping):
        return CueMapping(source)
    store = source if isinstance(source, CueStore) else CueStore(source)
    existing_folder(store.root, "cue store", "run `finecliper cues` first")
    return store
