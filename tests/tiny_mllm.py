"""A tiny random-weight Video-LLaVA saved as a user's model folder would be, built offline for tests.

The tiny architecture of `finecliper bench describe --size tiny` (CLIP vision tower of 32 px, 8 px
patches + tiny Llama), a word-level tokenizer with the `<image>` and `<video>` tokens, and the
video-processor config, written with `save_pretrained` into a folder that the describe backends then
load exactly as they load a real one.
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
    from finecliper.bench.random_video_llava import random_video_llava

    folder = Path(folder)
    tokenizer = build_tokenizer()
    model = random_video_llava("tiny", tokenizer, seed=seed, image_size=image_size, patch_size=patch_size)
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
