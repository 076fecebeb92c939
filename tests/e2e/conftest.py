"""Fixtures for the end-to-end tests: a headless Chromium page (closed at the end) and the rule for a missing browser.

The browser is Debian's Chromium (`apt-get install chromium`), driven by Playwright (the `e2e` extra:
`pip install -e ".[e2e]"`); Playwright never downloads a browser of its own here. When either is missing
the test is skipped with the reason, except under CI (CI=true), where it fails: CI must run it.
"""

import os
import tempfile
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("MINIRMT_CHROMIUM", "/usr/bin/chromium"))  # another Chromium-based browser: its path
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic"]
VIEWPORT = {"width": 1400, "height": 1000}


def browser_missing() -> str | None:
    """Why the browser cannot run here (None when it can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed: pip install -e '.[e2e]' (or make e2e)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} not found: apt-get install -y chromium (Debian's package; nothing is downloaded by pip)"
    return None


@pytest.fixture(scope="session")
def browser_available() -> None:
    """Skip (locally) or fail (CI=true) when Chromium or Playwright is missing."""
    reason = browser_missing()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"end-to-end test cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"end-to-end test needs a browser: {reason}")


@pytest.fixture(scope="module")
def browser_context(browser_available):
    """A headless Chromium with a fresh profile, closed at the end."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="minirmt-e2e-chromium-") as profile, sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(profile, executable_path=str(CHROMIUM), headless=True,
                                                            args=CHROMIUM_ARGS, viewport=VIEWPORT)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context):
    """A new browser tab, closed after the test."""
    tab = browser_context.new_page()
    try:
        yield tab
    finally:
        tab.close()
