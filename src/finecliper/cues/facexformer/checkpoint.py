"""Loading the authors' FaceXFormer checkpoint: read without running code from it, sizes read from its tensors,
every tensor checked by name and shape before the model takes it.

The authors save `torch.save({"state_dict_backbone": model.state_dict(), ...}, "ckpts/model.pt")`; a file
that is already a flat name -> tensor dict is taken as it is, and a `module.` prefix that DataParallel
leaves on every key is removed. The file is read with `weights_only=True`: a checkpoint is downloaded from
somewhere, and a full unpickler would run whatever code it names. The network's sizes (Swin width, depths,
heads and window; decoder width, depth and MLP width) are inferred from the tensors' shapes, so a
differently sized FaceXFormer loads too and `info["published"]` says whether it is the authors' size; the
decoder's head count changes no shape and stays the config's. Every way the file can be wrong is one
sentence naming the first offending tensor and how many there are.
"""

from __future__ import annotations

import hashlib
import math
import pickle
import re
import warnings
import zipfile
from dataclasses import asdict, replace
from pathlib import Path

import torch

from finecliper.cues.facexformer.network import PUBLISHED, FaceXFormer, FaceXFormerConfig
from finecliper.cues.facexformer.swin import relative_position_index
from finecliper.errors import UserError
from finecliper.paths import existing_file

# Tensors in the authors' state dict for PUBLISHED: 351 in the Swin-B backbone (without its head), 8 + 1 in
# the fusion, 1 positional-encoding matrix, 144 in the decoder (tests/facexformer_files.py enumerates them).
PUBLISHED_TENSORS = 505
WHAT = "facexformer checkpoint"
_CHUNK = 1 << 20
_STAGE_INDICES = (1, 3, 5, 7)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _looks_like_torch_file(path: Path) -> bool:
    """torch.save writes a zip archive, or (before torch 1.6, or with the legacy format) a pickle of protocol 2+,
    whose first byte is PROTO (0x80); anything else is some other file, whatever the unpickler makes of it."""
    with open(path, "rb") as file:
        return zipfile.is_zipfile(file) or file.seek(0) == 0 and file.read(1) == b"\x80"


def _read(path: Path) -> object:
    """The unpickled object, read with the weights-only unpickler; any failure is one sentence."""
    try:
        is_torch_file = _looks_like_torch_file(path)
    except OSError as exc:
        raise UserError(f"{WHAT} {path} cannot be read ({exc.strerror or _first_line(exc)})") from None
    if not is_torch_file:
        raise UserError(f"{WHAT} {path} is not a torch checkpoint file (neither a zip archive nor a pickle)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about unusual pickle protocols of files it then rejects
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():
            raise UserError(f"{WHAT} {path} holds Python objects that need code to be run to load, and this "
                            f"loader runs none; give a checkpoint of plain tensors") from None
        raise UserError(f"{WHAT} {path} is not a torch checkpoint file ({_first_line(exc)})") from None
    except MemoryError:
        raise
    except OSError as exc:
        raise UserError(f"{WHAT} {path} cannot be read ({exc.strerror or _first_line(exc)})") from None
    except Exception as exc:  # torch.load raises many types for files that are not its format
        raise UserError(f"{WHAT} {path} is not a torch checkpoint file ({type(exc).__name__})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _state_dict(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """The name -> tensor dict in the file: its `state_dict_backbone`, or the whole object when it is one."""
    if isinstance(obj, dict) and "state_dict_backbone" in obj:
        obj = obj["state_dict_backbone"]
        if not isinstance(obj, dict):
            raise UserError(f"{WHAT} {path} has a 'state_dict_backbone' that is not a state dict")
    elif not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{WHAT} {path} holds no 'state_dict_backbone' and is not a state dict of tensors")
    bad = [str(k) for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise UserError(f"{WHAT} {path} has {len(bad)} state-dict entries that are not named tensors, "
                        f"first: {bad[0]}")
    if obj and all(key.startswith("module.") for key in obj):
        obj = {key[len("module."):]: value for key, value in obj.items()}
    return obj


def _count_blocks(state: dict[str, torch.Tensor], prefix: str) -> int:
    """1 + the largest block index under `prefix` (a gap then shows up as missing tensors), 0 for none."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    indices = [int(m.group(1)) for key in state if (m := pattern.match(key))]
    return max(indices) + 1 if indices else 0


def _window(table_rows: int) -> int | None:
    """The window whose bias table has `table_rows` rows, (2w - 1)^2; None when no window gives that."""
    side = math.isqrt(table_rows)
    return (side + 1) // 2 if side * side == table_rows and side % 2 == 1 else None


def infer_config(state: dict[str, torch.Tensor], base: FaceXFormerConfig = PUBLISHED) -> FaceXFormerConfig:
    """The sizes the tensors' shapes imply; a size whose tensor is absent or odd stays `base`'s, so that the
    strict comparison that follows names the tensor at fault."""

    def dim(key: str, axis: int, default: int) -> int:
        tensor = state.get(key)
        return int(tensor.shape[axis]) if tensor is not None and tensor.dim() > axis else default

    depths = tuple(_count_blocks(state, f"backbone.0.{i}.") or d
                   for i, d in zip(_STAGE_INDICES, base.depths, strict=True))
    heads = tuple(dim(f"backbone.0.{i}.0.attn.relative_position_bias_table", 1, h)
                  for i, h in zip(_STAGE_INDICES, base.num_heads, strict=True))
    window = _window(dim("backbone.0.1.0.attn.relative_position_bias_table", 0, 0)) or base.window
    return replace(
        base, embed_dim=dim("backbone.0.0.0.weight", 0, base.embed_dim), depths=depths, num_heads=heads,
        window=window, patch=dim("backbone.0.0.0.weight", 2, base.patch),
        decoder_dim=dim("face_decoder.mask_tokens.weight", 1, base.decoder_dim),
        decoder_depth=_count_blocks(state, "face_decoder.transformer.layers.") or base.decoder_depth,
        decoder_mlp=dim("face_decoder.transformer.layers.0.mlp.lin1.weight", 0, base.decoder_mlp))


def _tensors(count: int) -> str:
    return f"{count} tensor" if count == 1 else f"{count} tensors"


def _check_names_and_shapes(state: dict[str, torch.Tensor], expected: dict[str, torch.Size], path: Path) -> None:
    missing = [key for key in expected if key not in state]
    if missing:
        raise UserError(f"{WHAT} {path} lacks {_tensors(len(missing))} the model needs, first: {missing[0]}")
    unknown = [key for key in state if key not in expected]
    if unknown:
        raise UserError(f"{WHAT} {path} has {_tensors(len(unknown))} FaceXFormer does not, first: {unknown[0]}")
    wrong = [key for key, shape in expected.items() if state[key].shape != shape and not _is_square_index(
        key, state[key], shape)]
    if wrong:
        key = wrong[0]
        where = f"tensor {key}" if len(wrong) == 1 else f"{_tensors(len(wrong))} of the wrong shape, first: {key}"
        raise UserError(f"{WHAT} {path} has {where} of shape {tuple(state[key].shape)} where FaceXFormer has "
                        f"{tuple(expected[key])}")


def _is_square_index(key: str, tensor: torch.Tensor, shape: torch.Size) -> bool:
    """Older torchvision stored the relative position index as (window^2, window^2), newer flat: both load."""
    n = math.isqrt(shape[0]) if len(shape) == 1 else -1
    return key.endswith("relative_position_index") and tuple(tensor.shape) == (n, n)


def _check_position_indices(state: dict[str, torch.Tensor], window: int, path: Path) -> dict[str, torch.Tensor]:
    """The relative position indices flattened, after checking that they are the window's layout (the model
    indexes its bias tables with them, so other values would silently scramble the biases)."""
    truth = relative_position_index(window)
    keys = [key for key in state if key.endswith("relative_position_index")]
    wrong = [key for key in keys if not torch.equal(state[key].reshape(-1).long(), truth)]
    if wrong:
        count = f"{len(wrong)} relative_position_index buffers" if len(wrong) > 1 else "a relative_position_index"
        raise UserError(f"{WHAT} {path} has {count} whose values are not those of a {window} x {window} Swin "
                        f"window, first: {wrong[0]}")
    return {**state, **{key: truth.clone() for key in keys}}


def _build(config: FaceXFormerConfig, state: dict[str, torch.Tensor], path: Path, device) -> FaceXFormer:
    # Built without memory on the meta device, then given storage: every tensor comes from the file.
    with torch.device("meta"):
        model = FaceXFormer(config)
    _check_names_and_shapes(state, {key: t.shape for key, t in model.state_dict().items()}, path)
    state = _check_position_indices(state, config.window, path)
    model = model.to_empty(device=device)
    model.load_state_dict(state, strict=True)
    return model.eval()


def load_facexformer(path, device="cpu") -> tuple[FaceXFormer, dict]:
    """The model in the authors' file at `path` (eval mode, on `device`) and what was loaded: the file's
    `sha256`, its number of `tensors`, the model's number of `parameters`, whether its sizes are the
    authors' (`published`) and the inferred `config` as a dict."""
    path = existing_file(path, WHAT)
    try:
        sha256 = file_sha256(path)
    except OSError as exc:
        raise UserError(f"{WHAT} {path} cannot be read ({exc.strerror})") from None
    state = _state_dict(_read(path), path)
    try:
        config = infer_config(state)
    except UserError as exc:
        raise UserError(f"{WHAT} {path} does not describe a FaceXFormer ({exc})") from None
    model = _build(config, state, path, device)
    info = {"sha256": sha256, "tensors": len(state), "parameters": sum(p.numel() for p in model.parameters()),
            "published": config == PUBLISHED, "config": asdict(config)}
    return model, info
