"""Expression classes as action-unit recipes, their course over a clip, and the movements that mean nothing.

A recipe gives each class the action units it moves and how strongly [OURS, after the EMFACS
prototypes: happiness 6+12, sadness 1+4+15, anger 4+5+7+24, surprise 1+2+5+26, disgust 9+10+15,
fear 1+2+4+5+20+26; MAFW's extra classes in the same spirit]. Similar classes share action units on
purpose (fear and surprise both raise the brows, widen the eyes and drop the jaw; anger and disgust
both lower the brows), so telling them apart needs the smaller differences.

A clip's course is neutral -> onset -> apex -> offset with random start, durations and intensity, so
the apex may sit anywhere in the clip, and a single frame (the middle one, say) often shows a face at
rest or half way. Over it lie blinks, speech (the lips and jaw open and close), gaze shifts and head
motion, for every class alike; neutral clips move too, only without an expression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finecliper.synth.face import AU_NAMES, FaceState, Pose

# class -> {action unit: weight}; intensities are scaled per clip (see `course`).
RECIPES: dict[str, dict[str, float]] = {
    "happiness": {"cheek_raise": 0.9, "lip_corner_pull": 1.0, "jaw_drop": 0.1},
    "sadness": {"inner_brow_raise": 0.9, "brow_lower": 0.35, "lip_corner_depress": 0.9, "lid_tighten": 0.2},
    "neutral": {},
    "anger": {"brow_lower": 1.0, "upper_lid_raise": 0.3, "lid_tighten": 0.7, "lip_press": 0.9},
    "surprise": {"inner_brow_raise": 1.0, "outer_brow_raise": 1.0, "upper_lid_raise": 0.9, "jaw_drop": 0.85},
    "disgust": {"nose_wrinkle": 1.0, "upper_lip_raise": 0.9, "brow_lower": 0.5, "lip_corner_depress": 0.35,
                "lid_tighten": 0.3},
    "fear": {"inner_brow_raise": 1.0, "outer_brow_raise": 0.55, "brow_lower": 0.55, "upper_lid_raise": 1.0,
             "lip_stretch": 0.9, "jaw_drop": 0.4},
    # MAFW's four further classes.
    "contempt": {"smirk": 1.0, "lid_tighten": 0.25},
    "anxiety": {"inner_brow_raise": 0.6, "brow_lower": 0.45, "lip_press": 0.6, "lip_stretch": 0.35},
    "helplessness": {"inner_brow_raise": 0.85, "outer_brow_raise": 0.45, "lip_corner_depress": 0.5,
                     "upper_lid_raise": 0.0},
    "disappointment": {"lip_corner_depress": 0.8, "brow_lower": 0.3, "lid_tighten": 0.35, "lip_press": 0.35},
}
# Head and gaze habits that go with a class (MAFW's classes differ in them more than in the face).
HABITS: dict[str, dict[str, float]] = {
    "sadness": {"gaze_y": 0.35},
    "helplessness": {"roll": 6.0, "gaze_y": 0.2},
    "disappointment": {"gaze_y": 0.4},
    "anxiety": {"gaze_jitter": 0.5, "blinks": 2.0},
    "contempt": {"roll": -4.0},
}


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def envelope(times: np.ndarray, start: float, onset: float, hold: float, offset: float) -> np.ndarray:
    """0 -> 1 -> 0 course over clip times in [0, 1]: rise over `onset`, stay `hold`, fall over `offset`."""
    rise = _smoothstep((times - start) / onset)
    fall = 1 - _smoothstep((times - start - onset - hold) / offset)
    return np.minimum(rise, fall)


@dataclass
class ClipPlan:
    """Everything random about one clip, drawn once (`plan_clip`), then rendered frame by frame."""

    label: str
    intensity: dict[str, float]  # peak value of each action unit
    timing: tuple[float, float, float, float]  # start, onset, hold, offset as fractions of the clip
    blinks: list[float]  # blink times (fractions of the clip)
    speech: tuple[float, float, float]  # amplitude, cycles per clip, phase
    gaze: tuple[float, float, float, float]  # x, y at rest; x, y shift at the apex
    head: dict[str, float]  # pose path: start and end of centre, scale, roll, yaw; sway
    seed: int  # for the rendering's noise


def plan_clip(label: str, rng: np.random.Generator) -> ClipPlan:
    """Draw the course, intensity and nuisances of one clip of class `label`."""
    recipe = RECIPES[label]
    habits = HABITS.get(label, {})
    strength = rng.uniform(0.65, 1.0)
    intensity = {}
    for au, weight in recipe.items():
        if weight < 0.5 and rng.random() < 0.25:
            continue  # secondary action units are sometimes left out
        intensity[au] = float(np.clip(weight * strength * rng.uniform(0.8, 1.15), 0.0, 1.0))
    if rng.random() < 0.3:  # a stray small action unit, in any class: not every movement is the class
        au = AU_NAMES[int(rng.integers(len(AU_NAMES)))]
        intensity[au] = max(intensity.get(au, 0.0), float(rng.uniform(0.1, 0.3)))
    # The apex lies anywhere in the clip; the offset may run past its end.
    onset, hold, offset = rng.uniform(0.08, 0.2), rng.uniform(0.1, 0.3), rng.uniform(0.08, 0.2)
    start = rng.uniform(0.0, 1.0 - onset - hold)
    n_blinks = rng.poisson(0.8 * habits.get("blinks", 1.0))
    blinks = sorted(float(t) for t in rng.uniform(0.0, 1.0, n_blinks))
    talking = rng.random() < 0.4
    speech = (rng.uniform(0.03, 0.09) if talking else 0.0, rng.uniform(1.5, 3.5), rng.uniform(0, 2 * np.pi))
    gx, gy = rng.normal(0, 0.15, 2)
    gaze = (float(gx), float(gy), float(rng.normal(0, 0.2 + habits.get("gaze_jitter", 0.0))),
            float(habits.get("gaze_y", 0.0) + rng.normal(0, 0.1)))
    # Head motion of an aligned face crop (DFEW's clips are crops that follow the face): small shifts,
    # zoom, tilt and turn over the clip, and a little sway.
    head = {
        "x0": rng.normal(0, 0.012), "y0": rng.normal(0.0, 0.012), "x1": rng.normal(0, 0.012),
        "y1": rng.normal(0, 0.012), "s0": rng.uniform(0.36, 0.4), "s1": rng.uniform(0.36, 0.4),
        "r0": rng.normal(0, 3.0), "r1": rng.normal(0, 3.0) + habits.get("roll", 0.0),
        "yaw0": rng.normal(0, 0.12), "yaw1": rng.normal(0, 0.12), "sway": rng.uniform(0, 0.01),
        "sway_phase": rng.uniform(0, 2 * np.pi),
    }
    return ClipPlan(label, intensity, (start, onset, hold, offset), blinks, speech, gaze, head,
                    int(rng.integers(2**31)))


def course(plan: ClipPlan, num_frames: int) -> tuple[np.ndarray, list[FaceState], list[Pose]]:
    """Per-frame expression weight (T,), face states and poses of a planned clip (poses in frame units:
    centre as a fraction of the frame, scale as a fraction of the frame per face unit)."""
    times = np.linspace(0.0, 1.0, num_frames)
    weight = envelope(times, *plan.timing)  # (T,)
    states, poses = [], []
    amp, cycles, phase = plan.speech
    h = plan.head
    for t, w in zip(times, weight, strict=True):
        blink = max([float(np.exp(-(((t - b) / 0.035) ** 2))) for b in plan.blinks] + [0.0])
        speech = amp * abs(np.sin(2 * np.pi * cycles * t + phase))
        gaze = (plan.gaze[0] + w * plan.gaze[2], plan.gaze[1] + w * plan.gaze[3])
        states.append(FaceState({au: v * float(w) for au, v in plan.intensity.items()}, blink, speech, gaze))
        sway = h["sway"] * np.sin(2 * np.pi * t + h["sway_phase"])
        poses.append(Pose(
            cx=0.5 + h["x0"] + (h["x1"] - h["x0"]) * t + sway, cy=0.5 + h["y0"] + (h["y1"] - h["y0"]) * t,
            scale=h["s0"] + (h["s1"] - h["s0"]) * t, roll=h["r0"] + (h["r1"] - h["r0"]) * t,
            yaw=h["yaw0"] + (h["yaw1"] - h["yaw0"]) * t,
        ))
    return weight, states, poses


# Phrases for what a face does in one frame, worded as the landmark describer words movements, so that
# a text tower that learned them can read its descriptions (used to pretrain the demo's CLIP).
ACTION_PHRASES = (
    "eyebrows rise", "inner eyebrows rise", "eyebrows lower", "eyebrows draw together", "eyes widen",
    "eyes narrow", "eyes closed", "nose wrinkles", "upper lip rises", "mouth corners rise",
    "one mouth corner rises", "mouth corners fall", "lips stretch sideways", "lips press together",
    "jaw drops", "lips part", "a face at rest",
)


def action_phrases(state: FaceState) -> list[str]:
    """The ACTION_PHRASES that hold for one frame (no class names)."""
    on = {name: state[name] > 0.3 for name in ("inner_brow_raise", "outer_brow_raise", "brow_lower",
                                                 "upper_lid_raise", "nose_wrinkle", "upper_lip_raise",
                                                 "lip_corner_pull", "smirk", "lip_corner_depress",
                                                 "lip_stretch", "lip_press", "jaw_drop")}
    words = []
    if on["outer_brow_raise"]:
        words.append("eyebrows rise")
    elif on["inner_brow_raise"]:
        words.append("inner eyebrows rise")
    if on["brow_lower"]:
        words.append("eyebrows draw together" if on["inner_brow_raise"] else "eyebrows lower")
    if state.blink > 0.5:
        words.append("eyes closed")
    elif on["upper_lid_raise"]:
        words.append("eyes widen")
    elif max(state["lid_tighten"], state["cheek_raise"]) > 0.4:
        words.append("eyes narrow")
    for name, phrase in (("nose_wrinkle", "nose wrinkles"), ("upper_lip_raise", "upper lip rises"),
                         ("lip_corner_pull", "mouth corners rise"), ("smirk", "one mouth corner rises"),
                         ("lip_corner_depress", "mouth corners fall"), ("lip_stretch", "lips stretch sideways"),
                         ("lip_press", "lips press together"), ("jaw_drop", "jaw drops")):
        if on[name]:
            words.append(phrase)
    if not on["jaw_drop"] and state.speech > 0.04:
        words.append("lips part")
    return words or ["a face at rest"]


def shown_expression(label: str, weight: float, state: FaceState) -> str | None:
    """The expression a single frame shows clearly: the clip's class near its apex, "neutral" at rest."""
    if max(state.au.values(), default=0.0) < 0.1:
        return "neutral"
    return label if weight >= 0.6 and label != "neutral" else None
