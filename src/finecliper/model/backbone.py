"""The frozen CLIP backbone: architecture presets, local weights, and the tokenizer that goes with them.

Architectures are Hugging Face `CLIPConfig` dicts shipped as JSON in `finecliper/arch/` (model/architectures.py
registers every file there). Weights come
only from a local path: a Hugging Face CLIP folder (`config.json`, `model.safetensors` or
`pytorch_model.bin`, possibly sharded) or a single file holding either layout, OpenAI's `.pt` included.
Loading is strict (every tensor used, none missing, every shape right) and happens before any adapter
is injected. Nothing is ever downloaded; with no weights the model is random and says so.
"""

from __future__ import annotations

import json
import logging
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from finecliper.errors import UserError
from finecliper.model.architectures import architecture_dict
from finecliper.model.openai_clip import openai_to_hf, read_openai_state_dict
from finecliper.model.tokenizer import builtin_tokenizer, load_tokenizer

log = logging.getLogger(__name__)

# Seed of the random weights used when no weights are given.
RANDOM_BACKBONE_SEED = 0
# Fields that must agree between a weights folder's config.json and the chosen architecture.
_ARCH_FIELDS = {
    "vision_config": ("hidden_size", "intermediate_size", "num_hidden_layers", "patch_size", "image_size"),
    "text_config": ("hidden_size", "intermediate_size", "num_hidden_layers", "vocab_size"),
}


@dataclass
class Backbone:
    """A loaded CLIP: the `transformers` model, its tokenizer, and where its weights came from."""

    clip: Any  # transformers.CLIPModel
    tokenizer: Any  # transformers.CLIPTokenizer
    source: str  # the weights path, or "random"


def _skip_init():
    """Context that skips transformers' random initialisation (weights are loaded right after)."""
    try:
        from transformers.initialization import no_init_weights  # transformers 5
    except ImportError:
        try:
            from transformers.modeling_utils import no_init_weights  # transformers 4
        except ImportError:
            return nullcontext()
    return no_init_weights()


def build_clip(architecture: str | dict[str, Any], eos_token_id: int | None = None, initialise: bool = True):
    """A `CLIPModel` of `architecture` (a registered name, or its `architecture_dict`), using PyTorch's SDPA attention.

    `eos_token_id` is the id the text tower pools at; it must be the tokenizer's end-of-text id.
    initialise=False skips the random initialisation (seconds for ViT-L/14) when weights are loaded next.
    Call under `torch.device("meta")` to get the structure without memory (parameter counts).
    """
    from transformers import CLIPConfig, CLIPModel  # seconds to import: only when a CLIP is built

    data = architecture_dict(architecture) if isinstance(architecture, str) else dict(architecture)
    if eos_token_id is not None:
        data["text_config"] = {**data["text_config"], "eos_token_id": eos_token_id}  # the caller's dict stays as it was
    config = CLIPConfig(**data)
    config._attn_implementation = "sdpa"
    config.text_config._attn_implementation = "sdpa"
    config.vision_config._attn_implementation = "sdpa"
    with nullcontext() if initialise else _skip_init():
        model = CLIPModel(config)
    model.eval()
    return model


# ---------------------------------------------------------------------------------------------------
# Reading weights


def _read_tensor_file(path: Path, allow_torchscript: bool) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as exc:
            raise UserError(f"cannot read {path} as safetensors: {exc}") from None
    return read_openai_state_dict(path, allow_torchscript)  # TorchScript archives (when allowed), plain state dicts


def _hf_weight_files(folder: Path) -> list[Path]:
    """The weight files of a Hugging Face folder (several when sharded)."""
    for name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (folder / name).is_file():
            shards = sorted(set(json.loads((folder / name).read_text())["weight_map"].values()))
            return [folder / shard for shard in shards]
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return [folder / name]
    raise UserError(f"{folder} holds no CLIP weights (model.safetensors or pytorch_model.bin)")


def _check_folder_architecture(folder: Path, architecture: str, expected: dict[str, Any]) -> None:
    """A weights folder's config.json must describe `expected`, the CLIPConfig dict of `architecture`."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        return  # the strict shape check below still catches a wrong architecture
    try:
        found = json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{config_path} is not valid JSON: {exc}") from None
    for tower, fields in _ARCH_FIELDS.items():
        for f in fields:
            have = found.get(tower, {}).get(f)
            want = expected[tower][f]
            if have is not None and have != want:
                raise UserError(
                    f"the weights in {folder} are a different CLIP: {tower}.{f} is {have}, but backbone "
                    f"{architecture} has {want}; set model.backbone to the architecture of these weights"
                )


def _weight_files(path: str | Path) -> list[Path]:
    """The files holding the weights at `path`: the file itself, or a folder's (possibly sharded) files."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"weights path {path} does not exist")
    return _hf_weight_files(path) if path.is_dir() else [path]


def _read_weights(files: list[Path], allow_torchscript: bool) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for path in files:
        state.update(_read_tensor_file(path, allow_torchscript))
    if "visual.conv1.weight" in state:  # OpenAI layout
        state = openai_to_hf(state)
    # Old checkpoints carry the position-id buffers, which are derived, not learned.
    return {k: v for k, v in state.items() if not k.endswith("position_ids")}


def load_state_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load `state` into `model`, refusing any missing, unexpected or wrongly shaped tensor."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in state if k in own and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        problems = []
        if wrong:
            k = wrong[0]
            problems.append(
                f"{len(wrong)} tensors of the wrong shape (e.g. {k}: {tuple(state[k].shape)}, "
                f"expected {tuple(own[k].shape)})"
            )
        if missing:
            problems.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise UserError(f"the weights in {source} do not fit this architecture: {'; '.join(problems)}")
    model.load_state_dict(state, strict=True)


def _tokenizer_folder(weights: str | None, tokenizer: str | None) -> Path | None:
    if tokenizer is not None:
        return Path(tokenizer)
    if weights is None:
        return None
    path = Path(weights)
    return path if path.is_dir() else path.parent


def load_backbone(architecture: str, weights: str | None = None, tokenizer: str | None = None,
                  meta: bool = False, allow_torchscript: bool = True) -> Backbone:
    """Build the CLIP of `architecture`, load `weights` strictly, and pair it with its tokenizer.

    meta=True builds the structure without memory or weights (for parameter counts). allow_torchscript=False
    refuses a TorchScript archive (its loading runs code): for weights a checkpoint's record names.
    """
    arch = architecture_dict(architecture)
    files: list[Path] = []
    if weights is not None:  # before the tokenizer: missing weights or a wrong architecture come first
        files = _weight_files(weights)
        if Path(weights).is_dir():
            _check_folder_architecture(Path(weights), architecture, arch)
    folder = _tokenizer_folder(weights, tokenizer)
    tok = builtin_tokenizer() if folder is None else load_tokenizer(folder, arch["text_config"]["vocab_size"])

    if meta:
        with torch.device("meta"):
            clip = build_clip(arch, tok.eos_token_id)
        return Backbone(clip, tok, "meta")
    if weights is None:
        # Always the same random weights: a checkpoint stores only the trainable tensors, so a model
        # trained on a random backbone (tests, demo) can be rebuilt only if that backbone is reproducible.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_BACKBONE_SEED)
            clip = build_clip(arch, tok.eos_token_id)
        log.warning(
            "no CLIP weights given: the %s backbone has RANDOM weights%s; its outputs mean nothing "
            "until model.weights points at a local CLIP folder or OpenAI .pt file",
            architecture, "" if tokenizer else " and the built-in byte-level tokenizer",
        )
        return Backbone(clip, tok, "random")
    clip = build_clip(arch, tok.eos_token_id, initialise=False)
    load_state_strict(clip, _read_weights(files, allow_torchscript), str(weights))
    return Backbone(clip, tok, str(weights))
