"""Face detection and cropping for clips that are not already face crops (raw videos).

The datasets ship 224 px face crops, where the face fills the frame; a user's video shows a person in a
scene. `looks_like_face_crop` tells the two apart from a few frames (`--crop auto`); for raw clips the
main face is followed through the clip (`main_face_boxes`), its box smoothed over time
(`smooth_boxes`, so the crop does not jitter with the detector) and turned into a square crop with
margin (`crop_box`; `finecliper.data.transforms.crop_square` cuts it, and the dataset cuts training
frames the same way from the boxes the cue store keeps). Crops are cut at integer pixel offsets and
never resized, so a point in a crop maps to the frame by adding the crop's top-left corner; parts of a
crop outside the frame are black, like the datasets' padding.

MediaPipe's full-range detector sees a frame shrunk to 192 px and misses faces under ~12 px there, i.e.
under ~7 % of a wide frame's width; `detect_faces` therefore also looks at square tiles as high as the
frame along its longer side (two to three for 16:9), which finds faces down to ~7 % of the frame's
*height* (~50 px in 720p). Smaller faces are not found [OURS: a cost/benefit limit].

Defaults [OURS]: a clip counts as face crops when the detected face is at least 40 % of the frame's
width; the crop is a square 1.6 times the detector's face box (whose top sits at the brows), centred
0.1 box heights lower than the box's centre so the chin keeps its margin; the moving average spans 7
frames; a face lost for more than 12 frames starts a new track.
"""

from __future__ import annotations

import cv2
import numpy as np

from finecliper.cues.tracks import interpolate_missing

FACE_CROP_MIN_WIDTH = 0.4
CROP_MARGIN = 1.6
CROP_SHIFT_DOWN = 0.1
SMOOTH_WINDOW = 7
MAX_GAP = 12
DETECT_SIDE = 384


def _nms(boxes: np.ndarray, iou: float = 0.3) -> np.ndarray:
    keep: list[np.ndarray] = []
    for box in boxes[np.argsort(-boxes[:, 4])]:
        if all(box_iou(box, k) <= iou for k in keep):
            keep.append(box)
    return np.array(keep, dtype=np.float64).reshape(-1, 5)


def _detect_small(detector, image: np.ndarray) -> np.ndarray:
    """Detect on `image` shrunk to DETECT_SIDE px at most (the model sees 192 px anyway; MediaPipe's
    graph is several times slower on a full-size frame), boxes back in `image` pixels."""

    h, w = image.shape[:2]
    scale = min(1.0, DETECT_SIDE / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)  # INTER_AREA is 6x slower here
    boxes = detector(np.ascontiguousarray(image)).copy()
    boxes[:, :4] /= scale
    return boxes


def detect_faces(detector, frame: np.ndarray) -> np.ndarray:
    """Faces (k, 5) = x0, y0, x1, y1, score in frame pixels, from the whole frame and from square tiles.

    `detector(image)` returns the same (k, 5) for one image (`mediapipe_backend.FaceDetector`).
    """
    h, w = frame.shape[:2]
    found = [_detect_small(detector, frame)]
    side = min(h, w)
    long = max(h, w)
    if long > 1.2 * side:  # a wide (or tall) frame: tiles at half-tile overlap along the long side
        starts = list(range(0, long - side, side // 2)) + [long - side]
        for s in starts:
            tile = frame[:, s : s + side] if w >= h else frame[s : s + side]
            boxes = _detect_small(detector, tile)
            boxes[:, [0, 2] if w >= h else [1, 3]] += s
            found.append(boxes)
    return _nms(np.concatenate(found))


def looks_like_face_crop(detections: list[np.ndarray], frame_size: tuple[int, int],
                         min_width: float = FACE_CROP_MIN_WIDTH) -> bool | None:
    """True when the frames' largest faces fill the frame, False when they are small, None when no
    sampled frame shows a face (undecided: the caller treats the frames as crops and lets the mesh,
    which detects faces on its own, find out)."""
    h, w = frame_size
    widths = [float((d[:, 2] - d[:, 0]).max()) / w for d in detections if len(d)]
    if not widths:
        return None
    return float(np.median(widths)) >= min_width


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1, ...)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main_face_boxes(detections: list[np.ndarray], min_iou: float = 0.2, max_gap: int = MAX_GAP) -> np.ndarray:
    """(N, 4) box of the clip's main face per frame (NaN where it was not found).

    Detections of consecutive frames are linked into tracks by overlap; the main face is the track
    with the largest total of area x score, i.e. the face that is large, sure and present longest.
    """
    tracks: list[dict] = []  # {"last": frame index, "box": last box, "boxes": {frame: box}, "weight": float}
    for t, dets in enumerate(detections):
        order = np.argsort(-(dets[:, 2] - dets[:, 0]) * (dets[:, 3] - dets[:, 1])) if len(dets) else []
        taken: set[int] = set()
        for k in order:
            box = dets[k, :4]
            best, best_iou = None, min_iou
            for j, tr in enumerate(tracks):
                if j in taken or t - tr["last"] > max_gap:
                    continue
                overlap = box_iou(box, tr["box"])
                if overlap > best_iou:
                    best, best_iou = j, overlap
            if best is None:
                tracks.append({"last": t, "box": box, "boxes": {}, "weight": 0.0})
                best = len(tracks) - 1
            tr = tracks[best]
            taken.add(best)
            tr["last"], tr["box"] = t, box
            tr["boxes"][t] = box
            tr["weight"] += float((box[2] - box[0]) * (box[3] - box[1]) * dets[k, 4])
    out = np.full((len(detections), 4), np.nan)
    if tracks:
        main = max(tracks, key=lambda tr: tr["weight"])
        for t, box in main["boxes"].items():
            out[t] = box
    return out


def smooth_boxes(boxes: np.ndarray, window: int = SMOOTH_WINDOW) -> np.ndarray:
    """Fill missing (NaN) boxes from their neighbours and smooth centre and size over time.

    Returns (N, 4) boxes as centre x, centre y, width, height; raises ValueError when all are missing.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    found = ~np.isnan(boxes).any(axis=1)
    if not found.any():
        raise ValueError("no face box in any frame")
    cxcywh = np.stack([
        (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2,
        boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1],
    ], axis=1)
    filled = interpolate_missing(cxcywh, found)
    half = max(0, min(window, len(boxes)) // 2)
    if half == 0:
        return filled
    padded = np.pad(filled, ((half, half), (0, 0)), mode="edge")
    kernel = np.ones(2 * half + 1) / (2 * half + 1)
    return np.stack([np.convolve(padded[:, c], kernel, mode="valid") for c in range(4)], axis=1)


def crop_box(cxcywh: np.ndarray, margin: float = CROP_MARGIN, shift_down: float = CROP_SHIFT_DOWN) -> np.ndarray:
    """Square integer crop (x0, y0, side) around one smoothed face box."""
    cx, cy, w, h = (float(v) for v in cxcywh)
    side = max(2, int(round(margin * max(w, h))))
    x0 = int(round(cx - side / 2))
    y0 = int(round(cy + shift_down * h - side / 2))
    return np.array([x0, y0, side], dtype=np.int64)
