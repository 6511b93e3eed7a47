"""`finecliper cues` end to end: moving faces in real videos, the store, resumption, bad input, preview."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from builders import moving
from finecliper.cli import main
from finecliper.cues.extract import CueSettings, Extractor
from finecliper.cues.pipeline import run_cues
from finecliper.data.cue_store import ClipCues, CueStore
from finecliper.data.manifest import ClipRecord, write_manifest
from finecliper.data.video import read_clip
from finecliper.errors import UserError
from finecliper.face_layout import LEFT_EYE, PARSING_INDEX, RIGHT_EYE
from media import astronaut, grace_hopper, numbered_frames, write_frames, write_video


def face_crops(photo_fn=astronaut, n: int = 8) -> np.ndarray:
    """224 px face crops like the datasets', the face drifting and zooming a little."""
    if photo_fn is astronaut:
        return moving(astronaut(), n, (224, 224), (1.4, 1.6), (-203, -60), (-260, -90))[0]
    return moving(grace_hopper(), n, (224, 224), (0.9, 1.0), (-126, -104), (-160, -122))[0]


def record(root: Path, clip_id: str, rel: str, num_frames: int) -> ClipRecord:
    return ClipRecord(id=clip_id, path=rel, label="happiness", num_frames=num_frames, split="test", fold=1,
                      dataset="csv", source="faces", root=str(root))


def follows_motion(cues: ClipCues, motion) -> tuple[float, float]:
    """Median and max deviation (in inter-ocular distances) of the landmarks mapped back into the photo."""
    back = np.stack([(cues.landmarks[k] - shift) / scale for k, (scale, shift) in enumerate(motion)])
    ref = np.median(back, axis=0)
    iod = np.linalg.norm(ref[RIGHT_EYE].mean(0) - ref[LEFT_EYE].mean(0))
    dev = np.linalg.norm(back - ref, axis=-1) / iod
    return float(np.median(dev)), float(dev.max())


@pytest.fixture(scope="module")
def extractor():
    return Extractor(CueSettings())


@pytest.mark.parametrize("photo", [astronaut, grace_hopper])
def test_landmarks_follow_a_moving_face_crop(tmp_path, extractor, photo):
    if photo is astronaut:
        frames, motion = moving(astronaut(), 10, (224, 224), (1.4, 1.6), (-203, -60), (-260, -90))
    else:
        frames, motion = moving(grace_hopper(), 10, (224, 224), (0.9, 1.0), (-126, -104), (-160, -122))
    video = write_video(tmp_path / "clip.mp4", frames)
    cues = extractor.extract(video)
    assert cues.boxes is None  # face crops are used whole
    assert cues.valid.all() and cues.frame_size == (224, 224) and cues.parsing.shape == (10, 224, 224)
    median, worst = follows_motion(cues, motion)
    assert median < 0.03 and worst < 0.12
    # The face zoomed by 11-14 %: the landmarks spread with it.
    spread = cues.landmarks.std(axis=1).mean(axis=1)  # (T,)
    assert spread[-1] / spread[0] == pytest.approx(motion[-1][0] / motion[0][0], rel=0.03)
    # On the decoded frames as on the photos: eyes where OpenCV's eye cascade finds them, mouth below
    # the nose, brow and eye points inside their parsing regions.
    decoded = read_clip(video, [0, 9])
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_eye.xml")
    for frame, t in zip(decoded, (0, 9), strict=True):
        lm, parsing = cues.landmarks[t], cues.parsing[t]
        gray = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
        eyes = cascade.detectMultiScale(gray, scaleFactor=1.05, minNeighbors=5, minSize=(10, 10))
        if photo is astronaut:  # behind Grace Hopper's glasses the plain eye cascade finds nothing at 224 px
            for group in (RIGHT_EYE, LEFT_EYE):
                cx, cy = lm[group].mean(0)
                assert any(x <= cx <= x + w and y <= cy <= y + h for x, y, w, h in eyes), (t, group[0])
        assert lm[48:68, 1].min() > lm[31:36, 1].max()
        # Brow ends and eye contour points lie on their region's border: within a pixel of it.
        regions = [(i, "right_brow") for i in range(17, 22)] + [(i, "left_brow") for i in range(22, 27)]
        regions += [(i, "right_eye") for i in RIGHT_EYE] + [(i, "left_eye") for i in LEFT_EYE]
        for i, name in regions:
            x, y = int(lm[i, 0]), int(lm[i, 1])
            assert PARSING_INDEX[name] in parsing[y - 1 : y + 2, x - 1 : x + 2], (t, i)
        for i in (18, 19, 20, 23, 24, 25):  # the brows' middle points: inside
            assert parsing[int(lm[i, 1]), int(lm[i, 0])] == PARSING_INDEX["right_brow" if i < 22 else "left_brow"]


def test_raw_video_is_cropped_to_the_face_and_followed(tmp_path, extractor):
    frames, motion = moving(astronaut(), 12, (320, 480), (0.6, 0.75), (40, 10), (200, -20))
    cues = extractor.extract(write_video(tmp_path / "raw.mp4", frames))
    assert cues.valid.all() and cues.frame_size == (320, 480) and cues.parsing.shape == (12, 320, 480)
    assert cues.boxes is not None and cues.boxes.shape == (12, 3)
    median, worst = follows_motion(cues, motion)
    assert median < 0.03 and worst < 0.12
    # The crop follows the face: every frame's landmarks sit inside its crop, and the crop moves right.
    for lm, (x0, y0, side) in zip(cues.landmarks, cues.boxes, strict=True):
        assert lm[:, 0].min() > x0 and lm[:, 0].max() < x0 + side and lm[:, 1].min() > y0
        assert lm[:, 1].max() < y0 + side
    assert cues.boxes[-1, 0] - cues.boxes[0, 0] > 100
    # Parsing is in frame pixels: the face region moves with the landmarks.
    for t in (0, 11):
        ys, xs = np.nonzero(cues.parsing[t])
        assert abs(xs.mean() - cues.landmarks[t, :, 0].mean()) < 15


def test_a_clip_read_in_chunks_gives_the_same_cues(tmp_path, extractor, monkeypatch):
    from finecliper.cues import extract

    frames, _ = moving(astronaut(), 11, (320, 480), (0.6, 0.75), (40, 10), (200, -20))
    video = write_video(tmp_path / "raw.mp4", frames)
    whole = extractor.extract(video)
    assert extract._Frames(video).chunks == [(0, 11)]
    monkeypatch.setattr(extract, "CHUNK_BYTES", 4 * frames[0].nbytes)  # chunks of 4, 4 and 3 frames
    assert extract._Frames(video, 11).chunks == [(0, 4), (4, 8), (8, 11)]
    for known in (None, 11):  # counted from the video, or the manifest's count
        chunked = extractor.extract(video, num_frames=known)
        assert whole.boxes is not None and chunked.frame_size == whole.frame_size == (320, 480)
        for name in ("landmarks", "valid", "parsing", "boxes"):
            np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name), err_msg=name)


def test_frames_without_a_face_are_interpolated_and_flagged(tmp_path, extractor):
    frames = face_crops(n=9)
    frames[4] = 0  # black frame in the middle: no face
    write_frames(tmp_path / "clip", frames)
    cues = extractor.extract(tmp_path / "clip")
    assert cues.valid.tolist() == [True] * 4 + [False] + [True] * 4
    # Linear in time between the neighbours (the mesh is interpolated, the weights are linear).
    np.testing.assert_allclose(cues.landmarks[4], (cues.landmarks[3] + cues.landmarks[5]) / 2, atol=1e-3)
    assert (cues.parsing[4] > 0).any()  # filled from the interpolated mesh, like its landmarks


def test_store_round_trip_with_and_without_boxes(tmp_path):
    rng = np.random.default_rng(0)
    store = CueStore(tmp_path)
    for clip_id, boxes in (("a/b", None), ("c", rng.integers(-5, 50, size=(3, 3)))):
        cues = ClipCues(landmarks=rng.random((3, 68, 2), dtype=np.float32) * 100, valid=np.array([1, 0, 1], bool),
                        parsing=rng.integers(0, 11, size=(3, 20, 30)).astype(np.uint8), frame_size=(40, 60),
                        boxes=boxes)
        store.save(clip_id, cues)
        back = store.load(clip_id)
        for name in ("landmarks", "valid", "parsing"):
            np.testing.assert_array_equal(getattr(back, name), getattr(cues, name))
        assert back.frame_size == (40, 60)
        assert (back.boxes is None) if boxes is None else np.array_equal(back.boxes, boxes)
    # Damage anywhere in a file is reported as a corrupt file (UserError), never as another exception.
    data = store.path("c").read_bytes()
    for pos in range(0, len(data), max(1, len(data) // 150)):
        damaged = bytearray(data)
        damaged[pos] ^= 0xFF
        store.path("c").write_bytes(bytes(damaged))
        try:
            store.load("c")
        except UserError as exc:
            assert "is corrupt" in str(exc)
    with pytest.raises(ValueError, match="boxes"):
        ClipCues(landmarks=np.zeros((2, 68, 2), np.float32), valid=np.ones(2, bool),
                 parsing=np.zeros((2, 4, 4), np.uint8), frame_size=(4, 4), boxes=np.zeros((2, 4)))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A manifest of 12 short face-crop clips (frame folders) of two people."""
    root = tmp_path_factory.mktemp("data")
    records = []
    for i in range(12):
        frames = face_crops(astronaut if i % 2 == 0 else grace_hopper, n=6)
        write_frames(root / f"clip{i:02d}", frames[i % 3 :])  # 4 to 6 frames
        records.append(record(root, f"clip{i:02d}", f"clip{i:02d}", 6 - i % 3))
    write_manifest(root / "manifest.jsonl", records)
    return root, records


def _arrays(store_dir: Path) -> dict[str, dict]:
    out = {}
    for path in sorted(store_dir.glob("*.npz")):
        with np.load(path) as data:
            out[path.name] = {k: data[k] for k in data.files}
    return out


def _assert_same_stores(a: Path, b: Path) -> None:
    _assert_same_stores_dicts(_arrays(a), _arrays(b))


def _assert_same_stores_dicts(left: dict, right: dict) -> None:
    assert left.keys() == right.keys()
    for name in left:
        assert left[name].keys() == right[name].keys()
        for key in left[name]:
            np.testing.assert_array_equal(left[name][key], right[name][key], err_msg=f"{name}:{key}")


def test_killed_run_resumes_to_the_same_store(tmp_path, dataset):
    root, records = dataset
    reference = tmp_path / "reference"
    summary = run_cues(records, reference, CueSettings(), progress=False)
    assert summary.done == 12 and not summary.failed and summary.frames_without_face == 0
    assert (reference / "provenance.json").is_file() and (reference / "summary.json").is_file()

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "finecliper", "cues", "--manifest", str(root / "manifest.jsonl"),
         "--out", str(killed), "--workers", "2", "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and len(list(killed.glob("*.npz"))) < 2:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole run, workers included, mid-way
    proc.wait()
    written = len(list(killed.glob("*.npz")))
    assert 0 < written < 12, f"the kill should land mid-run, {written} clips were written"

    resumed = run_cues(records, killed, CueSettings(), progress=False)
    assert resumed.skipped >= written - 2 and resumed.done + resumed.skipped == 12 and not resumed.failed
    assert not list(killed.glob(".*.tmp"))  # no temporary file left behind as a clip
    _assert_same_stores(reference, killed)


def test_corrupt_and_stale_files_are_redone(tmp_path, dataset):
    root, records = dataset
    out = tmp_path / "store"
    run_cues(records[:3], out, CueSettings(), progress=False)
    before = _arrays(out)
    store = CueStore(out)
    store.path("clip00").write_bytes(b"not a zip file")
    data = store.path("clip01").read_bytes()
    store.path("clip01").write_bytes(data[: len(data) // 2])  # truncated copy
    for clip_id in ("clip00", "clip01"):  # neither loads: both are to be redone
        with pytest.raises(UserError, match="corrupt"):
            store.load(clip_id)
    stale = [r if r.id != "clip02" else record(root, "clip02", "clip02", 5) for r in records[:3]]  # 4 on disk
    summary = run_cues(stale, out, CueSettings(), progress=False)
    assert summary.redone == 3 and summary.done == 3 and summary.skipped == 0
    _assert_same_stores_dicts(before, _arrays(out))


def test_bad_clips_fail_with_reasons_and_the_run_goes_on(tmp_path, dataset, capsys):
    root, records = dataset
    data = tmp_path / "data"
    write_frames(data / "noface", numbered_frames(4, size=64))
    write_frames(data / "broken", face_crops(n=3))
    (data / "broken" / "00002.jpg").write_bytes(b"\xff\xd8 truncated")
    bad = [record(data, "noface", "noface", 4), record(data, "broken", "broken", 3),
           record(data, "missing", "missing", 3)]
    write_manifest(data / "m.jsonl", records[:1] + bad)
    out = tmp_path / "store"
    code = main(["cues", "--manifest", str(data / "m.jsonl"), "--out", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    assert "3 of 4 clips failed" in captured.err and "Traceback" not in captured.err + captured.out
    reasons = {f["id"]: f["reason"] for f in json.loads((out / "summary.json").read_text())["failed"]}
    assert "no face was found in any of the 4 frames" in reasons["noface"]
    assert "00002.jpg" in reasons["broken"] and "unreadable" in reasons["broken"]
    assert "does not exist" in reasons["missing"]
    assert "failed noface: no face was found" in captured.out
    assert CueStore(out).load("clip00").num_frames == records[0].num_frames  # complete: it loads
    assert not CueStore(out).has("noface")


def test_bad_settings_give_one_clear_line(tmp_path, dataset, capsys):
    root, _ = dataset
    manifest = str(root / "manifest.jsonl")
    with pytest.raises(SystemExit) as exc:  # argparse: unknown choice
        main(["cues", "--manifest", manifest, "--out", str(tmp_path / "s"), "--backend", "dlib"])
    assert exc.value.code == 2 and "invalid choice: 'dlib'" in capsys.readouterr().err
    with pytest.raises(UserError, match="unknown landmark backend 'dlib'"):
        CueSettings(backend="dlib").validate()
    with pytest.raises(UserError, match="unknown parsing backend"):
        CueSettings(parsing_backend="bisenet").validate()
    assert main(["cues", "--manifest", manifest, "--out", str(tmp_path / "s"),
                 "--parsing-backend", "segformer"]) == 2
    assert "needs --parsing-weights" in capsys.readouterr().err
    not_a_model = tmp_path / "weights"
    not_a_model.mkdir()
    (not_a_model / "model.safetensors").write_bytes(b"")
    assert main(["cues", "--manifest", manifest, "--out", str(tmp_path / "s"), "--parsing-backend",
                 "segformer", "--parsing-weights", str(not_a_model)]) == 2
    err = capsys.readouterr().err
    assert "has no config.json: it is not a transformers model" in err and err.count("\n") == 1
    assert main(["cues", "--manifest", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "s")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_store_refuses_other_settings(tmp_path, dataset):
    _, records = dataset
    run_cues(records[:1], tmp_path, CueSettings(), progress=False)
    with pytest.raises(UserError, match="crop: 'auto' there, 'none' now"):
        run_cues(records[:1], tmp_path, CueSettings(crop="none"), progress=False)


def test_preview_strip(tmp_path, dataset, capsys):
    root, records = dataset
    out = tmp_path / "store"
    code = main(["cues", "--manifest", str(root / "manifest.jsonl"), "--out", str(out), "--preview", "clip03",
                 "--no-progress"])
    assert code == 0
    path = out / "preview" / "clip03.png"
    assert f"preview: {path}" in capsys.readouterr().out
    strip = np.asarray(Image.open(path))
    # Four columns (frame, landmarks, parsing stacked) of 224 px panels, white gaps between them.
    assert strip.shape[0] > 3 * 224 and strip.shape[1] == 4 * 224 + 3 * 4
    assert sorted(p.name for p in out.glob("*.npz")) == ["clip03.npz"]  # only that clip was processed
    assert main(["cues", "--manifest", str(root / "manifest.jsonl"), "--out", str(out), "--preview", "nope"]) == 2
    assert "clip 'nope' is not in manifest" in capsys.readouterr().err
