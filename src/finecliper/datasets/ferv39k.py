"""FERV39k (Wang et al., CVPR 2022): 7 classes, one scene-mixed train/test split.

Split files `train_All.csv` and `test_All.csv`: no header, one clip per line, `Scene/Emotion/ID Emotion`
(`Crime/Angry/0063 Angry`), space-separated; the id is the clip's path under `2_ClipsforFaceCrop/`. The emotion
folder and the label column must agree. Accepted places, under `--splits`: the distribution's
`4_setups/All_scenes/`, `All_scenes/`, and `FERV39k/4_setups/All_scenes/` (the archive's own top folder kept,
as several peer projects lay it out). Peers' re-encoded copies are another format and are not read: S2D's
`Annotation/{train,test}.csv` (`path,id` with alphabetical class indices), DFER-CLIP's `FERV39K_{train,test}.txt`
(absolute path, frame count, index).
"""

from __future__ import annotations

from finecliper.datasets.layouts import SplitLayout
from finecliper.datasets.records import Problem, SplitFile, SplitRow
from finecliper.datasets.spec import OfficialSplits, Rows, clip_base, register
from finecliper.datasets.text import nonempty_lines
from finecliper.labels import BASIC7

LAYOUTS = (SplitLayout("{split}_All.csv", "the FERV39k distribution"),)

# FERV39k's spelling of each class.
SPELLINGS = {
    "Happy": "happiness", "Sad": "sadness", "Neutral": "neutral", "Angry": "anger",
    "Surprise": "surprise", "Disgust": "disgust", "Fear": "fear",
}


class Ferv39k(OfficialSplits):
    name = "ferv39k"
    classes = BASIC7
    frames = "2_ClipsforFaceCrop"
    subfolders = ("4_setups/All_scenes", "All_scenes", "FERV39k/4_setups/All_scenes")

    def spellings(self) -> dict[str, str]:
        return dict(SPELLINGS)

    def split_layouts(self, captions: bool) -> tuple[SplitLayout, ...]:
        return LAYOUTS

    def read_split_file(self, file: SplitFile, frames: str, captions: bool) -> Rows:
        rows, problems = [], []
        for lineno, line in nonempty_lines(file.path):
            where = f"{file.path}:{lineno}"
            fields = line.split()
            parts = fields[0].strip("/").split("/") if fields else []
            if len(fields) != 2 or len(parts) != 3 or not all(parts):
                problems.append(Problem("bad row", where, f"{where}: expected 'Scene/Emotion/ID Emotion'"))
                continue
            clip_id, label = "/".join(parts), fields[1]
            folder_emotion = parts[1]
            if folder_emotion != label:
                # The emotion folder and the label column must agree; a disagreement is an unknown label
                # because neither can be trusted.
                problems.append(Problem("unknown label", clip_id,
                                        f"{where}: label {label!r} disagrees with the clip's folder {folder_emotion!r}"))
                continue
            rows.append(SplitRow(clip_id, clip_base(frames, clip_id), label, file.split, file.fold, where=where))
        return rows, problems


register(Ferv39k())
