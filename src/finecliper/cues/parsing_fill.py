"""Parsing maps filled from the face mesh's own regions (the `mesh` parsing backend).

Each class is a polygon of mesh vertices resolved by `mesh_to_ibug.MeshLayout` from MediaPipe's
contour sets: skin inside the face oval, the nose as the convex hull of the nose contour, brows between
their upper and lower edge, eyes inside the eye contours, the lips between the outer and inner lip
rings, the inner mouth inside the inner ring. Classes are painted in that order, so later (smaller,
more specific) regions win where polygons touch. The mesh cannot see hair: this backend never
outputs class `hair`, and the forehead under a fringe is labelled skin [OURS]. `MeshParsing` is the
registered parsing backend; it needs a landmark backend whose layout is a `mesh_to_ibug.MeshLayout`.
"""

from __future__ import annotations

import numpy as np

from finecliper.cues.backends import PARSING_BACKENDS, MeshTrack, ParsingBackend
from finecliper.cues.mesh_to_ibug import MeshLayout
from finecliper.face_layout import PARSING_INDEX

# Painting order: later classes overwrite earlier ones.
PAINT_ORDER = (
    "skin", "nose", "right_brow", "left_brow", "right_eye", "left_eye",
    "upper_lip", "lower_lip", "inner_mouth",
)
_SHIFT = 4  # fixed-point bits for cv2.fillPoly: polygons are placed with 1/16 pixel precision


def fill_parsing(layout: MeshLayout, mesh: np.ndarray, size: tuple[int, int], scale: float = 1.0) -> np.ndarray:
    """(h, w) uint8 class map of one (478, 2+) mesh in continuous pixel coordinates (pixel i spans [i, i + 1)).

    `scale` is the map's size over the frame's: the map may be stored smaller than the frame.
    """
    import cv2  # this module is imported when the command line starts (cue backend registry): cv2 only here

    h, w = size
    out = np.zeros((h, w), dtype=np.uint8)
    # OpenCV centres pixel i on i, where our continuous coordinates put i + 0.5.
    xy = np.asarray(mesh, dtype=np.float64)[:, :2] * scale - 0.5
    pts = np.round(xy * (1 << _SHIFT)).astype(np.int32)
    for name in PAINT_ORDER:
        if name == "nose":
            poly = cv2.convexHull(pts[layout.nose_hull])
        else:
            poly = pts[layout.polygons[name]].reshape(-1, 1, 2)
        cv2.fillPoly(out, [poly], int(PARSING_INDEX[name]), lineType=cv2.LINE_8, shift=_SHIFT)
    return out


@PARSING_BACKENDS.register("mesh")
class MeshParsing(ParsingBackend):
    summary = "regions filled from the face mesh (no hair)"

    def finish(self, track: MeshTrack, layout: MeshLayout, landmarks: np.ndarray) -> np.ndarray:
        return np.stack([fill_parsing(layout, m, track.map_size, track.scale) for m in track.meshes])
