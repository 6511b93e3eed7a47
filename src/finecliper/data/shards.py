"""Shards of a manifest for the offline pipelines (`finecliper describe` and `cues` with `--shard I/N`).

Several GPUs or machines split a manifest's clips: shard `I` of `N` (0-based, as torchrun's RANK and a job
array's task id from 0) takes the clips at positions I, I + N, I + 2N, ... of the manifest's distinct ids
in manifest order. Every shard computes the same split from the same manifest, so the shards are disjoint,
together hold every clip exactly once, and are equal in size to within one clip. Each shard writes only its
own files (docs/design.md §5): never two processes appending to one file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from finecliper.errors import UserError

T = TypeVar("T")

_FORM = re.compile(r"\s*(-?\d+)\s*/\s*(-?\d+)\s*")


@dataclass(frozen=True)
class Shard:
    index: int  # 0 .. count - 1
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise UserError(f"--shard needs at least one shard, got {self.index}/{self.count}")
        if not 0 <= self.index < self.count:
            raise UserError(f"--shard {self.index}/{self.count}: the shard index counts from 0 to "
                            f"{self.count - 1} (as torchrun's RANK does)")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """'I/N' -> Shard(I, N); UserError for anything else."""
        match = _FORM.fullmatch(text)
        if match is None:
            raise UserError(f"--shard takes I/N (shard I of N, I from 0), got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    def select(self, items: Sequence[T]) -> list[T]:
        """This shard's items: every count-th, starting at index."""
        return list(items[self.index::self.count])

    @property
    def tag(self) -> str:
        """'shard-I-of-N': the part of its files' names that names the shard."""
        return f"shard-{self.index}-of-{self.count}"

    def file(self, path: str | Path) -> Path:
        """The shard's own file beside `path`: descriptions.jsonl -> descriptions.shard-0-of-4.jsonl."""
        path = Path(path)
        return path.with_name(f"{path.stem}.{self.tag}{path.suffix}")


def all_shards(count: int) -> list[Shard]:
    """Shards 0/N .. N-1/N; UserError when N < 1."""
    if count < 1:
        raise UserError(f"the number of shards must be at least 1, got {count}")
    return [Shard(i, count) for i in range(count)]
