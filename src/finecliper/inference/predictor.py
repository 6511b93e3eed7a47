"""Prediction on a user's own clip: the expression of a video file, a frame folder or frames in memory.

Per clip, the same path as evaluation, minus the offline stages a user has not run:
1. Cues, when the checkpoint needs them or the clip may be a raw video: the extractor of
   `finecliper cues` tells face crops from raw videos (`crop="auto"`), follows and crops the main face
   of a raw video, and gives the landmarks and parsing maps, which the dataset reads from memory. Only
   the frames the model sees are read and analysed (`sampled_clip`), so memory does not grow with the
   video's length. A clip whose face the detector confirms in no frame is refused (a cat, a car: the
   face mesh alone fits a face to anything face-like); one below the data.face_min_* thresholds of
   `data.face_verdict` is scored, with a note.
2. A description, when the checkpoint has the description branch: the user's own text (`description`,
   e.g. from their video LLM) or the landmark describer's movement sentences (`describe="landmarks"`),
   refined like the training descriptions (inference/description.py). Without one the clip uses w = 1,
   video features only [docs/design.md §3], and the result says so.
3. The evaluation dataset (test-mode sampling and transforms, raw videos cut to the cues' face boxes)
   and one forward pass.
Frames given in memory are written losslessly (BMP) to a temporary frame folder first, so they take
exactly the path of a frame folder.

Probabilities [OURS]: the PN loss is CE(τ·cos(z, p)) + CE(−τ·cos(z, n)) (or, with model.pn_loss=joint,
CE(τ·s)); the product of those two softmaxes, renormalised, is softmax(τ·s) with s = cos(z, p) − cos(z, n),
the score evaluation ranks by (a zero-shot checkpoint's s is model.zero_shot_score's, docs/design.md §3).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from finecliper.cues.backends import LANDMARK_BACKENDS, PARSING_BACKENDS
from finecliper.cues.extract import CueSettings, Extractor
from finecliper.data.cue_store import ClipCues, CueStore
from finecliper.data.face_verdict import face_verdict
from finecliper.data.loader import collate
from finecliper.data.manifest import ClipRecord
from finecliper.data.video import count_frames, is_video_file
from finecliper.devices import resolve_device
from finecliper.errors import UserError
from finecliper.inference import DESCRIBE_MODES
from finecliper.inference.checkpoint import load_model
from finecliper.inference.dataset import make_dataset
from finecliper.inference.description import CLIP_ID, describe_clip
from finecliper.inference.quantize import check_quantize, quantize_int8
from finecliper.inference.sampled_clip import frame_folder, sampled_clip
from finecliper.inference.scoring import forward

log = logging.getLogger(__name__)

Clip = str | Path | np.ndarray | torch.Tensor  # a video file, a frame folder, or (T, 3, H, W) / (T, H, W, 3) uint8


@dataclass
class Prediction:
    """One clip's result; `to_dict()` is its entry in `finecliper predict --json`."""

    path: str
    label: str  # the most likely class
    probabilities: dict[str, float]  # class -> softmax(τ·s), in the checkpoint's class order
    scores: dict[str, float]  # class -> PN score s = cos(z, p) − cos(z, n) (zero-shot: model.zero_shot_score's)
    frames: int  # frames in the clip
    face_cropped: bool  # True: a raw video, cut to the main face; False: used whole
    weight: float  # w of the video features (1.0: no description was used)
    description: str | None  # the refined description the model read, if any
    description_source: str | None  # "given", "landmarks" or None
    notes: list[str] = field(default_factory=list)

    def top(self, k: int) -> list[tuple[str, float]]:
        return sorted(self.probabilities.items(), key=lambda kv: -kv[1])[:k]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ClipInputs:
    """What the model reads of one clip: its one-clip batch and how it was made (`Predictor.read`)."""

    path: Path
    batch: dict  # the evaluation dataset's batch of this clip alone
    num_frames: int  # frames in the clip
    cues: ClipCues | None  # cues extracted from the clip (face boxes of a raw video among them), if any
    text: str | None  # the refined description, if any
    source: str | None  # "given", "landmarks" or None
    notes: list[str]


def as_frames(clip: np.ndarray | torch.Tensor) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames of a (T, 3, H, W) or (T, H, W, 3) uint8 array or tensor (channels
    last when both readings fit)."""
    if isinstance(clip, torch.Tensor):
        clip = clip.detach().cpu().numpy()
    if not isinstance(clip, np.ndarray):
        raise UserError(f"a clip is a video file, a folder of frames or a uint8 array of frames, not a "
                        f"{type(clip).__name__}")
    if clip.ndim != 4 or 3 not in (clip.shape[1], clip.shape[3]):
        raise UserError(f"frames must have shape (T, 3, H, W) or (T, H, W, 3), got {tuple(clip.shape)}")
    if clip.dtype != np.uint8:
        raise UserError(f"frames must be uint8 RGB values (0 to 255), got {clip.dtype}")
    if len(clip) < 1:
        raise UserError("the clip has no frames")
    return clip if clip.shape[3] == 3 else clip.transpose(0, 2, 3, 1)


class Predictor:
    """A checkpoint's model, loaded once, and what it needs to score clips.

        predictor = Predictor("RUN/checkpoints/best.safetensors")
        prediction = predictor.predict("my_clip.mp4")  # or a frame folder, or (T, 3, H, W) uint8 frames

    `overrides` change the recorded config ("model.weights=PATH" when the backbone has moved); `crop`
    ("auto", "none"), `describe` ("none", "landmarks") and `quantize` ("none", "int8": the frozen towers'
    linear layers in int8, CPU only; inference/quantize.py) are `finecliper predict`'s options.
    """

    def __init__(self, checkpoint: str | Path, overrides: Sequence[str] = (), device: str | None = None,
                 crop: str = "auto", describe: str = "none", parsing_backend: str | None = None,
                 parsing_weights: str | None = None, quantize: str = "none", backend: str | None = None,
                 weights: str | None = None):
        if describe not in DESCRIBE_MODES:
            raise UserError(f"unknown --describe mode {describe!r}; choose one of {', '.join(DESCRIBE_MODES)}")
        self.checkpoint = str(checkpoint)
        self.model, self.cfg, self.record = load_model(checkpoint, overrides)
        self.device = resolve_device(device)
        check_quantize(quantize, self.device)
        self.model.to(self.device).eval()
        self.precision = self.cfg.train.precision
        if quantize == "int8":
            quantize_int8(self.model)
            self.precision = "fp32"  # int8 kernels take float32 activations: no bf16 autocast around them
        self.describe = describe
        if describe != "none" and not self.cfg.model.descriptions:
            log.warning("this checkpoint does not read descriptions; --describe %s is ignored", describe)
            self.describe = "none"
        self.cue_settings = self._training_cues(CueSettings(backend=backend or "", parsing_backend=parsing_backend,
                                                            weights=weights, parsing_weights=parsing_weights, crop=crop,
                                                            device=self.device.type))
        self.cue_settings.validate()
        self._extractor: Extractor | None = None

    def _training_cues(self, asked: CueSettings) -> CueSettings:
        """The cue backends the checkpoint's cue store was made with (when it is on this machine), where the
        user names none: cues from another backend would not match what the model learned."""
        store = {}
        if self.cfg.model.cues and self.cfg.data.cues:
            store = CueStore(self.cfg.data.cues).provenance().get("settings", {})
        if store.get("backend") not in LANDMARK_BACKENDS or store.get("parsing_backend") not in PARSING_BACKENDS:
            store = {}  # e.g. the demo's oracle store: no model behind it
        if not asked.backend:
            asked.backend = store.get("backend", "mediapipe")
            asked.weights = asked.weights or store.get("weights")
        if asked.parsing_backend is None:
            same = store.get("backend") == asked.backend
            asked.parsing_backend = store["parsing_backend"] if same else LANDMARK_BACKENDS.get(asked.backend).default_parsing
            asked.parsing_weights = asked.parsing_weights or (store.get("parsing_weights") if same else None)
        return asked

    @property
    def class_names(self) -> list[str]:
        return list(self.model.class_names)

    def json_object(self, predictions: Sequence[Prediction]) -> dict:
        """What `finecliper predict --json` prints for `predictions`."""
        return {"checkpoint": self.checkpoint, "class_names": self.class_names,
                "predictions": [p.to_dict() for p in predictions]}

    def predict(self, clip: Clip, description: str | None = None, name: str = "clip") -> Prediction:
        """Class probabilities of `clip`: a video file, a folder of frames, or its frames as a uint8 array or
        tensor (T, 3, H, W) or (T, H, W, 3), RGB, whose prediction's `path` is `name`. `description`: the
        clip's description, for a checkpoint with the description branch."""
        if isinstance(clip, (str, Path)):
            return self._predict_path(Path(clip), description)
        with frame_folder(as_frames(clip)) as folder:
            prediction = self._predict_path(folder, description)
        prediction.path = name
        return prediction

    def _needs_cues(self) -> bool:
        return bool(self.cfg.model.cues) or self.describe == "landmarks" or self.cue_settings.crop == "auto"

    def _cues(self, path: Path, num_frames: int, sparse: bool, notes: list[str]) -> ClipCues:
        if self._extractor is None:
            self._extractor = Extractor(self.cue_settings)
        cues = self._extractor.extract(path, num_frames, sparse=sparse)
        verdict = face_verdict(cues, self.cfg.data.face_min_score, self.cfg.data.face_min_share)
        if verdict.measured and verdict.confirmed == 0:
            raise UserError(f"clip {path} shows no real face: the face detector confirmed none in the "
                            f"{verdict.frames} frames analysed, where the face mesh fitted one to {int(cues.valid.sum())}")
        if not verdict.is_face:
            notes.append(f"little real face: {verdict.text()}; the prediction may mean nothing")
        return cues

    def read(self, path: str | Path, description: str | None = None) -> ClipInputs:
        """The checks, cues, description and one-clip batch of `predict` for a video file or frame folder,
        without the forward pass (`finecliper explain` runs that pass itself, watching the attention)."""
        path = Path(path)
        if not path.exists():
            raise UserError(f"video {path} does not exist")
        if not (path.is_dir() or is_video_file(path)):
            raise UserError(f"{path} is neither a video file nor a folder of frames")
        notes: list[str] = []
        num_frames = count_frames(path)  # a video is decoded without converting its pixels: cheap
        if num_frames < 1:
            raise UserError(f"clip {path} has no frames")
        cues = None
        with sampled_clip(path, num_frames, self.cfg.model.num_frames, self._needs_cues()) as (clip, n, sparse):
            if self._needs_cues():
                cues = self._cues(clip, n, sparse, notes)
            text, source = self._description(description, cues, notes)
            batch = self._batch(clip, n, cues, text)
        return ClipInputs(path, batch, num_frames, cues, text, source, notes)

    def prediction(self, inputs: ClipInputs, out: dict) -> Prediction:
        """The `Prediction` of a clip from its inputs and the model's output on their batch."""
        scores = out["scores"].float()[0].cpu()  # (C,)
        probs = torch.softmax(float(self.model.logit_scale) * scores, dim=0)
        reads_text = self.cfg.model.descriptions
        notes = list(inputs.notes)
        if reads_text and inputs.text is None:
            notes.append("no description: w = 1, the video features alone decide")
        return Prediction(
            path=str(inputs.path), label=self.class_names[int(scores.argmax())],
            probabilities={c: float(p) for c, p in zip(self.class_names, probs, strict=True)},
            scores={c: float(s) for c, s in zip(self.class_names, scores, strict=True)},
            frames=inputs.num_frames, face_cropped=inputs.cues is not None and inputs.cues.boxes is not None,
            weight=float(out["weight"][0]), description=inputs.text if reads_text else None,
            description_source=inputs.source if reads_text and inputs.text is not None else None, notes=notes,
        )

    def _predict_path(self, path: Path, description: str | None) -> Prediction:
        inputs = self.read(path, description)
        return self.prediction(inputs, forward(self.model, inputs.batch, self.device, self.precision))

    def _description(self, given: str | None, cues: ClipCues | None, notes: list[str]):
        if not self.cfg.model.descriptions:
            if given is not None:
                notes.append("this checkpoint does not read descriptions; the given one was not used")
            return None, None
        return describe_clip(given, self.describe, cues, notes)

    def _batch(self, path: Path, num_frames: int, cues: ClipCues | None, text: str | None) -> dict:
        """The one-clip batch of the evaluation dataset of `finecliper eval`, with this clip's cues (in
        memory) and text."""
        record = ClipRecord(id=CLIP_ID, path=path.name, label=None, num_frames=num_frames, split="test",
                            fold=None, dataset="predict", source="frames" if path.is_dir() else "video",
                            root=str(path.resolve().parent))
        dataset = make_dataset([record], self.cfg, self.class_names, False, self.model,
                               cues=None if cues is None else {CLIP_ID: cues}, descriptions={CLIP_ID: text})
        return collate([dataset[0]])
