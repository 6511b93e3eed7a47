"""[OURS] The `hf-video` describer: another `transformers` video chat model from a local folder.

Any image-text-to-text model whose processor takes videos (LLaVA-NeXT-Video, Qwen2-VL, ...), through
its own processor and chat template (or the prompt file's template for its `model_type`). Greedy
decoding, bf16 on CUDA, float32 on CPU. torch and transformers are imported when a model is built: the
command line reads this module's options when it starts.
"""

from __future__ import annotations

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


@DESCRIBERS.register("hf-video")
class HFVideoBackend(LocalVideoLLM, Backend):
    """A transformers video chat model and its processor; build with `from_folder` (or `from_options`)."""

    name = "hf-video"
    options = VIDEO_LLM

    def __init__(self, model, processor, prompt: Prompt, *, model_type: str, model_name: str, device, dtype,
                 num_frames: int = 8, max_new_tokens: int = 96, batch_size: int = 1):
        import torch  # see the module docstring

        check_generation(num_frames, max_new_tokens, batch_size)
        self.torch = torch
        self.net = model
        self.processor = processor
        self.device, self.dtype = device, dtype  # where the inputs go (a model may keep some weights in float32)
        self.num_frames, self.max_new_tokens, self.batch_size = num_frames, max_new_tokens, batch_size
        rendered = _render_prompt(prompt, processor, model_type)
        video_token = getattr(processor, "video_token", None) or VIDEO_MARK
        self.prompt_text = rendered.replace(VIDEO_MARK, video_token)
        self.prompt_hash = prompt_hash(rendered)
        self.prompt_name = prompt.name
        self.tokenizer = getattr(processor, "tokenizer", None)
        if self.tokenizer is not None:
            self.tokenizer.padding_side = "left"  # generation continues at the right end of every row
        self.model = model_name
        self.generation = {
            "num_frames": num_frames, "max_new_tokens": max_new_tokens, "do_sample": False,
            "dtype": str(self.dtype).replace("torch.", ""), "prompt": prompt.name,
        }

    @classmethod
    def from_folder(cls, folder: str | Path, prompt: Prompt, *, device: str | None = "auto",
                    dtype: str | None = None, num_frames: int = 8, **kwargs) -> HFVideoBackend:
        from transformers import AutoModelForImageTextToText  # see the module docstring
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

        folder = Path(folder)
        config = read_model_config(folder, "video chat")
        model_type = config["model_type"]
        dev = resolve_device(device)
        dt = resolve_dtype(dev, dtype)
        if model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
            raise UserError(f"{folder} holds a {model_type} model, which is not a transformers image/video-text-to-text model")
        processor = _load_processor(folder)
        try:
            model = from_pretrained(AutoModelForImageTextToText, folder, dev, dt)
        except (OSError, ValueError, RuntimeError) as exc:
            raise UserError(f"cannot load the {model_type} weights in {folder} ({str(exc).splitlines()[0]})") from None
        return cls(model, processor, prompt, model_type=model_type, model_name=model_name(folder, config),
                   device=dev, dtype=dt, num_frames=num_frames, **kwargs)

    def prepare(self, clip: ClipRecord) -> np.ndarray:
        return load_frames(clip, self.num_frames)

    def run(self, inputs: list) -> list[Output]:
        torch = self.torch
        batch = self.processor(
            text=[self.prompt_text] * len(inputs), videos=list(inputs), return_tensors="pt", padding=True
        )
        batch = {
            k: (v.to(self.device, self.dtype) if torch.is_floating_point(v) else v.to(self.device))
            for k, v in batch.items() if hasattr(v, "to")
        }
        with torch.inference_mode():
            out = self.net.generate(**batch, max_new_tokens=self.max_new_tokens, do_sample=False)
        decoder = self.tokenizer or self.processor
        return [Output(text) for text in decode_new(decoder, out, batch["input_ids"].shape[1])]


def _load_processor(folder: Path):
    from transformers import AutoProcessor  # see the module docstring

    try:
        processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
    except ImportError as exc:
        raise UserError(f"the processor of {folder} needs a missing library ({' '.join(str(exc).split())[:160]})") from None
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"cannot load the processor of {folder} ({str(exc).splitlines()[0]})") from None
    if getattr(processor, "video_processor", None) is None:
        raise UserError(f"the processor of {folder} ({type(processor).__name__}) does not take videos")
    return processor


def _render_prompt(prompt: Prompt, processor, model_type: str) -> str:
    """The prompt file's template for `model_type`, else the processor's chat template around the question."""
    if model_type in prompt.templates:
        return prompt.render(model_type)
    if getattr(processor, "chat_template", None):
        conversation = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt.question}]}]
        return processor.apply_chat_template(conversation, add_generation_prompt=True)
    return prompt.render(model_type)  # raises: no template and no chat template
