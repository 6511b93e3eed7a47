"""Clip reading from frame folders and PyAV-decoded videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from finecliper.data.video import count_frames, list_frame_files, read_clip
from finecliper.errors import UserError
from media import astronaut, numbered_frames, write_frames, write_video


def _brightness(clip: np.ndarray) -> np.ndarray:
    return clip.reshape(len(clip), -1).mean(axis=1)


def test_natural_sort_and_filtering(tmp_path):
    pixel = np.zeros((4, 4, 3), np.uint8)
    for name in ["10.jpg", "2.png", "1.JPG", "frame_3.bmp", "11.jpeg"]:
        Image.fromarray(pixel).save(tmp_path / name, format={"png": "PNG", "bmp": "BMP"}.get(name[-3:], "JPEG"))
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden.jpg").write_bytes(b"")
    (tmp_path / "sub.jpg").mkdir()
    names = [p.name for p in list_frame_files(tmp_path)]
    assert names == ["1.JPG", "2.png", "10.jpg", "11.jpeg", "frame_3.bmp"]
    assert count_frames(tmp_path) == 5


def test_natural_sort_of_prefixed_names(tmp_path):
    pixel = np.zeros((4, 4, 3), np.uint8)
    for i in (1, 2, 9, 10, 100):
        Image.fromarray(pixel).save(tmp_path / f"img_{i}.png")
    assert [p.name for p in list_frame_files(tmp_path)] == [f"img_{i}.png" for i in (1, 2, 9, 10, 100)]


def test_folder_reads_requested_frames_in_order(tmp_path):
    frames = numbered_frames(12, size=24)
    write_frames(tmp_path / "clip", frames, ext="png")
    idx = [0, 0, 3, 7, 7, 11]
    clip = read_clip(tmp_path / "clip", idx)
    assert clip.shape == (6, 24, 24, 3) and clip.dtype == np.uint8
    np.testing.assert_array_equal(clip, frames[idx])  # png: lossless


def test_video_count_and_read(tmp_path):
    frames = numbered_frames(20, size=32)
    path = write_video(tmp_path / "clip.mp4", frames)
    assert count_frames(path) == 20
    idx = np.array([0, 1, 1, 5, 12, 19])
    clip = read_clip(path, idx)
    assert clip.shape == (6, 32, 32, 3) and clip.dtype == np.uint8
    # H.264 is lossy; each frame's brightness must still match the frame asked for, not a neighbour.
    got, want = _brightness(clip), _brightness(frames[idx])
    step = np.diff(_brightness(frames)).mean()
    assert np.all(np.abs(got - want) < step / 2)
    np.testing.assert_array_equal(clip[1], clip[2])


def test_video_matches_folder_of_same_frames(tmp_path):
    frames = astronaut()[::8, ::8][None].repeat(4, axis=0)  # (4, 64, 64, 3)
    video = read_clip(write_video(tmp_path / "a.mp4", frames), [0, 3])
    assert video.shape == (2, 64, 64, 3)
    assert np.abs(video.astype(int) - frames[:2].astype(int)).mean() < 12


def test_image_modes_become_rgb(tmp_path):
    folder = tmp_path / "modes"
    folder.mkdir()
    rgb = astronaut()[:32, :32]
    Image.fromarray(rgb).convert("L").save(folder / "1.png")
    rgba = np.dstack([rgb, np.full((32, 32), 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "2.png")
    Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE).save(folder / "3.png")
    Image.fromarray(np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 64).save(folder / "4.png")
    Image.fromarray(rgb).convert("L").save(folder / "5.jpg")  # grayscale JPEG
    clip = read_clip(folder, range(5))
    assert clip.shape == (5, 32, 32, 3) and clip.dtype == np.uint8
    gray = clip[0]
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])
    np.testing.assert_array_equal(clip[1], rgb)  # opaque RGBA keeps its colours
    assert np.abs(clip[2].astype(int) - rgb.astype(int)).mean() < 10
    assert clip[3].max() > 200  # 16-bit rescaled to the full 8-bit range, not clipped to white
    assert clip[3, 0, 0, 0] == 0


def test_odd_sizes_resized_to_first_frame(tmp_path):
    folder = tmp_path / "sizes"
    frames = numbered_frames(3, size=40)
    write_frames(folder, frames[:1], ext="png", start=1)
    Image.fromarray(astronaut()[:60, :50]).save(folder / "00002.png")
    Image.fromarray(frames[2][:20, :30]).save(folder / "00003.png")
    clip = read_clip(folder, [1, 2])  # the first frame fixes the size even when it is not sampled
    assert clip.shape == (2, 40, 40, 3)


def test_frames_of_another_size_are_converted_before_resizing(tmp_path):
    folder = tmp_path / "mixed"
    write_frames(folder, np.full((1, 16, 16, 3), 90, np.uint8), ext="png")  # the first frame: 16 px
    rgba = np.full((32, 32, 4), 255, np.uint8)
    rgba[:, :16, 3] = 0  # white, but the left half fully transparent
    Image.fromarray(rgba, "RGBA").save(folder / "00002.png")
    Image.fromarray(np.full((32, 32), 128 * 257, np.uint16)).save(folder / "00003.png")  # 16-bit mid grey
    clip = read_clip(folder, [1, 2])
    assert clip.shape == (2, 16, 16, 3)
    # As at the clip's own size: transparent pixels are black, 16-bit grey is rescaled, not clipped to white.
    assert (clip[0, :, :7] == 0).all() and (clip[0, :, 9:] == 255).all()
    assert np.abs(clip[1].astype(int) - 128).max() <= 1


def test_writer_is_atomic_and_numbers_the_frames(tmp_path):
    folder = tmp_path / "clip"
    (folder / "old").mkdir(parents=True)  # an earlier, partial folder is replaced as a whole
    paths = write_frames(folder, numbered_frames(3, size=8), ext="png", start=5)
    assert [p.name for p in paths] == ["00005.png", "00006.png", "00007.png"]
    assert sorted(p.name for p in folder.iterdir()) == [p.name for p in paths]
    assert [p.name for p in tmp_path.iterdir()] == ["clip"]  # no temporary folder left behind


def test_truncated_jpeg_names_the_file(tmp_path):
    paths = write_frames(tmp_path / "clip", numbered_frames(3, size=64))
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="00002.jpg"):
        read_clip(tmp_path / "clip", [0, 1, 2])
    paths[2].write_bytes(b"not an image")
    with pytest.raises(UserError, match="00003.jpg"):
        read_clip(tmp_path / "clip", [2])


def _truncate(path: Path, frac: float) -> Path:
    data = path.read_bytes()
    out = path.with_name(f"cut_{frac}_{path.name}")
    out.write_bytes(data[: int(len(data) * frac)])
    return out


def test_truncated_video_is_reported_not_a_crash(tmp_path):
    frames = numbered_frames(20, size=32)
    plain = write_video(tmp_path / "plain.mp4", frames)  # index (moov) at the end: lost when cut
    fast = write_video(tmp_path / "fast.mp4", frames, faststart=True)  # index first: the data is what is cut
    for source in (plain, fast):
        cut = _truncate(source, 0.6)
        with pytest.raises(UserError, match=cut.name):
            read_clip(cut, range(20))
    with pytest.raises(UserError, match="cut_0.6_plain.mp4"):
        count_frames(tmp_path / "cut_0.6_plain.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(UserError, match="garbage.mp4"):
        count_frames(garbage)


def test_bad_indices_and_paths(tmp_path):
    write_frames(tmp_path / "clip", numbered_frames(3, size=16))
    with pytest.raises(UserError, match="3 frames"):
        read_clip(tmp_path / "clip", [0, 3])
    with pytest.raises(UserError, match="non-decreasing"):
        read_clip(tmp_path / "clip", [2, 1])
    with pytest.raises(UserError, match="does not exist"):
        read_clip(tmp_path / "missing", [0])
    with pytest.raises(UserError, match="does not exist"):
        count_frames(tmp_path / "missing.mp4")
    video = write_video(tmp_path / "v.mp4", numbered_frames(5, size=16))
    with pytest.raises(UserError, match="5 frames"):
        read_clip(video, [0, 9])
    (tmp_path / "empty").mkdir()
    assert count_frames(tmp_path / "empty") == 0
    with pytest.raises(UserError, match="no images"):
        read_clip(tmp_path / "empty", [0])
