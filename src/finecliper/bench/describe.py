"""`finecliper bench describe`: clips per second of a describer, timed through its real `run`.

Any registered describer (`describe.backends.DESCRIBERS`): a few clips are generated in a temporary
folder (frames, a landmark track in a cue store, a caption), the describer is built from its options as
`finecliper describe` builds it (the generated cue store stands in for a missing `--cues`), every clip
is prepared once, untimed, and `run` is timed over `clips` clips (the generated ones repeated) in the
describer's batches, after one untimed batch. Result: {"backend", "device", "clips", "frames",
"clips_per_s", "ms_per_clip"}, and for a describer that generates with a tokenizer (a video LLM from
--weights) "new_tokens_per_s": the tokens of its texts (re-tokenized, as generation may stop early) per
second; with `landmarks`, the describer alone on a face that moves, zooms and
smiles, in one process on the CPU.

`video-llava` without `--weights`: the real architecture of Video-LLaVA-7B (CLIP ViT-L/14 at 224 px +
Llama-7B, 257 tokens per frame) with random weights built on the device (`random_video_llava`); speed
does not depend on the weights' values as long as every run generates all `max_new_tokens` tokens,
which is forced (no end-of-sequence token). Times the describer's `run` on preprocessed clips (prompt,
vision tower, projector, prefill and greedy decoding) per batch size, after one untimed batch;
`size="tiny"` runs the same path with a tiny model. Result: {"backend", "size", "device", "dtype",
"frames", "max_new_tokens", "prompt_tokens", "parameters", "runs": [{"batch_size", "s_per_batch",
"clips_per_s", "new_tokens", "new_tokens_per_s", "peak_memory_gb"}]}: generated tokens per second over
the batch (batch size × new tokens / seconds per batch).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from finecliper.data.cue_store import ClipCues, CueStore
from finecliper.data.manifest import ClipRecord
from finecliper.data.video import write_frames
from finecliper.describe.backends import DESCRIBERS, Backend, build_describer
from finecliper.describe.hf_models import resolve_dtype
from finecliper.describe.prompt import load_prompt
from finecliper.describe.video_llava import VideoLlavaBackend
from finecliper.devices import resolve_device
from finecliper.errors import UserError

DISTINCT_CLIPS = 20  # generated clips; longer runs repeat them
FRAME_SIZE = 112  # of the generated frames


def bench_describe(name: str, options: dict[str, Any], clips: int = 200, frames: int | None = None,
                   batch_sizes: list[int] | None = None, repeat: int = 2, size: str = "7b") -> dict:
    """The benchmark's result (see the module docstring) for the describer `name` built from `options`.

    `frames`: frames of the generated clips (default 64), and frames shown to a video model (default: its
    option's); `batch_sizes`: video-llava's random model is timed at each, others run in batches of the
    largest (default: the describer's own)."""
    describer = DESCRIBERS.get(name)
    if name in STAND_INS and options.get("weights") is None:
        return STAND_INS[name](options, size, frames or 8, batch_sizes or [1], repeat)
    if clips < 1 or (frames is not None and frames < 2):
        raise UserError("--clips must be at least 1 and --frames at least 2")
    options = {**options, "frames": frames, "batch_size": max(batch_sizes) if batch_sizes else None}
    with tempfile.TemporaryDirectory(prefix="finecliper-bench-describe-") as tmp:
        records, store = generated_clips(Path(tmp), min(clips, DISTINCT_CLIPS), frames or 64)
        if "--cues" in {o.flag for o in describer.options} and options.get("cues") is None:
            options["cues"] = str(store)
        backend = build_describer(name, options, records)
        backend.check(records)
        prepared = [backend.prepare(r) for r in records]
    inputs = [prepared[i % len(prepared)] for i in range(clips)]
    sync = _sync(getattr(backend, "device", None))
    size = max(1, backend.batch_size)
    _timed_run(backend, inputs[:size], sync)  # warm-up
    seconds, outputs = 0.0, []
    for i in range(0, clips, size):
        seconds += _timed_run(backend, inputs[i:i + size], sync, outputs)
    device = getattr(backend, "device", None)
    result = {"backend": name, "device": "cpu (one process)" if device is None else str(device), "clips": clips,
              "frames": frames or 64, "clips_per_s": clips / seconds, "ms_per_clip": 1000 * seconds / clips}
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is not None:
        tokens = sum(len(tokenizer(o.raw or "", add_special_tokens=False).input_ids) for o in outputs)
        result["new_tokens_per_s"] = tokens / seconds
    return result


def generated_clips(root: Path, n: int, frames: int) -> tuple[list[ClipRecord], Path]:
    """`n` clip records with a caption, sharing one folder of `frames` frames, and a cue store of `n`
    landmark tracks (a face that moves, zooms and smiles), all under `root`."""
    rng = np.random.default_rng(0)
    write_frames(root / "frames", rng.integers(0, 256, (frames, FRAME_SIZE, FRAME_SIZE, 3), dtype=np.uint8))
    store = CueStore(root / "cues")
    base = rng.normal(0, 30, (68, 2)) + 112  # any point cloud will do for timing
    records = []
    for i in range(n):
        track = np.repeat(base[None], frames, axis=0) * np.linspace(1, 1.3, frames)[:, None, None]
        track[:, 48:68, 1] -= np.linspace(0, 6, frames)[:, None]
        track += rng.normal(0, 0.5, track.shape)
        clip_id = f"{i:05d}"
        store.save(clip_id, ClipCues(landmarks=track.astype(np.float32), valid=np.ones(frames, dtype=bool),
                                     parsing=np.zeros((frames, 1, 1), dtype=np.uint8), frame_size=(224, 224)))
        records.append(ClipRecord(id=clip_id, path="frames", label=None, num_frames=frames, split="test", fold=None,
                                  dataset="bench", source="frames", root=str(root),
                                  caption="The mouth corners rise slowly and the brows lift."))
    return records, store.root


def bench_random_video_llava(options: dict[str, Any], size: str, frames: int, batch_sizes: list[int],
                             repeat: int) -> dict:
    """The `video-llava` describer on a random-weight model of architecture `size` (see the module docstring)."""
    # transformers is needed by this stand-in only (seconds to import): not by the other describers' runs.
    from finecliper.bench.random_video_llava import SIZES, benchmark_tokenizer, random_video_llava

    if size not in SIZES:
        raise UserError(f"unknown --size {size!r} (7b or tiny)")
    max_new_tokens = options.get("max_new_tokens") or 96
    if frames < 1 or max_new_tokens < 1 or repeat < 1 or min(batch_sizes) < 1:
        raise UserError("--frames, --max-new-tokens, --repeat and --batch-size must be at least 1")
    device = resolve_device(options.get("device"))
    dtype = resolve_dtype(device, options.get("dtype"))
    tokenizer = benchmark_tokenizer()
    model = random_video_llava(size, tokenizer, device=device, dtype=dtype)
    model.generation_config.eos_token_id = None  # every run generates all max_new_tokens
    backend = VideoLlavaBackend(model, tokenizer, load_prompt(options.get("prompt")), num_frames=frames,
                                max_new_tokens=max_new_tokens, batch_size=max(batch_sizes),
                                model_name=f"video-llava-{size}-random")
    clip = backend.preprocess(np.random.default_rng(0).integers(0, 256, (frames, 256, 320, 3), dtype=np.uint8))
    sync = _sync(device)
    runs = []
    for bs in batch_sizes:
        inputs = [clip] * bs
        backend.run(inputs)  # warm-up
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        seconds = statistics.median(_timed_run(backend, inputs, sync) for _ in range(repeat))
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
        runs.append({"batch_size": bs, "s_per_batch": seconds, "clips_per_s": bs / seconds,
                     "new_tokens": max_new_tokens, "new_tokens_per_s": bs * max_new_tokens / seconds,
                     "peak_memory_gb": None if peak is None else round(peak, 1)})
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {"backend": "video-llava", "size": size, "device": name, "dtype": str(dtype).replace("torch.", ""),
            "frames": frames, "max_new_tokens": max_new_tokens, "prompt_tokens": int(backend.prompt_ids.shape[1]),
            "parameters": sum(p.numel() for p in model.parameters()), "runs": runs}


# Describers timed without --weights on a random model of their real architecture.
STAND_INS = {"video-llava": bench_random_video_llava}


def _sync(device):
    """Waits for a CUDA device's queued work (so that timings are complete); nothing elsewhere."""
    if device is not None and torch.device(device).type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def _timed_run(backend: Backend, inputs: list, sync, outputs: list | None = None) -> float:
    """Seconds of one `run` over `inputs`; its outputs are added to `outputs` when given."""
    sync()
    start = time.perf_counter()
    result = backend.run(inputs)
    sync()
    seconds = time.perf_counter() - start
    if outputs is not None:
        outputs.extend(result)
    return seconds


def report(result: dict) -> str:
    """The result as the lines `finecliper bench describe` prints."""
    if "runs" not in result:
        tokens = (f", {result['new_tokens_per_s']:.1f} generated tokens/s" if "new_tokens_per_s" in result else "")
        return (f"{result['backend']} describer: {result['clips_per_s']:.0f} clips/s ({result['ms_per_clip']:.2f} ms "
                f"per {result['frames']}-frame clip{tokens}) on {result['device']}")
    lines = [f"Video-LLaVA ({result['size']}, random weights) on {result['device']}, {result['dtype']}, "
             f"{result['frames']} frames, {result['max_new_tokens']} new tokens, prompt {result['prompt_tokens']} tokens:"]
    for row in result["runs"]:
        lines.append(f"  batch {row['batch_size']}: {row['clips_per_s']:.3f} clips/s, {row['new_tokens_per_s']:.1f} "
                     f"generated tokens/s ({row['s_per_batch']:.2f} s per batch, {row['new_tokens']} new tokens per "
                     f"clip), peak memory {row['peak_memory_gb']} GB")
    return "\n".join(lines)
