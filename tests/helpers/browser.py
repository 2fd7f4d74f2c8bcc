"""A real headless browser for page tests: Playwright driving the distribution's Chromium (``apt-get install
chromium``; ``.ci/run`` installs it), with software WebGL (SwiftShader) since test machines have no GPU and with
every network request refused, so a page that needs the network fails its test.

``open_page(path, screenshot)`` loads a local HTML file, waits for plotly to draw, keeps a full-page screenshot and
returns what a test checks: console errors, page errors, blocked requests, and per 3D plot the share of its canvas
pixels that differ from the plot's background.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers.paths import ROOT

ARTIFACTS = Path(os.environ.get("RECON_TEST_ARTIFACTS") or ROOT / "test-artifacts")
CHROMIUM_FLAGS = [
    "--no-sandbox",  # CI runs as root
    "--use-angle=swiftshader",  # WebGL in software: no GPU here
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_or_skip() -> str:
    """The Chromium executable; without one (or without Playwright), skip saying why, or fail where
    ``RECON_REQUIRE_BROWSER=1`` (CI installs the browser, so a missing one there is a broken install)."""
    executable = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        executable, why = None, "Playwright is not installed (bash setup.sh dev)"
    else:
        why = "no Chromium on this machine (Debian/Ubuntu: apt-get install chromium)"
    if executable is None:
        if os.environ.get("RECON_REQUIRE_BROWSER") == "1":
            pytest.fail(f"RECON_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    return executable


@dataclass
class PageCheck:
    errors: list[str] = field(default_factory=list)  # console errors and uncaught page errors
    blocked: list[str] = field(default_factory=list)  # requests to anything but the local file
    canvas_ink: list[float] = field(default_factory=list)  # per 3D plot: share of pixels off its background
    screenshot: Path | None = None


def _ink(png: bytes) -> float:
    """Share of pixels more than 40 grey levels from the most common colour (the plot's background)."""
    pixels = np.asarray(Image.open(BytesIO(png)).convert("RGB")).reshape(-1, 3).astype(int)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    background = colours[counts.argmax()]
    return float((np.abs(pixels - background).max(axis=1) > 40).mean())


def open_page(path: Path, screenshot_name: str, wait_ms: int = 2500) -> PageCheck:
    from playwright.sync_api import sync_playwright

    executable = chromium_or_skip()
    check = PageCheck()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        context = browser.new_context(offline=True, viewport={"width": 1400, "height": 1000})
        page = context.new_page()

        def route(request_route):
            url = request_route.request.url
            if url.startswith(("file://", "data:", "blob:", "about:")):
                request_route.continue_()
            else:
                check.blocked.append(url)
                request_route.abort()

        page.route("**/*", route)
        page.on("console", lambda m: check.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: check.errors.append(f"page error: {e}"))
        page.goto(path.resolve().as_uri())
        page.wait_for_timeout(wait_ms)
        for canvas in page.locator(".js-plotly-plot .gl-container canvas").all():
            canvas.scroll_into_view_if_needed()
            box = canvas.bounding_box()  # the WebGL canvas's pixels as the screen shows them
            check.canvas_ink.append(_ink(page.screenshot(clip=box)) if box and box["width"] * box["height"] else 0.0)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        check.screenshot = ARTIFACTS / f"{screenshot_name}.png"
        page.screenshot(path=str(check.screenshot), full_page=True)
        browser.close()
    return check
