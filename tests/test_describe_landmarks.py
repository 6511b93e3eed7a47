"""The landmark describer: synthetic tracks in, the matching movement sentences out, nothing else."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from builders import frontal_face, still
from finecliper.cli import main
from finecliper.data.cue_store import ClipCues, CueStore
from finecliper.data.descriptions import read_records
from finecliper.data.manifest import ClipRecord, write_manifest
from finecliper.describe.landmark_describer import VERSION, describe_landmarks
from finecliper.describe.refine import Refiner

PARTS = ("eyebrows", "eyes", "mouth", "lips", "jaw", "head")


def mentioned(text: str) -> set[str]:
    return {part for part in PARTS if part in text}


def test_mouth_corners_rising_over_time():
    tracks = still(16)
    ramp = np.linspace(0, 1, 16)[:, None]
    tracks[:, [48, 54, 60, 64], 1] -= 8 * ramp  # corners rise by 8 px = 0.13 inter-ocular distances
    result = describe_landmarks(tracks)
    assert result.text == "From the start of the clip, the mouth corners gradually rise markedly."
    assert [m.feature for m in result.movements] == ["mouth_corners"]


def test_brows_rising_midway_and_settling():
    tracks = still(20)
    tracks[10:16, 17:27, 1] -= 6  # brows up by 0.1 IOD for six frames, then back
    result = describe_landmarks(tracks)
    assert result.text == "Midway through the clip, the eyebrows suddenly rise noticeably, then settle back."
    assert mentioned(result.text) == {"eyebrows"}


def test_brows_and_smile_together_and_nothing_else():
    tracks = still(24, seed=1)
    ramp = np.clip(np.linspace(-1, 2, 24), 0, 1)[:, None]  # starts a third in, done by two thirds
    tracks[:, 17:27, 1] -= 7 * ramp
    tracks[:, [48, 54, 60, 64], 1] -= 5 * ramp
    result = describe_landmarks(tracks)
    assert {m.feature for m in result.movements} == {"brow_height", "mouth_corners"}
    assert "the eyebrows" in result.text and "rise" in result.text and "the mouth corners" in result.text
    assert mentioned(result.text) == {"eyebrows", "mouth"}
    assert Refiner().refine(result.text).text == result.text  # no emotion word, ever


def test_zoom_and_motion_do_not_fake_expressions():
    n = 30
    zoom = np.linspace(1.0, 1.8, n)[:, None, None]
    shift = np.stack([np.linspace(0, 60, n), np.linspace(0, -25, n)], axis=-1)[:, None, :]
    tracks = still(n, seed=2) * zoom + shift
    result = describe_landmarks(tracks)
    assert result.text == "The face stays still throughout the clip."
    assert result.movements == []


def test_head_tilt_is_a_head_movement_only():
    n = 16
    tracks = []
    for angle in np.radians(np.linspace(0, 15, n)):
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        tracks.append((frontal_face() - 100) @ rot.T + 100)
    result = describe_landmarks(np.array(tracks))
    assert [m.feature for m in result.movements] == ["head_roll"]
    assert "the head gradually tilts noticeably to the left" in result.text


def test_jaw_drop_parts_lips_and_blink_is_a_blink():
    n = 40
    tracks = still(n, seed=3)
    ramp = np.clip(np.linspace(-1, 3, n), 0, 1)[:, None]
    lower = list(range(3, 14)) + [55, 56, 57, 58, 59, 65, 66, 67]
    tracks[:, lower, 1] += 20 * ramp
    tracks[:, [48, 54, 60, 64], 1] += 10 * ramp  # the corners follow half way, as they do
    tracks[30:33, [37, 38, 43, 44], 1] += 4.5  # lids meet for three frames
    tracks[30:33, [40, 41, 46, 47], 1] -= 4.5
    result = describe_landmarks(tracks)
    assert [m.feature for m in result.movements] == ["lip_gap", "jaw", "eye_opening"]
    assert "the lips gradually part markedly" in result.text and "the jaw gradually drops markedly" in result.text
    assert "Towards the end of the clip, the eyes blink." in result.text
    assert "corners" not in result.text and "eyebrows" not in result.text


def test_frames_without_a_face():
    tracks = still(5)
    result = describe_landmarks(tracks, valid=np.array([True, False, False, False, False]))
    assert result.text is None and "1 of 5 frames" in result.note


def _store_clip(store: CueStore, clip_id: str, tracks: np.ndarray) -> None:
    n = len(tracks)
    store.save(clip_id, ClipCues(tracks.astype(np.float32), np.ones(n, bool), np.zeros((n, 4, 4), np.uint8), (200, 200)))


def _clip(root, clip_id: str) -> ClipRecord:
    return ClipRecord(id=clip_id, path=clip_id, label="happiness", num_frames=16, split="test", fold=1,
                      dataset="dfew", source="frames", root=str(root))


def test_landmarks_backend_cli(tmp_path, capsys):
    store = CueStore(tmp_path / "cues")
    smile = still(16)
    smile[:, [48, 54, 60, 64], 1] -= 8 * np.linspace(0, 1, 16)[:, None]
    clips = []
    for i in range(40):
        clip_id = f"{i:05d}"
        _store_clip(store, clip_id, smile if i % 2 else still(16, seed=i))
        clips.append(_clip(tmp_path, clip_id))
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, clips)
    out = tmp_path / "desc.jsonl"
    start = time.perf_counter()
    assert main(["describe", "--manifest", str(manifest), "--out", str(out), "--backend", "landmarks",
                 "--cues", str(store.root), "--no-progress", "--json"]) == 0
    elapsed = time.perf_counter() - start
    summary = json.loads(capsys.readouterr().out)
    with capsys.disabled():
        print(f"\nlandmark describer: {summary['clips_per_second']:.0f} clips/s (pipeline), "
              f"{len(clips) / elapsed:.0f} clips/s (whole command) on CPU")
    records = {r["id"]: r for r in read_records(out)}
    assert len(records) == 40 and summary["changed"] == 0
    assert records["00001"]["refined"] == "From the start of the clip, the mouth corners gradually rise markedly."
    assert records["00000"]["refined"] == "The face stays still throughout the clip."
    assert records["00001"]["backend"] == "landmarks" and records["00001"]["model"] == VERSION

    # A manifest with a clip the cue store lacks, and a missing cue store: one clear sentence each.
    write_manifest(manifest, clips + [_clip(tmp_path, "99999")])
    assert main(["describe", "--manifest", str(manifest), "--out", str(tmp_path / "b.jsonl"), "--backend",
                 "landmarks", "--cues", str(store.root), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "has no cues for 1 of 41 clips (first: 99999)" in err and len(err.strip().splitlines()) == 1
    assert main(["describe", "--manifest", str(manifest), "--out", str(tmp_path / "b.jsonl"), "--backend",
                 "landmarks", "--cues", str(tmp_path / "nowhere")]) == 2
    assert "cue store" in capsys.readouterr().err
    assert main(["describe", "--manifest", str(manifest), "--out", str(tmp_path / "b.jsonl"), "--backend",
                 "landmarks"]) == 2
    assert "pass --cues DIR" in capsys.readouterr().err


@pytest.mark.parametrize("n", [2, 3, 16])
def test_short_clips(n):
    tracks = still(n, noise=0.0)
    tracks[-1, [48, 54, 60, 64], 1] -= 8
    result = describe_landmarks(tracks)
    assert [m.feature for m in result.movements] == ["mouth_corners"]


def test_bench_describe_landmarks(capsys):
    assert main(["bench", "describe", "--backend", "landmarks", "--clips", "20", "--frames", "32", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["clips"] == 20 and result["clips_per_s"] > 0


def test_head_turn_sides_follow_the_subject_and_mirror():
    from finecliper.face_layout import LANDMARK_FLIP

    ramp = np.linspace(0, 1, 16)[:, None]
    tracks = still(16, noise=0.0)
    # Turning to the subject's left: the nose swings towards the image's right, the far jaw line narrows.
    tracks[:, 27:36, 0] += 20 * ramp
    tracks[:, 0:5, 0] += 12 * ramp
    result = describe_landmarks(tracks)
    assert [m.feature for m in result.movements] == ["head_yaw"]
    assert "turns" in result.text and result.text.endswith("to the left.")
    mirrored = tracks[:, LANDMARK_FLIP].copy()
    mirrored[..., 0] = 200 - mirrored[..., 0]
    assert describe_landmarks(mirrored).text == result.text.replace("to the left", "to the right")


def test_swap_left_right_for_flipped_clips():
    from finecliper.data.descriptions import swap_left_right

    text = "Midway through the clip, the head suddenly turns slightly to the left. Left brow; rightly."
    assert swap_left_right(text) == "Midway through the clip, the head suddenly turns slightly to the right. Right brow; rightly."
    assert swap_left_right(None) is None
