"""The app in a real browser: Playwright drives Debian's chromium against ``streamlit run app.py``.

What a new user does: open the app, run 2 cycles of the default (digits, MLP, BADGE, cold start), see the map and
the curves, press play on the map, reload the page and find the run again, select points on the Explore map, and,
after a restart of the server, export a GIF and download it. Screenshots of every step are kept in
``test-artifacts/`` (git-ignored) for a person to look at.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from browser_checks import ARTIFACTS, assert_no_traceback, require_browser, screenshots, wait_for_script_idle

shot = screenshots("browser")

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def browser(tmp_path: Path):
    require_browser()
    from playwright.sync_api import sync_playwright

    from bench.app_latency import launch_browser

    (ARTIFACTS / "browser-server.log").unlink(missing_ok=True)
    with sync_playwright() as p:
        browser = launch_browser(p)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(60_000)
        try:
            yield page, tmp_path / "runs"
        finally:
            context.close()
            browser.close()


def wait_until_idle(page) -> None:
    """The job ended: Step is enabled again."""
    page.wait_for_function("() => [...document.querySelectorAll('button')].some("
                           "b => b.innerText.trim().endsWith('Step') && !b.disabled)", timeout=120_000)


def test_new_user_runs_badge_watches_the_map_and_downloads_a_gif(browser) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from bench.app_latency import free_port, serve_app, wait_for_map_of_cycle, wait_for_run_page

    page, runs = browser
    port = free_port()
    log = ARTIFACTS / "browser-server.log"
    with serve_app("app.py", runs, log=log, port=port) as url:
        page.goto(url)
        wait_for_run_page(page)
        shot(page, "1-opened")

        # Run 2 cycles: a background worker runs them, the page polls the disk and redraws after each
        cycles = page.get_by_role("spinbutton", name="Cycles to run")
        cycles.fill("2")
        cycles.press("Enter")
        page.get_by_role("button", name="Run 2 cycles").click()
        wait_for_map_of_cycle(page, 1, timeout_ms=120_000)
        wait_until_idle(page)
        assert re.search(r"[?&]run=", page.url), "the run id is in the URL"
        run_id = re.search(r"run=([^&#]+)", page.url).group(1)
        assert len(list((runs / run_id / "cycles").glob("cycle_*.json"))) == 2
        charts = page.locator("[data-testid='stPlotlyChart']")
        assert charts.count() >= 2, "the map and the learning curves"
        assert_no_traceback(page)
        shot(page, "2-two-cycles")

        # play the animation with plotly's own button
        map_chart = charts.first
        map_chart.scroll_into_view_if_needed()
        map_chart.locator(".updatemenu-button").first.click()
        page.wait_for_timeout(1500)
        assert_no_traceback(page)
        shot(page, "3-playing")

        # a reload finds the same run from the URL
        page.reload()
        wait_for_map_of_cycle(page, 1)
        assert run_id in page.url
        shot(page, "4-reloaded")

        # Explore: a box drawn on the map lists the points inside it
        page.get_by_role("link", name="Explore").click()
        page.get_by_text("Explore a run").wait_for()
        explore_map = page.locator("[data-testid='stPlotlyChart']").first
        explore_map.locator(".main-svg").first.wait_for()
        area = explore_map.locator(".nsewdrag").first.bounding_box()
        page.mouse.move(area["x"] + area["width"] * 0.05, area["y"] + area["height"] * 0.05)
        page.mouse.down()
        page.mouse.move(area["x"] + area["width"] * 0.95, area["y"] + area["height"] * 0.95, steps=12)
        page.mouse.up()
        page.get_by_text("point(s) selected").wait_for(timeout=60_000)
        assert_no_traceback(page)
        shot(page, "5-selected")

    # restart the server: the run is on disk, the URL names it
    with serve_app("app.py", runs, log=log, port=port) as url:
        page.goto(f"{url}/export?run={run_id}")
        page.get_by_text("Export a run").wait_for(timeout=90_000)
        page.get_by_role("button", name="Render GIF").click()
        download_button = page.get_by_role("button", name="Download GIF")
        download_button.wait_for(state="visible", timeout=120_000)
        wait_for_script_idle(page)  # the records and parquet below the GIF are drawn too
        shot(page, "6-export")
        try:
            with page.expect_download(timeout=60_000) as info:
                download_button.click()
        except PlaywrightTimeout:
            shot(page, "6-no-download")
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
            pytest.fail(f"a click on Download GIF started no download within 60 s; the server log ends:\n{tail}")
        target = ARTIFACTS / "browser-run.gif"
        info.value.save_as(str(target))
        assert target.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
        assert_no_traceback(page)


def test_a_fresh_servers_first_request_for_a_page_url_opens_that_page_in_the_app(browser) -> None:
    """Streamlit runs a file of ``pages/`` on its own at a fresh server's first request for its URL: the page
    still comes with the app's navigation and sidebar, without a "Page not found" dialog, and keeps its run. The
    run's first batch fell back to random (BADGE's cold start): on the Run page its utilities read "—" with the
    reason, never nan or None (issue 14, item 9)."""
    from alcore.loop import Experiment
    from alcore.store import new_run_id
    from bench.app_latency import serve_app

    from conftest import make_digits_config

    page, runs = browser
    run_dir = runs / new_run_id("test")
    Experiment(make_digits_config(strategy="badge"), run_dir=run_dir).run(1)
    with serve_app("app.py", runs, log=ARTIFACTS / "browser-server.log") as url:
        page.goto(f"{url}/explore?run={run_dir.name}")
        page.get_by_text("Explore a run").wait_for()
        page.locator("[data-testid='stPlotlyChart'] .main-svg").first.wait_for()
        nav = page.locator("[data-testid='stSidebarNav'] a")
        assert [link.inner_text().split()[-1] for link in nav.all()] == ["Run", "Explore", "Compare", "Learn",
                                                                         "Export"], "the app's own navigation"
        assert "1 of 2 cycles run" in page.get_by_test_id("stSidebar").inner_text(), "the sidebar shows the URL's run"
        assert page.get_by_text("Page not found").count() == 0
        assert_no_traceback(page)
        shot(page, "9-fresh-server-explore")
        nav.filter(has_text="Export").click()
        page.get_by_text("Export a run").wait_for()
        assert f"run={run_dir.name}" in page.url, "the run stays in the URL across pages"
        assert_no_traceback(page)
        nav.filter(has_text="Run").click()
        page.get_by_text("No utility (—)").wait_for()
        captions = page.locator("[data-testid='stImageCaption']").all_inner_texts()
        assert len(captions) == 20 and all(c.endswith("· —") for c in captions), captions
        main = page.get_by_test_id("stMain").inner_text()
        assert "nan" not in main and "None" not in main
        assert_no_traceback(page)


def wait_until(condition, timeout_s: float, what: str):
    """Poll ``condition()`` (the server is another process: its files are all there is to watch) until it
    returns something true, and return that."""
    import time

    deadline = time.monotonic() + timeout_s
    while not (found := condition()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert found, f"timed out after {timeout_s:g} s waiting for {what}"
    return found


#: Installed before the page's scripts: whether the warm-up's hidden container was ever drawn, and whether any of
#: its painted chart was ever in sight (the elements last only until the warm-up fragment's next run, so a
#: one-off look at them races that run).
WARM_UP_PROBE = """
window.__warm = {drawn: false, inSight: false};
new MutationObserver(() => {
  const box = document.querySelector(".st-key-alcore_warm");
  if (!box) return;
  window.__warm.drawn = true;
  const r = box.getBoundingClientRect();
  const visible = r.right > 0 && r.bottom > 0 && getComputedStyle(box).opacity !== "0";
  if (visible && box.querySelector(".main-svg")) window.__warm.inSight = true;
}).observe(document, {subtree: true, childList: true});
"""
#: The real point of the warm-up: the browser has fetched plotly's chart module before any chart is needed.
PLOTLY_FETCHED = """() => window.__warm.drawn && performance.getEntriesByType("resource").some(
  e => e.name.includes("/PlotlyChart."))"""


def test_the_first_step_opens_the_cycle_prepared_while_the_page_was_read(browser) -> None:
    """While the page is read, the server computes the default run's first cycle and the browser draws a hidden
    chart, table and image once; the first Step then only opens the run (the map shows cycle 0)."""
    from bench.app_latency import serve_app, wait_for_map_of_cycle, wait_for_run_page
    from alcore.store import RunStore

    page, runs = browser
    with serve_app("app.py", runs, log=ARTIFACTS / "browser-server.log") as url:
        page.add_init_script(WARM_UP_PROBE)
        page.goto(url)
        wait_for_run_page(page)
        page.wait_for_function(PLOTLY_FETCHED, timeout=60_000)  # while the page is read, before any click
        prepared = wait_until(lambda: [p for p in sorted((runs / ".prepared").glob("*")) if RunStore(p).exists()
                                       and RunStore(p).n_cycles() == 1 and any(p.glob("projection/*/*.npz"))],
                              120, "the default run's first cycle and its map")
        assert len(prepared) == 1, "the default run's first cycle and its map are ready before the click"
        shot(page, "7-before-first-step")

        page.get_by_role("button", name="Step").click()
        wait_for_map_of_cycle(page, 0)
        assert f"run={prepared[0].name}" in page.url, "Step opened the prepared run"
        assert RunStore(runs / prepared[0].name).n_cycles() == 1
        assert page.locator(".st-key-alcore_warm").count() == 0, "the full run after the warm-up drops it"
        assert not page.evaluate("window.__warm.inSight"), "the warm-up elements were out of sight"
        assert_no_traceback(page)
        shot(page, "8-first-step")
