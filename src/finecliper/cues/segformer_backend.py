"""The `segformer` parsing backend: a face-parsing segmentation model from a local folder via transformers.

Any `transformers` semantic-segmentation model (`AutoModelForSemanticSegmentation`: SegFormer and
others) whose `config.json` names face-parsing classes works, e.g. a SegFormer trained on
CelebAMask-HQ (19 classes) or on LaPa (our 11). Its classes are mapped onto ours by their *names* in
`config.id2label`, never by index. Mapping [OURS] for CelebAMask-HQ's extra classes: ears,
eyeglasses' frames, hat, earrings, necklace, neck and cloth become background, so that "skin" means the
face as with the mesh backend; only "hair" adds what the mesh backend cannot give.

Left and right: CelebAMask-HQ's `l_`/`r_` prefixes are not used consistently from the subject's or the
image's view across its derivatives, so the model is only asked *which* pixels are eye or brow; the
side is decided by the face's own geometry (`parsing_sides.assign_sides`).

Preprocessing follows the folder's `preprocessor_config.json` (size, mean, std) when present, else
SegFormer's defaults (512 x 512, ImageNet mean and std); it is done here with OpenCV so that no
image-processor class (some need torchvision) is involved. `SegformerParser` is the registered parsing
backend; torch, transformers and OpenCV are imported when it is built or run, since the command line
imports this module when it starts (the registry) and must not wait for them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from finecliper.cues.backends import PARSING_BACKENDS, MeshTrack, ParsingBackend
from finecliper.cues.parsing_sides import BROW, EYE, assign_sides
from finecliper.errors import UserError
from finecliper.face_layout import PARSING_INDEX
from finecliper.paths import existing_folder

log = logging.getLogger(__name__)

_NAMES = {
    "background": ("background", "bg", "__background__", "void", "hat", "ear_r", "earring", "earrings",
                   "neck_l", "necklace", "neck", "cloth", "clothes", "l_ear", "r_ear", "left_ear",
                   "right_ear", "ear", "ears", "eye_g", "eyeglass", "eyeglasses", "glasses"),
    "skin": ("skin", "face", "face_skin"),
    "nose": ("nose",),
    "eye": ("l_eye", "r_eye", "left_eye", "right_eye", "eye", "eyes"),
    "brow": ("l_brow", "r_brow", "left_brow", "right_brow", "left_eyebrow", "right_eyebrow", "eyebrow",
             "eyebrows", "brow", "brows"),
    "upper_lip": ("u_lip", "upper_lip", "ulip", "lip_upper"),
    "lower_lip": ("l_lip", "lower_lip", "llip", "lip_lower"),
    "inner_mouth": ("mouth", "inner_mouth", "imouth", "mouth_inner", "teeth"),
    "hair": ("hair",),
}
_LOOKUP = {name: target for target, names in _NAMES.items() for name in names}
# Without these the model is not a face-parsing model whose output we can map.
_REQUIRED = ("skin", "nose", "eye", "brow", "upper_lip", "lower_lip")


def _normalise(label: str) -> str:
    return str(label).strip().lower().replace("-", "_").replace(" ", "_")


def class_table(id2label: dict) -> np.ndarray:
    """(num_labels,) uint8: our class id per model class (EYE and BROW for eye and brow pixels).

    Raises UserError when the labels do not describe face parsing; unknown labels become background.
    """
    ids = sorted(int(k) for k in id2label)
    if not ids or ids != list(range(len(ids))):
        raise UserError("the model's id2label must number its classes 0, 1, 2, ...")
    table = np.zeros(len(ids), dtype=np.uint8)
    found, unknown = set(), []
    for i in ids:
        name = _normalise(id2label[i] if i in id2label else id2label[str(i)])
        target = _LOOKUP.get(name)
        if target is None:
            unknown.append(name)
            continue
        found.add(target)
        table[i] = EYE if target == "eye" else BROW if target == "brow" else PARSING_INDEX[target]
    missing = [c for c in _REQUIRED if c not in found]
    if missing:
        labels = ", ".join(_normalise(id2label[k]) for k in list(id2label)[:6])
        raise UserError(
            f"the model's classes ({labels}, ...) are not face-parsing classes: none is {missing[0]!r}"
        )
    if unknown:
        log.warning("segformer: model classes %s are not face parts; they are mapped to background", unknown)
    return table


def _preprocessing(folder: Path) -> tuple[tuple[int, int], np.ndarray, np.ndarray]:
    size, mean, std = (512, 512), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    path = folder / "preprocessor_config.json"
    if path.is_file():
        try:
            cfg = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"{path} is not readable JSON ({exc})") from None
        s = cfg.get("size", size)
        if isinstance(s, dict):
            s = (s.get("height", s.get("shortest_edge", 512)), s.get("width", s.get("shortest_edge", 512)))
        elif isinstance(s, int):
            s = (s, s)
        size = (int(s[0]), int(s[1]))
        mean, std = cfg.get("image_mean", mean), cfg.get("image_std", std)
    return size, np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)


@PARSING_BACKENDS.register("segformer")
class SegformerParser(ParsingBackend):
    """A local face-parsing model: frames in, (T, H, W) maps of our classes (EYE/BROW still unsided)."""

    summary = "a local parsing model"
    needs_weights = True
    reads_frames = True

    @classmethod
    def build(cls, settings) -> SegformerParser:
        return cls(settings.parsing_weights, device=settings.device)

    def __init__(self, folder: str | Path, device: str = "cpu", batch_size: int = 8):
        import torch  # see the module docstring
        from transformers import AutoConfig, AutoModelForSemanticSegmentation

        folder = existing_folder(folder, "parsing model folder")
        if not (folder / "config.json").is_file():
            raise UserError(f"parsing model folder {folder} has no config.json: it is not a transformers model")
        try:
            config = AutoConfig.from_pretrained(folder, local_files_only=True)
        except Exception as exc:  # transformers and huggingface_hub raise many kinds for a broken config
            raise UserError(f"{folder}/config.json is not a transformers model config ({exc})") from None
        self.table = class_table(config.id2label)
        try:
            model = AutoModelForSemanticSegmentation.from_pretrained(folder, local_files_only=True)
        except ValueError:
            raise UserError(
                f"parsing model folder {folder} holds a {config.model_type!r} model, not a semantic-segmentation model"
            ) from None
        except OSError as exc:
            raise UserError(f"parsing model folder {folder} has no usable weights ({exc})") from None
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.size, self.mean, self.std = _preprocessing(folder)
        self.batch_size = batch_size
        self.info = {"model_type": config.model_type, "num_labels": len(self.table),
                     "labels": {str(k): str(v) for k, v in sorted(config.id2label.items(), key=lambda kv: int(kv[0]))},
                     "input_size": list(self.size)}

    def __call__(self, images, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
        """Class maps of `images` ((h, w, 3) uint8 RGB each, sizes may differ), each at its entry of
        `sizes` (h, w), as uint8 our class ids (EYE / BROW codes for eyes and brows)."""
        import cv2  # see the module docstring
        import torch
        import torch.nn.functional as F

        out = []
        table = torch.from_numpy(self.table.astype(np.int64)).to(self.device)
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            x = np.stack([cv2.resize(f, (self.size[1], self.size[0]), interpolation=cv2.INTER_LINEAR) for f in chunk])
            x = (x.astype(np.float32) / 255.0 - self.mean) / self.std  # (B, h', w', 3)
            pixels = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(self.device)  # (B, 3, h', w')
            with torch.no_grad():
                logits = self.model(pixel_values=pixels).logits.float()  # (B, C, h'/4, w'/4)
                for k, size in enumerate(sizes[start : start + len(chunk)]):
                    up = F.interpolate(logits[k : k + 1], size=tuple(size), mode="bilinear", align_corners=False)
                    out.append(table[up[0].argmax(0)].to(torch.uint8).cpu().numpy())  # (h, w)
        return out

    def versions(self) -> dict[str, str]:
        import transformers  # loaded already by __init__; imported here to read its version

        return {"transformers": transformers.__version__}

    def parse(self, images, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
        return self(images, sizes)

    def finish(self, track: MeshTrack, layout, landmarks: np.ndarray) -> np.ndarray:
        return assign_sides(track.raw_parsing, landmarks, track.scale)
