"""Options of the describers: what each one reads from `finecliper describe`'s command line.

A describer lists the `Option`s it reads (`Backend.options`); the command line adds every option some
describer reads, once, so a new describer needs no edit there. Options that several describers read
are declared here once, so that they keep one flag, one meaning and one default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from finecliper.devices import DEVICE_HELP
from finecliper.errors import UserError


@dataclass(frozen=True)
class Option:
    flag: str  # "--weights"
    help: str
    type: Callable[[str], Any] = str
    default: Any = None
    metavar: str | None = None
    minimum: int | None = None  # smallest value allowed
    required: str | None = None  # what it is, when a describer reading it cannot run without it

    @property
    def dest(self) -> str:
        """The name of its value: "--max-new-tokens" -> "max_new_tokens"."""
        return self.flag.lstrip("-").replace("-", "_")


def check_values(options, values: dict[str, Any]) -> None:
    """UserError for a value below its option's minimum."""
    for option in options:
        value = values.get(option.dest)
        if option.minimum is not None and value is not None and value < option.minimum:
            raise UserError(f"{option.flag} must be at least {option.minimum}")


WEIGHTS = Option("--weights", "local model folder", metavar="DIR", required="a local model folder")
CUES = Option("--cues", "cue store of the manifest", metavar="DIR", required="the cue store of the manifest")
FRAMES = Option("--frames", "frames per clip shown to the model (default 8)", int, 8, minimum=1)
BATCH_SIZE = Option("--batch-size", "clips per generation batch (default 8 on CUDA, 1 on CPU; 16 for landmarks)", int,
                    minimum=1)
MAX_NEW_TOKENS = Option("--max-new-tokens", "longest description in tokens (default 96)", int, 96, minimum=1)
PROMPT = Option("--prompt", "a prompt of the package (paper, the default, or facial-movements-v1) or a prompt YAML",
                metavar="NAME_OR_FILE")
DEVICE = Option("--device", DEVICE_HELP, default="auto")
DTYPE = Option("--dtype", "bfloat16, float16 or float32 (default: bfloat16 on CUDA, float32 on CPU)")
# What every video LLM reads.
VIDEO_LLM = (WEIGHTS, FRAMES, BATCH_SIZE, MAX_NEW_TOKENS, PROMPT, DEVICE, DTYPE)
