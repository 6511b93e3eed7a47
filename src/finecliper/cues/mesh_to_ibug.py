"""Our own correspondence from MediaPipe's 478-point face mesh to the 68-point iBUG layout, and the
mesh's face regions as polygons.

No index table is copied from anywhere. The correspondence is *derived* from the contours MediaPipe
ships with the mesh (`FACEMESH_FACE_OVAL`, `_LIPS`, `_LEFT_EYE`, `_RIGHT_EYE`, `_LEFT_EYEBROW`,
`_RIGHT_EYEBROW`, `_NOSE`): their topology gives the polylines, and a few geometric rules in a
face-aligned frame pick corners, sides and directions; iBUG points are then placed at fixed fractions
of arc length along those polylines. Each iBUG point is therefore a weighted mean of one or two
neighbouring mesh vertices (up to four for the brows, which average two edges), and all 68 form a
(68, 478) weight matrix `W`: landmarks = W @ mesh.

Rules [OURS], in the face frame (x from the subject's right eye to their left eye, y towards the chin):
- eyes: corners are the eye contour's extreme points in x; the upper lid is the arc of smaller mean y;
  36-41 / 42-47 go from the image-left corner along the upper lid (1/3, 2/3) and back along the lower lid.
- brows: the mid-line between the contour's upper and lower edge, at 0, 1/4, 1/2, 3/4, 1 of its length.
- nose: 27-30 along the bridge (the open end of the nose contour down to the first branching vertex,
  which is the most protruding point), at 0, 1/3, 2/3, 1; 33 is the other branching vertex (subnasale),
  31 and 35 the nose contour's outermost points, 32 and 34 half-way from there to 33.
- mouth: corners are each lip ring's extreme points in x; 48-59 around the outer ring (fractions
  1/6 .. 5/6 of each lip's arc), 60-67 around the inner ring (1/4, 1/2, 3/4).
- jaw: the face oval's lower arc between the points where it crosses the level of the eye corners,
  17 points at equal arc length.
MediaPipe names the mesh's contours from the subject's view, as `face_layout` does: `FACEMESH_LEFT_EYE`
lies on the image's right in an upright frontal photo (checked on real photos by the tests).

The decisions are taken once per clip on a reference shape (the median face-frame mesh of its frames,
`MeshLayout.from_meshes`), so every frame of a clip uses the same weights and the landmarks move as
smoothly as the mesh does. Region polygons (for `parsing_fill`) are resolved by the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finecliper.cues.tracks import spread_indices
from finecliper.face_layout import NUM_LANDMARKS

NUM_MESH_POINTS = 478  # with refined irises; the first 468 are the face mesh proper


def connection_sets() -> dict[str, frozenset]:
    """MediaPipe's own contour edge sets, by our name (import is deferred: mediapipe is heavy)."""
    from mediapipe.python.solutions import face_mesh_connections as c

    return {
        "oval": c.FACEMESH_FACE_OVAL,
        "lips": c.FACEMESH_LIPS,
        "left_eye": c.FACEMESH_LEFT_EYE,
        "right_eye": c.FACEMESH_RIGHT_EYE,
        "left_brow": c.FACEMESH_LEFT_EYEBROW,
        "right_brow": c.FACEMESH_RIGHT_EYEBROW,
        "nose": c.FACEMESH_NOSE,
    }


# --- graph helpers: the edge sets' direction is not reliable, so only their undirected topology is used ---


def _adjacency(edges) -> dict[int, set[int]]:
    adj: dict[int, set[int]] = {}
    for a, b in edges:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    return adj


def _components(edges) -> list[tuple[list[int], bool]]:
    """Connected components of a graph of paths and cycles: (ordered vertices, is_cycle) each."""
    adj = _adjacency(edges)
    seen: set[int] = set()
    out = []
    for start in sorted(adj, key=lambda v: (len(adj[v]) != 1, v)):  # open paths start at an end
        if start in seen:
            continue
        order = [start]
        seen.add(start)
        prev, cur = None, start
        while True:
            nxt = [v for v in sorted(adj[cur]) if v != prev and v not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            order.append(cur)
            seen.add(cur)
        is_cycle = len(order) > 2 and order[0] in adj[order[-1]]
        out.append((order, is_cycle))
    return out


def _path_between(adj: dict[int, set[int]], start: int, goal: int, avoid: set[int] = frozenset()) -> list[int]:
    """Shortest path (breadth first) from start to goal not passing through `avoid`."""
    parents = {start: None}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(adj[v]):
                if w not in parents and w not in avoid:
                    parents[w] = v
                    nxt.append(w)
        frontier = nxt
        if goal in parents:
            break
    if goal not in parents:
        raise ValueError(f"mesh contour has no path from {start} to {goal}")
    path = [goal]
    while path[-1] != start:
        path.append(parents[path[-1]])
    return path[::-1]


def _split_cycle(cycle: list[int], a: int, b: int) -> tuple[list[int], list[int]]:
    """The two arcs of a cycle from vertex a to vertex b (both include a and b)."""
    i = cycle.index(a)
    rolled = cycle[i:] + cycle[:i]  # starts at a
    k = rolled.index(b)
    forward = rolled[: k + 1]
    backward = [rolled[0]] + rolled[k:][::-1]
    return forward, backward


# --- the face frame -------------------------------------------------------------------------------


def _eye_vertices(sets: dict[str, frozenset]) -> tuple[list[int], list[int]]:
    """The mesh vertices of the subject's right and left eye contours (what `face_frame` takes)."""
    return tuple(sorted({v for e in sets[name] for v in e}) for name in ("right_eye", "left_eye"))


def face_frame(mesh: np.ndarray, right_eye: list[int], left_eye: list[int]) -> np.ndarray:
    """(478, 2) mesh in a face-aligned frame: origin between the eyes, x towards the subject's left eye,
    y towards the chin, unit = distance between the eye centres."""
    xy = np.asarray(mesh, dtype=np.float64)[:, :2]
    right, left = xy[right_eye].mean(0), xy[left_eye].mean(0)
    axis = left - right
    scale = float(np.hypot(*axis))
    if scale < 1e-9:
        raise ValueError("degenerate face mesh: both eyes at the same point")
    ex = axis / scale
    ey = np.array([-ex[1], ex[0]])  # +90 degrees in image coordinates (y down): towards the chin
    rel = xy - (right + left) / 2
    return np.stack([rel @ ex, rel @ ey], axis=1) / scale


# --- arc-length sampling on weighted polylines ---------------------------------------------------------


def _onehot(vertices: list[int]) -> np.ndarray:
    rows = np.zeros((len(vertices), NUM_MESH_POINTS))
    rows[np.arange(len(vertices)), vertices] = 1.0
    return rows


def _sample(rows: np.ndarray, ref: np.ndarray, fractions) -> np.ndarray:
    """Points at `fractions` of arc length along the polyline whose points are `rows @ ref`.

    rows: (K, 478) weights of the polyline's points; returns (len(fractions), 478) weights.
    """
    pts = rows @ ref  # (K, 2)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    out = []
    for f in fractions:
        s = float(f) * cum[-1]
        k = int(np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1))
        t = 0.0 if seg[k] <= 0 else float(np.clip((s - cum[k]) / seg[k], 0.0, 1.0))
        out.append((1 - t) * rows[k] + t * rows[k + 1])
    return np.stack(out)


@dataclass
class _Ring:
    """A closed contour split at its two corners: `first` is the corner of smaller face-x."""

    first: int
    last: int
    upper: list[int]  # first -> last along the upper arc
    lower: list[int]  # first -> last along the lower arc

    @property
    def polygon(self) -> list[int]:
        return self.upper + self.lower[-2:0:-1]


def _ring(cycle: list[int], ref: np.ndarray) -> _Ring:
    xs = ref[cycle, 0]
    first, last = cycle[int(np.argmin(xs))], cycle[int(np.argmax(xs))]
    a, b = _split_cycle(cycle, first, last)
    if ref[a, 1].mean() > ref[b, 1].mean():
        a, b = b, a
    return _Ring(first, last, a, b)


def _ring_points(ring: _Ring, ref: np.ndarray, upper_fracs, lower_fracs) -> np.ndarray:
    """iBUG order around a ring: first corner, upper arc, last corner, lower arc back to the first."""
    up = _sample(_onehot(ring.upper), ref, upper_fracs)
    low = _sample(_onehot(ring.lower[::-1]), ref, lower_fracs)  # last -> first
    return np.concatenate([_onehot([ring.first]), up, _onehot([ring.last]), low])


@dataclass
class MeshLayout:
    """The mesh -> iBUG weights and the region polygons, resolved on one reference shape."""

    weights: np.ndarray  # (68, 478): landmarks = weights @ mesh[:, :2]
    polygons: dict[str, list[int]]  # parsing class name -> polygon as mesh vertex indices, in order
    nose_hull: list[int]  # vertices whose convex hull is the nose region

    @classmethod
    def from_reference(cls, mesh: np.ndarray) -> MeshLayout:
        """Resolve the layout on one (478, 2 or 3) mesh in any pixel frame."""
        sets = connection_sets()
        ref = face_frame(mesh, *_eye_vertices(sets))
        w = np.zeros((NUM_LANDMARKS, NUM_MESH_POINTS))  # each part below fills its own rows
        polygons: dict[str, list[int]] = {}
        eye_rings = _place_eyes(sets, ref, w, polygons)
        _place_brows(sets, ref, w, polygons)
        nose_hull = _place_nose(sets, ref, w)
        _place_mouth(sets, ref, w, polygons)
        _place_jaw(sets, ref, w, polygons, eye_rings)
        return cls(weights=w.astype(np.float32), polygons=polygons, nose_hull=nose_hull)

    @classmethod
    def from_meshes(cls, meshes: np.ndarray, max_frames: int = 32) -> MeshLayout:
        """Resolve on the median face-frame shape of (T, 478, 2+) meshes (a clip's detected frames)."""
        meshes = np.asarray(meshes)
        if len(meshes) == 0:
            raise ValueError("no mesh to resolve the layout on")
        eyes = _eye_vertices(connection_sets())
        aligned = np.stack([face_frame(meshes[i], *eyes) for i in spread_indices(len(meshes), max_frames)])
        return cls.from_reference(np.median(aligned, axis=0))

    def landmarks(self, meshes: np.ndarray) -> np.ndarray:
        """(..., 478, 2+) meshes -> (..., 68, 2) float32 iBUG landmarks in the meshes' pixels."""
        xy = np.asarray(meshes, dtype=np.float32)[..., :2]
        return np.matmul(self.weights, xy)  # (68, 478) @ (..., 478, 2) -> (..., 68, 2)


def _jaw_rows(oval: list[int], ref: np.ndarray, level: float) -> np.ndarray:
    """Weights of the polyline: right crossing of `level`, the oval's vertices below it, left crossing."""
    n = len(oval)
    crossings = []  # (x, position in cycle, weights)
    for i in range(n):
        a, b = oval[i], oval[(i + 1) % n]
        da, db = ref[a, 1] - level, ref[b, 1] - level
        if da == db or (da > 0) == (db > 0):
            continue
        t = da / (da - db)
        row = np.zeros(NUM_MESH_POINTS)
        row[a], row[b] = 1 - t, t
        crossings.append(((1 - t) * ref[a, 0] + t * ref[b, 0], i, row))
    if len(crossings) < 2:
        raise ValueError("the face oval does not cross the eye level on both sides")
    crossings.sort(key=lambda c: c[0])
    (_, i_r, row_r), (_, i_l, row_l) = crossings[0], crossings[-1]
    # Walk from the right crossing to the left one on the side that holds the chin (largest y).
    forward = [oval[(k % n)] for k in range(i_r + 1, i_r + 1 + (i_l - i_r) % n)]
    backward = [oval[(k % n)] for k in range(i_r, i_r - (i_r - i_l) % n, -1)]
    arc = forward if ref[forward, 1].max() > ref[backward, 1].max() else backward
    return np.concatenate([row_r[None], _onehot(arc), row_l[None]])


# --- the parts of the face: each fills its rows of the (68, 478) weights and its region polygons ---------


def _place_eyes(sets, ref: np.ndarray, w: np.ndarray, polygons: dict) -> list[_Ring]:
    """Eyes: 36-41 (subject's right), 42-47 (left). Returns both eye rings (the jaw needs their corners)."""
    rings = []
    for name, start in (("right_eye", 36), ("left_eye", 42)):
        (cycle, is_cycle), = _components(sets[name])
        if not is_cycle:
            raise ValueError(f"mesh contour {name} is not closed")
        ring = _ring(cycle, ref)
        w[start : start + 6] = _ring_points(ring, ref, [1 / 3, 2 / 3], [1 / 3, 2 / 3])
        polygons[name] = ring.polygon
        rings.append(ring)
    return rings


def _place_brows(sets, ref: np.ndarray, w: np.ndarray, polygons: dict) -> None:
    """Brows: 17-21 (right, outer -> inner), 22-26 (left, inner -> outer): image left to right."""
    fractions = [0, 0.25, 0.5, 0.75, 1]
    for name, start in (("right_brow", 17), ("left_brow", 22)):
        paths = [order for order, _ in _components(sets[name])]
        if len(paths) != 2:
            raise ValueError(f"mesh contour {name} is not an upper and a lower edge")
        paths = [p if ref[p[0], 0] < ref[p[-1], 0] else p[::-1] for p in paths]  # small x first
        upper, lower = sorted(paths, key=lambda p: ref[p, 1].mean())
        edges = _sample(_onehot(upper), ref, fractions) + _sample(_onehot(lower), ref, fractions)
        w[start : start + 5] = 0.5 * edges
        polygons[name] = upper + lower[::-1]


def _place_nose(sets, ref: np.ndarray, w: np.ndarray) -> list[int]:
    """Nose: bridge 27-30, bottom 31-35. Returns the nose contour's vertices (their hull is the region)."""
    adj = _adjacency(sets["nose"])
    ends = [v for v, n in adj.items() if len(n) == 1]
    branches = [v for v, n in adj.items() if len(n) >= 3]
    if len(ends) != 1 or len(branches) != 2:
        raise ValueError("mesh contour nose is not a bridge ending in a loop around the nostrils")
    top = ends[0]
    bridge = _path_between(adj, top, branches[0])
    if any(v in branches for v in bridge[:-1]):
        bridge = _path_between(adj, top, branches[1])
    tip = bridge[-1]
    subnasale = branches[1] if tip == branches[0] else branches[0]
    w[27:31] = _sample(_onehot(bridge), ref, [0, 1 / 3, 2 / 3, 1])
    w[33, subnasale] = 1.0
    middle = set(_path_between(adj, tip, subnasale)) - {tip, subnasale}
    wings = []
    for _ in range(2):  # the two arcs from the tip to the subnasale around the nostrils
        wings.append(_path_between(adj, tip, subnasale, avoid=middle | {v for a in wings for v in a[1:-1]}))
    wings.sort(key=lambda a: ref[a, 0].mean())  # subject's right (small x) first
    for arc, outer, mid in ((wings[0], 31, 32), (wings[1], 35, 34)):
        k = int(np.argmax(np.abs(ref[arc, 0])))
        w[outer, arc[k]] = 1.0
        w[mid] = _sample(_onehot(arc[k:]), ref, [0.5])[0]  # half-way from the outermost point to 33
    return sorted(adj)


def _place_mouth(sets, ref: np.ndarray, w: np.ndarray, polygons: dict) -> None:
    """Mouth: outer ring 48-59, inner ring 60-67; the larger lip ring is the outer one."""
    rings = [order for order, cyc in _components(sets["lips"]) if cyc]
    if len(rings) != 2:
        raise ValueError("mesh contour lips is not an outer and an inner ring")
    inner, outer = sorted(rings, key=lambda c: np.ptp(ref[c, 0]))
    outer_ring, inner_ring = _ring(outer, ref), _ring(inner, ref)
    sixths = [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6]
    w[48:60] = _ring_points(outer_ring, ref, sixths, sixths)
    w[60:68] = _ring_points(inner_ring, ref, [0.25, 0.5, 0.75], [0.25, 0.5, 0.75])
    # Lips between the rings; they meet at the corners through the short corner-to-corner edges.
    polygons["upper_lip"] = outer_ring.upper + inner_ring.upper[::-1]
    polygons["lower_lip"] = outer_ring.lower + inner_ring.lower[::-1]
    polygons["inner_mouth"] = inner_ring.polygon


def _place_jaw(sets, ref: np.ndarray, w: np.ndarray, polygons: dict, eye_rings: list[_Ring]) -> None:
    """Jaw 0-16: the oval's lower arc between its crossings of the eye-corner level; the oval is the skin."""
    (oval, is_cycle), = _components(sets["oval"])
    if not is_cycle:
        raise ValueError("mesh contour oval is not closed")
    polygons["skin"] = oval
    level = np.mean([ref[r.first, 1] for r in eye_rings] + [ref[r.last, 1] for r in eye_rings])
    w[0:17] = _sample(_jaw_rows(oval, ref, level), ref, np.linspace(0, 1, 17))
