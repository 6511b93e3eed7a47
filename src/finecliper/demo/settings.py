"""The demo's sizes and choices (`DemoSettings`), apart from the pipeline, so that the command line can offer
them without importing the pipeline's torch-based stages."""

from __future__ import annotations

from dataclasses import dataclass, field

from finecliper.datasets import class_names
from finecliper.errors import UserError
from finecliper.synth.settings import SynthSettings

CUE_BACKENDS = ("oracle", "mediapipe")
VAL_FRACTION = 0.1  # of the training identities' clips, held out to select the epoch (DataConfig's default)


@dataclass
class DemoSettings:
    """The demo's sizes; the defaults finish in a few minutes on two CPU cores."""

    synth: SynthSettings = field(default_factory=SynthSettings)
    cues: str = "oracle"
    pretrain_steps: int = 400
    pretrain_batch: int = 128
    pretrain_frames: int = 8  # frames per training clip used for pretraining
    num_frames: int = 8  # frames per clip FineCLIPER sees
    epochs: int = 6
    batch_size: int = 8
    lr: float = 3e-3
    logit_scale: float = 10.0
    adapter_ratio: float = 0.25
    workers: int = 0  # DataLoader workers: 0 reads in the training process (2 cores: one process is best)
    seed: int = 0

    def validate(self) -> None:
        self.synth.validate()
        if self.cues not in CUE_BACKENDS:
            raise UserError(f"--cues must be one of {', '.join(CUE_BACKENDS)}, got {self.cues!r}")
        for name in ("pretrain_steps", "pretrain_batch", "pretrain_frames", "num_frames", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        # The Trainer holds out a stratified tenth (at least one clip of a class with two) for validation.
        per_class = self.synth.train_identities * self.synth.clips_per_class
        held = max(round(VAL_FRACTION * per_class), 1 if per_class >= 2 else 0)
        if (per_class - held) * len(class_names(self.synth.classes)) < self.batch_size:
            raise UserError(f"{self.synth.train_identities} training identities leave fewer training clips than "
                            f"one batch of {self.batch_size}; use more --train-identities or --clips-per-class")
