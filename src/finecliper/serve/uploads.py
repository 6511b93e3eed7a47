"""What an uploaded file may be: a video file, or a zip archive of frame images unpacked into a folder.

An archive is read defensively, since anyone who can reach the page can send one: only image members are
unpacked, by their base name (a member cannot write outside the folder), and the unpacked size is capped.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from finecliper.data.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES, is_video_file
from finecliper.errors import UserError

ACCEPTED = sorted(VIDEO_SUFFIXES | {".zip"})


def clip_of_upload(upload: str | Path, work: Path, max_bytes: int) -> Path:
    """The clip `predict` reads for an uploaded file: the video itself, or a zip's frames unpacked into
    `work`/frames (at most `max_bytes` unpacked). UserError for anything else."""
    upload = Path(upload)
    if is_video_file(upload):
        return upload
    if upload.suffix.lower() != ".zip":
        raise UserError(f"{upload.name} is neither a video ({', '.join(sorted(VIDEO_SUFFIXES))}) nor a .zip of frames")
    try:
        with zipfile.ZipFile(upload) as archive:
            return _unpack_frames(archive, upload.name, work / "frames", max_bytes)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:  # damaged, encrypted, odd compression
        raise UserError(f"{upload.name} is not a readable zip archive ({exc})") from None


def _unpack_frames(archive: zipfile.ZipFile, name: str, folder: Path, max_bytes: int) -> Path:
    members = [m for m in archive.infolist() if not m.is_dir()
               and PurePosixPath(m.filename).suffix.lower() in IMAGE_SUFFIXES
               and not PurePosixPath(m.filename).name.startswith(".")]
    if not members:
        raise UserError(f"{name} holds no frame images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    names = [PurePosixPath(m.filename).name for m in members]
    if len(set(names)) != len(names):
        raise UserError(f"{name} holds two frames of the same name in different folders; zip one clip's frames")
    # zipfile never returns more than a member's declared size (and checks its CRC), so this caps the bytes.
    if sum(m.file_size for m in members) > max_bytes:
        raise UserError(f"{name} unpacks to more than {max_bytes // 2**20} MB of frames")
    folder.mkdir(parents=True)
    for member, base in zip(members, names, strict=True):
        (folder / base).write_bytes(archive.read(member))
    return folder
