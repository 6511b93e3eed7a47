"""What decides a synthetic dataset's content (`SynthSettings`, recorded in synth.json), apart from the code
that draws it, so that the command line can offer the choices without importing the renderer."""

from __future__ import annotations

from dataclasses import dataclass

from finecliper.errors import UserError

FORMATS = ("frames", "mp4")
CLASS_SETS = ("dfew", "mafw")


@dataclass
class SynthSettings:
    """What decides the dataset's content; recorded in synth.json."""

    train_identities: int = 80
    test_identities: int = 24
    clips_per_class: int = 1  # per identity
    frames: int = 16
    size: int = 64
    classes: str = "dfew"  # "dfew": the 7 basic classes; "mafw": MAFW's 11
    format: str = "frames"  # "frames": a folder of JPEGs per clip, as DFEW ships; "mp4": H.264 videos
    fps: int = 10
    seed: int = 0

    def validate(self) -> None:
        if self.train_identities < 1 or self.test_identities < 1:
            raise UserError("synth needs at least one training and one test identity")
        if self.clips_per_class < 1:
            raise UserError(f"--clips-per-class must be at least 1, got {self.clips_per_class}")
        if self.frames < 2:
            raise UserError(f"--frames must be at least 2 (an expression needs time), got {self.frames}")
        if self.size < 32 or self.size % 2:
            raise UserError(f"--size must be an even number of pixels >= 32, got {self.size}")
        if self.classes not in CLASS_SETS:
            raise UserError(f"--classes must be one of {', '.join(CLASS_SETS)}, got {self.classes!r}")
        if self.format not in FORMATS:
            raise UserError(f"--format must be one of {', '.join(FORMATS)}, got {self.format!r}")

    @property
    def identities(self) -> int:
        return self.train_identities + self.test_identities
