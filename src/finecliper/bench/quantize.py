"""`finecliper bench quantize`: prediction with the frozen towers in int8 (`predict --quantize int8`) against
float32, timed in one run on the CPU, and how far the int8 model's outputs move.

A preset's model (random CLIP weights unless `--set weights=PATH`; speed does not depend on the values)
gets randomised adapters and heads, so that every branch changes the result; a copy is quantized as
`finecliper predict --quantize int8` quantizes (`inference.quantize`). Both run `inference.scoring.forward`,
the forward pass of prediction, on the same random clips, alternating, after one untimed pass each; the
timed passes' medians give the speedup. Result: {"preset", "threads", "batch_size", "frames", "image_size",
"quantized_layers", "fp32_s", "int8_s", "speedup", "cosine_min", "cosine_mean", "score_max_abs_diff",
"same_label"}: cosines of the unit clip embedding v (int8 to float32) over the clips, the largest change of a
PN score, and whether every clip keeps its top class.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from finecliper.bench.model import random_batch
from finecliper.config.presets import model_config
from finecliper.datasets import class_names
from finecliper.errors import UserError
from finecliper.inference.quantize import quantize_int8
from finecliper.inference.scoring import forward
from finecliper.model import build_model

CPU = torch.device("cpu")


def run(preset: str, overrides: Sequence[str] = (), batch_size: int = 1, steps: int = 2, seed: int = 0) -> dict:
    """The measurements `finecliper bench quantize` prints (its `--json` object)."""
    if batch_size < 1 or steps < 1:
        raise UserError("--batch-size and --steps must be at least 1")
    model = build_model(model_config(preset, list(overrides)), class_names("dfew")).eval()
    torch.manual_seed(seed)
    with torch.no_grad():  # trained-looking adapters and heads: untrained ones are near no-ops
        for p in model.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.02)
    quantized = copy.deepcopy(model)
    layers = quantize_int8(quantized)
    frames = model.cfg.num_frames
    batch = random_batch(model, batch_size, frames, model.image_size, CPU)
    batch.pop("labels")
    fp32 = forward(model, batch, CPU, "fp32")  # untimed: warms both, and the outputs compared
    int8 = forward(quantized, batch, CPU, "fp32")
    times = {"fp32": [], "int8": []}
    for _ in range(steps):  # alternating, so that a change of the shared machine's load hits both alike
        for name, net in (("fp32", model), ("int8", quantized)):
            start = time.perf_counter()
            forward(net, batch, CPU, "fp32")
            times[name].append(time.perf_counter() - start)
    fp32_s, int8_s = statistics.median(times["fp32"]), statistics.median(times["int8"])
    cosine = F.cosine_similarity(fp32["video"].float(), int8["video"].float(), dim=-1)
    return {
        "preset": preset, "threads": torch.get_num_threads(), "batch_size": batch_size, "frames": frames,
        "image_size": model.image_size, "quantized_layers": layers,
        "fp32_s": round(fp32_s, 3), "int8_s": round(int8_s, 3), "speedup": round(fp32_s / int8_s, 3),
        "cosine_min": round(float(cosine.min()), 6), "cosine_mean": round(float(cosine.mean()), 6),
        "score_max_abs_diff": round(float((fp32["scores"] - int8["scores"]).abs().max()), 6),
        "same_label": bool((fp32["scores"].argmax(-1) == int8["scores"].argmax(-1)).all()),
    }
