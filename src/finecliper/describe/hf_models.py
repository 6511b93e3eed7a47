"""What the video-LLM describers share: a local `transformers` model folder and a clip's frames.

Models come from a local folder only (`local_files_only`); nothing is downloaded. Weights load in
bf16 on CUDA and float32 on CPU unless `--dtype` says otherwise, straight onto the device. torch and
transformers are imported inside the functions: the command line reads the describers' options when it
starts and must not wait for them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from finecliper.data.manifest import ClipRecord
from finecliper.data.sampling import sample_indices
from finecliper.data.video import read_clip
from finecliper.describe.prompt import load_prompt
from finecliper.devices import resolve_device
from finecliper.errors import UserError
from finecliper.paths import existing_folder

DTYPES = ("bfloat16", "float16", "float32")


def resolve_dtype(device, dtype: str | None):
    """The torch dtype of a `--dtype` value on `device` (a torch.device): None is bf16 on CUDA, else float32."""
    import torch  # see the module docstring

    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise UserError(f"unknown --dtype {dtype!r} (use {', '.join(DTYPES)})")
    return getattr(torch, dtype)


def read_model_config(folder: Path, wanted: str) -> dict:
    """The folder's config.json; UserError unless it is a Hugging Face model folder (`wanted`: for messages)."""
    existing_folder(folder, "weights folder")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise UserError(f"{folder} has no config.json; give the local folder of a Hugging Face {wanted} model")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{config_path} is not readable JSON ({exc})") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise UserError(f"{config_path} has no model_type; give the local folder of a Hugging Face {wanted} model")
    return config


def from_pretrained(cls, folder: Path, device, dtype):
    """Load weights in `dtype` straight onto `device` (a 7B model need not pass through host memory)."""
    import transformers  # see the module docstring

    major, minor = (int(v) for v in transformers.__version__.split(".")[:2])
    # transformers renamed torch_dtype to dtype in 4.56; older versions would ignore `dtype` silently.
    kwargs = {"dtype" if (major, minor) >= (4, 56) else "torch_dtype": dtype, "local_files_only": True}
    if device.type == "cuda":
        try:
            return cls.from_pretrained(folder, device_map={"": device}, **kwargs).eval()
        except ImportError:
            pass  # older transformers need accelerate for device_map: load on the host, then move
    return cls.from_pretrained(folder, **kwargs).to(device).eval()


def model_name(folder: Path, config: dict) -> str:
    """The name recorded with the descriptions: the config's hub name, else the folder's name."""
    name = config.get("_name_or_path") or ""
    return name if name and not Path(name).is_absolute() else folder.resolve().name


def load_frames(clip: ClipRecord, num_frames: int) -> np.ndarray:
    """`num_frames` frames of the clip, test-mode sampling of the project's sampler: (T, H, W, 3) uint8."""
    if clip.num_frames < 1:
        raise UserError(f"clip {clip.id} has no frames in the manifest")
    return read_clip(clip.full_path, sample_indices(clip.num_frames, num_frames))


def decode_new(tokenizer, output, prompt_length: int) -> list[str]:
    """The generated texts after the prompt, whitespace collapsed."""
    texts = tokenizer.batch_decode(output[:, prompt_length:], skip_special_tokens=True)
    return [" ".join(t.split()) for t in texts]


def check_generation(num_frames: int, max_new_tokens: int, batch_size: int) -> None:
    if num_frames < 1 or max_new_tokens < 1 or batch_size < 1:
        raise UserError("--frames, --max-new-tokens and --batch-size must be at least 1")


class LocalVideoLLM:
    """What the video-LLM describers share: built from the command line's options through their own
    `from_folder(weights, prompt, device=, dtype=, num_frames=, max_new_tokens=, batch_size=)`."""

    @classmethod
    def from_options(cls, options: dict[str, Any], clips: list[ClipRecord]):
        return cls.from_folder(options["weights"], load_prompt(options["prompt"]), device=options["device"],
                               dtype=options["dtype"], num_frames=options["frames"],
                               max_new_tokens=options["max_new_tokens"],
                               batch_size=options["batch_size"] or default_batch_size(options["device"]))


def default_batch_size(device: str | None) -> int:
    """Clips per generation batch without --batch-size: 8 on CUDA, where one clip at a time leaves most of
    the GPU idle (about 8 h for DFEW on one GPU, docs/design.md §5), 1 on the CPU, where a batch is not
    faster and costs memory."""
    return 8 if resolve_device(device).type == "cuda" else 1
