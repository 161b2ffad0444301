"""The ladder report opened in a real browser: headless Chromium at 1280 px through Playwright.

Every image must decode (``naturalWidth > 0``), the page must log no console error, and no
element may be wider than the viewport. The fast test opens the report of a tiny fit; the slow
one the report made with the quick start's settings, and writes its first screen to
``docs/report-ladder.png`` (the README's screenshot).

The browser is the Debian ``chromium`` package (``.ci/run`` installs it when missing) or the
one named by ``PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH``; the tests are skipped, with that reason,
only when no Chromium can be found or Playwright is not installed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from test_report import REPO, ladder_folder

VIEWPORT = {"width": 1280, "height": 800}
SCREENSHOT = REPO / "docs" / "report-ladder.png"


def chromium_path() -> str | None:
    """The Chromium executable to drive: the environment's choice, else Debian's."""
    named = os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH")
    if named and Path(named).is_file():
        return named
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Any:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
    )
    executable = chromium_path()
    if executable is None:
        pytest.skip(
            "no Chromium found (install Debian's with `apt-get install chromium`, or set "
            "PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH)"
        )
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


def open_and_check(browser: Any, report: Path, screenshot: Path) -> dict[str, Any]:
    """Open ``report`` at 1280 px, run the checks, write the first screen to ``screenshot``."""
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.resolve().as_uri(), wait_until="load")
    images = page.evaluate(
        """() => Array.from(document.images).map(i => ({
            alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}))"""
    )
    too_wide = page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            return Array.from(document.querySelectorAll('body *'))
                .filter(e => { const r = e.getBoundingClientRect();
                               return r.width > 0 && (r.right > width + 0.5 || r.left < -0.5); })
                .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                          + (e.className ? '.' + e.className : ''));
        }"""
    )
    scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=False)
    page.close()
    assert images, "the report has no image"
    bad = [i for i in images if not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
    assert not bad, f"images that do not decode: {bad}"
    assert not errors, f"console errors: {errors}"
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert not too_wide, f"elements wider than the {VIEWPORT['width']} px viewport: {too_wide}"
    assert scroll_width <= VIEWPORT["width"], scroll_width
    return {"images": len(images), "requests": requests}


def test_tiny_ladder_report_in_chromium(
    browser: Any, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    folder = ladder_folder(tmp_path_factory, tiny=True)
    shot = tmp_path / "first-screen.png"
    found = open_and_check(browser, folder / "report.html", shot)
    assert found["images"] >= 5
    assert shot.stat().st_size > 10_000


@pytest.mark.slow
def test_ladder_report_in_chromium_and_its_screenshot(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = ladder_folder(tmp_path_factory, tiny=False)
    open_and_check(browser, folder / "report.html", SCREENSHOT)
    assert SCREENSHOT.stat().st_size > 10_000
