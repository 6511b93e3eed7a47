"""The training / evaluation dataset over manifest records, and the collate function for batches.

One item is one clip: `num_frames` frame indices from the TSN sampler, those frames read from disk
(and, for a raw video whose cues were computed on face crops, cut to the same crops the cue store
records), one spatial transform shared by the frames and (when cue branches are asked for) the parsing maps and
landmarks of exactly those indices from the cue store, then the renderings of the cues, colour jitter
of the frames, and CLIP normalisation. Labels are mapped to indices by name through the class list the
dataset is given (labels.py owns every order).

Randomness: each item draws from its own generator seeded by (seed, epoch, index), so DataLoader
workers never share a random state, an item does not depend on which worker made it, and a run is
reproducible. `set_epoch` writes the epoch into a shared-memory tensor, so it reaches worker processes
even when they persist between epochs (call it before iterating the epoch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from finecliper import labels as labels_mod
from finecliper.config.model import CUE_BRANCHES
from finecliper.data.cue_store import ClipCues, CueStore
from finecliper.data.descriptions import read_descriptions, swap_left_right
from finecliper.data.manifest import ClipRecord
from finecliper.data.render import render_landmarks, render_parsing
from finecliper.data.sampling import sample_indices
from finecliper.data.transforms import (
    AugmentConfig,
    apply_spatial,
    color_jitter,
    crop_to_boxes,
    normalize,
    resize_parsing,
    sample_spatial,
)
from finecliper.data.video import read_clip
from finecliper.errors import UserError

CAPTIONS = "captions"  # descriptions source meaning "the manifest's own captions" (MAFW)


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
    ):
        """`branches`: cue images to return ("parsing", "landmarks"), read from `cues`: a cue store (or
        its folder), or the clips' cues in memory (id -> ClipCues); cues given without branches still crop
        raw videos to the faces they found.
        `descriptions`: a descriptions JSONL, an id -> text mapping, or "captions" (the records' captions).
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
        unknown = [b for b in branches if b not in CUE_BRANCHES]
        if unknown:
            raise UserError(f"unknown cue branch {unknown[0]!r}; choose from {', '.join(CUE_BRANCHES)}")
        self.branches = [b for b in CUE_BRANCHES if b in branches]
        if self.branches and cues is None:
            raise UserError(f"the {' and '.join(self.branches)} cues need a cue store; run `finecliper cues` first")
        self.cues: CueStore | _CueMapping | None
        if cues is None or isinstance(cues, CueStore):
            self.cues = cues
        elif isinstance(cues, Mapping):
            self.cues = _CueMapping(cues)
        else:
            self.cues = CueStore(cues)
        if isinstance(self.cues, CueStore) and not self.cues.root.is_dir():
            raise UserError(f"cue store {self.cues.root} does not exist; run `finecliper cues` first")
        self.use_captions = descriptions == CAPTIONS
        if descriptions is None or self.use_captions:
            self.descriptions: dict[str, str | None] | None = None
        elif isinstance(descriptions, dict):
            self.descriptions = dict(descriptions)
        else:
            self.descriptions = read_descriptions(descriptions)
        self.has_descriptions = self.use_captions or self.descriptions is not None
        self.seed = int(seed)
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
        record = self.records[index]
        rng = self.rng(index)
        if record.num_frames < 1:
            raise UserError(f"clip {record.id} has no frames in the manifest; rebuild it with `finecliper manifest`")
        idx = sample_indices(record.num_frames, self.num_frames, train=self.train, rng=rng)
        frames = read_clip(record.full_path, idx)  # (T, H, W, 3) uint8
        height, width = frames.shape[1:3]

        parsing = landmarks = valid = None
        if self.cues is not None:
            parsing, landmarks, valid, boxes = self._load_cues(record, idx, height, width)
            if boxes is not None:  # a raw video: the model sees the face crops the cues were computed on
                frames, parsing, landmarks = crop_to_boxes(frames, boxes, parsing, landmarks)
                height, width = frames.shape[1:3]
        params = sample_spatial(height, width, self.augment, self.train, rng)
        frames_s, parsing_s, landmarks_s = apply_spatial(params, self.size, frames, parsing, landmarks)

        item: dict = {"id": record.id, "label": self._labels[index]}
        if "landmarks" in self.branches:
            # Dots on the spatially transformed frame, before colour jitter (jitter is for frames only).
            item["landmarks"] = normalize(render_landmarks(frames_s, landmarks_s, valid))
        if "parsing" in self.branches:
            item["parsing"] = normalize(render_parsing(parsing_s))
        if self.train:
            frames_s = color_jitter(frames_s, self.augment, rng)
        item["frames"] = normalize(frames_s)  # (T, 3, S, S)
        description = None
        if self.has_descriptions:
            description = record.caption if self.use_captions else self.descriptions.get(record.id)
        # A mirrored clip's "left" is the original's "right": the text must follow the frames.
        item["description"] = swap_left_right(description) if params.flip else description
        return item

    def _load_cues(self, record: ClipRecord, idx: np.ndarray, height: int, width: int):
        """Parsing (T, h, w) or None, landmarks (T, 68, 2), validity (T,) and face boxes (T, 3) or None of
        frames `idx`, in the frames' pixels. The parsing maps are at the frames' size, except with boxes: then
        they stay at their stored scale and `crop_to_boxes` cuts them there."""
        # UserError naming the clip when it has none; parsing maps (most of a file) only when they are used.
        cues = self.cues.load(record.id, parsing="parsing" in self.branches)
        if cues.num_frames != record.num_frames:
            raise UserError(f"the cue store has {cues.num_frames} frames for clip {record.id} but the manifest "
                            f"has {record.num_frames}; rerun `finecliper cues` for this manifest")
        landmarks = cues.landmarks[idx].astype(np.float32)  # (T, 68, 2)
        boxes = None if cues.boxes is None else cues.boxes[idx].astype(np.float64)  # (T, 3) x0, y0, side
        cue_h, cue_w = cues.frame_size
        if (cue_h, cue_w) != (height, width):
            # Frames were read at another size than the cue pipeline saw: scale the coordinates.
            landmarks[..., 0] *= width / cue_w
            landmarks[..., 1] *= height / cue_h
            if boxes is not None:
                boxes[:, 0] *= width / cue_w
                boxes[:, 1:] *= height / cue_h
        parsing = None
        if "parsing" in self.branches:
            if cues.parsing is None:
                raise UserError(f"the cues of clip {record.id} hold no parsing maps")
            parsing = cues.parsing[idx]
            if boxes is None:
                parsing = resize_parsing(parsing, height, width)  # stored maps may be smaller
        if boxes is not None:
            boxes = boxes.round().astype(np.int64)
        return parsing, landmarks, cues.valid[idx], boxes


class _CueMapping:
    """Cues held in memory (id -> ClipCues), read like a cue store."""

    def __init__(self, cues: Mapping[str, ClipCues]):
        self.cues = cues

    def load(self, clip_id: str, parsing: bool = True) -> ClipCues:
        found = self.cues.get(clip_id)
        if found is None:
            raise UserError(f"no cues were given for clip {clip_id}")
        return found


def collate(items: list[dict]) -> dict:
    """Batch of dataset items, with exactly the keys the model takes.

    frames (B, T, 3, S, S); parsing, landmarks (B, T, 3, S, S) when the items have them; descriptions
    (list of B str or None); labels (B,) long, present when every clip has a label; ids (list of B).
    """
    if not items:
        raise UserError("cannot collate an empty batch")
    batch: dict = {"frames": _stack([it["frames"] for it in items])}
    for key in CUE_BRANCHES:
        if key in items[0]:
            batch[key] = _stack([it[key] for it in items])
    batch["descriptions"] = [it.get("description") for it in items]
    found = [it.get("label") for it in items]
    if all(label is not None for label in found):
        batch["labels"] = torch.tensor(found, dtype=torch.long)
    elif any(label is not None for label in found):
        missing = next(it["id"] for it in items if it.get("label") is None)
        raise UserError(f"clip {missing} has no label but others in its batch do; use one labelled manifest")
    batch["ids"] = [it["id"] for it in items]
    return batch


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    """torch.stack; inside a DataLoader worker, straight into shared memory (as default_collate does),
    which saves the copy the loader would otherwise make to send the batch to the main process."""
    if get_worker_info() is None:
        return torch.stack(tensors)
    first = tensors[0]
    storage = first.untyped_storage()._new_shared(len(tensors) * first.numel() * first.element_size())
    out = first.new(storage).resize_(len(tensors), *first.shape)
    return torch.stack(tensors, out=out)


def worker_init(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: one torch thread per worker (the workers are the parallelism).

    OpenCV is limited to one thread in the parent already (transforms.py), and must not be touched
    here: resizing a thread pool inherited through fork() deadlocks the worker.
    """
    torch.set_num_threads(1)
