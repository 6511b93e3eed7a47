"""`finecliper serve`: the page's analysis of an upload, and the real page in a real headless browser."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile

import numpy as np
import pytest

from browser import Browser, find_browser
from builders import moving, random_checkpoint
from finecliper.cli import main
from finecliper.errors import UserError
from finecliper.inference import Predictor
from finecliper.serve.page import analyse
from finecliper.serve.uploads import clip_of_upload
from media import astronaut, write_frames, write_video

needs_gradio = pytest.mark.skipif(importlib.util.find_spec("gradio") is None,
                                  reason="Gradio is not installed (the extra 'serve')")


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_a_zip_of_frames_is_unpacked_by_base_name_only(tmp_path):
    first, second = write_frames(tmp_path / "f", np.zeros((2, 8, 8, 3), np.uint8), ext="png")
    upload = _zip(tmp_path / "clip.zip", {"../../evil/1.png": first.read_bytes(), "clip/2.png": second.read_bytes(),
                                          "notes.txt": b"not a frame", "__MACOSX/.2.png": b"x"})
    folder = clip_of_upload(upload, tmp_path / "work", max_bytes=10**6)
    assert folder == tmp_path / "work/frames" and sorted(p.name for p in folder.iterdir()) == ["1.png", "2.png"]
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize("name, members, message", [
    ("notes.txt", None, "notes.txt is neither a video"),
    ("broken.zip", None, "broken.zip is not a readable zip archive"),
    ("empty.zip", {"a.txt": b"x"}, "empty.zip holds no frame images"),
    ("twice.zip", {"a/1.png": b"x", "b/1.png": b"y"}, "twice.zip holds two frames of the same name"),
    ("big.zip", {"1.png": b"x" * 2000}, "big.zip unpacks to more than 0 MB of frames"),
])
def test_bad_uploads_are_one_sentence(tmp_path, name, members, message):
    upload = _zip(tmp_path / name, members) if members else tmp_path / name
    if members is None:
        upload.write_bytes(b"plain bytes")
    with pytest.raises(UserError, match=message):
        clip_of_upload(upload, tmp_path / "work", max_bytes=1000)


def test_the_page_shows_the_sentence_of_a_bad_clip_and_then_analyses_a_good_one(tmp_path):
    ckpt = random_checkpoint(tmp_path / "ckpt", "B16", seed=1)
    predictor = Predictor(ckpt)
    noise = np.random.default_rng(0).integers(0, 256, (3, 48, 48, 3)).astype(np.uint8)
    write_frames(tmp_path / "noise", noise, ext="png")
    upload = _zip(tmp_path / "noise.zip", {p.name: p.read_bytes() for p in (tmp_path / "noise").iterdir()})
    message, *rest = analyse(predictor, str(upload), "rollout", 10**7)
    assert message == "**noise.zip**: no face was found in any of the 3 frames of clip noise.zip"
    assert rest == [None, None, None, None, ""]
    frames, _ = moving(astronaut(), 8, (240, 320), (0.5, 0.55), (40, 10), (90, 0))
    video = write_video(tmp_path / "face.mp4", frames)
    message, top, inputs, attention, similarity, text = analyse(predictor, str(video), "rollout", 10**7)
    expected = predictor.predict(video)
    assert message.startswith(f"**face.mp4**: {expected.label} ")
    assert list(top) == [name for name, _ in expected.top(5)]
    assert inputs.ndim == attention.ndim == similarity.ndim == 3
    assert "face cropped from a raw video" in text


def test_serve_without_gradio_or_with_a_bad_port_is_one_sentence(tmp_path, capsys, monkeypatch):
    ckpt = random_checkpoint(tmp_path / "ckpt", "B16", seed=1)
    assert main(["serve", "--checkpoint", str(ckpt), "--port", "70000"]) == 2
    assert capsys.readouterr().err.strip() == "finecliper serve: error: --port must be between 0 and 65535, got 70000"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else object())
    assert main(["serve", "--checkpoint", str(ckpt)]) == 2
    assert "install the extra: pip install 'finecliper[serve]'" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(process, url: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"finecliper serve exited: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"finecliper serve did not answer at {url}")


@needs_gradio
@pytest.mark.skipif(find_browser() is None, reason="no Chromium on this machine (Debian: apt-get install chromium)")
def test_the_page_in_a_real_browser(tmp_path):
    """`finecliper serve` on a free local port; Chromium uploads a clip without a face (its sentence shows and
    the server keeps serving), then a real face's video, waits for the result and finds the predicted label."""
    ckpt = random_checkpoint(tmp_path / "ckpt", "B16", seed=1)
    frames, _ = moving(astronaut(), 8, (240, 320), (0.5, 0.55), (40, 10), (90, 0))
    video = write_video(tmp_path / "face.mp4", frames)
    expected = Predictor(ckpt).predict(video).label
    write_frames(tmp_path / "noise", np.random.default_rng(0).integers(0, 256, (3, 48, 48, 3)).astype(np.uint8))
    noise = _zip(tmp_path / "noise.zip", {p.name: p.read_bytes() for p in (tmp_path / "noise").iterdir()})
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}
    server = subprocess.Popen([sys.executable, "-m", "finecliper", "serve", "--checkpoint", str(ckpt),
                               "--port", str(port), "--max-upload-mb", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        _wait_for_server(server, url)
        _refuses_a_large_upload(url, tmp_path)
        with Browser.start(tmp_path / "profile") as page:
            page.goto(url)
            page.wait_for("document.querySelector('input[type=file]') !== null", timeout=300)
            for upload, wanted in ((noise, "no face was found"), (video, f"face.mp4: {expected} ")):
                page.upload("input[type=file]", upload)
                page.wait_for(f"document.body.innerText.includes({upload.name!r})", timeout=300)
                page.click_button("Analyse")
                text = page.wait_for(f"(() => {{ const t = document.querySelector('#result-message').innerText;"
                                     f" return t.includes({wanted!r}) ? t : ''; }})()", timeout=600)
                assert upload.name in text
                if upload is noise:
                    page.evaluate("document.querySelector('button[aria-label=\"Clear\"]')?.click()")
            page.wait_for("document.querySelectorAll('img').length >= 3")
            shot = page.screenshot(tmp_path / "page.png")
            assert expected in page.evaluate("document.querySelector('#top-classes').innerText")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    finally:
        server.terminate()
        server.wait(timeout=30)


def _refuses_a_large_upload(url: str, tmp_path) -> None:
    """Gradio's max_file_size (--max-upload-mb 1): a 2 MB upload is refused before the page sees it."""
    import httpx

    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (2 * 2**20))
    with big.open("rb") as fh:
        reply = httpx.post(f"{url}gradio_api/upload", files={"files": (big.name, fh)}, timeout=60)
    assert reply.status_code == 413, reply.text
