"""Finding each clip a split file lists on disk, counting its frames and classifying what is wrong with it.

A clip is a frame folder, else a video file (the name the split lists, or the folder's path with a video
suffix). A folder must hold at least one image. With `frame_check="all"` (the default) every image of it is
decoded, so a zero-byte or truncated 8th frame is found here and not mid-epoch; JPEGs are decoded at 1/8
scale, which still reads every byte of the compressed data. `frame_check="first"` only tests that the first
image starts like a JPEG/PNG/BMP file (one small read per clip). `finecliper manifest --frame-check` picks;
the costs of both are in docs/design.md §4. A video is decoded to the end (`video.count_frames`), which also
finds truncated files. Clips are checked in a thread pool (PIL decodes without the GIL): FERV39k has 39k.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from finecliper.data.video import VIDEO_SUFFIXES, count_frames, frame_names, is_video_file, natural_key
from finecliper.errors import UserError

_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM")
FRAME_CHECKS = ("all", "first")  # decode every frame of a folder / test the first frame's header

Location = tuple[str, str | None]  # (where the clip should be, the file name the split lists or None)


@dataclass
class ClipState:
    path: str  # relative to the data root
    num_frames: int = 0
    kind: str | None = None  # problem kind (see datasets.records.PROBLEM_KINDS), None when the clip is fine
    message: str = ""


def inspect_clip(root: str, base: str, listed: str | None, frame_check: str = "all") -> ClipState:
    """Find the clip (folder `base`, else a video) and count its frames, classifying any problem."""
    # os.path on strings, not pathlib: this runs once per clip, 39k times for FERV39k.
    folder = os.path.join(root, base)
    try:
        names = frame_names(folder)  # exactly the frames the reader will see
    except (FileNotFoundError, NotADirectoryError):
        return _inspect_video(root, base, listed)
    except OSError as exc:
        return ClipState(base, 0, "unreadable", f"folder {base} cannot be listed ({exc.strerror})")
    if not names:
        return ClipState(base, 0, "empty", f"folder {base} holds no images")
    checked = sorted(names, key=natural_key) if frame_check == "all" else [min(names, key=natural_key)]
    for name in checked:
        problem = _decode_problem(os.path.join(folder, name)) if frame_check == "all" else _header_problem(
            os.path.join(folder, name))
        if problem:
            return ClipState(base, len(names), "unreadable", f"frame {base}/{name} {problem}")
    return ClipState(base, len(names))


def _header_problem(path: str) -> str | None:
    """Why the file at `path` does not start like an image, or None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    return None if head.startswith(_MAGIC) else "is not a JPEG, PNG or BMP image"


def _decode_problem(path: str) -> str | None:
    """Why the image at `path` cannot be decoded whole, or None."""
    try:
        with Image.open(path) as image:
            if image.format == "JPEG":
                image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()  # raises on truncated data (PIL's LOAD_TRUNCATED_IMAGES stays off)
    except OSError as exc:
        return f"cannot be decoded ({exc.strerror or exc})"
    except (SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return f"cannot be decoded ({exc})"
    return None


def _inspect_video(root: str, base: str, listed: str | None) -> ClipState:
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
                return ClipState(rel, 0, "unreadable", str(exc))
            if n == 0:
                return ClipState(rel, 0, "empty", f"video {rel} decodes to no frames")
            return ClipState(rel, n)
    return ClipState(base, 0, "missing", f"no frame folder or video {base} under the data root")


def inspect_clips(root: Path, locations: list[Location], workers: int, progress: bool,
                  frame_check: str = "all") -> dict[Location, ClipState]:
    """The state of every clip location, checked by `workers` threads."""
    if frame_check not in FRAME_CHECKS:
        raise UserError(f"unknown frame check {frame_check!r}; choose {' or '.join(FRAME_CHECKS)}")
    # Batches of clips per task: one future per clip costs more than a folder listing does.
    batch = 128
    chunks = [locations[i:i + batch] for i in range(0, len(locations), batch)]
    states: dict[Location, ClipState] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, \
            tqdm(total=len(locations), desc="counting frames", unit="clip", disable=not progress) as bar:
        work = pool.map(lambda chunk: [inspect_clip(str(root), base, name, frame_check) for base, name in chunk],
                        chunks)
        for chunk, found in zip(chunks, work, strict=True):
            states.update(zip(chunk, found, strict=True))
            bar.update(len(chunk))
    return states
