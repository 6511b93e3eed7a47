"""Counted FLOPs, the device's peak, and MFU for `finecliper bench model`.

FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode` while the real code runs (matrix products,
convolutions, attention; forward and backward). PyTorch's table has no entry for the CPU's fused attention
kernels, so they are added here with PyTorch's own attention formulas; without them CPU counts would leave
out attention. The peak is the device's dense bf16 tensor-core figure from NVIDIA's datasheets for common
GPUs (`GPU_PEAK_TFLOPS`), and on CPU a matrix product measured in the same process (MFU = achieved / peak).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

aten = torch.ops.aten

# Dense (no sparsity) bf16 tensor-core peak in TFLOP/s, by a substring of torch.cuda.get_device_name().
# Sources: NVIDIA datasheets and architecture whitepapers (the "without sparsity" column):
# H100/H200 SXM 989.4 and H100 PCIe 756 (H100 datasheet; H200 datasheet: same 989 TFLOPS BF16 as H100 SXM),
# H100 NVL 835 (H100 datasheet), A100 312 (A100 datasheet), L40S 362.05 (L40S datasheet), L40 181.05 (L40
# datasheet), L4 121 (L4 datasheet), A10 125 (A10 datasheet), A6000 154.8 (RTX A6000 datasheet),
# RTX 4090 165.2 (Ada Lovelace whitepaper, FP32 accumulate), RTX 3090 71 (Ampere GA102 whitepaper, FP32
# accumulate), B200 2250 (DGX B200 datasheet: 72 PFLOPS FP8 sparse for 8 GPUs; dense bf16 2.25 PF per GPU).
# First match wins: longer names come first.
GPU_PEAK_TFLOPS: list[tuple[str, float]] = [
    ("H100 NVL", 835.0), ("H100 PCIe", 756.0), ("H200", 989.4), ("H100", 989.4), ("GH200", 989.4),
    ("B200", 2250.0), ("A100", 312.0), ("L40S", 362.05), ("L40", 181.05), ("L4", 121.0), ("A6000", 154.8),
    ("A10", 125.0), ("4090", 165.2), ("3090", 71.0),
]

# The CPU's fused attention kernels, counted as PyTorch counts the GPU's (shapes in, FLOPs out).
CPU_ATTENTION = {
    aten._scaled_dot_product_flash_attention_for_cpu:
        lambda q, k, v, *args, out_shape=None, **kwargs: sdpa_flop_count(q, k, v),
    aten._scaled_dot_product_flash_attention_for_cpu_backward:
        lambda grad, q, k, v, *args, out_shape=None, **kwargs: sdpa_backward_flop_count(grad, q, k, v),
}


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of the operations `fn()` runs (forward and backward alike)."""
    with FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION) as counter:
        fn()
    return int(counter.get_total_flops())


def gpu_peak_tflops(name: str) -> float | None:
    """Dense bf16 peak of a GPU named `name` from the table, or None when it is not listed."""
    return next((peak for key, peak in GPU_PEAK_TFLOPS if key.lower() in name.lower()), None)


def cpu_matmul_tflops(dtype: torch.dtype = torch.float32, n: int = 1024, repeats: int = 5) -> float:
    """The best rate of an n x n matrix product in this process, in TFLOP/s: the CPU's practical peak with
    its current threads (on a shared machine, of the share it gets now)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b  # warm-up: thread pool, caches
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e12


def peak_tflops(device: torch.device, dtype: torch.dtype) -> tuple[float | None, str]:
    """(peak TFLOP/s, where it comes from) of `device` for `dtype`."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak = gpu_peak_tflops(name)
        return peak, f"datasheet dense bf16 of {name}" if peak else f"{name} is not in the table"
    return cpu_matmul_tflops(dtype), f"measured {dtype} 1024x1024 matrix product, {torch.get_num_threads()} threads"
