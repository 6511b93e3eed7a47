"""[OURS] The `landmarks` describer: movement sentences from the landmark tracks of a cue store.

No GPU and no language model: `landmark_describer` measures the tracks and words what moved. Clips are
read from the cue store of the manifest (`--cues DIR`), landmarks and validity only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finecliper.data.cue_store import ClipCues, CueStore
from finecliper.data.manifest import ClipRecord
from finecliper.describe.backends import DESCRIBERS, Backend, Output
from finecliper.describe.landmark_describer import FEATURES, VERSION, describe_cues
from finecliper.describe.options import BATCH_SIZE, CUES
from finecliper.errors import UserError
from finecliper.paths import existing_folder


@DESCRIBERS.register("landmarks")
class LandmarkBackend(Backend):
    name = "landmarks"
    options = (CUES, BATCH_SIZE)

    def __init__(self, cue_dir: str | Path, batch_size: int = 16):
        cue_dir = existing_folder(cue_dir, "cue store", "run `finecliper cues` first or pass the right --cues")
        self.store = CueStore(cue_dir)
        self.model = VERSION
        self.generation = {name: list(f.thresholds) for name, f in FEATURES.items()}
        self.batch_size = batch_size

    @classmethod
    def from_options(cls, options: dict[str, Any], clips: list[ClipRecord]) -> LandmarkBackend:
        return cls(options["cues"], batch_size=options["batch_size"] or 16)

    def check(self, clips: list[ClipRecord]) -> None:
        missing = [c.id for c in clips if not self.store.has(c.id)]
        if missing:
            raise UserError(
                f"the cue store {self.store.root} has no cues for {len(missing)} of {len(clips)} clips "
                f"(first: {missing[0]}); run `finecliper cues` on this manifest first"
            )

    def prepare(self, clip: ClipRecord) -> ClipCues:
        return self.store.load(clip.id, parsing=False)  # the describer reads landmarks and validity only

    def run(self, inputs: list[ClipCues]) -> list[Output]:
        outputs = []
        for cues in inputs:
            result = describe_cues(cues)
            if result.text is None:
                outputs.append(Output(None, status="no-face", note=result.note))
            else:
                outputs.append(Output(result.text))
        return outputs
