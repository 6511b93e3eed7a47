"""A frame's face score: how sure an independent face detector is that the tracked landmarks sit on a face.

[OURS] (docs/design.md §5) The face mesh fits a face shape to anything face-like (a cat's head, headlights),
and its own output always looks like a face: on our test photos a profile face is further from a frontal
template, after alignment, than the mesh on a cat. So the check is the agreement of two models: the
detector, run on the whole frame (a tight face crop of a few dozen pixels is too little context for it),
must find a face whose box overlaps the mesh's box by at least MIN_IOU (0.61-0.92 on real faces,
frontal to near-profile), and the frame's score is that face's confidence; 0 without such a face or without
a mesh. `data.face_verdict` turns the scores of a clip into its verdict.
"""

from __future__ import annotations

import numpy as np

from finecliper.cues.face_crop import box_iou

MIN_IOU = 0.3


def face_score(faces: np.ndarray, mesh: np.ndarray) -> float:
    """Confidence of the detected `faces` (k, 5: x0, y0, x1, y1, score) for a face at the frame's mesh (K, 2+),
    both in frame pixels; 0 when no detected face overlaps the mesh or the frame has no mesh (NaN)."""
    if np.isnan(mesh[0, 0]):
        return 0.0
    box = np.array([mesh[:, 0].min(), mesh[:, 1].min(), mesh[:, 0].max(), mesh[:, 1].max()])
    scores = [float(face[4]) for face in faces if box_iou(box, face) >= MIN_IOU]
    return max(scores, default=0.0)
