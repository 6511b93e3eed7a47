"""The description one clip's prediction reads: the user's own text, or the landmark describer's movement
sentences, refined and given a status exactly as `finecliper describe` records them
(describe.pipeline.make_record), so the model reads what it was trained on.
"""

from __future__ import annotations

from finecliper.data.cue_store import ClipCues
from finecliper.describe.backends import Output
from finecliper.describe.landmark_describer import describe_cues
from finecliper.describe.pipeline import make_record
from finecliper.describe.refine import Refiner

CLIP_ID = "clip"  # the id of the one clip of a prediction, in its dataset and description record


def describe_clip(given: str | None, mode: str, cues: ClipCues | None, notes: list[str]) -> tuple[str | None, str | None]:
    """(refined text or None, its source: "given", "landmarks" or None) of a clip; what happened goes to `notes`.

    `given` wins over `mode` ("none" or "landmarks", which needs the clip's cues).
    """
    if given is not None:
        output, source = Output(given), "given"
    elif mode == "landmarks" and cues is not None:
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
