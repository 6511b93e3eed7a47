"""The landmark describer: movement sentences from a clip's landmark tracks, without a language model.

[OURS] A deterministic alternative to the video LLM (docs/design.md §5): it reads the 68-point tracks of the
cue store and writes one sentence per movement that happens — brows rise, lower or draw together, eyes
widen, narrow or blink, mouth corners rise or fall, lips stretch, part or close, the jaw drops, the head
turns or tilts — with words for its extent (slightly / noticeably / markedly), its speed (suddenly /
gradually), when it starts, and whether it settles back. A movement below its threshold is not
mentioned at all, and no sentence names an emotion.

Scale and motion must not fake expressions: every frame is first aligned to the clip's own reference
face by a similarity transform (Umeyama) fitted on rigid points only (eye corners and nose), so zoom,
translation and in-plane rotation vanish, and all distances are in units of the reference inter-ocular
distance. Eye opening is a ratio (height over width of each eye). Head turn and tilt are measured
separately from the raw tracks; "left" and "right" are the subject's own, as in `face_layout` (a
flipped clip needs `data.descriptions.swap_left_right`). Frames without a detected face are left out;
signals are median-filtered so that one jittery frame is not a movement. Thresholds are in `FEATURES`,
one place to tune.

Noise floor: a tracker's jitter depends on the face, its pose and the video. On a still photo panned
through a clip, MediaPipe's landmarks (after the alignment above) jitter by 0.003-0.02 inter-ocular
distances per frame on frontal, rotated and flipped faces, but by 0.02-0.07 on a face in near profile,
whose eyes sit close together in the image, enough to invent half a dozen "sudden" movements. So each
signal's noise is measured in the clip itself, as the robust spread of its frame-to-frame changes
(`noise_level`: a steady drift or a single step leaves it alone, jitter does not), and a movement is
reported only when its change is at least NOISE_FLOOR times that noise as well as above its threshold.
On 14 still-photo clips (astronaut, Grace Hopper, the cameraman in near profile; flipped, rotated by
25 degrees, warped in perspective; face crops and raw frames) the largest change that crossed a threshold
was 4.2 times its noise; a real movement of the size the thresholds name is 10 to 30 times the jitter of a
frontal face. On a face in near profile (`PROFILE_YAW`) the far jaw end and eye are hidden and guessed,
and the tracker settles on them over the first frames by several degrees: such a face gets no sentence on
head turn or tilt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from finecliper.face_layout import JAW, LEFT_BROW, LEFT_EYE, NOSE_BOTTOM, NOSE_BRIDGE, RIGHT_BROW, RIGHT_EYE

VERSION = "landmarks-v2"  # v2: the per-clip noise floor

# Rigid points for the alignment: eye corners and the nose hardly move with expressions.
_EYE_CORNERS = [36, 39, 42, 45]
_RIGID = _EYE_CORNERS + NOSE_BRIDGE + NOSE_BOTTOM
_BROWS = RIGHT_BROW + LEFT_BROW


@dataclass(frozen=True)
class Feature:
    """One measured signal and how its movements are worded."""

    part: str  # subject of the sentence ("eyebrows")
    up: str | None  # verb phrase when the signal increases, None: not reported
    down: str | None  # verb phrase when it decreases
    thresholds: tuple[float, float, float]  # change for "slightly", "noticeably", "markedly"
    settle: str = "then settle back"  # phrase for a movement that returns to where it started


# [OURS] Units: inter-ocular distances of the reference face, except eye opening (height / width of the
# eye) and head tilt (degrees). Thresholds sit well above landmark jitter (about 0.01-0.02 IOD for a
# tracker on 224 px face crops) and below the size of the movements they name.
FEATURES: dict[str, Feature] = {
    "brow_height": Feature("eyebrows", "rise", "lower", (0.04, 0.08, 0.14)),
    "brow_gap": Feature("eyebrows", None, "draw together", (0.03, 0.06, 0.10), "then relax apart"),
    "eye_opening": Feature("eyes", "widen", "narrow", (0.05, 0.09, 0.15), "then return to normal"),
    "mouth_corners": Feature("mouth corners", "rise", "fall", (0.03, 0.06, 0.10)),
    "mouth_width": Feature("lips", "stretch {extent} sideways", "purse", (0.06, 0.12, 0.20), "then relax"),
    "lip_gap": Feature("lips", "part", "close", (0.06, 0.15, 0.30), "then close again"),
    "jaw": Feature("jaw", "drops", "rises", (0.06, 0.12, 0.22), "then closes again"),
    "head_yaw": Feature("head", "turns {extent} to the left", "turns {extent} to the right", (0.05, 0.10, 0.18), "then turns back"),
    "head_roll": Feature("head", "tilts {extent} to the left", "tilts {extent} to the right", (5.0, 10.0, 18.0), "then straightens"),
}
_EXTENTS = ("slightly", "noticeably", "markedly")
NOISE_FLOOR = 6.0  # [OURS] a movement must be this many times its signal's noise in the clip (docstring)
# [OURS] A face whose nose tip sits outside this span of its jaw line (head_yaw, 0.5 when frontal) is near
# profile: the far jaw end and eye are hidden and guessed, so head turn and tilt are not reported.
PROFILE_YAW = (0.15, 0.85)


@dataclass(frozen=True)
class Movement:
    feature: str
    direction: int  # +1: the signal increased, -1: it decreased
    change: float  # size of the change at its peak, in the feature's unit
    extent: str
    start: float  # when the movement starts, as a fraction of the clip (0..1)
    sudden: bool
    settles: bool  # comes back to where it started before the clip ends
    blink: bool = False
    sentence: str = ""


@dataclass
class LandmarkDescription:
    text: str | None  # None when no face was tracked
    movements: list[Movement]
    note: str | None = None


def describe_cues(cues) -> LandmarkDescription:
    """Describe the movements in a `ClipCues` (landmarks (N, 68, 2) in pixels and validity flags)."""
    return describe_landmarks(cues.landmarks, cues.valid)


def describe_landmarks(landmarks: np.ndarray, valid: np.ndarray | None = None) -> LandmarkDescription:
    """Movement sentences for landmark tracks (N, 68, 2); `valid` (N,) marks frames with a detected face."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must be (N, 68, 2), got {landmarks.shape}")
    n = len(landmarks)
    valid = np.ones(n, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    valid = valid & np.isfinite(landmarks).all(axis=(1, 2))  # not in place: `valid` may be the caller's
    frames = np.flatnonzero(valid)
    if len(frames) < 2:
        return LandmarkDescription(None, [], note=f"a face was tracked in {len(frames)} of {n} frames, too few to see movement")
    times = frames / max(n - 1, 1)  # (M,) position of each used frame in the clip, 0..1
    signals = measure(landmarks[frames])
    movements = []
    profile = not PROFILE_YAW[0] <= float(np.median(signals["head_yaw"])) <= PROFILE_YAW[1]
    for name, feature in FEATURES.items():
        if profile and name in ("head_yaw", "head_roll"):
            continue  # measured from the hidden side too: the nose tip is beyond the jaw's visible end
        floor = NOISE_FLOOR * noise_level(signals[name])
        movement = _detect(name, feature, _smooth(signals[name]), times, floor)
        if movement is not None:
            movements.append(movement)
    movements.sort(key=lambda m: (m.start, list(FEATURES).index(m.feature)))
    if not movements:
        return LandmarkDescription("The face stays still throughout the clip.", [])
    return LandmarkDescription(" ".join(m.sentence for m in movements), movements)


def measure(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame signals (each (M,)) of landmark tracks (M, 68, 2) in pixels; see FEATURES for units."""
    aligned = align(landmarks)  # (M, 68, 2) in reference inter-ocular units
    p = aligned
    eye_line = p[:, _EYE_CORNERS, 1].mean(axis=1)  # (M,) y of the eye corners (y grows downwards)
    brow_height = (eye_line[:, None] - p[:, _BROWS, 1]).mean(axis=1)
    brow_gap = _dist(p[:, 21], p[:, 22])
    eye_opening = 0.5 * (_eye_ratio(p, RIGHT_EYE) + _eye_ratio(p, LEFT_EYE))
    lip_middle = 0.5 * (p[:, 51, 1] + p[:, 57, 1])
    mouth_corners = lip_middle - 0.5 * (p[:, 48, 1] + p[:, 54, 1])  # corners above the lips' middle
    mouth_width = _dist(p[:, 48], p[:, 54])
    lip_gap = (_dist(p[:, 61], p[:, 67]) + _dist(p[:, 62], p[:, 66]) + _dist(p[:, 63], p[:, 65])) / 3
    jaw = _dist(p[:, 8], p[:, 33])
    # Head turn: where the nose tip sits between the two ends of the jaw line (0.5 when frontal); it
    # moves towards the subject's left (the image's right, point 16) when the head turns to its left.
    span = p[:, JAW[-1], 0] - p[:, JAW[0], 0]
    head_yaw = (p[:, 33, 0] - p[:, JAW[0], 0]) / np.where(np.abs(span) < 1e-6, 1e-6, span)
    # Head tilt: angle of the eye line in the raw frame; positive when the subject's left eye (image
    # right) drops, i.e. the head tilts to its left.
    right_eye = landmarks[:, RIGHT_EYE].mean(axis=1)
    left_eye = landmarks[:, LEFT_EYE].mean(axis=1)
    d = left_eye - right_eye
    head_roll = np.degrees(np.arctan2(d[:, 1], d[:, 0]))
    return {
        "brow_height": brow_height, "brow_gap": brow_gap, "eye_opening": eye_opening,
        "mouth_corners": mouth_corners, "mouth_width": mouth_width, "lip_gap": lip_gap, "jaw": jaw,
        "head_yaw": head_yaw, "head_roll": head_roll,
    }


def align(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks (M, 68, 2) mapped onto the clip's reference face, in units of its inter-ocular distance.

    First each frame is normalised by its eye corners alone (origin between the eyes, eye line
    horizontal, inter-ocular distance 1); the median of those rigid points over the clip is the
    reference; then every frame gets the least-squares similarity transform from its rigid points to
    the reference (Umeyama), which is applied to all 68 points.
    """
    right = landmarks[:, [36, 39]].mean(axis=1)
    left = landmarks[:, [42, 45]].mean(axis=1)
    centre = 0.5 * (right + left)  # (M, 2)
    axis = left - right
    iod = np.linalg.norm(axis, axis=1)  # (M,)
    iod = np.where(iod < 1e-6, 1e-6, iod)
    cos, sin = axis[:, 0] / iod, axis[:, 1] / iod
    rot = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], axis=1)  # (M, 2, 2)
    coarse = np.einsum("mij,mkj->mki", rot, landmarks - centre[:, None]) / iod[:, None, None]
    reference = np.median(coarse[:, _RIGID], axis=0)  # (K, 2)
    return _umeyama_apply(landmarks[:, _RIGID], reference, landmarks)


def _umeyama_apply(source: np.ndarray, target: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Fit, per frame, the similarity mapping source (M, K, 2) onto target (K, 2); apply it to points."""
    mu_s = source.mean(axis=1, keepdims=True)  # (M, 1, 2)
    mu_t = target.mean(axis=0)  # (2,)
    s = source - mu_s
    t = target - mu_t
    cov = np.einsum("ki,mkj->mij", t, s) / source.shape[1]  # (M, 2, 2)
    u, sigma, vt = np.linalg.svd(cov)
    sign = np.sign(np.linalg.det(u @ vt))
    d = np.ones((len(source), 2))
    d[:, 1] = np.where(sign < 0, -1.0, 1.0)
    rot = u @ (d[:, :, None] * vt)  # (M, 2, 2)
    var = (s**2).sum(axis=(1, 2)) / source.shape[1]
    scale = (sigma * d).sum(axis=1) / np.where(var < 1e-12, 1e-12, var)  # (M,)
    moved = np.einsum("mij,mkj->mki", rot, points - mu_s) * scale[:, None, None]
    return moved + mu_t


def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=-1)


def _eye_ratio(p: np.ndarray, eye: list[int]) -> np.ndarray:
    # Points of one eye: corner, two upper lid points, corner, two lower lid points (iBUG order).
    c1, u1, u2, c2, l2, l1 = eye
    height = 0.5 * (_dist(p[:, u1], p[:, l1]) + _dist(p[:, u2], p[:, l2]))
    width = _dist(p[:, c1], p[:, c2])
    return height / np.where(width < 1e-6, 1e-6, width)


def _smooth(x: np.ndarray) -> np.ndarray:
    """Running median over 3 frames (5 for long clips): one jittery frame is not a movement."""
    m = len(x)
    half = 2 if m >= 40 else 1 if m >= 5 else 0
    if half == 0:
        return x
    padded = np.pad(x, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return np.median(windows, axis=1)


def noise_level(x: np.ndarray) -> float:
    """The jitter of a signal (M,): robust standard deviation of its frame-to-frame changes, after their
    median (a steady drift) is removed, over sqrt(2) (the change of two independent noisy frames). A step
    or a blink changes only a few differences and leaves it alone. 0 for fewer than four frames."""
    d = np.diff(np.asarray(x, dtype=np.float64))
    if len(d) < 3:
        return 0.0
    return 1.4826 * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2)


def _detect(name: str, feature: Feature, x: np.ndarray, times: np.ndarray, floor: float = 0.0) -> Movement | None:
    """The largest movement of signal x (M,) away from where it starts, if above the feature's threshold
    and the clip's noise `floor` for it."""
    m = len(x)
    k = max(1, int(math.ceil(m / 8)))
    baseline = float(np.median(x[:k]))
    d = x - baseline
    slight, clear, marked = feature.thresholds
    candidates = []
    if feature.up is not None:
        candidates.append((float(d.max()), 1))
    if feature.down is not None:
        candidates.append((float(-d.min()), -1))
    change, direction = max(candidates)
    if change < max(slight, floor):
        return None
    e = direction * d  # (M,) movement in the reported direction
    peak = int(np.argmax(e))
    # Start: the last frame before the peak still within 10 % of the baseline.
    quiet = np.flatnonzero(e[: peak + 1] <= 0.1 * change)
    begin = int(quiet[-1]) if len(quiet) else 0
    start, duration = float(times[begin]), float(times[peak] - times[begin])
    settles = peak < m - 1 and float(e[peak + 1:].min()) <= 0.3 * change
    sudden = duration <= 0.25
    extent = _EXTENTS[0] if change < clear else _EXTENTS[1] if change < marked else _EXTENTS[2]
    # A short dip of eye opening that comes back is a blink, not a narrowing.
    above = np.flatnonzero(e >= 0.5 * change)
    blink = (
        name == "eye_opening" and direction < 0 and settles
        and float(times[above[-1]] - times[above[0]]) <= 0.15 and len(above) <= max(3, m // 8)
    )
    movement = Movement(name, direction, change, extent, start, sudden, settles, blink)
    return _with_sentence(movement, feature)


def _when(start: float) -> str:
    if start < 0.15:
        return "From the start of the clip"
    if start < 0.45:
        return "Early in the clip"
    if start < 0.7:
        return "Midway through the clip"
    return "Towards the end of the clip"


def _with_sentence(movement: Movement, feature: Feature) -> Movement:
    when = _when(movement.start)
    if movement.blink:
        sentence = f"{when}, the eyes blink."
    else:
        verb = feature.up if movement.direction > 0 else feature.down
        speed = "suddenly" if movement.sudden else "gradually"
        settle = f", {feature.settle}" if movement.settles else ""
        # "turns {extent} to the left": the extent goes where the verb phrase says, else after it.
        phrase = verb.format(extent=movement.extent) if "{extent}" in verb else f"{verb} {movement.extent}"
        sentence = f"{when}, the {feature.part} {speed} {phrase}{settle}."
    return Movement(**{**movement.__dict__, "sentence": sentence})
