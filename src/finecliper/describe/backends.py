"""What a describer is, and the registry of describers (`--backend` of `finecliper describe`).

A describer (a `Backend`) turns a manifest clip into raw text in two steps, so that the pipeline can
read the next batch while the model works on this one and can set aside one bad clip without losing the
batch: `prepare(clip)` (per clip, in worker threads: read frames, load cues; raises `UserError` for a
bad clip, `Skip` for a clip the describer has nothing for) and `run(inputs)` (per batch: the model).
`check(clips)` runs once before any work, for problems that concern the whole run.

A describer is one class, registered where it is defined (`@DESCRIBERS.register("landmarks")`), that
lists the command-line options it reads (`options`, see `describe.options`) and builds itself from
their values (`from_options`); `finecliper describe` and `finecliper bench describe` add the options of
every registered describer, so a new one needs no edit elsewhere. The entries: `video_llava`,
`hf_video`, `landmarks`, `captions` (the package's `__init__` imports them all).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finecliper.data.manifest import ClipRecord
from finecliper.describe.options import Option, check_values
from finecliper.errors import UserError
from finecliper.registry import Registry


class Skip(Exception):
    """The describer has nothing for this clip (e.g. no caption); it is counted, not recorded."""


@dataclass
class Output:
    raw: str | None  # the describer's text; None or "" when it gave none
    status: str | None = None  # set by the describer for a special case ("no-face"); else decided by refinement
    note: str | None = None


class Backend:
    name: str = ""  # its DESCRIBERS name, recorded with every description
    options: tuple[Option, ...] = ()  # the command-line options it reads
    model: str | None = None
    prompt_name: str | None = None  # the prompt's name (`paper`, ...) when a language model is prompted
    prompt_hash: str | None = None
    generation: dict = {}
    batch_size: int = 1

    @classmethod
    def from_options(cls, options: dict[str, Any], clips: list[ClipRecord]) -> Backend:
        """Build from the values of `options` (by `Option.dest`, required ones present) for `clips`."""
        raise NotImplementedError

    def check(self, clips: list[ClipRecord]) -> None:
        """Raise UserError for a problem that concerns the whole run."""

    def prepare(self, clip: ClipRecord):
        raise NotImplementedError

    def run(self, inputs: list) -> list[Output]:
        raise NotImplementedError


DESCRIBERS: Registry[type[Backend]] = Registry("backend")  # "backend": the word of the option, `--backend`


def build_describer(name: str, options: dict[str, Any], clips: list[ClipRecord]) -> Backend:
    """The describer called `name`, built from option values (missing or None: the option's default)."""
    describer = DESCRIBERS.get(name)
    values = {}
    for option in describer.options:
        value = options.get(option.dest)
        values[option.dest] = option.default if value is None else value
        if option.required and values[option.dest] is None:
            raise UserError(f"the {name} backend needs {option.required}: pass {option.flag} {option.metavar}")
    check_values(describer.options, values)
    return describer.from_options(values, clips)


def describer_options() -> list[tuple[Option, list[str]]]:
    """Every option some describer reads, once, with the names of the describers that read it."""
    found: dict[str, tuple[Option, list[str]]] = {}
    for name, describer in DESCRIBERS.items():
        for option in describer.options:
            known = found.setdefault(option.flag, (option, []))
            if known[0] != option:
                raise ValueError(f"describers {known[1][0]} and {name} declare {option.flag} differently")
            known[1].append(name)
    return list(found.values())


def describer_names() -> str:
    """"video-llava, hf-video, landmarks or captions": the registered names, for messages and help."""
    names = DESCRIBERS.names()
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
