"""The `captions` describer: the manifest's own captions (MAFW's English captions), refined like any description."""

from __future__ import annotations

from typing import Any

from finecliper.data.manifest import ClipRecord
from finecliper.describe.backends import DESCRIBERS, Backend, Output, Skip
from finecliper.errors import UserError


@DESCRIBERS.register("captions")
class CaptionBackend(Backend):
    name = "captions"

    def __init__(self, dataset: str | None = None):
        self.model = f"{dataset}-caption" if dataset else "caption"
        self.generation = {}

    @classmethod
    def from_options(cls, options: dict[str, Any], clips: list[ClipRecord]) -> CaptionBackend:
        return cls(clips[0].dataset if clips else None)

    def check(self, clips: list[ClipRecord]) -> None:
        if clips and not any(c.caption for c in clips):
            raise UserError(
                "no clip of the manifest has a caption; build it from a split with captions "
                "(e.g. MAFW's with_caption files) or choose another --backend"
            )

    def prepare(self, clip: ClipRecord) -> str:
        if not clip.caption or not clip.caption.strip():
            raise Skip("no caption")
        return clip.caption

    def run(self, inputs: list[str]) -> list[Output]:
        return [Output(text) for text in inputs]
