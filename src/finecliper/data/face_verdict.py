"""Is there a real face in a clip? The per-clip verdict read from the cue store's per-frame face scores.

[OURS] (docs/design.md §5) A face tracker fits a face-shaped mesh to whatever looks most like one: MediaPipe's
mesh fires on a cat's head or a motorcycle's headlights in some frames and then follows them. So `finecliper
cues` stores, next to each frame's landmarks, a face score: the confidence of an independent face detector
for a face where the landmarks are (0 where it finds none there, or where the mesh found nothing). A clip
is a face clip when at least `min_share` of its frames have a score of at least `min_score`.

Defaults, calibrated on photos that ship with scikit-image and matplotlib, panned through 24-frame clips
(frame folders and mp4): the real faces (astronaut, Grace Hopper, the cameraman in near profile) score
0.84-0.88 (median) in every frame; the cat (`data.chelsea()`), coffee, rocket, horse, motorcycle and Hubble
photos in no more than one frame, although the mesh fired on the cat in 7 / 17 of 24 frames. 0.5 is
MediaPipe's own detection threshold; no frame of the 100 non-face patches of scikit-image's LFW subset
reaches it. A quarter of the frames leaves room for real clips whose face turns away or is occluded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SCORE = 0.5  # a frame's face counts as confirmed from this detector score on
MIN_SHARE = 0.25  # a clip is a face clip when at least this share of its frames is confirmed


@dataclass(frozen=True)
class FaceVerdict:
    """What the face scores of one clip say."""

    frames: int
    confirmed: int  # frames with a face score >= min_score
    median_score: float  # median face score of the frames where the tracker found a face (0 if none)
    measured: bool  # False: the store holds no face scores (written before they existed, or an oracle store)
    min_share: float

    @property
    def share(self) -> float:
        return self.confirmed / self.frames if self.frames else 0.0

    @property
    def is_face(self) -> bool:
        return not self.measured or self.share >= self.min_share

    def text(self) -> str:
        return (f"a face was confirmed in {self.confirmed} of {self.frames} frames (median face score "
                f"{self.median_score:.2f}; at least {self.min_share:.0%} of the frames are needed)")


def face_verdict(cues, min_score: float = MIN_SCORE, min_share: float = MIN_SHARE) -> FaceVerdict:
    """The verdict on a `ClipCues` (its `face_score` and `valid` arrays)."""
    n = len(cues.valid)
    scores = cues.face_score
    if scores is None:
        found = int(np.sum(cues.valid))
        return FaceVerdict(n, found, float("nan"), measured=False, min_share=min_share)
    scores = np.asarray(scores, dtype=np.float64)
    tracked = scores[np.asarray(cues.valid, dtype=bool)]
    median = float(np.median(tracked)) if len(tracked) else 0.0
    return FaceVerdict(n, int(np.sum(scores >= min_score)), median, measured=True, min_share=min_share)

