"""Typed configuration: the model's dataclass and the strict machinery behind YAML files and `--set`.

Every choice the paper leaves open is a field here, so a user can change it; the comment beside each
field says whether the paper fixes it ([PAPER]) or we chose it ([OURS]). Configs are built from plain
dicts (YAML, JSON, presets) by `from_dict`, and changed by `apply_overrides(cfg, ["a.b=value"])`;
both reject unknown keys and values of the wrong type with one clear sentence.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

from finecliper.errors import UserError

# Branch names of the two shared frozen towers (docs/design.md §3). The image tower carries one adapter set
# per visual stream; the text tower one per kind of sentence.
IMAGE_BRANCHES = ("video", "parsing", "landmarks")
TEXT_BRANCHES = ("pos", "neg", "desc")
CUE_BRANCHES = ("parsing", "landmarks")


def _default_adapter_ratio() -> dict[str, float]:
    # [OURS] Bottleneck width as a fraction of the tower's width, per branch; 0 disables that branch's
    # adapters (the "no video adapter" and "no text adapter" ablations). The frame ratio 0.25 is AIM's;
    # the others are chosen so that the four ViT-B/16 presets land on the paper's 13 / 19 / 14 / 20 M
    # tunable parameters (`finecliper params` prints the counts).
    return {"video": 0.25, "parsing": 0.1, "landmarks": 0.1, "pos": 0.125, "neg": 0.125, "desc": 0.0625}


@dataclass
class ModelConfig:
    """Everything that decides the FineCLIPER network and its losses."""

    # Architecture preset of the frozen CLIP: "ViT-B/16" [PAPER], "ViT-B/32", "ViT-L/14", "tiny" (tests) or
    # "small" (the synthetic demo's, which `finecliper demo` pretrains).
    backbone: str = "ViT-B/16"
    # Local CLIP weights: a Hugging Face CLIP folder or an OpenAI CLIP .pt file. None: random weights,
    # with a warning (only useful for tests and parameter counts).
    weights: str | None = None
    # Folder holding the tokenizer; None: the weights folder (or the .pt file's folder). Random-weight
    # models use the built-in byte-level tokenizer.
    tokenizer: str | None = None
    # Frames per clip [PAPER: 16].
    num_frames: int = 16
    # Middle-level cue branches on the image tower: any of "parsing", "landmarks" [PAPER: both, for *].
    cues: list[str] = field(default_factory=list)
    # High-level branch: refined fine-grained descriptions through the text tower [PAPER: †].
    descriptions: bool = False
    adapter_ratio: dict[str, float] = field(default_factory=_default_adapter_ratio)
    # Which encoder layers carry adapters; None means every layer [OURS].
    image_adapter_layers: list[int] | None = None
    text_adapter_layers: list[int] | None = None
    # Scale s of the adapter parallel to the MLP [PAPER: 0.5; 0.3 and 0.7 were worse].
    adapter_scale: float = 0.5
    # PN descriptors [PAPER]: "A person with an expression of {label}" and its negation with "no"
    # ("no" beat "less" in the paper's ablation).
    positive_template: str = "A person with an expression of {label}"
    negative_template: str = "A person with an expression of {negation} {label}"
    negation: str = "no"
    # False drops the negative sentences and their loss term (positive-only descriptors).
    use_negative: bool = True
    # Temporal-fusion transformer over the frame tokens of every enabled image branch [OURS: 1 layer, 8 heads].
    fusion_layers: int = 1
    fusion_heads: int = 8
    # Weight w of the video features against the description features: None learns it per sample
    # [PAPER: adaptive beat every fixed w]; a number in [0, 1] fixes it (the ablation).
    video_weight: float | None = None
    # Weight λ of the video-description alignment loss [OURS].
    align_weight: float = 1.0
    # τ of the PN loss [OURS: CLIP's logit scale, 100]; learn_logit_scale makes it a trainable head.
    logit_scale: float = 100.0
    learn_logit_scale: bool = False
    # Recompute activations in the backward pass of the frozen towers to save memory.
    gradient_checkpointing: bool = False

    def validate(self) -> None:
        """Check values that types alone cannot; raise UserError with one sentence."""
        unknown = [c for c in self.cues if c not in CUE_BRANCHES]
        if unknown:
            raise UserError(f"unknown cue branch {unknown[0]!r}; choose from {', '.join(CUE_BRANCHES)}")
        if len(set(self.cues)) != len(self.cues):
            raise UserError(f"cues lists a branch twice: {self.cues}")
        extra = sorted(set(self.adapter_ratio) - set(IMAGE_BRANCHES + TEXT_BRANCHES))
        if extra:
            raise UserError(
                f"adapter_ratio names unknown branch {extra[0]!r}; branches are "
                f"{', '.join(IMAGE_BRANCHES + TEXT_BRANCHES)}"
            )
        missing = [b for b in IMAGE_BRANCHES + TEXT_BRANCHES if b not in self.adapter_ratio]
        if missing:
            raise UserError(f"adapter_ratio has no entry for branch {missing[0]!r}")
        for name, ratio in self.adapter_ratio.items():
            if ratio < 0:
                raise UserError(f"adapter_ratio.{name} must be >= 0 (0 disables that branch's adapters), got {ratio}")
        if self.num_frames < 1:
            raise UserError(f"num_frames must be at least 1, got {self.num_frames}")
        for name in ("fusion_layers", "fusion_heads"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.video_weight is not None and not 0.0 <= self.video_weight <= 1.0:
            raise UserError(f"video_weight must be in [0, 1] or null (adaptive), got {self.video_weight}")
        if "{label}" not in self.positive_template or "{label}" not in self.negative_template:
            raise UserError("positive_template and negative_template must both contain '{label}'")
        if self.logit_scale <= 0:
            raise UserError(f"logit_scale must be positive, got {self.logit_scale}")

    @property
    def image_branches(self) -> list[str]:
        """Enabled image branches, frames first."""
        return ["video", *[b for b in CUE_BRANCHES if b in self.cues]]

    @property
    def text_branches(self) -> list[str]:
        """Enabled text branches."""
        return ["pos"] + (["neg"] if self.use_negative else []) + (["desc"] if self.descriptions else [])


# ---------------------------------------------------------------------------------------------------
# Strict construction from dicts and `key=value` overrides.

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Return `value` checked (and, where lossless, converted) against type annotation `tp`."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except UserError:
                continue
        raise UserError(f"{where} must be {' or '.join(_type_name(a) for a in args)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserError(f"{where} must be a mapping, got {value!r}")
        return from_dict(tp, value, where)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise UserError(f"{where} must be a list, got {value!r}")
        return [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _, item_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise UserError(f"{where} must be a mapping, got {value!r}")
        return {str(k): _coerce(v, item_tp, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Any:
        return value
    raise UserError(f"{where} must be {_type_name(tp)}, got {value!r}")


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass `cls` from `data`, refusing unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(f"unknown key {where}.{unknown[0]}; known keys: {', '.join(sorted(names))}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        # A partial mapping for a dict field updates its default instead of replacing it, so a YAML file
        # can say `adapter_ratio: {video: 0.3}`; unknown keys are left for the config's validate().
        if isinstance(value, dict) and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
            if isinstance(default, dict):
                value = {**default, **value}
        kwargs[f.name] = _coerce(value, hints[f.name], f"{where}.{f.name}")
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-dict form of a config dataclass (for YAML, JSON and checkpoint records)."""
    return dataclasses.asdict(cfg)


def apply_overrides(cfg: T, overrides: list[str], where: str = "config") -> T:
    """Return a copy of dataclass `cfg` with `key.sub=value` overrides applied.

    Values are parsed as YAML (`3`, `0.5`, `true`, `null`, `[parsing, landmarks]`, plain strings) and
    checked against the field's type. Unknown keys are refused; dict fields accept only keys they
    already have, so a typo in a branch name cannot silently add a new one.
    """
    data = to_dict(cfg)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserError(f"override {item!r} is not of the form key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        parts = key.split(".")
        node: Any = data
        for depth, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                prefix = ".".join(parts[:depth]) or where
                choices = ", ".join(sorted(node)) if isinstance(node, dict) else "none (not a mapping)"
                raise UserError(f"unknown key {key!r} in override: {prefix} has keys {choices}")
            if depth == len(parts) - 1:
                node[part] = value
            else:
                node = node[part]
    return from_dict(type(cfg), data, where)


def load_yaml(path: str) -> dict[str, Any]:
    """Read a YAML mapping, turning I/O and syntax problems into one sentence."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise UserError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise UserError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping at the top level")
    return data


# ---------------------------------------------------------------------------------------------------
# Experiments: what `finecliper train`, `eval` and `zeroshot` run.


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

    # Class list of the benchmark (labels.py): dfew, ferv39k, mafw.
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
    # DataLoader worker processes per GPU (or per process on CPU).
    workers: int = 4
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


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_experiment_dict(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML experiment file with its `inherit:` chain merged in (parents first, this file last).

    `inherit` names one file or a list of files, relative to the file that names them; mappings merge
    key by key, any other value replaces the inherited one.
    """
    path = Path(path).resolve()
    if path in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, path))
        raise UserError(f"config files inherit from each other in a loop: {chain}")
    data = load_yaml(str(path))
    parents = data.pop("inherit", [])
    parents = [parents] if isinstance(parents, str) else parents
    merged: dict[str, Any] = {}
    for parent in parents:
        merged = _deep_merge(merged, load_experiment_dict(path.parent / parent, (*_seen, path)))
    return _deep_merge(merged, data)


def experiment_from_dict(data: dict[str, Any], overrides: list[str] | None = None) -> ExperimentConfig:
    """The typed, validated experiment of a plain dict and `--set` overrides.

    The model section starts from the preset's fields; the dict's `model:` mapping and `model.*`
    overrides change them. A `preset=` override is applied first, so it takes effect as a preset.
    """
    from finecliper.presets import model_config  # presets build on this module

    overrides = list(overrides or [])
    data = dict(data)
    for item in overrides:
        if item.startswith("preset="):
            data["preset"] = item.split("=", 1)[1]
    overrides = [o for o in overrides if not o.startswith("preset=")]
    preset = data.get("preset", ExperimentConfig.preset)
    if not isinstance(preset, str):
        raise UserError(f"config.preset must be a preset name, got {preset!r}")
    model = data.get("model") or {}
    if not isinstance(model, dict):
        raise UserError(f"config.model must be a mapping of model settings, got {model!r}")
    data["model"] = _deep_merge(to_dict(model_config(preset)), model)
    cfg = apply_overrides(from_dict(ExperimentConfig, data, where="config"), overrides, where="config")
    cfg.validate()
    return cfg


def load_experiment(paths: str | Path | list[str | Path], overrides: list[str] | None = None) -> ExperimentConfig:
    """The experiment of one or more YAML files (merged in order, each with its inheritance) and `--set`
    overrides. Several files combine a protocol with a preset without a file per pair:
    `--config configs/dfew/fold1.yaml --config configs/presets/B16-Full.yaml`.
    """
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    data: dict[str, Any] = {}
    for path in paths:
        data = _deep_merge(data, load_experiment_dict(path))
    data.setdefault("name", Path(paths[0]).stem)
    return experiment_from_dict(data, overrides)
