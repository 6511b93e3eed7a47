"""int8 dynamic quantization of a model's frozen CLIP towers, for prediction on the CPU (`--quantize int8`).

Every `nn.Linear` of the frozen towers' encoder layers (attention projections and MLPs: nearly all of a clip's
FLOPs) becomes `torch.ao.nn.quantized.dynamic.Linear`: int8 weights, activations quantized on
the fly per batch, int8 matrix products (fbgemm/x86 kernels). Not quantized, and why:
- the adapters: they are what training changed, so their error would not be averaged against CLIP's
  pretraining, and at a quarter of the tower's width or less they cost a few percent of the time;
- the temporal fusion transformer and the weight gate: trained too, and they see one token per frame, not
  per patch, so they cost almost nothing;
- the visual and text projections: one token per frame or sentence, so they cost nothing worth saving;
- convolutions (the patch embedding) and layer norms: dynamic quantization covers linear layers only.
PN sentence embeddings are computed once in float32 before quantizing, so the class prototypes are exact.
CPU only: PyTorch's dynamic int8 kernels exist for the CPU, and a GPU runs bf16 faster anyway.
PyTorch marks `torch.ao.quantization` deprecated in favour of torchao (not a dependency here); it still
ships and works in the locked version, and tests/test_quantize.py fails the day it does not.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from finecliper.errors import UserError
from finecliper.inference import QUANTIZE_MODES
from finecliper.model.adapter import Adapter


def check_quantize(mode: str, device: torch.device) -> None:
    """UserError for an unknown mode, or int8 on a device other than the CPU."""
    if mode not in QUANTIZE_MODES:
        raise UserError(f"unknown --quantize {mode!r} (use {' or '.join(QUANTIZE_MODES)})")
    if mode == "int8" and device.type != "cpu":
        raise UserError(f"--quantize int8 runs on the CPU only (PyTorch has no int8 dynamic kernels for "
                        f"{device.type}); add --device cpu, or leave out --quantize on a GPU")


def frozen_linear_names(model: nn.Module) -> list[str]:
    """Names (in `model.clip`) of the frozen linear layers of the towers' encoder layers (not the adapters')."""
    adapters = {name for name, module in model.clip.named_modules() if isinstance(module, Adapter)}
    return [name for name, module in model.clip.named_modules()
            if isinstance(module, nn.Linear) and ".encoder.layers." in f".{name}"
            and not any(name.startswith(a + ".") for a in adapters)
            and not any(p.requires_grad for p in module.parameters())]


def quantize_int8(model: nn.Module) -> int:
    """Quantize the frozen towers of a FineCLIPER model in evaluation mode, in place; returns how many linear
    layers were replaced. Call once, after loading the checkpoint and before predicting."""
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    if model.training:
        raise ValueError("quantize a model in evaluation mode (its PN embeddings are cached once)")
    names = frozen_linear_names(model)
    with torch.no_grad():
        model.pn_embeddings()  # cached in float32; eval mode keeps the cache
    engines = torch.backends.quantized.supported_engines
    if torch.backends.quantized.engine not in ("x86", "fbgemm"):  # the server kernels, when this build has them
        torch.backends.quantized.engine = next((e for e in ("x86", "fbgemm") if e in engines),
                                               torch.backends.quantized.engine)
    with warnings.catch_warnings():  # the deprecation notices (module docstring), once per import, say nothing new
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        quantize_dynamic(model.clip, {name: default_dynamic_qconfig for name in names}, dtype=torch.qint8,
                         inplace=True)
    return len(names)
