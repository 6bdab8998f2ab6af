"""The app in a real browser: Playwright drives Debian's chromium against ``streamlit run app.py``.

What a new user does: open the app, run 2 cycles of the default (digits, MLP, BADGE, cold start), see the map and
the curves, press play on the map, reload the page and find the run again, export a GIF and download it.
Screenshots of every step are kept in ``test-artifacts/`` (git-ignored) for a person to look at.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def browser_page(tmp_path: Path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    from bench.app_latency import launch_browser, serve_app

    ARTIFACTS.mkdir(exist_ok=True)
    runs = tmp_path / "runs"
    with serve_app("app.py", runs, log=ARTIFACTS / "browser-server.log") as url, sync_playwright() as p:
        browser = launch_browser(p)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(60_000)
        try:
            yield page, url, runs
        finally:
            page.screenshot(path=str(ARTIFACTS / "browser-last.png"), full_page=True)
            context.close()
            browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"browser-{name}.png"), full_page=True)


def no_exception_on(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0, "a traceback reached the page"


def test_new_user_runs_badge_watches_the_map_and_downloads_a_gif(browser_page) -> None:
    from bench.app_latency import wait_for_map_of_cycle, wait_for_run_page

    page, url, runs = browser_page
    page.goto(url)
    wait_for_run_page(page)
    shot(page, "1-opened")

    # run 2 cycles in the background worker; the page polls and redraws after each
    cycles = page.get_by_role("spinbutton", name="Cycles to run")
    cycles.fill("2")
    cycles.press("Enter")
    page.get_by_role("button", name="Run 2 cycles").click()
    wait_for_map_of_cycle(page, 1, timeout_ms=120_000)
    page.get_by_role("button", name="Step").wait_for(state="visible")
    page.wait_for_function("() => [...document.querySelectorAll('button')].some("
                           "b => b.innerText.includes('Step') && !b.disabled)", timeout=120_000)
    assert re.search(r"[?&]run=", page.url), "the run id is in the URL"
    run_id = re.search(r"run=([^&]+)", page.url).group(1)
    assert len(list((runs / run_id / "cycles").glob("cycle_*.json"))) == 2
    charts = page.locator("[data-testid='stPlotlyChart']")
    assert charts.count() >= 2, "the map and the curves"
    no_exception_on(page)
    shot(page, "2-two-cycles")

    # play the animation (plotly's own button) and check the frame slider moves
    map_chart = charts.first
    map_chart.scroll_into_view_if_needed()
    play = map_chart.locator(".updatemenu-button").first
    play.click()
    page.wait_for_timeout(1500)
    shot(page, "3-playing")
    no_exception_on(page)

    # a reload finds the same run from the URL
    page.reload()
    wait_for_map_of_cycle(page, 1)
    assert run_id in page.url
    shot(page, "4-reloaded")

    # export a GIF
    page.get_by_role("link", name="Export").click()
    page.get_by_role("button", name="Render GIF").click()
    download_button = page.get_by_role("button", name="Download GIF")
    download_button.wait_for(state="visible", timeout=120_000)
    shot(page, "5-export")
    with page.expect_download() as info:
        download_button.click()
    target = ARTIFACTS / "browser-run.gif"
    info.value.save_as(str(target))
    assert target.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    no_exception_on(page)
