"""A random-weight Video-LLaVA of the real 7B architecture (or a tiny one), for benchmarks and tests.

Real weights cannot be downloaded here, and the speed of generation does not depend on the weights'
values as long as every run generates all its new tokens. `random_video_llava` builds the model straight
on its device; `benchmark_tokenizer` is a word-level stand-in for the LLaMA tokenizer with its
vocabulary size and its `<image>` / `<video>` tokens.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    CLIPVisionConfig,
    LlamaConfig,
    PreTrainedTokenizerFast,
    VideoLlavaConfig,
    VideoLlavaForConditionalGeneration,
)

# Video-LLaVA-7B-hf: config.json of LanguageBind/Video-LLaVA-7B-hf (vision tower CLIP ViT-L/14, Vicuna-7B).
# The vocabulary is the tokenizer's.
SIZES = {
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
VOCAB = 32064  # Video-LLaVA-7B-hf's vocabulary size: the benchmark's tokenizer, for both sizes


def benchmark_tokenizer(vocab_size: int = VOCAB):
    """Word-level stand-in for the real LLaMA tokenizer with its size and its image/video token ids."""
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
    arch = SIZES[size]
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
