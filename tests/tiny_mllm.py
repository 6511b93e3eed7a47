"""A tiny random-weight Video-LLaVA saved as a user's model folder would be, built offline for tests.

Tiny CLIP vision tower (32 px, 8 px patches) + tiny Llama, a word-level tokenizer with the `<image>` and
`<video>` tokens, and the video-processor config, written with `save_pretrained` into a folder that
the describe backends then load exactly as they load a real one.
"""

from __future__ import annotations

import json
from pathlib import Path

WORDS = (
    "the a eyes eyebrows mouth lips corners chin jaw head rise rises lower open opens close closes "
    "slightly widely left right turns blinks breath breathes gaze looks down up and then person face "
    "smiles happy surprised joy , ."
).split()


def build_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<pad>"]
    vocab = {tok: i for i, tok in enumerate(specials + WORDS + ["<image>", "<video>"])}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", vocab["<s>"])])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
    )
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>", "<video>"]})
    return tokenizer


def build_video_llava(folder: str | Path, seed: int = 0, image_size: int = 32, patch_size: int = 8) -> Path:
    import torch
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        VideoLlavaConfig,
        VideoLlavaForConditionalGeneration,
    )

    folder = Path(folder)
    tokenizer = build_tokenizer()
    vocab_size = len(tokenizer)
    vision = CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        image_size=image_size, patch_size=patch_size, projection_dim=32,
    )
    text = LlamaConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    config = VideoLlavaConfig(
        vision_config=vision, text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
    )
    torch.manual_seed(seed)
    model = VideoLlavaForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    # What VideoLlavaVideoProcessor.save_pretrained writes (it needs torchvision to be built here).
    processor = {
        "video_processor_type": "VideoLlavaVideoProcessor",
        "size": {"shortest_edge": image_size},
        "crop_size": {"height": image_size, "width": image_size},
        "do_resize": True, "do_center_crop": True, "do_rescale": True, "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
    }
    (folder / "video_preprocessor_config.json").write_text(json.dumps(processor, indent=2))
    return folder
