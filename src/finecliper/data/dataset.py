"""The training / evaluation dataset over manifest records.

One item is one clip: `num_frames` frame indices from the TSN sampler, those frames read from disk
(and, for a raw video whose cues were computed on face crops, cut to the same crops the cue store
records), one spatial transform shared by the frames and the data of every requested cue kind
(`data/cue_kinds/`: parsing maps, landmarks, ...) of exactly those indices, then each kind's transport
form (the CPU part of its rendering) and colour jitter of the frames. Items are lean (docs/design.md §4):
frames (T, S, S, 3) uint8 and each kind's transport array (parsing: (T, S, S) class ids; landmarks: the
(T, S, S, 3) uint8 image with its dots); the palette lookup and CLIP normalisation run on the model's
device after the batch has moved (`data/prepare.py`). Labels are mapped to indices by name through the
class list the dataset is given (the dataset registry, `finecliper.datasets`, owns every order). Batches: `loader.collate`.

Randomness: each item draws from its own generator seeded by (seed, epoch, index), so DataLoader
workers never share a random state, an item does not depend on which worker made it, and a run is
reproducible. `set_epoch` writes the epoch into a shared-memory tensor, so it reaches worker processes
even when they persist between epochs (call it before iterating the epoch).

Timing: with `stage_ms` set to a dict, each item adds the milliseconds of its stages (read, cues,
spatial, render, jitter, pack; a stage that does not run is not added); `finecliper bench data`
reads it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from finecliper import labels as labels_mod
from finecliper.config.experiment import AugmentConfig
from finecliper.data.color import color_jitter
from finecliper.data.cue_kinds import CUE_KINDS
from finecliper.data.cue_store import ClipCues, CueStore, open_cues
from finecliper.data.descriptions import read_descriptions, swap_left_right
from finecliper.data.face_boxes import crop_frames, scale_boxes
from finecliper.data.manifest import ClipRecord
from finecliper.data.palettes import DEFAULT_PALETTE, get_palette
from finecliper.data.sampling import sample_indices
from finecliper.data.spatial import sample_spatial
from finecliper.data.transforms import transform_clip
from finecliper.data.video import read_clip
from finecliper.errors import UserError

CAPTIONS = "captions"  # descriptions source meaning "the manifest's own captions" (MAFW)
log = logging.getLogger(__name__)


class UnreadableClip(UserError):
    """A clip's frames could not be read (with skip_unreadable, the clip is left out instead)."""


class ClipDataset(Dataset):
    """Clips of a manifest as model inputs; see the module docstring for what one item holds."""

    def __init__(
        self,
        records: Sequence[ClipRecord],
        class_names: Sequence[str],
        train: bool = False,
        num_frames: int = 16,
        size: int = 224,
        cues: str | Path | CueStore | Mapping[str, ClipCues] | None = None,
        branches: Sequence[str] = (),
        descriptions: str | Path | dict[str, str | None] | None = None,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        skip_unreadable: bool = False,
        palette: str = DEFAULT_PALETTE,
    ):
        """`branches`: the cue kinds to return as images (names of `CUE_KINDS`: "parsing", "landmarks"),
        read from `cues`: a cue store (or its folder), or the clips' cues in memory (id -> ClipCues); cues
        given without branches still crop raw videos to the faces they found.
        `descriptions`: a descriptions JSONL, an id -> text mapping, or "captions" (the records' captions).
        `skip_unreadable`: a clip whose frames cannot be read gives the next readable clip's item instead, with
        the skipped ids in its "unreadable" list (collate gathers them; the trainer counts them).
        `palette`: the colours of the cue renderings (`data/palettes.py`).
        """
        self.records = list(records)
        self.class_names = list(class_names)
        self.train = train
        self.num_frames = num_frames
        self.augment = augment or AugmentConfig()
        self.augment.validate()
        if size < 1:
            raise UserError(f"the image size must be at least 1, got {size}")
        self.size = size
        for name in branches:
            CUE_KINDS.get(name)  # UserError listing the known kinds
        self.kinds = [kind for name, kind in CUE_KINDS.items() if name in branches]  # in the registry's order
        self.branches = [kind.name for kind in self.kinds]
        self.palette = get_palette(palette)  # UserError listing the known palettes
        if self.kinds and cues is None:
            raise UserError(f"the {' and '.join(self.branches)} cues need a cue store; run `finecliper cues` first")
        self.cues = open_cues(cues)
        self.use_captions = descriptions == CAPTIONS
        self.descriptions = None if descriptions is None or self.use_captions else _read_texts(descriptions)
        self.has_descriptions = self.use_captions or self.descriptions is not None
        self.seed = int(seed)
        self.skip_unreadable = skip_unreadable
        self.stage_ms: dict[str, float] | None = None  # a dict: add each item's stage times (module docstring)
        # Shared memory: persistent DataLoader workers see the epoch set in the main process.
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()
        # Labels by name, checked once up front so a bad manifest fails before training starts.
        self._labels = [self._label_index(r) for r in self.records]

    def _label_index(self, record: ClipRecord) -> int | None:
        if record.label is None:
            return None
        return labels_mod.label_index(self.class_names, record.label_name)

    def set_epoch(self, epoch: int) -> None:
        self._epoch[0] = int(epoch)

    @property
    def epoch(self) -> int:
        return int(self._epoch[0])

    def __len__(self) -> int:
        return len(self.records)

    def rng(self, index: int) -> np.random.Generator:
        """The generator of item `index` in the current epoch."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch, int(index)]))

    def __getitem__(self, index: int) -> dict:
        if not self.skip_unreadable:
            return self._item(index)
        skipped = []
        for k in range(index, index + len(self)):  # the next clips in manifest order, wrapping around
            try:
                item = self._item(k % len(self))
            except UnreadableClip as exc:
                log.warning("clip %s is left out: %s", self.records[k % len(self)].id, exc)
                skipped.append(self.records[k % len(self)].id)
                continue
            item["unreadable"] = skipped
            return item
        raise UserError("no clip of this split can be read; check the data with `finecliper manifest`")

    def _item(self, index: int) -> dict:
        record = self.records[index]
        rng = self.rng(index)  # draws, in order: frame indices, spatial transform, colour jitter
        with self._stage("read"):
            idx, frames = self._read(record, rng)  # (T,), (T, H, W, 3) uint8
        cues, valid = {}, None
        if self.cues is not None:
            with self._stage("cues"):
                frames, cues, valid = self._load_cues(record, idx, frames)
        with self._stage("spatial"):
            params = sample_spatial(frames.shape[1], frames.shape[2], self.augment, self.train, rng)
            frames, cues = transform_clip(params, self.size, frames, cues)  # (T, S, S, 3), kind -> data
        images = {}
        if self.kinds:
            with self._stage("render"):
                # On the spatially transformed frames, before colour jitter (jitter is for frames only).
                images = {kind.name: kind.transport(cues[kind.name], frames, valid, self.palette)
                          for kind in self.kinds}
        with self._stage("jitter"):
            if self.train:
                frames = color_jitter(frames, self.augment, rng)
        with self._stage("pack"):
            # uint8 as they are: no copy here (collate stacks them); normalisation is the device's (prepare.py).
            item: dict = {"id": record.id, "label": self._labels[index], "frames": _tensor(frames)}  # (T, S, S, 3)
            item.update({name: _tensor(image) for name, image in images.items()})
            if images:  # the device finishes the renderings in this palette (data/prepare.py)
                item["palette"] = self.palette.name
        item["description"] = self._description(record, params.flip)
        return item

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        """Adds the block's milliseconds to `stage_ms[name]` when timing is on."""
        if self.stage_ms is None:
            yield
            return
        start = time.perf_counter()
        yield
        self.stage_ms[name] = self.stage_ms.get(name, 0.0) + 1000 * (time.perf_counter() - start)

    def _read(self, record: ClipRecord, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The sampled frame indices of the clip and those frames."""
        if record.num_frames < 1:
            raise UserError(f"clip {record.id} has no frames in the manifest; rebuild it with `finecliper manifest`")
        idx = sample_indices(record.num_frames, self.num_frames, train=self.train, rng=rng)
        try:
            return idx, read_clip(record.full_path, idx)
        except UserError as exc:  # a damaged frame or video, a clip gone since the manifest was built
            raise UnreadableClip(str(exc)) from None

    def _load_cues(self, record: ClipRecord, idx: np.ndarray,
                   frames: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """The frames, cut to the store's face boxes for a raw video (the model sees the face crops the cues
        were computed on), each requested kind's data of frames `idx` on those frames, and the frames' face
        validity (T,)."""
        # UserError naming the clip when it has none; only the requested kinds' arrays are decompressed.
        cues = self.cues.load(record.id, kinds=self.branches)
        if cues.num_frames != record.num_frames:
            raise UserError(f"the cue store has {cues.num_frames} frames for clip {record.id} but the manifest "
                            f"has {record.num_frames}; rerun `finecliper cues` for this manifest")
        missing = [name for name in self.branches if cues.array(name) is None]
        if missing:
            raise UserError(f"the cues of clip {record.id} hold no {missing[0]}; rerun `finecliper cues`")
        frame_size = frames.shape[1:3]
        boxes = None
        if cues.boxes is not None:
            boxes = scale_boxes(cues.boxes[idx], cues.frame_size, frame_size)  # (T, 3) x0, y0, side
            frames = crop_frames(frames, boxes)
        data = {kind.name: kind.load(cues, idx, frame_size, boxes) for kind in self.kinds}
        return frames, data, cues.valid[idx]

    def description_texts(self) -> list[str | None]:
        """The description of every clip, as read (before any flip); None where a clip has none."""
        return [self._description(record, False) for record in self.records]

    def _description(self, record: ClipRecord, flipped: bool) -> str | None:
        description = None
        if self.has_descriptions:
            description = record.caption if self.use_captions else self.descriptions.get(record.id)
        # A mirrored clip's "left" is the original's "right": the text must follow the frames.
        return swap_left_right(description) if flipped else description


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array))


def _read_texts(descriptions: str | Path | dict[str, str | None]) -> dict[str, str | None]:
    """id -> description text, from a mapping or a descriptions JSONL."""
    return dict(descriptions) if isinstance(descriptions, dict) else read_descriptions(descriptions)
