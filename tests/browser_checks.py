"""What the real-browser tests share: Debian's chromium, the folder their artefacts are kept in, the skip where the
browser is missing, screenshots, and the check that no exception reached a page."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from bench.app_latency import CHROMIUM as CHROMIUM_PATH
from conftest import REPO_ROOT

CHROMIUM = Path(CHROMIUM_PATH)
#: Screenshots, server logs and downloads of the browser tests, kept for a person to look at (git-ignored).
ARTIFACTS = REPO_ROOT / "test-artifacts"


def require_browser() -> None:
    """Skip, saying what to install, where chromium or Playwright is missing; else make sure ``ARTIFACTS`` exists."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    pytest.importorskip("playwright.sync_api", reason="playwright is missing: pip install -r requirements-dev.txt")
    ARTIFACTS.mkdir(exist_ok=True)


def screenshots(prefix: str) -> Callable[..., None]:
    """``shot(page, name)``: a full-page screenshot in ``ARTIFACTS/<prefix>-<name>.png``."""
    def shot(page, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{prefix}-{name}.png"), full_page=True)
    return shot


def assert_no_traceback(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0, "an exception reached the page"
    assert "Traceback" not in page.content()


def wait_for_script_idle(page, timeout_ms: float = 120_000) -> None:
    """The page's script run ended: Streamlit's running icon is gone (a click during a run is still answered, but
    the test then depends on how the rerun it asks for races with the one in progress)."""
    page.locator("[data-testid='stStatusWidgetRunningIcon']").wait_for(state="detached", timeout=timeout_ms)
