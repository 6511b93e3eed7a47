"""The default landmark backend: MediaPipe face mesh (0.10.21, its models ship in the wheel; offline).

`FaceMeshTracker` gives the 478-point mesh (468 face points + 10 iris points) of the main face of each
frame of ONE clip, in continuous pixel coordinates of the frame (pixel i spans [i, i + 1), the
convention of `finecliper.data.transforms` and `render`; z in the same scale as x, smaller is nearer
the camera). It runs MediaPipe in video mode, which tracks the face from frame to
frame instead of detecting it anew: faster, and steadier landmarks. The tracking state is why a
tracker must never outlive its clip: a fresh one per clip keeps every clip's cues independent of what
was processed before, so a resumed run writes the same cues as an uninterrupted one.
`FaceDetector` is MediaPipe's face detector, used to find and crop faces in frames that are not crops.
`MediaPipeLandmarks` is the registered landmark backend (`cues.backends`) built on both, with the
mesh -> 68-point mapping of `mesh_to_ibug`. mediapipe itself is imported only when a graph is built.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

import numpy as np

from finecliper.cues.backends import LANDMARK_BACKENDS, LandmarkBackend, TrackedImage
from finecliper.cues.mesh_to_ibug import NUM_MESH_POINTS, MeshLayout

# MediaPipe's defaults: confidence to report a face, and to keep tracking it rather than detect anew.
MESH_MIN_DETECTION_CONFIDENCE = 0.5
MESH_MIN_TRACKING_CONFIDENCE = 0.5
DETECTOR_MIN_CONFIDENCE = 0.5
# Full range (model 1) finds faces down to a few percent of the frame, as in raw videos.
DETECTOR_MODEL = 1


@contextmanager
def quiet_native_stderr():
    """Silence what native code writes to file descriptor 2 (MediaPipe's graph-start log lines).

    MediaPipe logs a handful of INFO/WARNING lines from C++ whenever a graph starts, some from its own
    threads a little later, which would break the progress bar; callers therefore hold this around the
    whole use of a tracker or detector. Python-level errors still propagate as exceptions.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded interpreters): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def versions() -> dict[str, str]:
    import mediapipe  # heavy (its graphs, protobuf): imported when the cues are actually computed

    return {"mediapipe": mediapipe.__version__}


def _rgb(frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
    return np.ascontiguousarray(frame)


class FaceMeshTracker:
    """MediaPipe face mesh over the frames of one clip, in order. Use as a context manager."""

    def __init__(self, static: bool = False):
        from mediapipe.python.solutions import face_mesh  # heavy: only when a tracker is built

        self._mesh = face_mesh.FaceMesh(
            static_image_mode=static,
            max_num_faces=1,
            refine_landmarks=True,  # 478 points: the irises give the eyes' centres
            min_detection_confidence=MESH_MIN_DETECTION_CONFIDENCE,
            min_tracking_confidence=MESH_MIN_TRACKING_CONFIDENCE,
        )

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        """(478, 3) float32 mesh of the main face in `frame` (H, W, 3 uint8 RGB), or None without a face."""
        frame = _rgb(frame)
        h, w = frame.shape[:2]
        result = self._mesh.process(frame)
        if not result.multi_face_landmarks:
            return None
        lm = result.multi_face_landmarks[0].landmark
        norm = np.array([(p.x, p.y, p.z) for p in lm], dtype=np.float64)
        # Normalised coordinates measure from the image's edge, like our continuous pixel coordinates.
        return (norm * np.array([w, h, w])).astype(np.float32)

    def track(self, images: list[np.ndarray], faces: list[np.ndarray] | None = None) -> list[TrackedImage]:
        """The next images of the clip, one by one (the graph tracks frame to frame): the backends' interface.
        The mesh finds its face on its own: `faces` is not used."""
        return [TrackedImage(self(image)) for image in images]

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def __enter__(self) -> FaceMeshTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FaceDetector:
    """MediaPipe's face detector: every face of a frame as (x0, y0, x1, y1, score) in pixels."""

    def __init__(self):
        from mediapipe.python.solutions import face_detection  # heavy: only when a detector is built

        self._det = face_detection.FaceDetection(
            model_selection=DETECTOR_MODEL, min_detection_confidence=DETECTOR_MIN_CONFIDENCE
        )

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        frame = _rgb(frame)
        h, w = frame.shape[:2]
        result = self._det.process(frame)
        boxes = []
        for d in result.detections or []:
            b = d.location_data.relative_bounding_box
            boxes.append((b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h, d.score[0]))
        return np.array(boxes, dtype=np.float64).reshape(-1, 5)

    def close(self) -> None:
        if self._det is not None:
            self._det.close()
            self._det = None

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@LANDMARK_BACKENDS.register("mediapipe")
class MediaPipeLandmarks(LandmarkBackend):
    """MediaPipe face mesh (478 points) in video mode, mapped onto 68 points by `mesh_to_ibug`."""

    summary = "MediaPipe face mesh, 478 points mapped onto the 68-point layout"
    num_points = NUM_MESH_POINTS

    def versions(self) -> dict[str, str]:
        return versions()

    def quiet(self):
        return quiet_native_stderr()

    def tracker(self) -> FaceMeshTracker:
        return FaceMeshTracker()

    def detector(self) -> FaceDetector:
        return FaceDetector()

    def layout(self, meshes: np.ndarray) -> MeshLayout:
        return MeshLayout.from_meshes(meshes)
