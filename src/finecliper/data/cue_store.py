"""The cue store: per-clip landmarks and parsing maps on disk, written by `finecliper cues`.

Layout: `<store>/provenance.json` (backend, versions, settings) and one compressed `.npz` per clip,
named by its clip id (`/` in ids becomes `__`). Each file holds, for every frame of the clip in reading
order: 68 landmarks in pixels of the frame as read, a validity flag (False: no face was found and the
points were interpolated from neighbouring frames), and a parsing map of class ids (possibly stored at
reduced resolution; `frame_size` says the frame's own size). Clips that were not face crops (raw
videos) also hold `boxes`: the square face crop (x0, y0, side) in frame pixels that the cues were
computed on, per frame, so that readers can crop the frames the same way. Readers that need no parsing
maps load with `parsing=False`, which leaves them (most of a file) undecompressed. Files are written
atomically, so a file that exists is complete; one that fails to load is reported as corrupt and redone
by the next run.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from finecliper import atomic
from finecliper.errors import UserError
from finecliper.face_layout import NUM_LANDMARKS, NUM_PARSING_CLASSES


@dataclass
class ClipCues:
    landmarks: np.ndarray  # (N, 68, 2) float32, x and y in pixels of the frame as read
    valid: np.ndarray  # (N,) bool: True where a face was detected in that frame
    parsing: np.ndarray | None  # (N, h, w) uint8 class ids (face_layout.PARSING_CLASSES); None: not loaded
    frame_size: tuple[int, int]  # (H, W) of the frames the landmarks refer to
    # (N, 3) int64 square face crop (x0, y0, side) per frame, in frame pixels (may reach outside the
    # frame); None when the frames were already face crops and were used whole.
    boxes: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.landmarks)
        if self.landmarks.shape != (n, NUM_LANDMARKS, 2):
            raise ValueError(f"landmarks must be (N, {NUM_LANDMARKS}, 2), got {self.landmarks.shape}")
        if self.valid.shape != (n,):
            raise ValueError("valid and parsing must have one entry per frame of the landmarks")
        if self.parsing is not None:
            if self.parsing.ndim != 3 or len(self.parsing) != n:
                raise ValueError("valid and parsing must have one entry per frame of the landmarks")
            if self.parsing.size and int(self.parsing.max()) >= NUM_PARSING_CLASSES:
                raise ValueError("parsing holds a class id outside the 11 parsing classes")
        if self.boxes is not None and self.boxes.shape != (n, 3):
            raise ValueError(f"boxes must be (N, 3) crops (x0, y0, side), got {self.boxes.shape}")

    @property
    def num_frames(self) -> int:
        return len(self.landmarks)


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
        buffer = io.BytesIO()
        arrays = {
            "landmarks": cues.landmarks.astype(np.float32),
            "valid": cues.valid.astype(bool),
            "parsing": cues.parsing.astype(np.uint8),
            "frame_size": np.asarray(cues.frame_size, dtype=np.int64),
        }
        if cues.boxes is not None:
            arrays["boxes"] = cues.boxes.astype(np.int64)
        np.savez_compressed(buffer, **arrays)
        atomic.write_bytes(self.path(clip_id), buffer.getvalue())

    def load(self, clip_id: str, parsing: bool = True) -> ClipCues:
        """The clip's cues; `parsing=False` leaves the parsing maps (most of the file) compressed on disk
        and returns them as None. UserError when the clip has no file or it is corrupt."""
        path = self.path(clip_id)
        if not path.is_file():
            raise UserError(f"the cue store {self.root} has no cues for clip {clip_id}; run `finecliper cues`")
        try:
            with np.load(path) as data:
                return ClipCues(
                    landmarks=data["landmarks"],
                    valid=data["valid"],
                    parsing=data["parsing"] if parsing else None,
                    frame_size=tuple(int(v) for v in data["frame_size"]),
                    boxes=data["boxes"] if "boxes" in data.files else None,
                )
        except Exception as exc:  # a damaged zip fails in many ways: BadZipFile, zlib.error, ValueError, ...
            raise UserError(f"cue file {path} is corrupt ({exc}); rerun `finecliper cues` to redo it") from None

    def write_provenance(self, info: dict) -> None:
        atomic.write_text(self.root / "provenance.json", json.dumps(info, indent=2, sort_keys=True) + "\n")

    def provenance(self) -> dict:
        path = self.root / "provenance.json"
        return json.loads(path.read_text()) if path.is_file() else {}
