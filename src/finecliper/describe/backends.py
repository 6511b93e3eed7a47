"""Description backends behind one interface: the dataset's captions, the landmark describer, video LLMs.

A backend turns a manifest clip into raw text in two steps, so that the pipeline can read the next
batch while the model works on this one and can set aside one bad clip without losing the batch:
`prepare(clip)` (per clip, in worker threads: read frames, load cues; raises `UserError` for a bad
clip, `Skip` for a clip the backend has nothing for) and `run(inputs)` (per batch: the model).
`check(clips)` runs once before any work, for problems that concern the whole run.

Video LLMs come from a local folder only (`local_files_only`); nothing is downloaded. [PAPER] Video-LLaVA
(`VideoLlavaForConditionalGeneration`): frames are resized, centre-cropped and normalised as the
folder's video-processor config says, in torch (transformers' own video processors need torchvision,
which not every install has), and the prompt gets one video token per patch and frame, exactly as
`VideoLlavaProcessor` would build it. [OURS] `hf-video`: any other `transformers` image-text-to-text
model whose processor takes videos (LLaVA-NeXT-Video, Qwen2-VL, ...), through its own processor and
chat template. Both: greedy decoding by default (reproducible), bf16 on CUDA, float32 on CPU.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from finecliper.data.manifest import ClipRecord
from finecliper.errors import UserError

from .prompt import VIDEO_MARK, Prompt, prompt_hash

log = logging.getLogger(__name__)

BACKENDS = ("video-llava", "hf-video", "landmarks", "captions")

# CLIP's preprocessing, which Video-LLaVA uses; a folder's own config overrides it.
_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class Skip(Exception):
    """The backend has nothing for this clip (e.g. no caption); it is counted, not recorded."""


@dataclass
class Output:
    raw: str | None  # the backend's text; None or "" when it gave none
    status: str | None = None  # set by the backend for a special case ("no-face"); else decided by refinement
    note: str | None = None


class Backend:
    name: str = ""
    model: str | None = None
    prompt_hash: str | None = None
    generation: dict = {}
    batch_size: int = 1

    def check(self, clips: list[ClipRecord]) -> None:
        """Raise UserError for a problem that concerns the whole run."""

    def prepare(self, clip: ClipRecord):
        raise NotImplementedError

    def run(self, inputs: list) -> list[Output]:
        raise NotImplementedError


# -- captions and landmarks ------------------------------------------------------------------------
class CaptionBackend(Backend):
    """The manifest's own captions (MAFW's English captions), refined like any other description."""

    name = "captions"

    def __init__(self, dataset: str | None = None):
        self.model = f"{dataset}-caption" if dataset else "caption"
        self.generation = {}

    def check(self, clips: list[ClipRecord]) -> None:
        if clips and not any(c.caption for c in clips):
            raise UserError(
                "no clip of the manifest has a caption; build it from a split with captions "
                "(e.g. MAFW's with_caption files) or choose another --backend"
            )

    def prepare(self, clip: ClipRecord) -> str:
        if not clip.caption or not clip.caption.strip():
            raise Skip("no caption")
        return clip.caption

    def run(self, inputs: list[str]) -> list[Output]:
        return [Output(text) for text in inputs]


class LandmarkBackend(Backend):
    """Movement sentences from the landmark tracks of a cue store (see landmark_describer)."""

    name = "landmarks"

    def __init__(self, cue_dir: str | Path):
        from finecliper.data.cue_store import CueStore

        from .landmark_describer import FEATURES, VERSION

        cue_dir = Path(cue_dir)
        if not cue_dir.is_dir():
            raise UserError(f"cue store {cue_dir} does not exist; run `finecliper cues` first or pass the right --cues")
        self.store = CueStore(cue_dir)
        self.model = VERSION
        self.generation = {name: list(f.thresholds) for name, f in FEATURES.items()}
        self.batch_size = 16

    def check(self, clips: list[ClipRecord]) -> None:
        missing = [c.id for c in clips if not self.store.has(c.id)]
        if missing:
            raise UserError(
                f"the cue store {self.store.root} has no cues for {len(missing)} of {len(clips)} clips "
                f"(first: {missing[0]}); run `finecliper cues` on this manifest first"
            )

    def prepare(self, clip: ClipRecord):
        return self.store.load(clip.id, parsing=False)  # the describer reads landmarks and validity only

    def run(self, inputs: list) -> list[Output]:
        from .landmark_describer import describe_cues

        outputs = []
        for cues in inputs:
            result = describe_cues(cues)
            if result.text is None:
                outputs.append(Output(None, status="no-face", note=result.note))
            else:
                outputs.append(Output(result.text))
        return outputs


# -- video LLMs ------------------------------------------------------------------------------------
def resolve_device(device: str | None, dtype: str | None):
    """(torch.device, torch.dtype): "auto" picks CUDA when present; bf16 on CUDA, float32 on CPU."""
    import torch

    from finecliper.devices import resolve_device as resolve_torch_device

    dev = resolve_torch_device(device)
    dtypes = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    if dtype is None:
        dt = torch.bfloat16 if dev.type == "cuda" else torch.float32
    elif dtype in dtypes:
        dt = dtypes[dtype]
    else:
        raise UserError(f"unknown --dtype {dtype!r} (use {', '.join(dtypes)})")
    return dev, dt


def _read_model_type(folder: Path, wanted: str) -> dict:
    if not folder.is_dir():
        raise UserError(f"weights folder {folder} does not exist")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise UserError(f"{folder} has no config.json; give the local folder of a Hugging Face {wanted} model")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{config_path} is not readable JSON ({exc})") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise UserError(f"{config_path} has no model_type; give the local folder of a Hugging Face {wanted} model")
    return config


def _load_frames(clip: ClipRecord, num_frames: int) -> np.ndarray:
    """`num_frames` frames of the clip, test-mode sampling of the project's sampler: (T, H, W, 3) uint8."""
    from finecliper.data.sampling import sample_indices
    from finecliper.data.video import read_clip

    if clip.num_frames < 1:
        raise UserError(f"clip {clip.id} has no frames in the manifest")
    return read_clip(clip.full_path, sample_indices(clip.num_frames, num_frames))


def _decode_new(tokenizer, output, prompt_length: int) -> list[str]:
    texts = tokenizer.batch_decode(output[:, prompt_length:], skip_special_tokens=True)
    return [" ".join(t.split()) for t in texts]


class VideoLlavaBackend(Backend):
    """[PAPER] Video-LLaVA through transformers; build with `from_folder`."""

    name = "video-llava"

    def __init__(self, model, tokenizer, prompt: Prompt, *, num_frames: int = 8, max_new_tokens: int = 96,
                 batch_size: int = 1, preprocess: dict | None = None, model_name: str = "video-llava"):
        import torch

        if num_frames < 1 or max_new_tokens < 1 or batch_size < 1:
            raise UserError("--frames, --max-new-tokens and --batch-size must be at least 1")
        self.torch = torch
        self.net = model
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.num_frames = num_frames
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        config = model.config
        vision = config.vision_config
        self.image_size = int(vision.image_size)
        pre = dict(preprocess or {})
        self.resize = int(pre.get("shortest_edge", self.image_size))
        self.mean = torch.tensor(pre.get("image_mean", _CLIP_MEAN), dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(pre.get("image_std", _CLIP_STD), dtype=torch.float32).view(1, 3, 1, 1)
        # Video features keep every patch token and the CLS token of each frame (see
        # VideoLlavaModel.get_video_features); the prompt needs exactly that many video tokens.
        patches = (self.image_size // int(vision.patch_size)) ** 2
        self.tokens_per_video = (patches + 1) * num_frames
        video_token = tokenizer.convert_ids_to_tokens(int(config.video_token_index))
        if video_token is None or tokenizer.convert_tokens_to_ids(video_token) != int(config.video_token_index):
            raise UserError("the tokenizer of the weights folder has no video token matching the model's config")
        rendered = prompt.render("video_llava", "USER: <video>\n{question} ASSISTANT:")
        if VIDEO_MARK not in rendered:
            raise UserError(f"the Video-LLaVA prompt must contain {VIDEO_MARK} where the clip goes")
        self.prompt_text = rendered.replace(VIDEO_MARK, video_token * self.tokens_per_video, 1)
        self.prompt_hash = prompt_hash(rendered)
        self.prompt_ids = tokenizer(self.prompt_text, return_tensors="pt")["input_ids"]  # (1, L)
        context = getattr(config.text_config, "max_position_embeddings", None)
        length = self.prompt_ids.shape[1] + max_new_tokens
        if context is not None and length > int(context):
            raise UserError(
                f"{num_frames} frames and {max_new_tokens} new tokens need {length} positions, more than the "
                f"model's context of {context}; use fewer --frames or --max-new-tokens"
            )
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.model = model_name
        self.generation = {
            "num_frames": num_frames, "max_new_tokens": max_new_tokens, "do_sample": False,
            "frame_size": self.image_size, "dtype": str(self.dtype).replace("torch.", ""), "prompt": prompt.name,
        }

    @classmethod
    def from_folder(cls, folder: str | Path, prompt: Prompt, *, device: str | None = "auto",
                    dtype: str | None = None, **kwargs) -> VideoLlavaBackend:
        folder = Path(folder)
        config = _read_model_type(folder, "Video-LLaVA")
        if config["model_type"] != "video_llava":
            raise UserError(
                f"{folder} holds a {config['model_type']} model, not Video-LLaVA (model_type video_llava); "
                "use --backend hf-video for other video chat models"
            )
        dev, dt = resolve_device(device, dtype)
        from transformers import AutoTokenizer, VideoLlavaForConditionalGeneration

        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError, TypeError) as exc:
            raise UserError(f"cannot load the tokenizer of {folder} ({str(exc).splitlines()[0]})") from None
        try:
            model = _from_pretrained(VideoLlavaForConditionalGeneration, folder, dev, dt)
        except (OSError, ValueError, RuntimeError) as exc:
            raise UserError(f"cannot load the Video-LLaVA weights in {folder} ({str(exc).splitlines()[0]})") from None
        return cls(model, tokenizer, prompt, preprocess=_preprocess_config(folder),
                   model_name=_model_name(folder, config), **kwargs)

    def prepare(self, clip: ClipRecord):
        return self.preprocess(_load_frames(clip, self.num_frames))

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
        return [Output(text) for text in _decode_new(self.tokenizer, out, ids.shape[1])]


class HFVideoBackend(Backend):
    """[OURS] Another transformers video chat model, through its own processor and chat template."""

    name = "hf-video"

    def __init__(self, folder: str | Path, prompt: Prompt, *, num_frames: int = 8, max_new_tokens: int = 96,
                 batch_size: int = 1, device: str | None = "auto", dtype: str | None = None):
        if num_frames < 1 or max_new_tokens < 1 or batch_size < 1:
            raise UserError("--frames, --max-new-tokens and --batch-size must be at least 1")
        folder = Path(folder)
        config = _read_model_type(folder, "video chat")
        model_type = config["model_type"]
        dev, dt = resolve_device(device, dtype)
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

        if model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
            raise UserError(f"{folder} holds a {model_type} model, which is not a transformers image/video-text-to-text model")
        try:
            processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
        except ImportError as exc:
            raise UserError(f"the processor of {folder} needs a missing library ({' '.join(str(exc).split())[:160]})") from None
        except (OSError, ValueError, TypeError) as exc:
            raise UserError(f"cannot load the processor of {folder} ({str(exc).splitlines()[0]})") from None
        if getattr(processor, "video_processor", None) is None:
            raise UserError(f"the processor of {folder} ({type(processor).__name__}) does not take videos")
        try:
            model = _from_pretrained(AutoModelForImageTextToText, folder, dev, dt)
        except (OSError, ValueError, RuntimeError) as exc:
            raise UserError(f"cannot load the {model_type} weights in {folder} ({str(exc).splitlines()[0]})") from None
        self.torch = torch
        self.net = model
        self.processor = processor
        self.device, self.dtype = dev, dt
        self.num_frames, self.max_new_tokens, self.batch_size = num_frames, max_new_tokens, batch_size
        if model_type in prompt.templates:
            rendered = prompt.render(model_type)
        elif getattr(processor, "chat_template", None):
            conversation = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt.question}]}]
            rendered = processor.apply_chat_template(conversation, add_generation_prompt=True)
        else:
            rendered = prompt.render(model_type)  # raises: no template and no chat template
        video_token = getattr(processor, "video_token", None) or VIDEO_MARK
        self.prompt_text = rendered.replace(VIDEO_MARK, video_token)
        self.prompt_hash = prompt_hash(rendered)
        tokenizer = getattr(processor, "tokenizer", None)
        self.tokenizer = tokenizer
        if tokenizer is not None:
            tokenizer.padding_side = "left"  # generation continues at the right end of every row
        self.model = _model_name(folder, config)
        self.generation = {
            "num_frames": num_frames, "max_new_tokens": max_new_tokens, "do_sample": False,
            "dtype": str(dt).replace("torch.", ""), "prompt": prompt.name,
        }

    def prepare(self, clip: ClipRecord) -> np.ndarray:
        return _load_frames(clip, self.num_frames)

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
        return [Output(text) for text in _decode_new(decoder, out, batch["input_ids"].shape[1])]


def _from_pretrained(cls, folder: Path, device, dtype):
    """Load weights in `dtype` straight onto `device` (a 7B model need not pass through host memory)."""
    import transformers

    major, minor = (int(v) for v in transformers.__version__.split(".")[:2])
    # transformers renamed torch_dtype to dtype in 4.56; older versions would ignore `dtype` silently.
    kwargs = {"dtype" if (major, minor) >= (4, 56) else "torch_dtype": dtype, "local_files_only": True}
    if device.type == "cuda":
        try:
            return cls.from_pretrained(folder, device_map={"": device}, **kwargs).eval()
        except ImportError:
            pass  # older transformers need accelerate for device_map: load on the host, then move
    return cls.from_pretrained(folder, **kwargs).to(device).eval()


def _preprocess_config(folder: Path) -> dict:
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


def _model_name(folder: Path, config: dict) -> str:
    name = config.get("_name_or_path") or ""
    return name if name and not Path(name).is_absolute() else folder.resolve().name


def build_backend(name: str, *, weights=None, cues=None, prompt: Prompt | None = None, dataset: str | None = None,
                  num_frames: int = 8, max_new_tokens: int = 96, batch_size: int | None = None,
                  device: str | None = "auto", dtype: str | None = None) -> Backend:
    """The backend called `name`, checked and loaded."""
    if name not in BACKENDS:
        raise UserError(f"unknown backend {name!r} (known: {', '.join(BACKENDS)})")
    if name == "captions":
        return CaptionBackend(dataset)
    if name == "landmarks":
        if cues is None:
            raise UserError("the landmarks backend needs the cue store of the manifest: pass --cues DIR")
        backend = LandmarkBackend(cues)
        if batch_size:
            backend.batch_size = batch_size
        return backend
    if weights is None:
        raise UserError(f"the {name} backend needs a local model folder: pass --weights DIR")
    from .prompt import load_prompt

    prompt = prompt or load_prompt()
    options = {"num_frames": num_frames, "max_new_tokens": max_new_tokens, "batch_size": batch_size or 1}
    if name == "video-llava":
        return VideoLlavaBackend.from_folder(weights, prompt, device=device, dtype=dtype, **options)
    return HFVideoBackend(weights, prompt, device=device, dtype=dtype, **options)
