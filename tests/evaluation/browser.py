"""A real headless Chromium (Debian's package, which `make browser` installs) for the report's tests.

Never skipped: without Chromium the tests fail and say how to get it.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

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
    distinct, inked = colours(rendered.png)
    assert distinct > 50 and inked > 0.05, f"the screenshot looks blank: {distinct} colours, {inked:.1%} inked"
    parser = _Metrics()
    parser.feed(rendered.dom)
    return {key: value.strip() for key, value in parser.found.items()}
