"""`finecliper bench describe`: clips per second of the description backends.

    finecliper bench describe --backend landmarks [--clips 200] [--frames 64]
    finecliper bench describe --backend video-llava [--size 7b|tiny] [--frames 8] [--max-new-tokens 96]
                              [--batch-size 1 --batch-size 4 ...] [--device auto] [--dtype bfloat16]

Landmarks: the describer alone on generated landmark tracks (a face that moves, zooms and smiles), in
clips per second of one process on the CPU. Video-LLaVA: the real architecture of Video-LLaVA-7B
(CLIP ViT-L/14 at 224 px + Llama-7B, 257 tokens per frame) with random weights built on the device —
real weights cannot be downloaded here, and speed does not depend on the weights' values as long as
every run generates all `--max-new-tokens` tokens, which is forced (no end-of-sequence token). Times
the backend's `run` on preprocessed clips (prompt, vision tower, projector, prefill and greedy
decoding), after one untimed warm-up batch. `--size tiny` runs the same path with a tiny model.
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np

from finecliper.errors import UserError

# Video-LLaVA-7B-hf: config.json of LanguageBind/Video-LLaVA-7B-hf (vision tower CLIP ViT-L/14, Vicuna-7B).
# The vocabulary is the tokenizer's (`random_video_llava`).
_SIZES = {
    "7b": {
        "vision": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                       image_size=224, patch_size=14, projection_dim=768),
        "text": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                     num_key_value_heads=32, max_position_embeddings=4096, rms_norm_eps=1e-5),
    },
    "tiny": {
        "vision": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                       image_size=32, patch_size=8, projection_dim=32),
        "text": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                     num_key_value_heads=2, max_position_embeddings=1024),
    },
}
_VOCAB = 32064  # Video-LLaVA-7B-hf's vocabulary size: the benchmark's tokenizer, for both sizes


def register(modes) -> None:
    m = modes.add_parser("describe", help="clips/s of the landmark describer or a random-weight Video-LLaVA")
    m.add_argument("--backend", default="landmarks", help="landmarks or video-llava")
    m.add_argument("--size", default="7b", help="video-llava architecture: 7b (Video-LLaVA-7B) or tiny")
    m.add_argument("--clips", type=int, default=200, help="landmarks: generated clips (default 200)")
    m.add_argument("--frames", type=int, help="frames per clip (default: 64 for landmarks, 8 for video-llava)")
    m.add_argument("--max-new-tokens", type=int, default=96)
    m.add_argument("--batch-size", type=int, action="append", help="video-llava: batch sizes to time (repeatable)")
    m.add_argument("--repeat", type=int, default=2, help="video-llava: timed batches per batch size")
    m.add_argument("--device", default="auto")
    m.add_argument("--dtype", help="bfloat16, float16 or float32 (default: bfloat16 on CUDA, float32 on CPU)")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=run)


def run(args) -> int:
    if args.backend == "landmarks":
        result = _bench_landmarks(args.clips, args.frames or 64)
    elif args.backend == "video-llava":
        result = _bench_video_llava(args)
    else:
        raise UserError(f"unknown backend {args.backend!r} for bench describe (landmarks or video-llava)")
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if args.backend == "landmarks":
        print(f"landmark describer: {result['clips_per_s']:.0f} clips/s ({result['ms_per_clip']:.2f} ms per "
              f"{result['frames']}-frame clip) on {result['device']}")
    else:
        print(f"Video-LLaVA ({result['size']}, random weights) on {result['device']}, {result['dtype']}, "
              f"{result['frames']} frames, {result['max_new_tokens']} new tokens, prompt {result['prompt_tokens']} tokens:")
        for row in result["runs"]:
            print(f"  batch {row['batch_size']}: {row['clips_per_s']:.3f} clips/s ({row['s_per_batch']:.2f} s per batch, "
                  f"{row['new_tokens']} new tokens per clip), peak memory {row['peak_memory_gb']} GB")
    return 0


def _bench_landmarks(clips: int, frames: int) -> dict:
    from finecliper.describe.landmark_describer import describe_landmarks

    if clips < 1 or frames < 2:
        raise UserError("--clips must be at least 1 and --frames at least 2")
    rng = np.random.default_rng(0)
    base = rng.normal(0, 30, (68, 2)) + 112  # any point cloud will do for timing
    tracks = []
    for _ in range(min(clips, 20)):
        t = np.repeat(base[None], frames, axis=0) * np.linspace(1, 1.3, frames)[:, None, None]
        t[:, 48:68, 1] -= np.linspace(0, 6, frames)[:, None]
        tracks.append(t + rng.normal(0, 0.5, t.shape))
    describe_landmarks(tracks[0])  # warm-up
    start = time.perf_counter()
    for i in range(clips):
        describe_landmarks(tracks[i % len(tracks)])
    seconds = time.perf_counter() - start
    return {"backend": "landmarks", "device": "cpu (one process)", "clips": clips, "frames": frames,
            "clips_per_s": clips / seconds, "ms_per_clip": 1000 * seconds / clips}


def _tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    # Word-level stand-in for the real LLaMA tokenizer with its size and its image/video token ids.
    names = ["<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(3, 32000)] + ["<image>", "<video>", "<pad>"]
    names += [f"x{i}" for i in range(len(names), vocab_size)]
    vocab = {name: i for i, name in enumerate(names[:vocab_size])}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                        pad_token="<pad>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>", "<video>"]})
    return tokenizer


def random_video_llava(size: str, tokenizer, *, device="cpu", dtype=None, seed: int = 0, **vision):
    """A random-weight Video-LLaVA of architecture `size` ("7b" or "tiny") for `tokenizer` (its vocabulary
    and special tokens, `<image>` and `<video>` included), built straight on `device` in `dtype` (default
    float32); `vision` overrides sizes of the vision tower (image_size, patch_size)."""
    import torch
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        VideoLlavaConfig,
        VideoLlavaForConditionalGeneration,
    )

    arch = _SIZES[size]
    config = VideoLlavaConfig(
        vision_config=CLIPVisionConfig(**{**arch["vision"], **vision}),
        text_config=LlamaConfig(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                                **arch["text"]),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
    )
    previous = torch.get_default_dtype()
    torch.manual_seed(seed)
    try:
        torch.set_default_dtype(dtype or torch.float32)
        with torch.device(device):  # built where it runs: 7B parameters never pass through host memory
            return VideoLlavaForConditionalGeneration(config).eval()
    finally:
        torch.set_default_dtype(previous)


def _bench_video_llava(args) -> dict:
    import torch

    from finecliper.describe.backends import VideoLlavaBackend, resolve_device
    from finecliper.describe.prompt import load_prompt

    if args.size not in _SIZES:
        raise UserError(f"unknown --size {args.size!r} (7b or tiny)")
    frames = args.frames or 8
    batch_sizes = args.batch_size or [1]
    if frames < 1 or args.max_new_tokens < 1 or args.repeat < 1 or min(batch_sizes) < 1:
        raise UserError("--frames, --max-new-tokens, --repeat and --batch-size must be at least 1")
    device, dtype = resolve_device(args.device, args.dtype)
    tokenizer = _tokenizer(_VOCAB)
    model = random_video_llava(args.size, tokenizer, device=device, dtype=dtype)
    model.generation_config.eos_token_id = None  # every run generates all max_new_tokens
    backend = VideoLlavaBackend(model, tokenizer, load_prompt(), num_frames=frames,
                                max_new_tokens=args.max_new_tokens, batch_size=max(batch_sizes),
                                model_name=f"video-llava-{args.size}-random")
    rng = np.random.default_rng(0)
    clip = backend.preprocess(rng.integers(0, 256, (frames, 256, 320, 3), dtype=np.uint8))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    runs = []
    for bs in batch_sizes:
        inputs = [clip] * bs
        backend.run(inputs)  # warm-up
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times = []
        for _ in range(args.repeat):
            sync()
            start = time.perf_counter()
            backend.run(inputs)
            sync()
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
        runs.append({"batch_size": bs, "s_per_batch": seconds, "clips_per_s": bs / seconds,
                     "new_tokens": args.max_new_tokens, "peak_memory_gb": None if peak is None else round(peak, 1)})
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {"backend": "video-llava", "size": args.size, "device": name, "dtype": str(dtype).replace("torch.", ""),
            "frames": frames, "max_new_tokens": args.max_new_tokens, "prompt_tokens": int(backend.prompt_ids.shape[1]),
            "parameters": sum(p.numel() for p in model.parameters()), "runs": runs}
