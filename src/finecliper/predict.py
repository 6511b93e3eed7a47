"""Prediction on a user's own clip: the expression of one video file or frame folder, from a checkpoint.

Per clip, the same path as evaluation, minus the offline stages a user has not run:
1. Cues, when the checkpoint needs them or the clip may be a raw video: the extractor of
   `finecliper cues` tells face crops from raw videos (`crop="auto"`), follows and crops the main face
   of a raw video, and gives the landmarks and parsing maps, which the dataset reads from memory.
2. A description, when the checkpoint has the description branch: the user's own text (`description`,
   e.g. from their video LLM) or the landmark describer's movement sentences (`describe="landmarks"`),
   refined like the training descriptions. Without one the clip uses w = 1, video features only
   [docs/design.md §3], and the result says so.
3. The evaluation dataset (test-mode sampling and transforms, raw videos cut to the cues' face boxes)
   and one forward pass.

Probabilities [OURS]: the PN loss is CE(τ·cos(z, p)) + CE(−τ·cos(z, n)); the product of those two
softmaxes, renormalised, is softmax(τ·s) with s = cos(z, p) − cos(z, n), the score evaluation ranks by.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from finecliper.data.cue_store import ClipCues, CueStore
from finecliper.data.manifest import ClipRecord
from finecliper.data.video import count_frames, is_video_file
from finecliper.errors import UserError

# torch, the model and the training code are imported where they are used, so that the command line can
# list this module's modes without importing torch (cli/__init__.py).

log = logging.getLogger(__name__)

DESCRIBE_MODES = ("none", "landmarks")
CLIP_ID = "clip"


@dataclass
class Prediction:
    path: str
    label: str  # the most likely class
    probabilities: dict[str, float]  # class -> softmax(τ·s), in the checkpoint's class order
    scores: dict[str, float]  # class -> PN score s = cos(z, p) − cos(z, n)
    frames: int  # frames in the clip
    face_cropped: bool  # True: a raw video, cut to the main face; False: used whole
    weight: float  # w of the video features (1.0: no description was used)
    description: str | None  # the refined description the model read, if any
    description_source: str | None  # "given", "landmarks" or None
    notes: list[str] = field(default_factory=list)

    def top(self, k: int) -> list[tuple[str, float]]:
        return sorted(self.probabilities.items(), key=lambda kv: -kv[1])[:k]


class Predictor:
    """A checkpoint's model, loaded once, and what it needs to score clips (`predict(path)`)."""

    def __init__(self, checkpoint: str | Path, overrides: list[str] = (), device: str | None = None,
                 crop: str = "auto", describe: str = "none", parsing_backend: str | None = None,
                 parsing_weights: str | None = None):
        from finecliper.cues.extract import CueSettings
        from finecliper.training import distributed
        from finecliper.training.checkpoint import load_model

        if describe not in DESCRIBE_MODES:
            raise UserError(f"unknown --describe mode {describe!r}; choose one of {', '.join(DESCRIBE_MODES)}")
        self.model, self.cfg, self.record = load_model(checkpoint, overrides)
        self.device = distributed.setup(device).device  # one process: picks the device, joins no group
        self.model.to(self.device).eval()
        self.describe = describe
        if describe != "none" and not self.cfg.model.descriptions:
            log.warning("this checkpoint does not read descriptions; --describe %s is ignored", describe)
            self.describe = "none"
        backend, weights = self._training_parsing(parsing_backend, parsing_weights)
        self.cue_settings = CueSettings(parsing_backend=backend, parsing_weights=weights, crop=crop,
                                        device=self.device.type)
        self.cue_settings.validate()
        self._extractor = None

    def _training_parsing(self, backend: str | None, weights: str | None) -> tuple[str, str | None]:
        """The parsing backend the checkpoint's cue store was made with (when it is on this machine and
        nothing else is asked for): parsing maps from another backend would not match what it learned."""
        if backend is not None or "parsing" not in self.cfg.model.cues or not self.cfg.data.cues:
            return backend or "mesh", weights
        from finecliper.cues.extract import PARSING_BACKENDS

        settings = CueStore(self.cfg.data.cues).provenance().get("settings", {})
        if settings.get("parsing_backend") not in PARSING_BACKENDS:  # e.g. the demo's oracle store: no model
            return "mesh", weights
        return settings["parsing_backend"], weights or settings.get("parsing_weights")

    @property
    def class_names(self) -> list[str]:
        return list(self.model.class_names)

    def _needs_cues(self) -> bool:
        return bool(self.cfg.model.cues) or self.describe == "landmarks" or self.cue_settings.crop == "auto"

    def _cues(self, path: Path) -> ClipCues:
        from finecliper.cues.extract import Extractor

        if self._extractor is None:
            self._extractor = Extractor(self.cue_settings)
        return self._extractor.extract(path)

    def predict(self, path: str | Path, description: str | None = None) -> Prediction:
        """Class probabilities of the clip at `path` (a video file or a folder of frames)."""
        import torch

        from finecliper.data.dataset import collate
        from finecliper.training.evaluate import autocast_for, to_device
        from finecliper.training.trainer import make_dataset

        path = Path(path)
        if not path.exists():
            raise UserError(f"video {path} does not exist")
        if not (path.is_dir() or is_video_file(path)):
            raise UserError(f"{path} is neither a video file nor a folder of frames")
        notes: list[str] = []
        cues = self._cues(path) if self._needs_cues() else None
        num_frames = cues.num_frames if cues is not None else count_frames(path)
        if num_frames < 1:
            raise UserError(f"clip {path} has no frames")
        text, source = self._description(description, cues, notes)
        record = ClipRecord(id=CLIP_ID, path=path.name, label=None, num_frames=num_frames, split="test",
                            fold=None, dataset="predict", source="frames" if path.is_dir() else "video",
                            root=str(path.resolve().parent))
        # The evaluation dataset of `finecliper eval`, with this clip's cues (in memory) and text.
        dataset = make_dataset([record], self.cfg, self.class_names, False, self.model,
                               cues=None if cues is None else {CLIP_ID: cues}, descriptions={CLIP_ID: text})
        batch = collate([dataset[0]])
        m = self.cfg.model
        with torch.no_grad(), autocast_for(self.device, self.cfg.train.precision):
            out = self.model(to_device(batch, self.device))
        scores = out["scores"].float()[0].cpu()  # (C,)
        probs = torch.softmax(float(self.model.logit_scale) * scores, dim=0)
        if m.descriptions and text is None:
            notes.append("no description: w = 1, the video features alone decide")
        return Prediction(
            path=str(path), label=self.class_names[int(scores.argmax())],
            probabilities={c: float(p) for c, p in zip(self.class_names, probs, strict=True)},
            scores={c: float(s) for c, s in zip(self.class_names, scores, strict=True)},
            frames=num_frames, face_cropped=cues is not None and cues.boxes is not None,
            weight=float(out["weight"][0]), description=text if m.descriptions else None,
            description_source=source if m.descriptions and text is not None else None, notes=notes,
        )

    def _description(self, given: str | None, cues: ClipCues | None, notes: list[str]):
        """(refined text or None, its source) for the description branch, refined and given a status as
        `finecliper describe` records them (describe.pipeline.make_record)."""
        if not self.cfg.model.descriptions:
            if given is not None:
                notes.append("this checkpoint does not read descriptions; the given one was not used")
            return None, None
        from finecliper.describe.backends import Output
        from finecliper.describe.pipeline import make_record
        from finecliper.describe.refine import Refiner

        if given is not None:
            output, source = Output(given), "given"
        elif self.describe == "landmarks" and cues is not None:
            from finecliper.describe.landmark_describer import describe_cues

            result = describe_cues(cues)
            # The landmark backend's output (describe.backends.LandmarkBackend).
            output = Output(result.text) if result.text is not None else Output(None, "no-face", result.note)
            source = "landmarks"
        else:
            return None, None
        record = make_record(CLIP_ID, output, Refiner(), {})
        if record["status"] == "no-face":
            notes.append(f"no landmark description ({record['note']})")
        elif record["status"] == "emptied":
            notes.append("refinement removed the whole description: every sentence named an emotion")
        return record["refined"], source
