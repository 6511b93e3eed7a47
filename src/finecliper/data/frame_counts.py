"""Every clip of a split checked against its manifest when the dataset is built, not when an epoch reaches it.

A frame folder must hold at least the `num_frames` its manifest line gives (a folder listing, cheap even for
FERV39k's 39k clips); a video file must exist and not be empty (counting its frames means decoding it to
the end, which `finecliper manifest` did). A clip that fails is one sentence naming it and how many others
fail, before the first step, instead of a crash hours into training (docs/design.md §4).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from finecliper.data.manifest import ClipRecord
from finecliper.data.video import frame_names
from finecliper.errors import UserError


def clip_problem(record: ClipRecord) -> str | None:
    """Why `record`'s clip cannot give the frames its manifest line promises, or None."""
    path = str(record.full_path)
    if record.is_video and os.path.isfile(path):
        return None if os.path.getsize(path) > 0 else f"video {path} is empty"
    try:
        found = len(frame_names(path))
    except (FileNotFoundError, NotADirectoryError):
        return f"clip {path} does not exist"
    except OSError as exc:
        return f"frame folder {path} cannot be listed ({exc.strerror})"
    if found < record.num_frames:
        return f"clip {record.id} holds {found} frames but its manifest line says {record.num_frames}"
    return None


def check_frame_counts(records: list[ClipRecord], workers: int = 8) -> None:
    """Raise one UserError naming the first clip that cannot give its frames, and how many others cannot."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        problems = [p for p in pool.map(clip_problem, records, chunksize=64) if p]
    if problems:
        more = f" (and {len(problems) - 1} more clips)" if len(problems) > 1 else ""
        raise UserError(f"{problems[0]}{more}; rebuild the manifest with `finecliper manifest` or fix the data")
