"""The experiment's config: what `finecliper train`, `eval` and `zeroshot` run.

A whole run is the model (config/model.py: a preset plus changes), the data and the optimisation.
Building one from YAML files, a preset and `--set` overrides is config/loading.py's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from finecliper.config.model import ModelConfig
from finecliper.errors import UserError


@dataclass
class AugmentConfig:
    """Training augmentation of a clip [OURS: the paper states none]; one draw per clip, all frames alike."""

    scale: list[float] = field(default_factory=lambda: [0.8, 1.0])  # share of the frame's area a crop keeps
    ratio: list[float] = field(default_factory=lambda: [3 / 4, 4 / 3])  # aspect ratios (w / h) of a crop
    flip_p: float = 0.5
    jitter_p: float = 0.8  # probability that a clip gets colour jitter at all (frames only, never cues)
    brightness: float = 0.2  # factors drawn from [1 - b, 1 + b]
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.05  # rotation of the hue, in turns, drawn from [-hue, hue]

    def validate(self) -> None:
        if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise UserError(f"crop scale must be [min, max] with 0 < min <= max <= 1, got {self.scale}")
        if len(self.ratio) != 2 or not 0 < self.ratio[0] <= self.ratio[1]:
            raise UserError(f"crop ratio must be [min, max] with 0 < min <= max, got {self.ratio}")
        for name in ("flip_p", "jitter_p"):
            if not 0 <= getattr(self, name) <= 1:
                raise UserError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        for name in ("brightness", "contrast", "saturation"):
            if not 0 <= getattr(self, name) < 1:
                raise UserError(f"{name} jitter must be in [0, 1), got {getattr(self, name)}")
        if not 0 <= self.hue <= 0.5:
            raise UserError(f"hue jitter must be in [0, 0.5], got {self.hue}")


@dataclass
class DataConfig:
    """Where a run's clips, cues and texts come from, and how validation is held out."""

    # Class list of the benchmark (a `finecliper.datasets` entry): dfew, ferv39k, mafw.
    dataset: str = "dfew"
    # Manifests written by `finecliper manifest` (JSONL). Relative paths resolve against the working directory.
    train_manifest: str | None = None
    test_manifest: str | None = None
    # Replaces the data root stored in the manifests (data moved since they were built).
    data_root: str | None = None
    # Cue store of `finecliper cues`; required when the model uses parsing or landmarks.
    cues: str | None = None
    # Text of the description branch: a descriptions JSONL of `finecliper describe`, or "captions" for the
    # manifest's own captions (MAFW); required when the model uses descriptions.
    descriptions: str | None = None
    # Frame size fed to the model; None takes the backbone's (224 for the CLIP presets).
    image_size: int | None = None
    # Training augmentation (frames, cues and landmarks share each clip's crop and flip).
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # DataLoader worker processes per GPU (or per process on CPU); they persist over epochs and evaluations.
    workers: int = 4
    # Batches each worker prepares ahead (torch's DataLoader prefetch_factor); used only with workers.
    prefetch_factor: int = 2
    # [OURS] Stratified, seeded share of the training fold held out for model selection.
    val_fraction: float = 0.1
    # "val": select the best epoch on the held-out split, score the test fold once (default);
    # "test": select on the test fold, as peer code does; recorded in the results for comparability.
    select_on: str = "val"


@dataclass
class TrainConfig:
    """Optimisation. [OURS] everywhere: the paper states none of these."""

    epochs: int = 30
    batch_size: int = 32  # clips per optimizer step, over all processes and accumulation steps
    grad_accum: int = 1
    lr: float = 3e-4  # AdamW, AIM's adapter learning rate
    weight_decay: float = 0.05
    warmup_epochs: float = 2.0  # linear warm-up, then cosine decay to zero
    grad_clip: float = 1.0  # max gradient norm; 0 disables clipping
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 on CPU), "bf16" or "fp32"
    seed: int = 42
    # Write the resume state every this many optimizer steps (and at each epoch's end).
    checkpoint_every: int = 200
    # Evaluate on the selection split every this many epochs.
    eval_every: int = 1
    log_every: int = 10
    tensorboard: bool = True
    # Zero-shot protocol: train on (video, text) pairs only, without labels (alignment loss alone).
    zero_shot: bool = False
    # torch.compile the frozen towers (docs/design.md §3): faster steps on GPU after a compile of minutes.
    compile: bool = False


@dataclass
class ExperimentConfig:
    """A whole run: the model (a preset plus changes), the data and the optimisation."""

    preset: str = "B16"
    model: ModelConfig = field(default_factory=ModelConfig)  # the preset's fields, then the file's changes
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    name: str = ""  # protocol name (e.g. dfew_fold1); runs go to runs/<name>_<preset> by default

    def validate(self) -> None:
        self.model.validate()
        if self.data.select_on not in ("val", "test"):
            raise UserError(f"data.select_on must be 'val' or 'test', got {self.data.select_on!r}")
        if not 0.0 <= self.data.val_fraction < 1.0:
            raise UserError(f"data.val_fraction must be in [0, 1), got {self.data.val_fraction}")
        if self.data.select_on == "val" and self.data.val_fraction == 0.0 and not self.train.zero_shot:
            raise UserError("data.select_on=val needs data.val_fraction > 0 (or choose data.select_on=test)")
        if self.train.precision not in ("auto", "bf16", "fp32"):
            raise UserError(f"train.precision must be auto, bf16 or fp32, got {self.train.precision!r}")
        for key in ("epochs", "batch_size", "grad_accum", "checkpoint_every", "eval_every", "log_every"):
            if getattr(self.train, key) < 1:
                raise UserError(f"train.{key} must be at least 1, got {getattr(self.train, key)}")
        self.data.augment.validate()
        if self.data.workers < 0:
            raise UserError(f"data.workers must be >= 0, got {self.data.workers}")
        if self.data.prefetch_factor < 1:
            raise UserError(f"data.prefetch_factor must be at least 1, got {self.data.prefetch_factor}")
