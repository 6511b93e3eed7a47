"""The `facexformer` cue backend: the paper's cue model, from the user's FaceXFormer weights file.

FaceXFormer (Narayan et al., arXiv 2403.12960) gives a face's 68 iBUG landmarks and its 11-class parsing
map (LaPa's classes, our order, hair included) in one forward pass; the network is our own PyTorch code
(`cues/facexformer/`, docs/design.md §5), loaded strictly from the authors' checkpoint file
(`--weights ckpts/model.pt`), never downloaded.

Input, as in the authors' `inference.py`: the face box, grown by half its size (a quarter on each side)
and clipped to the image, cut out and resized to 224 x 224 with Pillow's bicubic filter (what torchvision's
`Resize` does to a PIL image), ImageNet mean and std. Their boxes come from MTCNN; ours from the
extractor's own detector (MediaPipe's), whose box is a little tighter at the forehead [OURS]. An image
without a detected face gets no landmarks (the extractor interpolates and flags the frame). Images are
cut on the CPU and run through the network in batches (`BATCH_SIZE`) on the settings' device.

Outputs: landmarks come back in the crop's normalised [-1, 1] space and are mapped to the image's
continuous pixels through the crop box; the parsing map is the argmax of the 224 x 224 logits, resized
(nearest) onto the crop box, background elsewhere. Eyes and brows are sided by the landmarks'
geometry (`parsing_sides`) like the segformer backend's, so "left" is the subject's whatever LaPa's
convention. torch, Pillow and the network are imported when the backend is built: the command line
lists the registry without loading them.
"""

from __future__ import annotations

import numpy as np

from finecliper.cues.backends import (
    LANDMARK_BACKENDS,
    PARSING_BACKENDS,
    LandmarkBackend,
    MeshTrack,
    ParsingBackend,
    TrackedImage,
)
from finecliper.cues.parsing_sides import BROW, EYE, assign_sides
from finecliper.face_layout import NUM_LANDMARKS, PARSING_CLASSES, PARSING_INDEX

MARGIN = 0.5  # the authors' adjust_bbox(margin_percentage=50)
BATCH_SIZE = {"cpu": 8, "cuda": 64}  # crops per forward pass; 64 x 224 px keeps well under 10 GB on a GPU


def _class_table() -> np.ndarray:
    """Our class id (or the unsided EYE / BROW code) for each of FaceXFormer's 11 classes (LaPa's order = ours)."""
    table = np.arange(len(PARSING_CLASSES), dtype=np.uint8)
    for side in ("left", "right"):
        table[PARSING_INDEX[f"{side}_eye"]] = EYE
        table[PARSING_INDEX[f"{side}_brow"]] = BROW
    return table


CLASS_TABLE = _class_table()


def input_box(faces: np.ndarray, image_hw: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The crop (x0, y0, x1, y1) FaceXFormer reads for the image's main face (largest area x score), or None.

    The box grows by MARGIN of its size and is clipped to the image, then cut at integer pixels by
    truncation, as the authors' `adjust_bbox` and `image.crop((int(x_min), ...))` do."""
    if not len(faces):
        return None
    area = (faces[:, 2] - faces[:, 0]) * (faces[:, 3] - faces[:, 1])
    x0, y0, x1, y1 = faces[int(np.argmax(area * faces[:, 4])), :4]
    grow_w, grow_h = (x1 - x0) * MARGIN / 2, (y1 - y0) * MARGIN / 2
    h, w = image_hw
    box = (int(max(0.0, x0 - grow_w)), int(max(0.0, y0 - grow_h)), int(min(w, x1 + grow_w)), int(min(h, y1 + grow_h)))
    return box if box[2] - box[0] >= 2 and box[3] - box[1] >= 2 else None


class FaceXFormerTracker:
    """Landmarks and parsing of a clip's images, in batches; frames are independent (no state between them).

    The face boxes come from the images' detected faces: the extractor's when it passes them (the images are
    its frames, on which it runs the same detector for the face score), else this tracker's own detector,
    built when first needed (face crops of a raw video)."""

    def __init__(self, backend: FaceXFormerLandmarks):
        self.backend = backend
        self.detector = None

    def _detect(self, images: list[np.ndarray]) -> list[np.ndarray]:
        from finecliper.cues.face_crop import detect_faces  # OpenCV: see the module docstring

        if self.detector is None:
            self.detector = self.backend.detector()
        return [detect_faces(self.detector, image) for image in images]

    def track(self, images: list[np.ndarray], faces: list[np.ndarray] | None = None) -> list[TrackedImage]:
        faces = self._detect(images) if faces is None else faces
        boxes = [input_box(found, image.shape[:2]) for found, image in zip(faces, images, strict=True)]
        found = [i for i, box in enumerate(boxes) if box is not None]
        out = [TrackedImage(None) for _ in images]
        size = self.backend.batch_size
        for start in range(0, len(found), size):
            part = found[start : start + size]
            landmarks, maps = self.backend.run([images[i] for i in part], [boxes[i] for i in part])
            for i, lm, m in zip(part, landmarks, maps, strict=True):
                out[i] = TrackedImage(lm, m)
        return out

    def close(self) -> None:
        if self.detector is not None:
            self.detector.close()
            self.detector = None

    def __enter__(self) -> FaceXFormerTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _SameLayout:
    """FaceXFormer's points are the 68 iBUG points already: the mapping keeps them."""

    def landmarks(self, meshes: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(meshes[..., :2], dtype=np.float32)


@LANDMARK_BACKENDS.register("facexformer")
class FaceXFormerLandmarks(LandmarkBackend):
    """FaceXFormer's 68 landmarks and parsing maps in one pass, from --weights (the authors' checkpoint)."""

    summary = "FaceXFormer (the paper's cue model) from --weights, the authors' checkpoint: 68 points and parsing"
    num_points = NUM_LANDMARKS
    needs_weights = True
    gives_parsing = True
    default_parsing = "facexformer"

    @classmethod
    def build(cls, settings) -> FaceXFormerLandmarks:
        return cls(settings.weights, settings.device)

    def __init__(self, weights: str, device: str = "cpu"):
        import torch  # see the module docstring

        from finecliper.cues.facexformer.checkpoint import load_facexformer

        self.device = torch.device(device)
        self.model, info = load_facexformer(weights, self.device)
        self.info = {"name": "facexformer", "input": f"face box + {MARGIN:.0%}, 224 px bicubic", **info}
        self.batch_size = BATCH_SIZE.get(self.device.type, BATCH_SIZE["cpu"])

    def versions(self) -> dict[str, str]:
        import mediapipe  # the detector behind the face boxes; loaded already by the first tracker
        import torch

        return {"torch": torch.__version__, "mediapipe": mediapipe.__version__}

    def quiet(self):
        from finecliper.cues.mediapipe_backend import quiet_native_stderr

        return quiet_native_stderr()

    def tracker(self) -> FaceXFormerTracker:
        return FaceXFormerTracker(self)

    def detector(self):
        from finecliper.cues.mediapipe_backend import FaceDetector  # a context manager itself

        return FaceDetector()

    def layout(self, meshes: np.ndarray) -> _SameLayout:
        return _SameLayout()

    def run(self, images: list[np.ndarray], boxes: list[tuple[int, int, int, int]]):
        """(K, 3) landmarks (z = 0) in image pixels and the (h, w) parsing map of each image's crop `box`."""
        import torch

        from finecliper.cues.facexformer.network import landmarks_to_pixels

        batch = torch.from_numpy(np.stack([_model_input(im, box) for im, box in zip(images, boxes, strict=True)]))
        with torch.inference_mode():
            normalised, logits = self.model(batch.to(self.device))
            classes = logits.argmax(1).to(torch.uint8).cpu().numpy()
            size = logits.shape[-1]
            points = landmarks_to_pixels(normalised.float(), size, size).cpu().numpy()
        landmarks, maps = [], []
        for image, (x0, y0, x1, y1), pts, cls in zip(images, boxes, points, classes, strict=True):
            mesh = np.zeros((NUM_LANDMARKS, 3), dtype=np.float32)
            mesh[:, 0] = x0 + pts[:, 0] * (x1 - x0) / size  # crop's 224 px -> the image's pixels
            mesh[:, 1] = y0 + pts[:, 1] * (y1 - y0) / size
            landmarks.append(mesh)
            maps.append(_paste_map(CLASS_TABLE[cls], (x0, y0, x1, y1), image.shape[:2]))
        return landmarks, maps


def _model_input(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """(3, 224, 224) float32: the crop resized as the authors' transform does, ImageNet-normalised."""
    from PIL import Image

    from finecliper.cues.facexformer.network import INPUT_SIZE, MEAN, STD

    x0, y0, x1, y1 = box
    crop = Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1])).resize((INPUT_SIZE, INPUT_SIZE), Image.BICUBIC)
    pixels = (np.asarray(crop, dtype=np.float32) / 255.0 - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return pixels.transpose(2, 0, 1).copy()


def _paste_map(classes: np.ndarray, box: tuple[int, int, int, int], image_hw: tuple[int, int]) -> np.ndarray:
    import cv2

    x0, y0, x1, y1 = box
    out = np.zeros(image_hw, dtype=np.uint8)
    out[y0:y1, x0:x1] = cv2.resize(classes, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST_EXACT)
    return out


@PARSING_BACKENDS.register("facexformer")
class FaceXFormerParsing(ParsingBackend):
    """The parsing maps FaceXFormer drew in the landmark backend's pass, eyes and brows sided by geometry."""

    summary = "FaceXFormer's parsing, drawn in --backend facexformer's own pass (hair included)"
    from_landmarks = True

    def finish(self, track: MeshTrack, layout, landmarks: np.ndarray) -> np.ndarray:
        return assign_sides(track.raw_parsing, landmarks, track.scale)
