"""Clip reading: frame folders (the datasets' face crops) and video files (decoded with PyAV).

A clip is addressed by frame index in reading order: the naturally sorted image files of a folder
(`2.jpg` before `10.jpg`), or the decoded frames of a video's first video stream in presentation
order. Every reader returns RGB uint8; grayscale, RGBA, palette and 16-bit images are converted, and
frames of another size than the clip's first frame are then resized to it, so a clip is always one
(T, H, W, 3) array. Videos are decoded from the start without seeking (seeking lands on key frames and
silently shifts indices in many files) and decoding stops after the last frame asked for. An
unreadable or truncated file raises `UserError` naming it. The writers (`write_frames` for frame
folders, `write_video` for H.264 files) write atomically.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from PIL import Image

from finecliper import atomic
from finecliper.errors import UserError
from finecliper.paths import existing_folder

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg"}

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    # "frame10.jpg" -> ("frame", 10, ".jpg"): numbers compare as numbers, so 2 sorts before 10.
    parts = _DIGITS.split(name)
    return tuple((0, int(p), p) if p.isdigit() else (1, p.lower(), p) for p in parts)


def frame_names(folder: str | Path) -> list[str]:
    """Names of the frame images in `folder` (jpg/jpeg/png/bmp files; hidden files and folders ignored),
    unsorted. OSError as os.scandir raises it (FileNotFoundError, NotADirectoryError, ...).

    The one definition of what counts as a frame: readers and the manifest builder both list through it.
    """
    # scandir's entries know their type without a stat per file (a clip may hold hundreds of frames).
    with os.scandir(folder) as entries:
        return [e.name for e in entries
                if os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES and not e.name.startswith(".")
                and e.is_file()]


def list_frame_files(folder: str | Path) -> list[Path]:
    """Image files of a frame folder (see `frame_names`), in natural order."""
    folder = Path(folder)
    try:
        names = frame_names(folder)
    except (FileNotFoundError, NotADirectoryError):
        existing_folder(folder, "frame folder")  # says which: nothing there, or a file
        raise
    except OSError as exc:
        raise UserError(f"frame folder {folder} cannot be listed ({exc.strerror})") from None
    return [folder / name for name in sorted(names, key=natural_key)]


def is_video_file(path: str | Path) -> bool:
    """True when `path` names a video by its suffix (case-insensitive); the one such test in the package."""
    return os.path.splitext(os.fspath(path))[1].lower() in VIDEO_SUFFIXES


def count_frames(path: str | Path) -> int:
    """Number of frames of a clip: images in a frame folder, or frames actually decoded from a video.

    Container metadata (`stream.frames`, duration x rate) is wrong often enough (variable frame rate,
    edited files) that videos are decoded to the end; pixel conversion is skipped, so this is cheap.
    """
    path = Path(path)
    if path.is_dir():
        return len(list_frame_files(path))
    if not path.is_file():
        raise UserError(f"clip {path} does not exist")
    count = 0
    for _ in _decode(path):
        count += 1
    return count


def read_clip(path: str | Path, indices) -> np.ndarray:
    """Frames `indices` (non-decreasing, repeats allowed) of a clip as a (len(indices), H, W, 3) uint8 RGB array."""
    path = Path(path)
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size == 0:
        raise UserError(f"no frame indices were asked for from clip {path}")
    if idx.min() < 0:
        raise UserError(f"negative frame index {int(idx.min())} asked for from clip {path}")
    if np.any(np.diff(idx) < 0):
        raise UserError(f"frame indices for clip {path} must be non-decreasing")
    if path.is_dir():
        return _read_folder(path, idx)
    if not path.is_file():
        raise UserError(f"clip {path} does not exist")
    return _read_video(path, idx)


# --- frame folders ---------------------------------------------------------------------------------


def _to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode == "RGB":
        return np.asarray(image)
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit / 32-bit grayscale: PIL's convert("RGB") clips these at 255; rescale to the full range.
        # The range is fixed by the mode, not by the image, so all frames of a clip scale alike.
        arr = np.asarray(image, dtype=np.float64)
        top = 1.0 if mode == "F" else 65535.0
        gray = np.clip(arr * (255.0 / top), 0, 255).round().astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        # Drop alpha by compositing on black, the colour of the crops' padding.
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image)
    return np.asarray(image.convert("RGB"))


def _read_image(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """One image as (H, W, 3) RGB; resized to `size` (W, H) when it differs."""
    try:
        with Image.open(path) as image:
            if size is not None and image.size != size and image.format == "JPEG":
                # Let libjpeg decode at a reduced scale first when the file is much larger than needed.
                image.draft("RGB", size)
            image.load()
            if size is None or image.size == size:
                return np.ascontiguousarray(_to_rgb(image))
            # Convert first (alpha, 16-bit), then resize the RGB result.
            if image.mode != "RGB":
                image = Image.fromarray(_to_rgb(image))
            return np.ascontiguousarray(np.asarray(image.resize(size, Image.BILINEAR)))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UserError(f"frame {path} is unreadable or truncated ({exc})") from None


def _frame_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size  # reads the header only
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UserError(f"frame {path} is unreadable or truncated ({exc})") from None


def _read_folder(folder: Path, idx: np.ndarray) -> np.ndarray:
    files = list_frame_files(folder)
    if not files:
        raise UserError(f"frame folder {folder} holds no images")
    if idx.max() >= len(files):
        raise UserError(f"clip {folder} has {len(files)} frames but frame {int(idx.max())} was asked for")
    # The clip's first frame fixes the size, whichever frames are sampled, so a clip reads the same
    # size every epoch and cue coordinates (in the first frame's pixels) stay valid.
    size = _frame_size(files[0])
    out = None
    previous = -1
    for row, i in enumerate(idx):
        if i == previous:
            out[row] = out[row - 1]  # repeated index (short clip): copy instead of decoding again
            continue
        frame = _read_image(files[i], size)
        if out is None:
            out = np.empty((len(idx),) + frame.shape, dtype=np.uint8)
        out[row] = frame
        previous = i
    return out


# --- video files -----------------------------------------------------------------------------------


def _decode(path: Path):
    """Yield the decoded video frames of `path` in order; container/codec errors become UserError."""
    # PyAV costs about 0.1 s to import, and this module is imported when the command line starts (manifests,
    # predict): it is imported where a video is first decoded or written.
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise UserError(f"video {path} is unreadable ({exc})") from None
    try:
        with container:
            if not container.streams.video:
                raise UserError(f"video {path} has no video stream")
            stream = container.streams.video[0]
            # One decoding thread: readers run inside DataLoader workers, one per core already.
            stream.thread_count = 1
            yield from container.decode(stream)
    except av.error.FFmpegError as exc:
        raise UserError(f"video {path} is unreadable or truncated ({exc})") from None


def _read_video(path: Path, idx: np.ndarray) -> np.ndarray:
    last = int(idx.max())
    out = None
    size = None
    row = 0
    decoded = 0
    frames = _decode(path)
    try:
        for i, frame in enumerate(frames):
            decoded = i + 1
            if size is None:
                size = (frame.width, frame.height)  # the clip's first frame fixes the size
            if i < idx[row]:
                continue  # decoded but not converted: pixel conversion is the expensive part
            if (frame.width, frame.height) != size:
                frame = frame.reformat(width=size[0], height=size[1])
            rgb = frame.to_ndarray(format="rgb24")
            if out is None:
                out = np.empty((len(idx),) + rgb.shape, dtype=np.uint8)
            while row < len(idx) and idx[row] == i:
                out[row] = rgb
                row += 1
            if i >= last:
                break
    finally:
        frames.close()
    if row < len(idx):
        raise UserError(f"video {path} decodes to {decoded} frames but frame {last} was asked for")
    return out


def write_frames(folder: str | Path, frames: np.ndarray, ext: str = "jpg", start: int = 1,
                 quality: int | None = None, subsampling: int | None = None) -> list[Path]:
    """Write (N, H, W, 3) uint8 RGB frames as a frame folder `00001.jpg`, ... (numbered from `start`), atomically.

    The folder is complete or absent (an existing one is replaced). `quality` and `subsampling` are PIL's
    JPEG options (None: PIL's defaults, quality 75 and 4:2:0); other formats ignore them.
    """
    folder = Path(folder)
    options = {k: v for k, v in (("quality", quality), ("subsampling", subsampling)) if v is not None}
    names = [f"{i:05d}.{ext}" for i in range(start, start + len(frames))]
    with atomic.atomic_dir(folder) as tmp:
        for name, frame in zip(names, frames, strict=True):
            Image.fromarray(np.ascontiguousarray(frame)).save(tmp / name, **options)
    return [folder / name for name in names]


def write_video(path: str | Path, frames: np.ndarray, fps: int = 25, faststart: bool = False) -> Path:
    """Write (N, H, W, 3) uint8 RGB frames (H, W even) as an H.264 video with PyAV, atomically.

    faststart puts the mp4 index before the data (what streaming sites do); without it the index is at
    the end, as most encoders leave it.
    """
    import av  # on first use, as in _decode

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "mp4"
    options = {"movflags": "faststart"} if faststart else {}
    with atomic.atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format=fmt, options=options) as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return path
