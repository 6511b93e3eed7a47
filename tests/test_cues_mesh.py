"""The 478 -> 68 correspondence and the parsing fill, on real face photos and against the mesh's own
contour sets shipped with MediaPipe (never against a copied index table)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from finecliper.cues.mediapipe_backend import FaceMeshTracker, quiet_native_stderr
from finecliper.cues.mesh_to_ibug import MeshLayout
from finecliper.cues.parsing_fill import fill_parsing
from finecliper.face_layout import (
    JAW,
    LANDMARK_FLIP,
    LEFT_BROW,
    LEFT_EYE,
    NOSE_BOTTOM,
    NOSE_BRIDGE,
    OUTER_LIPS,
    PARSING_INDEX,
    RIGHT_BROW,
    RIGHT_EYE,
)
from media import astronaut, grace_hopper

PHOTOS = {"astronaut": astronaut, "grace_hopper": grace_hopper}


def _sets():
    from mediapipe.python.solutions import face_mesh_connections as c

    return c


def _vertices(edges) -> list[int]:
    return sorted({v for e in edges for v in e})


def _dist_to_edges(points: np.ndarray, mesh: np.ndarray, edges) -> np.ndarray:
    """Distance of each point to the nearest segment of a contour edge set."""
    a = np.array([mesh[i, :2] for i, _ in edges], dtype=np.float64)
    b = np.array([mesh[j, :2] for _, j in edges], dtype=np.float64)
    ab = b - a
    p = points[:, None, :].astype(np.float64)
    t = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1).min(axis=1)


def _components(edges) -> list[set[int]]:
    parent = {}

    def find(v):
        while parent.setdefault(v, v) != v:
            v = parent[v]
        return v

    for a, b in edges:
        parent[find(a)] = find(b)
    groups: dict[int, set[int]] = {}
    for v in {v for e in edges for v in e}:
        groups.setdefault(find(v), set()).add(v)
    return list(groups.values())


@pytest.fixture(scope="module", params=list(PHOTOS))
def face(request):
    image = PHOTOS[request.param]()
    with quiet_native_stderr(), FaceMeshTracker(static=True) as tracker:
        mesh = tracker(image)
    assert mesh is not None and mesh.shape == (478, 3)
    layout = MeshLayout.from_meshes(mesh[None])
    return {"name": request.param, "image": image, "mesh": mesh, "layout": layout,
            "landmarks": layout.landmarks(mesh)}


def test_mediapipe_names_sides_from_the_subjects_view(face):
    # In an upright frontal photo the subject's left eye is on the image's right: MediaPipe's
    # FACEMESH_LEFT_EYE must be there for face_layout's convention to hold without a swap.
    c, mesh = _sets(), face["mesh"]
    assert mesh[_vertices(c.FACEMESH_LEFT_EYE), 0].mean() > mesh[_vertices(c.FACEMESH_RIGHT_EYE), 0].mean()
    assert mesh[_vertices(c.FACEMESH_LEFT_EYEBROW), 0].mean() > mesh[_vertices(c.FACEMESH_RIGHT_EYEBROW), 0].mean()
    lm = face["landmarks"]
    assert lm[RIGHT_EYE, 0].mean() < lm[LEFT_EYE, 0].mean()


def test_eye_points_lie_in_the_eyes_opencv_finds(face):
    gray = cv2.equalizeHist(cv2.cvtColor(face["image"], cv2.COLOR_RGB2GRAY))
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_eye.xml")
    boxes = cascade.detectMultiScale(gray, scaleFactor=1.05, minNeighbors=5, minSize=(15, 15))
    lm = face["landmarks"]
    used = []
    for group in (RIGHT_EYE, LEFT_EYE):
        pts = lm[group]
        cx, cy = pts.mean(0)
        # The cascade boxes the iris region; an eye's corners reach a little beyond it.
        hits = [b for b in boxes if b[0] <= cx <= b[0] + b[2] and b[1] <= cy <= b[1] + b[3]]
        assert hits, f"{face['name']}: centre of eye points {group[0]}.. is in no eye the cascade finds"
        x, y, w, h = min(hits, key=lambda b: b[2])
        grown = 0.4 * w
        assert np.all((pts[:, 0] >= x - grown) & (pts[:, 0] <= x + w + grown)
                      & (pts[:, 1] >= y - grown) & (pts[:, 1] <= y + h + grown)), face["name"]
        used.append(x)
    assert used[0] < used[1]  # subject's right eye (36-41) in the image-left box


def test_landmarks_lie_on_the_mesh_contours(face):
    c, mesh, lm = _sets(), face["mesh"], face["landmarks"]
    iod = np.linalg.norm(lm[RIGHT_EYE].mean(0) - lm[LEFT_EYE].mean(0))
    tol = 1e-3 * iod
    assert _dist_to_edges(lm[JAW], mesh, c.FACEMESH_FACE_OVAL).max() < tol
    assert _dist_to_edges(lm[RIGHT_EYE], mesh, c.FACEMESH_RIGHT_EYE).max() < tol
    assert _dist_to_edges(lm[LEFT_EYE], mesh, c.FACEMESH_LEFT_EYE).max() < tol
    assert _dist_to_edges(lm[NOSE_BRIDGE + NOSE_BOTTOM], mesh, c.FACEMESH_NOSE).max() < tol
    outer, inner = sorted(_components(c.FACEMESH_LIPS), key=lambda s: np.ptp(mesh[sorted(s), 0]), reverse=True)
    outer_edges = [e for e in c.FACEMESH_LIPS if e[0] in outer]
    inner_edges = [e for e in c.FACEMESH_LIPS if e[0] in inner]
    assert _dist_to_edges(lm[48:60], mesh, outer_edges).max() < tol
    assert _dist_to_edges(lm[60:68], mesh, inner_edges).max() < tol
    # Brow points run between the brow contour's two edges: inside its hull, off both edges.
    for group, edges in ((RIGHT_BROW, c.FACEMESH_RIGHT_EYEBROW), (LEFT_BROW, c.FACEMESH_LEFT_EYEBROW)):
        hull = cv2.convexHull(mesh[_vertices(edges), :2].astype(np.float32))
        assert all(cv2.pointPolygonTest(hull, (float(x), float(y)), True) >= -tol for x, y in lm[group])


def test_weights_only_use_the_matching_contours(face):
    c, w = _sets(), face["layout"].weights
    assert w.shape == (68, 478) and np.all(w >= 0)
    np.testing.assert_allclose(w.sum(1), 1, atol=1e-6)
    allowed = {
        tuple(JAW): c.FACEMESH_FACE_OVAL, tuple(RIGHT_BROW): c.FACEMESH_RIGHT_EYEBROW,
        tuple(LEFT_BROW): c.FACEMESH_LEFT_EYEBROW, tuple(NOSE_BRIDGE + NOSE_BOTTOM): c.FACEMESH_NOSE,
        tuple(RIGHT_EYE): c.FACEMESH_RIGHT_EYE, tuple(LEFT_EYE): c.FACEMESH_LEFT_EYE,
        tuple(range(48, 68)): c.FACEMESH_LIPS,
    }
    for group, edges in allowed.items():
        used = set(np.nonzero(w[list(group)].any(0))[0])
        assert used <= set(_vertices(edges)), group
    # The nose tip (30) is the nose contour's most protruding vertex (MediaPipe's z: smaller is nearer).
    nose = _vertices(c.FACEMESH_NOSE)
    assert w[30].argmax() == nose[int(np.argmin(face["mesh"][nose, 2]))]


def test_landmarks_have_the_ibug_geometry(face):
    lm = face["landmarks"]
    x, y = lm[:, 0], lm[:, 1]
    # Mouth below the nose, nose below the eyes, brows above the eyes.
    assert y[48:68].min() > y[NOSE_BOTTOM].max()
    assert y[NOSE_BOTTOM].min() > y[RIGHT_EYE + LEFT_EYE].max()
    assert y[RIGHT_BROW + LEFT_BROW].max() < y[RIGHT_EYE + LEFT_EYE].min()
    assert np.all(np.diff(y[NOSE_BRIDGE]) > 0) and x[31] < x[33] < x[35]
    # Jaw: the lower contour, left to right in the image, lowest at the chin, around the mouth (its
    # ends, beside the ears, run nearly vertically and may step back a pixel in x).
    assert np.all(np.diff(x[2:15]) > 0) and x[0] < x[2] and x[16] > x[14]
    assert np.all(np.diff(y[0:9]) > 0) and np.all(np.diff(y[8:17]) < 0)
    assert y[8] > y[48:68].max() and x[0] < x[48:68].min() and x[16] > x[48:68].max()
    assert np.all(y[1:16] > y[RIGHT_EYE + LEFT_EYE].max())
    # Eyes: corner, upper lid, corner, lower lid, clockwise in the image.
    for g in (RIGHT_EYE, LEFT_EYE):
        assert x[g[0]] < x[g[1]] < x[g[2]] < x[g[3]] and x[g[3]] > x[g[4]] > x[g[5]] > x[g[0]]
        assert y[g[1]] < y[g[5]] and y[g[2]] < y[g[4]]
    assert x[39] < x[42]  # inner corners face each other
    # Mouth: corners outermost, upper lip above the lower.
    assert x[48] == x[OUTER_LIPS].min() and x[54] == x[OUTER_LIPS].max()
    assert y[51] < y[62] <= y[66] + 0.5 and y[66] < y[57]  # closed lips: 62 and 66 meet


def test_mirrored_photo_gives_mirrored_landmarks(face):
    # The left/right bookkeeping end to end: the landmarks of the mirrored photo are the mirrored
    # landmarks with left and right points swapped (face_layout.LANDMARK_FLIP).
    image = np.ascontiguousarray(face["image"][:, ::-1])
    with quiet_native_stderr(), FaceMeshTracker(static=True) as tracker:
        mesh = tracker(image)
    flipped = MeshLayout.from_meshes(mesh[None]).landmarks(mesh)
    expected = face["landmarks"].copy()
    expected[:, 0] = image.shape[1] - expected[:, 0]
    expected = expected[LANDMARK_FLIP]
    iod = np.linalg.norm(expected[RIGHT_EYE].mean(0) - expected[LEFT_EYE].mean(0))
    err = np.linalg.norm(flipped - expected, axis=1)
    assert np.median(err) < 0.05 * iod and err.max() < 0.15 * iod


def _classes_near(parsing: np.ndarray, point, radius: int = 1) -> set[int]:
    x, y = int(np.floor(point[0])), int(np.floor(point[1]))
    return set(np.unique(parsing[y - radius : y + radius + 1, x - radius : x + radius + 1]).tolist())


def test_parsing_regions_hold_their_landmarks(face):
    lm = face["landmarks"]
    parsing = fill_parsing(face["layout"], face["mesh"], face["image"].shape[:2])
    idx = PARSING_INDEX
    for group, name in ((RIGHT_EYE, "right_eye"), (LEFT_EYE, "left_eye"), (NOSE_BRIDGE + NOSE_BOTTOM, "nose")):
        for i in group:  # contour points sit on their region's border: within a pixel of it
            assert idx[name] in _classes_near(parsing, lm[i]), (face["name"], i, name)
    for group, name in ((RIGHT_BROW, "right_brow"), (LEFT_BROW, "left_brow")):
        for i in group[1:4]:  # brow points run along the brow's middle: inside it
            assert parsing[int(lm[i, 1]), int(lm[i, 0])] == idx[name], (face["name"], i, name)
        for i in (group[0], group[4]):  # its ends: on the edge closing the brow
            assert idx[name] in _classes_near(parsing, lm[i]), (face["name"], i, name)
    for i in range(49, 54):
        assert idx["upper_lip"] in _classes_near(parsing, lm[i]), (face["name"], i)
    for i in range(55, 60):
        assert idx["lower_lip"] in _classes_near(parsing, lm[i]), (face["name"], i)
    for i in (48, 54):  # the corners, where the lips meet
        assert _classes_near(parsing, lm[i]) & {idx["upper_lip"], idx["lower_lip"]}, (face["name"], i)
    for i in range(60, 68):
        assert _classes_near(parsing, lm[i]) & {idx["upper_lip"], idx["lower_lip"], idx["inner_mouth"]}
    assert idx["skin"] in set(parsing[lm[JAW[2:15], 1].astype(int) - 3, lm[JAW[2:15], 0].astype(int)].tolist())


def test_parsing_regions_lie_inside_the_mesh_contours(face):
    c, mesh = _sets(), face["mesh"]
    parsing = fill_parsing(face["layout"], mesh, face["image"].shape[:2])
    assert PARSING_INDEX["hair"] not in parsing  # the mesh cannot see hair
    checks = {
        "right_eye": c.FACEMESH_RIGHT_EYE, "left_eye": c.FACEMESH_LEFT_EYE,
        "right_brow": c.FACEMESH_RIGHT_EYEBROW, "left_brow": c.FACEMESH_LEFT_EYEBROW,
        "nose": c.FACEMESH_NOSE, "upper_lip": c.FACEMESH_LIPS, "lower_lip": c.FACEMESH_LIPS,
        "skin": c.FACEMESH_FACE_OVAL,
    }
    for name, edges in checks.items():
        hull = cv2.convexHull(mesh[_vertices(edges), :2].astype(np.float32))
        ys, xs = np.nonzero(parsing == PARSING_INDEX[name])
        assert len(xs) > 0, name
        inside = [cv2.pointPolygonTest(hull, (float(x) + 0.5, float(y) + 0.5), True) >= -1.0
                  for x, y in zip(xs, ys, strict=True)]
        assert all(inside), (face["name"], name)
        if name in ("right_eye", "left_eye", "nose"):  # convex regions fill most of their hull
            assert len(xs) > 0.7 * cv2.contourArea(hull), (face["name"], name)
    assert (parsing > 0).sum() > 0.9 * cv2.contourArea(
        cv2.convexHull(mesh[_vertices(c.FACEMESH_FACE_OVAL), :2].astype(np.float32)))


def test_parsing_at_reduced_scale_matches_full():
    image = astronaut()
    with quiet_native_stderr(), FaceMeshTracker(static=True) as tracker:
        mesh = tracker(image)
    layout = MeshLayout.from_meshes(mesh[None])
    full = fill_parsing(layout, mesh, (512, 512))
    half = fill_parsing(layout, mesh, (256, 256), scale=0.5)
    up = cv2.resize(half, (512, 512), interpolation=cv2.INTER_NEAREST_EXACT)
    assert (up == full).mean() > 0.98
    for name in ("skin", "nose", "left_eye", "right_eye"):  # not the lips: a few pixels thin at 256 px
        # Same place at both scales: no half-pixel shift between the map's and the frame's pixels.
        c = PARSING_INDEX[name]
        a, b = np.argwhere(up == c).mean(0), np.argwhere(full == c).mean(0)
        assert np.abs(a - b).max() < 0.5, name
