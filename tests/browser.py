"""A real browser for the page tests: Debian's Chromium (`apt-get install chromium
chromium-driver`; Playwright's own browser download does not work on the project machines)
driven by PyPI `playwright`, and axe-core (npm, `tests/axe`, `npm ci` on first use as
tests/fhir_js.py does for FHIR.js) to check each page against WCAG 2.2 AA.

Missing Chromium, node or npm fails the calling test with what to install: these checks are
never skipped, because a skipped check would pass CI without having run."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.npm import installed

HERE = Path(__file__).with_name("axe")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
ARTIFACTS = Path(os.environ.get("S117_TEST_ARTIFACTS",
                                Path(__file__).parent.parent / "test-artifacts"))


def axe_source() -> str:
    installed(HERE, "axe-core")
    script = HERE / "node_modules" / "axe-core" / "axe.min.js"
    return script.read_text(encoding="utf-8")


@contextmanager
def chromium() -> Iterator[Any]:
    """A Playwright browser on the system Chromium."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), (f"{CHROMIUM} is missing: `apt-get install -y chromium "
                                      "chromium-driver`; the browser tests never skip")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def axe_violations(page: Any, source: str) -> list[str]:
    """Every WCAG 2.2 A/AA violation axe finds on the page, one line each. axe is evaluated
    through the DevTools protocol, which the page's Content-Security-Policy does not govern,
    so the page is checked with its real policy in force."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(source)
    found = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
                          ".then(r => r.violations)", WCAG_22_AA)
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            f"{json.dumps([n['target'] for n in v['nodes']][:5])}" for v in found]
