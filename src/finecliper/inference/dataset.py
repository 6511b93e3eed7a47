"""The dataset a model reads: a split's clips with exactly the cues and texts its config asks for.

Training, evaluation and prediction all build their datasets here, so a clip reaches the model the same
way whichever of them reads it.
"""

from __future__ import annotations

from finecliper.config.experiment import ExperimentConfig
from finecliper.data.dataset import CAPTIONS, ClipDataset
from finecliper.data.frame_counts import check_frame_counts
from finecliper.data.manifest import ClipRecord
from finecliper.errors import UserError
from finecliper.paths import existing_file


def make_dataset(records: list[ClipRecord], cfg: ExperimentConfig, class_names: list[str], train: bool, model,
                 cues=None, descriptions: dict[str, str | None] | None = None) -> ClipDataset:
    """The dataset of a split, with exactly the cues and texts `model` needs (checked up front), at
    data.image_size or else the model's own image size.

    `cues` (a cue store or an id -> ClipCues mapping) and `descriptions` (id -> text) replace data.cues
    and data.descriptions, e.g. for one clip of `finecliper predict`; given cues crop raw videos to their
    face boxes even for a model without cue branches.
    """
    m = cfg.model
    if cues is None:
        if m.cues and cfg.data.cues is None:
            raise UserError(f"preset {cfg.preset} uses {' and '.join(m.cues)} cues but data.cues names no cue "
                            "store; run `finecliper cues` and set data.cues=DIR")
        cues = cfg.data.cues if m.cues else None
    if descriptions is None:
        if m.descriptions and cfg.data.descriptions is None:
            raise UserError(f"preset {cfg.preset} uses fine-grained descriptions but data.descriptions is not set; "
                            "run `finecliper describe` and set data.descriptions=FILE (or 'captions')")
        if cfg.data.descriptions not in (None, CAPTIONS):
            existing_file(cfg.data.descriptions, "descriptions file")
        descriptions = cfg.data.descriptions
    check_frame_counts(records)  # a manifest that promises frames the clips lack fails here, not mid-epoch
    return ClipDataset(
        records, class_names, train=train, num_frames=m.num_frames, size=cfg.data.image_size or model.image_size,
        cues=cues, branches=m.cues, descriptions=descriptions if m.descriptions else None,
        augment=cfg.data.augment, seed=cfg.train.seed, skip_unreadable=train and cfg.data.skip_unreadable,
        palette=cfg.data.palette,
    )
