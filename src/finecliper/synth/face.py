"""The synthetic face: identity parameters, action-unit controls, the 68 landmarks they give, and drawing.

A face lives in its own coordinates: x to the image's right, y down, one unit = half the face's width;
eyes at y ~ -0.15, mouth at y ~ 0.55, chin at y ~ 1.05. `landmarks(identity, state)` gives the 68
iBUG points (layout and left/right conventions of `face_layout`: the subject's right eye, points
36-41, is on the image's left) for one frame's expression state; a `Pose` maps them to pixels;
`draw(...)` paints the face from exactly those points and returns the image and its 11-class parsing
map, so the landmarks and parsing maps are the truth of the drawing, not an estimate of it.

Expressions are action-unit-like controls in [0, 1] (FACS numbers in `AUS`), each moving a few points
by an amount of the order of the identity differences, so that a single frame is ambiguous between a
person whose face rests that way and a person who moves that way; the movement over a clip is not.
Drawing is supersampled (`SUPERSAMPLE`) and reduced with area averaging, so edges are smooth; the
parsing map is drawn at output resolution from the same polygons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from finecliper.face_layout import PARSING_INDEX

# Action-unit-like controls: name -> FACS number (the numbers are for readers; the code uses names).
AUS: dict[str, int] = {
    "inner_brow_raise": 1,
    "outer_brow_raise": 2,
    "brow_lower": 4,
    "upper_lid_raise": 5,
    "cheek_raise": 6,
    "lid_tighten": 7,
    "nose_wrinkle": 9,
    "upper_lip_raise": 10,
    "lip_corner_pull": 12,
    "smirk": 14,  # lip corner pull and dimple on the subject's left side only (contempt)
    "lip_corner_depress": 15,
    "lip_stretch": 20,
    "lip_press": 24,
    "jaw_drop": 26,
}
AU_NAMES = tuple(AUS)
SUPERSAMPLE = 2
_SHIFT = 4  # sub-pixel bits of cv2 drawing calls


@dataclass
class Identity:
    """What makes one synthetic person look like themselves; drawn once per identity (`random_identity`)."""

    face_height: float  # chin distance below the ear line
    jaw_square: float  # superellipse exponent of the jaw: 2 round, 3 square
    forehead: float  # height of the forehead arc above the ear line
    eye_sep: float  # eye centre distance from the face's midline
    eye_width: float  # half width of an eye
    eye_open: float  # resting lid opening (scale)
    brow_height: float  # resting brow height above the eye (a confounder of brow raises)
    brow_slant: float  # resting inner-end height of the brows: > 0 worried look, < 0 stern look
    brow_thick: float
    brow_arch: float
    nose_length: float
    nose_width: float
    mouth_y: float
    mouth_width: float  # half width
    lip_upper: float  # lip thicknesses
    lip_lower: float
    mouth_curve: float  # resting corner height: > 0 corners up (a confounder of smiles), < 0 down
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    hair_style: int  # 0 short, 1 long, 2 bald-ish, 3 fringe
    hairline: float  # y of the hairline on the forehead
    brow_colour: tuple[int, int, int]
    iris: tuple[int, int, int]
    lip_colour: tuple[int, int, int]


def _mix(a, b, t) -> tuple[int, int, int]:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b, strict=True))


_SKINS = [(255, 224, 196), (241, 194, 160), (224, 172, 128), (198, 134, 90), (141, 85, 54), (94, 58, 38)]
_HAIRS = [(20, 16, 14), (60, 40, 25), (110, 75, 40), (170, 130, 80), (220, 195, 140), (130, 130, 130), (150, 60, 30)]
_IRISES = [(70, 45, 25), (40, 90, 150), (60, 110, 70), (110, 80, 50), (30, 30, 30)]


def random_identity(rng: np.random.Generator) -> Identity:
    """A new person; every field is drawn from `rng`, so identities are reproducible by seed."""
    skin = _mix(*[_SKINS[i] for i in sorted(rng.choice(len(_SKINS), 2, replace=False))], rng.random())
    hair = _HAIRS[int(rng.integers(len(_HAIRS)))]
    brow = _mix(hair, (30, 22, 18), rng.uniform(0.3, 0.8))
    lip = _mix(skin, (175, 70, 75), rng.uniform(0.35, 0.65))
    return Identity(
        face_height=rng.uniform(1.0, 1.2), jaw_square=rng.uniform(2.0, 3.0), forehead=rng.uniform(0.95, 1.15),
        eye_sep=rng.uniform(0.36, 0.44), eye_width=rng.uniform(0.15, 0.2), eye_open=rng.uniform(0.75, 1.25),
        brow_height=rng.uniform(0.2, 0.34), brow_slant=rng.uniform(-0.08, 0.08),
        brow_thick=rng.uniform(0.035, 0.07), brow_arch=rng.uniform(0.0, 0.06),
        nose_length=rng.uniform(0.3, 0.42), nose_width=rng.uniform(0.11, 0.16),
        mouth_y=rng.uniform(0.52, 0.62), mouth_width=rng.uniform(0.26, 0.36),
        lip_upper=rng.uniform(0.045, 0.08), lip_lower=rng.uniform(0.055, 0.1),
        mouth_curve=rng.uniform(-0.06, 0.06), skin=skin, hair=hair, hair_style=int(rng.integers(4)),
        hairline=rng.uniform(-0.85, -0.6), brow_colour=brow, iris=_IRISES[int(rng.integers(len(_IRISES)))],
        lip_colour=lip,
    )


@dataclass
class FaceState:
    """One frame's movement: action units in [0, 1] plus what moves without meaning (blinks, speech, gaze)."""

    au: dict[str, float] = field(default_factory=dict)
    blink: float = 0.0  # 1: lids closed
    speech: float = 0.0  # extra lip and jaw opening from talking
    gaze: tuple[float, float] = (0.0, 0.0)  # iris offset, in eye half-widths

    def __getitem__(self, name: str) -> float:
        return float(self.au.get(name, 0.0))


@dataclass
class Pose:
    """Where the face is in the frame: centre (pixels), scale (pixels per face unit), roll, yaw."""

    cx: float
    cy: float
    scale: float
    roll: float = 0.0  # degrees, positive: the head tilts towards the image's right (subject's left)
    yaw: float = 0.0  # -1..1, positive: the face turns towards the image's right (subject's left)

    def to_pixels(self, points: np.ndarray, depth: np.ndarray | None = None) -> np.ndarray:
        """(K, 2) face units -> (K, 2) continuous pixels; `depth` (K,) moves nearer points more with yaw."""
        p = points.astype(np.float64).copy()
        if depth is not None:
            p[:, 0] += self.yaw * 0.18 * depth
        a = math.radians(self.roll)
        c, s = math.cos(a), math.sin(a)
        x = c * p[:, 0] - s * p[:, 1]
        y = s * p[:, 0] + c * p[:, 1]
        return np.stack([self.cx + self.scale * x, self.cy + self.scale * y], axis=1)


def _brow(identity: Identity, st: FaceState, side: int) -> np.ndarray:
    """5 points of one brow, outer to inner for side=-1 (subject's right), inner to outer for side=+1."""
    t = np.linspace(0.0, 1.0, 5)  # 0 outer, 1 inner
    eye_x = side * identity.eye_sep
    x = eye_x + side * (identity.eye_width + 0.07) * (1 - 2 * t) - side * 0.02
    base = -0.15 - identity.brow_height
    y = base - identity.brow_arch * np.sin(np.pi * t) - identity.brow_slant * t
    y = y - 0.22 * st["inner_brow_raise"] * t**1.5 - 0.2 * st["outer_brow_raise"] * (1 - t) ** 1.2
    y = y + 0.13 * st["brow_lower"] * (0.5 + 0.5 * t) + 0.04 * st["nose_wrinkle"] * t
    x = x - side * 0.09 * st["brow_lower"] * t**2
    pts = np.stack([x, y], axis=1)
    return pts if side < 0 else pts[::-1]


def _eye(identity: Identity, st: FaceState, side: int) -> np.ndarray:
    """6 iBUG points of one eye (corner, two upper, corner, two lower), in the layout's order."""
    cx, cy, w = side * identity.eye_sep, -0.15, identity.eye_width
    open_ = identity.eye_open * (1 - st.blink)
    upper = 0.07 * open_ * (1 + 1.2 * st["upper_lid_raise"] - 0.45 * st["lid_tighten"] - 0.2 * st["cheek_raise"])
    lower = 0.045 * (1 - st.blink) * (1 - 0.55 * st["cheek_raise"] - 0.5 * st["lid_tighten"]
                                      + 0.2 * st["upper_lid_raise"])
    upper, lower = max(upper, 0.004), max(lower, 0.0)
    outer, inner = cx + side * w, cx - side * w
    xs = [outer, cx + side * w / 3, cx - side * w / 3, inner, cx - side * w / 3, cx + side * w / 3]
    ys = [cy + 0.01, cy - upper, cy - upper * 0.95, cy, cy + lower, cy + lower]
    pts = np.stack([xs, ys], axis=1)
    if side < 0:
        return pts  # 36 outer, 37, 38, 39 inner, 40, 41
    # 42 inner, 43 upper inner, 44 upper outer, 45 outer, 46 lower outer, 47 lower inner
    return pts[[3, 2, 1, 0, 5, 4]]


def _mouth(identity: Identity, st: FaceState) -> tuple[np.ndarray, np.ndarray, float]:
    """Outer lips (12 points, 48-59), inner lips (8 points, 60-67) and the jaw drop."""
    pull, smirk = st["lip_corner_pull"], st["smirk"]
    half = (identity.mouth_width + 0.09 * pull + 0.13 * st["lip_stretch"] - 0.06 * st["lip_press"]
            - 0.02 * st["upper_lip_raise"])
    ym = identity.mouth_y
    jaw = 0.3 * st["jaw_drop"] + 0.6 * st.speech
    gap = 0.02 * st["upper_lip_raise"] + 0.1 * st["jaw_drop"] + 0.5 * st.speech + 0.015 * pull
    raise_ = 0.08 * st["upper_lip_raise"] + 0.02 * st["nose_wrinkle"]
    thin = 1 - 0.55 * st["lip_press"] - 0.25 * st["lip_stretch"] - 0.2 * pull

    def corner(side: int) -> tuple[float, float]:
        up = identity.mouth_curve + 0.14 * pull - 0.14 * st["lip_corner_depress"] + 0.01 * st["lip_stretch"]
        out = 0.0
        if side > 0:  # the subject's left: the smirk's side
            up += 0.08 * smirk
            out += 0.06 * smirk
        return side * (half + out), ym - up + 0.06 * jaw  # the corners drop a little with the jaw

    rx, ry = corner(-1)
    lx, ly = corner(+1)
    mid_upper = ym - gap / 2 - raise_  # inner upper lip at the centre
    mid_lower = ym + gap / 2 + jaw * 0.55  # inner lower lip at the centre

    def along(f: float) -> tuple[float, float, float]:
        # f in [-1, 1] across the mouth: x, the corner line's y there, and the distance from a corner.
        x = rx + (lx - rx) * (f + 1) / 2
        y = ry + (ly - ry) * (f + 1) / 2
        return x, y, 1 - abs(f)

    outer_upper, inner_upper, outer_lower, inner_lower = [], [], [], []
    for f in (-0.62, -0.3, 0.0, 0.3, 0.62):
        x, yc, w = along(f)
        bow = 0.012 if f == 0.0 else 0.0  # Cupid's bow dip at the centre
        yi = yc + (mid_upper - ym) * w ** 0.7
        outer_upper.append((x, yi - identity.lip_upper * thin * (0.45 + 0.55 * w ** 0.5) + bow))
    for f in (-0.45, 0.0, 0.45):
        x, yc, w = along(f)
        inner_upper.append((x, yc + (mid_upper - ym) * w ** 0.7))
    for f in (0.62, 0.3, 0.0, -0.3, -0.62):
        x, yc, w = along(f)
        yi = yc + (mid_lower - ym) * w ** 0.7
        outer_lower.append((x, yi + identity.lip_lower * thin * (0.45 + 0.55 * w ** 0.5)))
    for f in (0.45, 0.0, -0.45):
        x, yc, w = along(f)
        inner_lower.append((x, yc + (mid_lower - ym) * w ** 0.7))
    ic = 0.9  # inner corners sit just inside the outer ones
    outer = np.array([(rx, ry), *outer_upper, (lx, ly), *outer_lower])
    inner = np.array([(rx * ic, ry), *inner_upper, (lx * ic, ly), *inner_lower])
    return outer, inner, jaw


def _jaw(identity: Identity, jaw: float) -> np.ndarray:
    """17 jaw points from the subject's right ear (image left) around the chin to the left ear."""
    phi = np.linspace(0.0, np.pi, 17)
    n = identity.jaw_square
    c, s = np.cos(phi), np.sin(phi)
    x = -np.sign(c) * np.abs(c) ** (2 / n)
    y = -0.15 + identity.face_height * np.abs(s) ** (2 / n)
    y = y + jaw * np.sin(phi) ** 4  # the chin follows the jaw drop; the sides barely move
    return np.stack([x, y], axis=1)


def _nose(identity: Identity, st: FaceState) -> np.ndarray:
    """Bridge 27-30 (top to tip) and the lower nose 31-35 (subject's right to left)."""
    top, tip = -0.15, -0.15 + identity.nose_length
    lift = 0.05 * st["nose_wrinkle"] + 0.01 * st["upper_lip_raise"]
    bridge = [(0.0, top + (tip - lift - top) * k / 3) for k in range(4)]
    w = identity.nose_width * (1 + 0.15 * st["nose_wrinkle"])
    base = tip + 0.07 - lift
    lower = [(-w, base - 0.03), (-w / 2, base + 0.005), (0.0, base + 0.015), (w / 2, base + 0.005), (w, base - 0.03)]
    return np.array(bridge + lower)


def landmarks(identity: Identity, st: FaceState) -> np.ndarray:
    """(68, 2) iBUG landmarks in face units for one frame."""
    outer, inner, jaw = _mouth(identity, st)
    pts = np.concatenate([
        _jaw(identity, jaw), _brow(identity, st, -1), _brow(identity, st, +1), _nose(identity, st),
        _eye(identity, st, -1), _eye(identity, st, +1), outer, inner,
    ])
    assert pts.shape == (68, 2)
    return pts


# Depth of each landmark for the yaw shift: the nose tip is nearest, the jaw outline farthest.
DEPTH = np.concatenate([np.zeros(17), np.full(10, 0.5), np.array([0.6, 0.75, 0.9, 1.0]), np.full(5, 0.85),
                        np.full(12, 0.4), np.full(20, 0.6)])


# ------------------------------------------------------------------------------------------ drawing


def _spline(points: np.ndarray, closed: bool, samples: int = 6) -> np.ndarray:
    """Catmull-Rom curve through `points` (K, 2): it passes through every point it is given."""
    p = np.asarray(points, dtype=np.float64)
    ext = np.concatenate([p[-1:], p, p[:2]]) if closed else np.concatenate([p[:1], p, p[-1:]])
    segments = len(p) if closed else len(p) - 1
    i = np.arange(segments)
    p0, p1, p2, p3 = (ext[i + k][:, None] for k in range(4))  # (segments, 1, 2) each
    t = np.linspace(0, 1, samples, endpoint=False)[None, :, None]  # (1, samples, 1)
    curve = 0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                   + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3)  # (segments, samples, 2)
    curve = curve.reshape(-1, 2)
    return curve if closed else np.concatenate([curve, p[-1:]])


class Canvas:
    """Paints polygons on an RGB image at SUPERSAMPLE x resolution and on a parsing map at 1 x."""

    def __init__(self, size: int, background: np.ndarray):
        self.size = size
        self.k = SUPERSAMPLE
        self.image = cv2.resize(background, (size * self.k, size * self.k), interpolation=cv2.INTER_LINEAR)
        self.parsing = np.zeros((size, size), dtype=np.uint8)

    def _fixed(self, pts: np.ndarray, k: int) -> np.ndarray:
        # Continuous pixels (pixel i spans [i, i + 1)) -> cv2's pixel-centre coordinates, fixed point.
        return np.round((np.asarray(pts) * k - 0.5) * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)

    def fill(self, pts: np.ndarray, colour, part: str | None = None) -> None:
        cv2.fillPoly(self.image, [self._fixed(pts, self.k)], tuple(int(c) for c in colour), cv2.LINE_AA, _SHIFT)
        if part is not None:
            cv2.fillPoly(self.parsing, [self._fixed(pts, 1)], PARSING_INDEX[part], cv2.LINE_8, _SHIFT)

    def line(self, pts: np.ndarray, colour, width: float) -> None:
        thickness = max(1, int(round(width * self.k)))
        cv2.polylines(self.image, [self._fixed(pts, self.k)], False, tuple(int(c) for c in colour), thickness,
                      cv2.LINE_AA, _SHIFT)

    def ellipse(self, centre, axes, angle: float, colour, part: str | None = None) -> None:
        pts = cv2.ellipse2Poly((0, 0), (1000, 1000), 0, 0, 360, 5).astype(np.float64) / 1000
        a = math.radians(angle)
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        poly = (pts * np.asarray(axes)) @ rot.T + np.asarray(centre)
        self.fill(poly, colour, part)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        image = cv2.resize(self.image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return image, self.parsing


def _shade(colour, factor: float) -> tuple[int, int, int]:
    return tuple(int(np.clip(c * factor, 0, 255)) for c in colour)


def _px(pose: Pose, points, depth: float = 0.3) -> np.ndarray:
    """Face units -> pixels for drawing-only shapes (not landmarks), at a fixed depth."""
    return pose.to_pixels(np.asarray(points, dtype=np.float64), np.full(len(points), depth))


def draw(identity: Identity, st: FaceState, pose: Pose, size: int, background: np.ndarray) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """Paint one frame: (image (S, S, 3) uint8, parsing (S, S) uint8, landmarks (68, 2) pixels).

    Back to front: head and hair, cheeks and folds, nose, brows, eyes, mouth; each painter writes the
    image and, for the parts it owns, the parsing map.
    """
    pts = pose.to_pixels(landmarks(identity, st), DEPTH)
    cv = Canvas(size, background)
    _draw_head(cv, identity, pose, pts)
    _draw_cheeks(cv, identity, st, pose, pts)
    _draw_nose(cv, identity, st, pose, pts)
    _draw_brows(cv, identity, pose, pts)
    for idx, part in ((range(36, 42), "right_eye"), (range(42, 48), "left_eye")):
        _draw_eye(cv, identity, st, pose, pts[list(idx)], part)
    _draw_mouth(cv, identity, st, pose, pts)
    image, parsing = cv.result()
    return image, parsing, pts


def _draw_head(cv: Canvas, identity: Identity, pose: Pose, pts: np.ndarray) -> None:
    """Hair behind the head, the neck, the face (jaw points closed by a forehead arc), the hair over it."""
    phi = np.linspace(2 * np.pi, np.pi, 15)[1:-1]  # from the subject's left ear over the top to the right
    forehead = _px(pose, np.stack([np.cos(phi), -0.15 + identity.forehead * np.sin(phi)], axis=1), 0.0)
    face = np.concatenate([pts[0:17], forehead])
    if identity.hair_style == 1:
        cv.fill(_px(pose, [(-1.25, -0.5), (-1.2, 1.0), (1.2, 1.0), (1.25, -0.5), (0.9, -1.35), (-0.9, -1.35)], 0.0),
                identity.hair, "hair")
    cv.fill(_px(pose, [(-0.5, 0.6), (-0.55, 1.8), (0.55, 1.8), (0.5, 0.6)], 0.0), _shade(identity.skin, 0.8))
    if identity.hair_style != 2:
        top = np.stack([1.08 * np.cos(phi), -0.1 + 1.12 * identity.forehead * np.sin(phi)], axis=1)
        cv.fill(_px(pose, np.concatenate([[(-1.04, -0.2)], top, [(1.04, -0.2)]]), 0.0), identity.hair, "hair")
    cv.fill(_spline(face, closed=True, samples=3), identity.skin, "skin")
    if identity.hair_style != 2:
        _draw_hairline(cv, identity, pose)


def _draw_hairline(cv: Canvas, identity: Identity, pose: Pose) -> None:
    """The hair covers the forehead down to the identity's hairline: the part of a slightly larger head
    outline above it, closed by a curved (or, for a fringe, straight-cut) edge."""
    line = identity.hairline + (0.12 if identity.hair_style == 3 else 0.0)
    top = np.linspace(np.pi, 2 * np.pi, 41)
    cap = np.stack([1.03 * np.cos(top), -0.15 + 1.03 * identity.forehead * np.sin(top)], axis=1)
    cap = cap[cap[:, 1] < line]
    xs = np.linspace(cap[0, 0], cap[-1, 0], 9)
    fringe = np.stack([xs, line + 0.06 * (1 - (xs / xs[-1]) ** 2) * (1 if identity.hair_style == 3 else -1)],
                      axis=1)
    cv.fill(_px(pose, np.concatenate([fringe, cap[::-1]]), 0.0), identity.hair, "hair")


def _draw_cheeks(cv: Canvas, identity: Identity, st: FaceState, pose: Pose, pts: np.ndarray) -> None:
    """Cheeks redden and bulge with a cheek raise; smile folds run from the nose to the mouth corners."""
    skin, cheek = identity.skin, st["cheek_raise"]
    for side in (-1, 1):
        if cheek > 0.05:
            cv.ellipse(_px(pose, [(side * 0.45, 0.22)])[0], (0.17 * pose.scale, 0.1 * pose.scale), pose.roll,
                       _mix(skin, (220, 110, 110), 0.35 * cheek))
        fold = st["lip_corner_pull"] + (st["smirk"] if side > 0 else 0.0)
        if fold > 0.1:
            corner = pts[54] if side > 0 else pts[48]
            nostril = pts[35] if side > 0 else pts[31]
            start = nostril + np.array([side * 0.06, -0.02]) * pose.scale
            end = corner + np.array([side * 0.05, 0.03]) * pose.scale
            mid = 0.5 * (start + end) + np.array([side * 0.06, 0]) * pose.scale
            cv.line(_spline(np.stack([start, mid, end]), closed=False), _shade(skin, 0.78), 0.012 * pose.scale * fold)


def _draw_nose(cv: Canvas, identity: Identity, st: FaceState, pose: Pose, pts: np.ndarray) -> None:
    """A shaded region over the bridge and the base, nostrils as dark dots; nose wrinkles and the frown
    lines between the brows, which a nose wrinkle and a brow lowering draw."""
    skin = identity.skin
    nose_poly = np.concatenate([_px(pose, [(0.06, -0.1)], 0.7), pts[[35, 34, 33, 32, 31]],
                                _px(pose, [(-0.06, -0.1)], 0.7)])
    cv.fill(_spline(nose_poly, closed=True, samples=3), _shade(skin, 0.93), "nose")
    cv.line(_spline(pts[[27, 28, 29, 30]], closed=False), _shade(skin, 0.82), 0.015 * pose.scale)
    for k in (32, 34):
        cv.ellipse(pts[k] + np.array([0, -0.015]) * pose.scale, (0.028 * pose.scale, 0.016 * pose.scale), pose.roll,
                   _shade(skin, 0.45))
    if st["nose_wrinkle"] > 0.1:  # wrinkles across the bridge
        for dy in (-0.02, 0.03):
            a, b = _px(pose, [(-0.08, 0.0 + dy), (0.08, 0.0 + dy)], 0.7)
            cv.line(_spline(np.stack([a, 0.5 * (a + b) + np.array([0, -0.02 * pose.scale]), b]), closed=False),
                    _shade(skin, 0.7), 0.012 * pose.scale * st["nose_wrinkle"])
    if st["brow_lower"] > 0.15:  # vertical frown lines between the brows
        for side in (-1, 1):
            a, b = _px(pose, [(side * 0.05, -0.42), (side * 0.04, -0.28)], 0.5)
            cv.line(np.stack([a, b]), _shade(skin, 0.72), 0.012 * pose.scale * st["brow_lower"])


def _draw_brows(cv: Canvas, identity: Identity, pose: Pose, pts: np.ndarray) -> None:
    """Thick bands around the brow points (parsing: right_brow for 17-21, left_brow for 22-26)."""
    normal = np.array([-math.sin(math.radians(pose.roll)), math.cos(math.radians(pose.roll))])
    for idx, part in ((range(17, 22), "right_brow"), (range(22, 27), "left_brow")):
        b = pts[list(idx)]
        taper = np.array([0.6, 1.0, 1.0, 1.0, 0.8]) if part == "right_brow" else np.array([0.8, 1.0, 1.0, 1.0, 0.6])
        off = normal[None] * (identity.brow_thick * pose.scale * taper)[:, None] / 2
        cv.fill(np.concatenate([b - off, (b + off)[::-1]]), identity.brow_colour, part)


def _draw_eye(cv: Canvas, identity: Identity, st: FaceState, pose: Pose, e: np.ndarray, part: str) -> None:
    """The eye opening in white with the iris and pupil clipped to it, then the upper lid line."""
    outline = _spline(e, closed=True, samples=4)
    if float(np.ptp(e[:, 1])) > 0.6 / cv.k:  # open by more than about a pixel
        _draw_iris(cv, identity, st, pose, e, outline)
        cv2.fillPoly(cv.parsing, [cv._fixed(outline, 1)], PARSING_INDEX[part], cv2.LINE_8, _SHIFT)
    upper = e[[0, 1, 2, 3]] if part == "right_eye" else e[[3, 2, 1, 0]]
    cv.line(_spline(upper, closed=False), (25, 20, 20), 0.022 * pose.scale)


def _draw_iris(cv: Canvas, identity: Identity, st: FaceState, pose: Pose, e: np.ndarray, outline: np.ndarray) -> None:
    """The iris and pupil are painted on a patch around the eye and shown through the eye's shape."""
    k = cv.k
    x0, y0 = np.floor(outline.min(axis=0) * k).astype(int) - 2
    x1, y1 = np.ceil(outline.max(axis=0) * k).astype(int) + 2
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, cv.image.shape[1]), min(y1, cv.image.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    offset = np.array([x0, y0]) / k
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    cv2.fillPoly(mask, [cv._fixed(outline - offset, k)], 255, cv2.LINE_AA, _SHIFT)
    centre = e.mean(axis=0) + np.asarray(st.gaze) * identity.eye_width * 0.5 * pose.scale - offset
    patch = np.full((y1 - y0, x1 - x0, 3), (245, 245, 240), dtype=np.uint8)
    r = identity.eye_width * 0.55 * pose.scale * k
    c = tuple(int(round(v)) for v in (centre * k - 0.5))
    cv2.circle(patch, c, int(round(r)), identity.iris, -1, cv2.LINE_AA)
    cv2.circle(patch, c, int(round(r * 0.45)), (10, 10, 10), -1, cv2.LINE_AA)
    alpha = (mask.astype(np.float32) / 255)[..., None]
    region = cv.image[y0:y1, x0:x1]
    region[:] = (region * (1 - alpha) + patch * alpha).astype(np.uint8)


def _draw_mouth(cv: Canvas, identity: Identity, st: FaceState, pose: Pose, pts: np.ndarray) -> None:
    """The inner mouth (dark, with teeth when open wide), then the lips around it."""
    gap = float(np.linalg.norm(pts[62] - pts[66]))
    if gap > 0.5 / cv.k:
        inner_curve = _spline(pts[60:68], closed=True, samples=4)
        cv.fill(inner_curve, (70, 20, 25), "inner_mouth")
        if gap > 0.04 * pose.scale:
            teeth = inner_curve[: len(inner_curve) // 2 + 1]
            teeth_lo = teeth + np.array([0, 0.25 * gap])
            cv.fill(np.concatenate([teeth, teeth_lo[::-1]]), (235, 232, 220))

    # Each lip is two open curves meeting at the mouth corners: a closed curve would swing past the
    # sharp corners and spill over the other lip when the lips are thin.
    def lip(outer: list[int], inner: list[int]) -> np.ndarray:
        return np.concatenate([_spline(pts[outer], closed=False, samples=3), _spline(pts[inner], closed=False, samples=3)])

    # The upper lip last: it is the thinner one, and a pressed lip is less than a pixel at 64 px.
    cv.fill(lip([54, 55, 56, 57, 58, 59, 48], [60, 67, 66, 65, 64]), identity.lip_colour, "lower_lip")
    cv.fill(lip([48, 49, 50, 51, 52, 53, 54], [64, 63, 62, 61, 60]), _shade(identity.lip_colour, 0.9), "upper_lip")
    if st["smirk"] > 0.1:  # the dimple beside the pulled corner
        cv.ellipse(pts[54] + np.array([0.04, 0.0]) * pose.scale, (0.015 * pose.scale, 0.03 * pose.scale),
                   pose.roll, _shade(identity.skin, 0.7))
