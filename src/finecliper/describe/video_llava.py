"""[PAPER] The `video-llava` describer: Video-LLaVA (`VideoLlavaForConditionalGeneration`) from a local folder.

Frames are resized, centre-cropped and normalised as the folder's video-processor config says, in torch
(transformers' own video processors need torchvision, which not every install has), and the prompt gets
one video token per patch and frame, exactly as `VideoLlavaProcessor` would build it. Greedy decoding
(reproducible), bf16 on CUDA, float32 on CPU. torch and transformers are imported when a model is
built: the command line reads this module's options when it starts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from finecliper.data.manifest import ClipRecord
from finecliper.describe.backends import DESCRIBERS, Backend, Output
from finecliper.describe.hf_models import (
    LocalVideoLLM,
    check_generation,
    decode_new,
    from_pretrained,
    load_frames,
    model_name,
    read_model_config,
    resolve_dtype,
)
from finecliper.describe.options import VIDEO_LLM
from finecliper.describe.prompt import VIDEO_MARK, Prompt, prompt_hash
from finecliper.devices import resolve_device
from finecliper.errors import UserError

DEFAULT_TEMPLATE = "USER: <video>\n{question} ASSISTANT:"


@DESCRIBERS.register("video-llava")
class VideoLlavaBackend(LocalVideoLLM, Backend):
    """Video-LLaVA through transformers; build with `from_folder` (or `from_options`)."""

    name = "video-llava"
    options = VIDEO_LLM

    def __init__(self, model, tokenizer, prompt: Prompt, *, num_frames: int = 8, max_new_tokens: int = 96,
                 batch_size: int = 1, preprocess: dict | None = None, model_name: str = "video-llava"):
        import torch  # see the module docstring

        # CLIP's preprocessing, which Video-LLaVA uses; a folder's own config overrides it. data.transforms
        # imports torch, hence here.
        from finecliper.data.normalize import CLIP_MEAN, CLIP_STD

        check_generation(num_frames, max_new_tokens, batch_size)
        self.torch = torch
        self.net = model
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.num_frames = num_frames
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        config = model.config
        self.image_size = int(config.vision_config.image_size)
        pre = dict(preprocess or {})
        self.resize = int(pre.get("shortest_edge", self.image_size))
        self.mean = torch.tensor(pre.get("image_mean", CLIP_MEAN), dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(pre.get("image_std", CLIP_STD), dtype=torch.float32).view(1, 3, 1, 1)
        self._set_prompt(prompt, config)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.model = model_name
        self.generation = {
            "num_frames": num_frames, "max_new_tokens": max_new_tokens, "do_sample": False,
            "frame_size": self.image_size, "dtype": str(self.dtype).replace("torch.", ""), "prompt": prompt.name,
        }

    def _set_prompt(self, prompt: Prompt, config) -> None:
        """The prompt's token ids, with as many video tokens as the model's video features."""
        # Video features keep every patch token and the CLS token of each frame (see
        # VideoLlavaModel.get_video_features); the prompt needs exactly that many video tokens.
        patches = (self.image_size // int(config.vision_config.patch_size)) ** 2
        self.tokens_per_video = (patches + 1) * self.num_frames
        tokenizer = self.tokenizer
        video_token = tokenizer.convert_ids_to_tokens(int(config.video_token_index))
        if video_token is None or tokenizer.convert_tokens_to_ids(video_token) != int(config.video_token_index):
            raise UserError("the tokenizer of the weights folder has no video token matching the model's config")
        rendered = prompt.render("video_llava", DEFAULT_TEMPLATE)
        if VIDEO_MARK not in rendered:
            raise UserError(f"the Video-LLaVA prompt must contain {VIDEO_MARK} where the clip goes")
        self.prompt_text = rendered.replace(VIDEO_MARK, video_token * self.tokens_per_video, 1)
        self.prompt_hash = prompt_hash(rendered)
        self.prompt_name = prompt.name
        self.prompt_ids = tokenizer(self.prompt_text, return_tensors="pt")["input_ids"]  # (1, L)
        context = getattr(config.text_config, "max_position_embeddings", None)
        length = self.prompt_ids.shape[1] + self.max_new_tokens
        if context is not None and length > int(context):
            raise UserError(
                f"{self.num_frames} frames and {self.max_new_tokens} new tokens need {length} positions, more "
                f"than the model's context of {context}; use fewer --frames or --max-new-tokens"
            )

    @classmethod
    def from_folder(cls, folder: str | Path, prompt: Prompt, *, device: str | None = "auto",
                    dtype: str | None = None, **kwargs) -> VideoLlavaBackend:
        from transformers import AutoTokenizer, VideoLlavaForConditionalGeneration  # see the module docstring

        folder = Path(folder)
        config = read_model_config(folder, "Video-LLaVA")
        if config["model_type"] != "video_llava":
            raise UserError(
                f"{folder} holds a {config['model_type']} model, not Video-LLaVA (model_type video_llava); "
                "use --backend hf-video for other video chat models"
            )
        dev = resolve_device(device)
        dt = resolve_dtype(dev, dtype)
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError, TypeError) as exc:
            raise UserError(f"cannot load the tokenizer of {folder} ({str(exc).splitlines()[0]})") from None
        try:
            model = from_pretrained(VideoLlavaForConditionalGeneration, folder, dev, dt)
        except (OSError, ValueError, RuntimeError) as exc:
            raise UserError(f"cannot load the Video-LLaVA weights in {folder} ({str(exc).splitlines()[0]})") from None
        return cls(model, tokenizer, prompt, preprocess=preprocess_config(folder),
                   model_name=model_name(folder, config), **kwargs)

    def prepare(self, clip: ClipRecord):
        return self.preprocess(load_frames(clip, self.num_frames))

    def preprocess(self, frames: np.ndarray):
        """(T, H, W, 3) uint8 -> (T, 3, S, S) float32: shortest edge resized, centre crop, CLIP-normalised."""
        torch = self.torch
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()  # (T, 3, H, W)
        h, w = x.shape[-2:]
        scale = self.resize / min(h, w)
        size = (max(self.image_size, round(h * scale)), max(self.image_size, round(w * scale)))
        x = torch.nn.functional.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True)
        top, left = (size[0] - self.image_size) // 2, (size[1] - self.image_size) // 2
        x = x[:, :, top:top + self.image_size, left:left + self.image_size].clamp(0, 255) / 255.0
        return (x - self.mean) / self.std

    def run(self, inputs: list) -> list[Output]:
        torch = self.torch
        videos = torch.stack(inputs).to(self.device, self.dtype)  # (B, T, 3, S, S)
        ids = self.prompt_ids.expand(len(inputs), -1).to(self.device)  # (B, L): one prompt, no padding
        with torch.inference_mode():
            out = self.net.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                pixel_values_videos=videos,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=self.pad_id,
            )
        return [Output(text) for text in decode_new(self.tokenizer, out, ids.shape[1])]


def preprocess_config(folder: Path) -> dict:
    """Resize, crop and normalisation settings of the folder's video (or image) processor config."""
    for name in ("video_preprocessor_config.json", "preprocessor_config.json"):
        path = folder / name
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            out = {}
            size = data.get("size")
            if isinstance(size, dict) and "shortest_edge" in size:
                out["shortest_edge"] = int(size["shortest_edge"])
            elif isinstance(size, int):
                out["shortest_edge"] = size
            for key in ("image_mean", "image_std"):
                if isinstance(data.get(key), list) and len(data[key]) == 3:
                    out[key] = tuple(float(v) for v in data[key])
            return out
    return {}
