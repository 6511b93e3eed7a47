"""The experiment's config: what `finecliper train`, `eval` and `zeroshot` run.

A whole run is the model (config/model.py: a preset plus changes), the data and the optimisation.
Building one from YAML files, a preset and `--set` overrides is config/loading.py's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from finecliper.config.model import ModelConfig
from finecliper.config.ranges import AT_LEAST_1, BELOW_1, NON_NEGATIVE, POSITIVE, PROBABILITY, SHARE, Range
from finecliper.config.strict import check_ranges
from finecliper.errors import UserError

# Model-selection protocols (data.select_on): best epoch on the validation split or the test fold, or the last.
SELECTIONS = ("val", "test", "last")


@dataclass
class AugmentConfig:
    """Training augmentation of a clip [OURS: the paper states none]; one draw per clip, all frames alike."""

    scale: list[Annotated[float, SHARE]] = field(default_factory=lambda: [0.8, 1.0])  # share of the frame's area a crop keeps
    ratio: list[Annotated[float, POSITIVE]] = field(default_factory=lambda: [3 / 4, 4 / 3])  # aspect ratios (w / h) of a crop
    flip_p: Annotated[float, PROBABILITY] = 0.5
    jitter_p: Annotated[float, PROBABILITY] = 0.8  # probability that a clip gets colour jitter at all (frames only, never cues)
    brightness: Annotated[float, BELOW_1] = 0.2  # factors drawn from [1 - b, 1 + b], kept positive
    contrast: Annotated[float, BELOW_1] = 0.2
    saturation: Annotated[float, BELOW_1] = 0.2
    hue: Annotated[float, Range(0, 0.5)] = 0.05  # rotation of the hue, in turns, drawn from [-hue, hue]

    def validate(self) -> None:
        check_ranges(self, "data.augment")
        if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise UserError(f"crop scale must be [min, max] with 0 < min <= max <= 1, got {self.scale}")
        if len(self.ratio) != 2 or not 0 < self.ratio[0] <= self.ratio[1]:
            raise UserError(f"crop ratio must be [min, max] with 0 < min <= max, got {self.ratio}")


@dataclass
class DataConfig:
    """Where a run's clips, cues and texts come from, and how validation is held out."""

    # Class list of the benchmark (a `finecliper.datasets` entry): dfew, ferv39k, mafw.
    dataset: str = "dfew"
    # The classes the model scores, in order, when a config names them (null: the dataset's); they must be the
    # dataset's. Written into results.json either way.
    classes: list[str] | None = None
    # The classes the training clips hold, when a config names them (null: not checked): the training
    # manifest must hold exactly these (MAFW's captions: no neutral clip).
    train_classes: list[str] | None = None
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
    image_size: Annotated[int, AT_LEAST_1] | None = None
    # Colours of the parsing and landmark renderings (data/palettes.py): "facexformer" [PAPER: the paper's
    # figures; yellow dots] or "legacy" (this package's earlier colours, green dots).
    palette: str = "facexformer"
    # Training augmentation (frames, cues and landmarks share each clip's crop and flip).
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # DataLoader worker processes per GPU (or per process on CPU); they persist over epochs and evaluations.
    workers: Annotated[int, NON_NEGATIVE] = 4
    # Batches each worker prepares ahead (torch's DataLoader prefetch_factor); used only with workers.
    prefetch_factor: Annotated[int, AT_LEAST_1] = 2
    # [OURS] Stratified, seeded share of the training fold held out for model selection.
    val_fraction: Annotated[float, BELOW_1] = 0.1
    # [OURS] Training only: a clip whose frames turn out unreadable mid-run is replaced by the next readable clip
    # of the split, counted and logged (results.json: unreadable_clips), instead of stopping the run.
    skip_unreadable: bool = False
    # Model selection, recorded in the results and printed by `finecliper report`: "val": the best epoch on
    # the held-out split, the test fold scored once (default); "test": the best epoch on the test fold, as
    # peer code does (DFER-CLIP, whose numbers the paper's baseline reproduces); "last": no selection, the
    # last epoch. A zero-shot run has no labelled validation split: with "val" it tests its last epoch.
    select_on: str = "val"
    # [OURS] A clip has a real face when the face detector confirms one (score >= face_min_score) in at least
    # face_min_share of its frames (data/face_verdict.py, docs/design.md §5). Training checks every clip's
    # cues before it starts: a clip without a cue file or without a real face stops it with the list of
    # ids, or, with skip_clips_without_cues, is left out and counted (log and results.json).
    face_min_score: Annotated[float, PROBABILITY] = 0.5
    face_min_share: Annotated[float, PROBABILITY] = 0.25
    skip_clips_without_cues: bool = False


@dataclass
class TrainConfig:
    """Optimisation. [OURS] everywhere: the paper states none of these."""

    epochs: Annotated[int, AT_LEAST_1] = 30
    batch_size: Annotated[int, AT_LEAST_1] = 32  # clips per optimizer step, over all processes and accumulation steps
    grad_accum: Annotated[int, AT_LEAST_1] = 1
    lr: Annotated[float, POSITIVE] = 3e-4  # AdamW, AIM's adapter learning rate
    weight_decay: Annotated[float, NON_NEGATIVE] = 0.05
    warmup_epochs: Annotated[float, NON_NEGATIVE] = 2.0  # linear warm-up, then cosine decay to zero
    grad_clip: Annotated[float, NON_NEGATIVE] = 1.0  # max gradient norm; 0 disables clipping
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 on CPU), "bf16" or "fp32"
    seed: Annotated[int, NON_NEGATIVE] = 42  # numpy's SeedSequence takes no negative seed
    # Write the resume state every this many optimizer steps (and at each epoch's end).
    checkpoint_every: Annotated[int, AT_LEAST_1] = 200
    # Evaluate on the selection split every this many epochs.
    eval_every: Annotated[int, AT_LEAST_1] = 1
    log_every: Annotated[int, AT_LEAST_1] = 10
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
        check_ranges(self)  # every numeric field against the range on its annotation
        self.model.validate()
        if self.data.select_on not in SELECTIONS:
            raise UserError(f"data.select_on must be one of {', '.join(SELECTIONS)}, got {self.data.select_on!r}")
        if self.data.select_on == "val" and self.data.val_fraction == 0.0 and not self.train.zero_shot:
            raise UserError("data.select_on=val needs data.val_fraction > 0 (or choose data.select_on=test)")
        if self.train.precision not in ("auto", "bf16", "fp32"):
            raise UserError(f"train.precision must be auto, bf16 or fp32, got {self.train.precision!r}")
        self.data.augment.validate()
