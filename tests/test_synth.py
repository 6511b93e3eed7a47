"""The synthetic dataset: determinism, balance, identity split, oracle cues that agree with the drawing,
and split files that the real manifest builder reads."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from finecliper.cli import main
from finecliper.data.cue_store import CueStore
from finecliper.data.face_verdict import face_verdict
from finecliper.data.video import read_clip
from finecliper.datasets.manifest_builder import build_manifests
from finecliper.errors import UserError
from finecliper.face_layout import PARSING_INDEX
from finecliper.labels import BASIC7, MAFW11
from finecliper.synth.expressions import RECIPES, ClipPlan, course, plan_clip
from finecliper.synth.face import DEPTH, FaceState, Pose, draw, landmarks, random_identity
from finecliper.synth.generate import (
    ClipInfo,
    generate,
    identity_of,
    plan_dataset,
    read_clips,
    render_clip,
)
from finecliper.synth.settings import SynthSettings

SMALL = SynthSettings(train_identities=3, test_identities=2, frames=8, size=64, seed=3)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "data"
    generate(out, SMALL, workers=2, progress=False)
    return out


def _samples(points: np.ndarray) -> dict[str, np.ndarray]:
    """Points (K, 2) that must lie on each parsing class: brow landmarks run along the brow; eye
    landmarks outline the eye; a lip's outer landmarks outline it and the middle between its outer and
    inner landmark lies inside it (the inner landmarks of closed lips are on the line between the two)."""
    return {
        "right_brow": points[17:22], "left_brow": points[22:27],
        "right_eye": points[36:42], "left_eye": points[42:48],
        "upper_lip": np.concatenate([points[49:54], 0.5 * (points[[50, 51, 52]] + points[[61, 62, 63]])]),
        "lower_lip": np.concatenate([points[55:60], 0.5 * (points[[58, 57, 56]] + points[[65, 66, 67]])]),
    }


def test_same_seed_same_dataset_other_seed_another(dataset, tmp_path):
    again = tmp_path / "again"
    generate(again, SMALL, workers=1, progress=False)  # one process instead of two: the same clips
    assert (again / "clips.jsonl").read_text() == (dataset / "clips.jsonl").read_text()
    for info in read_clips(dataset)[:5]:
        for a, b in zip(sorted((dataset / "clips" / info.id).iterdir()), sorted((again / "clips" / info.id).iterdir()),
                        strict=True):
            assert a.read_bytes() == b.read_bytes()
        first, second = CueStore(dataset / "cues").load(info.id), CueStore(again / "cues").load(info.id)
        assert np.array_equal(first.landmarks, second.landmarks) and np.array_equal(first.parsing, second.parsing)
    other = plan_dataset(SynthSettings(**{**SMALL.__dict__, "seed": 4}))
    assert [c.plan for c in other] != [c.plan for c in read_clips(dataset)]


def test_classes_are_balanced_and_test_identities_never_train(dataset):
    clips = read_clips(dataset)
    assert len(clips) == SMALL.identities * 7 * SMALL.clips_per_class
    for split in ("train", "test"):
        counts = Counter(c.label for c in clips if c.split == split)
        assert set(counts) == set(BASIC7) and len(set(counts.values())) == 1, counts
    train = {c.identity for c in clips if c.split == "train"}
    test = {c.identity for c in clips if c.split == "test"}
    assert len(train) == SMALL.train_identities and len(test) == SMALL.test_identities and not train & test
    record = json.loads((dataset / "synth.json").read_text())
    assert set(record["identities"]["train"]).isdisjoint(record["identities"]["test"])


def test_the_real_manifest_builder_reads_the_split_files(dataset):
    result = build_manifests("dfew", dataset, frames="clips")  # label base detected from the files, as for DFEW
    assert not result.problems and result.info["dfew_label_base"] == 1
    truth = {c.id: c for c in read_clips(dataset)}
    for split in ("train", "test"):
        records = result.manifests[f"dfew_fold1_{split}.jsonl"]
        assert len(records) == sum(c.split == split for c in truth.values())
        for r in records:
            assert r.label == truth[r.id].label and r.split == split and r.num_frames == SMALL.frames


@pytest.mark.parametrize("classes, fmt", [("mafw", "mp4")])
def test_mafw_classes_as_videos_in_mafw_split_files(tmp_path, classes, fmt):
    settings = SynthSettings(train_identities=1, test_identities=1, frames=4, size=48, classes=classes, format=fmt)
    generate(tmp_path, settings, progress=False)
    result = build_manifests("mafw", tmp_path, frames="clips")
    assert not result.problems
    records = result.manifests["mafw_fold1_train.jsonl"] + result.manifests["mafw_fold1_test.jsonl"]
    assert {r.label for r in records} == set(MAFW11) and len(records) == 22
    assert all(r.is_video and r.num_frames == 4 for r in records)


def test_oracle_cues_are_the_drawn_landmarks_and_parsing(dataset):
    store = CueStore(dataset / "cues")
    assert store.provenance()["settings"]["backend"] == "oracle"
    size = SMALL.size
    for info in read_clips(dataset)[:6]:
        frames, parsing, points = render_clip(SMALL, info)
        cues = store.load(info.id)
        assert cues.valid.all() and cues.frame_size == (SMALL.size, SMALL.size)
        # The face is drawn in every frame: a face score of 1 each, so the face check measures (and keeps) it.
        assert cues.face_score is not None and cues.face_score.tolist() == [1.0] * SMALL.frames
        verdict = face_verdict(cues)
        assert verdict.measured and verdict.is_face
        assert np.allclose(cues.landmarks, points) and np.array_equal(cues.parsing, parsing)
        # Independently of the renderer: the face model's points of each frame's planned state, projected
        # by its planned pose (course() gives poses in frame units: centre and scale as fractions of it).
        identity = identity_of(SMALL, info.identity)
        _, states, poses = course(ClipPlan(**info.plan), SMALL.frames)
        written = read_clip(dataset / "clips" / info.id, np.arange(SMALL.frames)).astype(float)
        for t, (state, pose) in enumerate(zip(states, poses, strict=True)):
            in_pixels = Pose(pose.cx * size, pose.cy * size, pose.scale * size, pose.roll, pose.yaw)
            assert np.allclose(cues.landmarks[t], in_pixels.to_pixels(landmarks(identity, state), DEPTH))
            # The parsing map against the frame as written: what it calls hair has the identity's hair
            # colour under the clip's lighting (measured on what it calls skin), not the skin's.
            hair = cues.parsing[t] == PARSING_INDEX["hair"]
            if hair.any():
                skin_mask = ndimage.binary_erosion(cues.parsing[t] == PARSING_INDEX["skin"], iterations=2)
                skin = np.median(written[t][skin_mask], axis=0)
                lit_hair = skin / np.asarray(identity.skin) * np.asarray(identity.hair)
                colour = np.median(written[t][hair], axis=0)
                assert np.abs(colour - lit_hair).max() < np.abs(colour - skin).max(), (info.id, t)


def test_landmarks_lie_on_their_parsing_regions_in_every_frame(dataset):
    """Brow, eye and lip landmarks are on, or next to, a pixel of their own parsing class."""
    for info in read_clips(dataset):
        _, parsing, points = render_clip(SMALL, info)
        for t in range(SMALL.frames):
            for part, xy in _samples(points[t]).items():
                if part.endswith("eye") and np.ptp(xy[:, 1]) < 2.0:
                    continue  # a blink: the eye is shut, there are no eye pixels
                # Distance of every pixel to the nearest pixel of this class, read at the points.
                distance = ndimage.distance_transform_edt(parsing[t] != PARSING_INDEX[part])
                ij = np.clip(np.floor(xy).astype(int), 0, SMALL.size - 1)
                assert distance[ij[:, 1], ij[:, 0]].max() <= 1.5, (info.id, t, part)  # 1.5: diagonal neighbours


def test_parsing_regions_have_the_colours_drawn_in_them():
    """Without lighting and noise, the pixels inside each parsing region have that part's colour."""
    rng = np.random.default_rng(0)
    size = 128
    background = np.full((size, size, 3), (30, 120, 200), np.uint8)
    for label in ("neutral", "surprise", "happiness"):
        identity = random_identity(rng)
        state = FaceState(dict(RECIPES[label]))
        pose = Pose(size / 2, size / 2, size * 0.38, roll=4.0, yaw=0.2)
        image, parsing, points = draw(identity, state, pose, size, background)
        assert np.array_equal(points, pose.to_pixels(landmarks(identity, state), DEPTH))

        def inside(part: str, image=image, parsing=parsing) -> np.ndarray:
            mask = ndimage.binary_erosion(parsing == PARSING_INDEX[part], iterations=1)
            return image[mask].astype(float)

        assert np.abs(np.median(inside("right_brow"), 0) - identity.brow_colour).max() < 12
        assert np.abs(np.median(inside("lower_lip"), 0) - identity.lip_colour).max() < 12
        assert np.abs(np.median(inside("skin"), 0) - identity.skin).max() < 12
        assert np.abs(np.median(inside("background"), 0) - background[0, 0]).max() < 12
        # Eyes are white, iris and pupil: nothing of them is skin-coloured on average.
        assert np.abs(inside("left_eye").mean(0) - identity.skin).max() > 30
        if label == "surprise":  # the dropped jaw opens the mouth
            assert (parsing == PARSING_INDEX["inner_mouth"]).sum() > 10


def test_a_single_frame_often_hides_the_expression():
    """The apex lies anywhere in the clip: the middle frame is at rest in a good share of clips."""
    rng = np.random.default_rng(0)
    at_rest = 0
    for _ in range(200):
        weights, _, _ = course(plan_clip("surprise", rng), 16)
        assert weights.max() > 0.95  # every clip reaches its apex
        at_rest += weights[8] < 0.2
    assert 40 < at_rest < 160


def test_other_settings_into_the_same_folder_are_refused(dataset, tmp_path):
    out = tmp_path / "d"
    generate(out, SynthSettings(train_identities=1, test_identities=1, frames=3, size=32), progress=False)
    with pytest.raises(UserError, match="other settings"):
        generate(out, SynthSettings(train_identities=1, test_identities=1, frames=4, size=32), progress=False)
    record = generate(out, SynthSettings(train_identities=1, test_identities=1, frames=4, size=32), progress=False,
                      force=True)
    assert record["settings"]["frames"] == 4 and len(list((out / "clips" / "00001").iterdir())) == 4


def test_an_interrupted_run_resumes(tmp_path):
    settings = SynthSettings(train_identities=1, test_identities=1, frames=3, size=32)
    generate(tmp_path, settings, progress=False)
    (tmp_path / "synth.json").unlink()  # as if killed before the end
    CueStore(tmp_path / "cues").path("00002").unlink()
    record = generate(tmp_path, settings, progress=False)
    assert record["written"] == 1


def test_cli_writes_the_dataset_and_names_the_manifest_command(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["synth", "--out", str(out), "--train-identities", "1", "--test-identities", "1", "--frames", "3",
                 "--size", "32", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"finecliper manifest --dataset dfew --data-root {out} --frames clips" in printed
    assert main(["synth", "--out", str(out), "--size", "33"]) == 2
    assert "even number" in capsys.readouterr().err


def test_clip_info_round_trips_through_clips_jsonl(dataset):
    info = read_clips(dataset)[0]
    assert isinstance(info, ClipInfo) and info.plan["label"] == info.label
