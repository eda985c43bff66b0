"""A real headless Chromium (Debian's package, which `make browser` installs) for the tests that look at pages.

A local file (the reports) is rendered by Chromium's own ``--screenshot`` and ``--dump-dom``; a page behind a
login (Label Studio's labeling page) is driven by :class:`Browser` over the DevTools protocol on a pipe, so no
driver program or websocket library is needed. Never skipped: without Chromium the tests fail and say how to get it.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import attrs
import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars")


@attrs.frozen
class Rendered:
    """What Chromium made of a page: its screenshot (PNG bytes) and its DOM after rendering."""

    png: bytes
    dom: str


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("Chromium is missing: `make browser` installs Debian's chromium package "
                    "(apt-get install -y chromium)", pytrace=False)
    return found


def render(page: Path, scratch: Path) -> Rendered:
    """Open ``page`` (a local file) in headless Chromium: a 1200x2000 screenshot, and the rendered DOM."""
    browser = chromium()
    profile, shot = scratch / "chromium-profile", scratch / "screenshot.png"
    common = [browser, *FLAGS, f"--user-data-dir={profile}"]
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1200,2000", page.resolve().as_uri()],
                   check=True, capture_output=True, timeout=180)
    dom = subprocess.run([*common, "--dump-dom", page.resolve().as_uri()], check=True, capture_output=True,
                         text=True, timeout=180).stdout
    return Rendered(shot.read_bytes(), dom)


class Browser:
    """One headless Chromium tab, driven over ``--remote-debugging-pipe`` (DevTools messages ending in NUL)."""

    def __init__(self, profile: Path, *, width: int = 1400, height: int = 900) -> None:
        to_browser, from_browser = os.pipe(), os.pipe()

        def on_fds_3_and_4() -> None:  # where Chromium reads commands and writes answers
            reading, writing = os.dup(to_browser[0]), os.dup(from_browser[1])  # either may be fd 3 or 4 now
            os.dup2(reading, 3)
            os.dup2(writing, 4)

        self.process = subprocess.Popen(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
             f"--window-size={width},{height}", "about:blank"],
            preexec_fn=on_fds_3_and_4, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser[0])
        os.close(from_browser[1])
        self._commands = os.fdopen(to_browser[1], "wb", buffering=0)
        self._answers = os.fdopen(from_browser[0], "rb", buffering=0)
        self._pending, self._last_id = b"", 0
        page = next(t for t in self._call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self._session = self._call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]

    def _answer(self) -> dict[str, Any]:
        while b"\0" not in self._pending:
            chunk = self._answers.read(1 << 16)
            if not chunk:
                raise AssertionError(f"Chromium closed its pipe (exit code {self.process.poll()})")
            self._pending += chunk
        message, self._pending = self._pending.split(b"\0", 1)
        return json.loads(message)

    def _call(self, method: str, *, in_page: bool = False, **params: Any) -> dict[str, Any]:
        self._last_id += 1
        message = {"id": self._last_id, "method": method, "params": params,
                   **({"sessionId": self._session} if in_page else {})}
        self._commands.write(json.dumps(message).encode() + b"\0")
        while (answer := self._answer()).get("id") != self._last_id:  # events, which nothing here waits for
            pass
        if "error" in answer:
            raise AssertionError(f"Chromium refused {method}: {answer['error']}")
        return answer["result"]

    def open(self, url: str) -> None:
        """Load ``url`` in the tab (returns before the page has rendered: wait with :meth:`wait_for`)."""
        self._call("Page.navigate", in_page=True, url=url)

    def run(self, script: str) -> Any:
        """The value of a JavaScript expression in the page (``None`` while it throws, e.g. mid-navigation)."""
        result = self._call("Runtime.evaluate", in_page=True, expression=script, returnByValue=True)
        return None if "exceptionDetails" in result else result["result"].get("value")

    def wait_for(self, script: str, timeout: float, what: str) -> Any:
        """The first truthy value of ``script``, polled until ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not (value := self.run(script)):
            assert time.monotonic() < deadline, f"the page never showed {what} in {timeout:.0f} s"
            time.sleep(0.5)
        return value

    def screenshot(self) -> bytes:
        """What the tab shows, as PNG bytes."""
        return base64.b64decode(self._call("Page.captureScreenshot", in_page=True, format="png")["data"])

    def close(self) -> None:
        """End Chromium."""
        with contextlib.suppress(AssertionError, OSError):
            self._call("Browser.close")
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)


@contextlib.contextmanager
def browser(profile: Path) -> Iterator[Browser]:
    """A :class:`Browser` for the ``with`` block, ended afterwards whatever happens."""
    tab = Browser(profile)
    try:
        yield tab
    finally:
        tab.close()


def not_blank(png: bytes) -> None:
    """Fail unless the screenshot shows something: many colours, and more than 5% of it not white."""
    distinct, inked = colours(png)
    assert distinct > 50 and inked > 0.05, f"the screenshot looks blank: {distinct} colours, {inked:.1%} inked"


def colours(png: bytes) -> tuple[int, float]:
    """How many distinct colours the screenshot has, and the share of its pixels that are not white."""
    import numpy as np
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    pixels = np.frombuffer(image.tobytes(), dtype=np.uint8).reshape(-1, 3).astype(np.uint32)
    packed = (pixels[:, 0] << 16) | (pixels[:, 1] << 8) | pixels[:, 2]
    return len(np.unique(packed)), float(np.mean(packed != 0xFFFFFF))


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Metrics(HTMLParser):
    """Collects the text of every element carrying ``data-metric``."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        self._open.append(dict(attributes).get("data-metric"))
        if self._open[-1] is not None:
            self.found[self._open[-1]] = ""

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for key in self._open:
            if key is not None:
                self.found[key] += data


def page_metrics(rendered: Rendered) -> dict[str, str]:
    """The figures the rendered page shows, by their ``data-metric`` key; checks the page is not blank."""
    not_blank(rendered.png)
    parser = _Metrics()
    parser.feed(rendered.dom)
    return {key: value.strip() for key, value in parser.found.items()}
