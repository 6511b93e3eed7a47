"""A headless Chromium driven over the DevTools protocol: the system's browser (Debian's `chromium`), no
browser download, and no client library beyond `websockets` (a dev dependency).

    with Browser.start(tmp_path) as page:
        page.goto(url); page.wait_for("document.title !== ''")
        page.upload("input[type=file]", path); page.click_button("Analyse"); page.screenshot(png)
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """The system's Chromium (FINECLIPER_BROWSER names another), or None."""
    given = os.environ.get("FINECLIPER_BROWSER")
    if given:
        return given if Path(given).is_file() else None
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


class Browser:
    """One headless Chromium with one page, closed on exit."""

    def __init__(self, process: subprocess.Popen, socket):
        self.process, self.socket, self.next_id = process, socket, 0

    @classmethod
    def start(cls, profile: Path, width: int = 1280, height: int = 1800, timeout: float = 60) -> Browser:
        from websockets.sync.client import connect

        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        process = subprocess.Popen(
            [find_browser(), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--disable-extensions", "--remote-debugging-port=0", f"--user-data-dir={profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = cls._devtools_port(process, timeout)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as reply:
            pages = [t for t in json.load(reply) if t["type"] == "page"]
        browser = cls(process, connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=timeout))
        browser.call("Page.enable")
        return browser

    @staticmethod
    def _devtools_port(process: subprocess.Popen, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if match := re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line):
                return int(match.group(1))
            if not line and process.poll() is not None:
                break
        process.kill()
        raise RuntimeError("Chromium did not open its DevTools port")

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.socket.close()
        self.process.kill()
        self.process.wait(timeout=30)

    def call(self, method: str, **params):
        """Send one DevTools command and return its result (events in between are skipped)."""
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=120))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def wait_for(self, expression: str, timeout: float = 120):
        """Poll a JavaScript expression until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"waited {timeout:.0f} s for {expression}")

    def upload(self, selector: str, path: Path) -> None:
        """Put a file into the page's file input, as a user choosing it would (change events fire)."""
        root = self.call("DOM.getDocument", depth=-1, pierce=True)["root"]["nodeId"]
        node = self.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.call("DOM.setFileInputFiles", files=[str(path)], nodeId=node)

    def click_button(self, text: str) -> None:
        clicked = self.evaluate(
            f"(() => {{ const b = [...document.querySelectorAll('button')].find(b => b.innerText.trim() === {json.dumps(text)});"
            " if (b) b.click(); return !!b; })()")
        if not clicked:
            raise RuntimeError(f"no button {text!r} on the page")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path
