"""What a newcomer trips over, checked in a real browser (Playwright + Debian's chromium against ``streamlit run``):
the map's title follows the animation, the Learn demo shows progress and opens the tour, a diverging run says so and
keeps its map, Run N counts the way the setup does, the map legend and the last batch, "—" for a missing utility,
upload errors beside the upload, Explore's selection and cycle agree, clicks during a job are queued, the map keeps
up during Run N, and the app asks no other host for anything. Screenshots go to ``test-artifacts/`` (git-ignored).

Every test counts the requests the browser sends to a host other than the app's: there must be none.
"""
from __future__ import annotations

import json
import re
from urllib.parse import urlparse

import pytest

from browser_checks import ARTIFACTS, assert_no_traceback, require_browser, screenshots

shot = screenshots("newcomer")
pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: The map's plotly element, its title (an animated text trace), its slider and its traces, read in the page.
MAP = "[data-testid='stPlotlyChart'] .js-plotly-plot"
MAP_STATE = """(gd) => {
  const title = gd.querySelector('.textpoint');
  const slider = (gd._fullLayout.sliders || [])[0];
  return {title: title ? title.textContent : null,
          step: slider ? slider.steps[slider.active].label : null,
          batch: gd._fullData[1] ? gd._fullData[1]._length : 0,
          legend: [...gd.querySelectorAll('.legendtext')].map(t => t.textContent)};
}"""


#: Samples (map title, "Batch of cycle N" heading) of the Run page every 100 ms into ``window.__run``, in the page
#: (at most 5000); each rerun may draw the map anew, so it is looked up every time.
RECORD_RUN = """() => {
  window.__run = [];
  const timer = setInterval(() => {
    const title = document.querySelector("[data-testid='stPlotlyChart'] .textpoint");
    const batch = /Batch of cycle (\\d+)/.exec(document.querySelector("[data-testid='stMain']").innerText);
    if (title && batch) window.__run.push([title.textContent, Number(batch[1])]);
    if (window.__run.length >= 5000) clearInterval(timer);
  }, 100);
}"""

#: While the map plays, in the page: every title it shows, in order, into ``window.__titles`` (a MutationObserver:
#: on a loaded machine a frame can come and go between two timer ticks), and (title, slider step) every 40 ms into
#: ``window.__seen``.
RECORD_PLAYBACK = """(gd) => {
  window.__titles = [];
  new MutationObserver(() => {
    const title = gd.querySelector('.textpoint');
    const text = title ? title.textContent : null;
    if (text !== null && window.__titles[window.__titles.length - 1] !== text) window.__titles.push(text);
  }).observe(gd, {subtree: true, childList: true, characterData: true});
  window.__seen = [];
  const timer = setInterval(() => {
    const slider = gd._fullLayout.sliders[0];
    window.__seen.push([gd.querySelector('.textpoint').textContent, slider.steps[slider.active].label]);
    if (window.__seen.length > 400) clearInterval(timer);
  }, 40);
}"""


def title_cycle(title: str | None) -> int | None:
    match = re.search(r"cycle (\d+) ·", title or "")
    return int(match.group(1)) if match else None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One app server for the module, runs in a fresh folder."""
    require_browser()
    from bench.app_latency import serve_app

    runs = tmp_path_factory.mktemp("newcomer") / "runs"
    with serve_app("app.py", runs, log=ARTIFACTS / "newcomer-server.log") as url:
        yield url, runs


@pytest.fixture
def page(server):
    """A browser tab on the app; at the end, no request may have gone to another host."""
    from playwright.sync_api import sync_playwright

    from bench.app_latency import launch_browser

    url, _ = server
    own = urlparse(url).netloc
    elsewhere: list[str] = []
    with sync_playwright() as p:
        browser = launch_browser(p)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        context.on("request", lambda r: elsewhere.append(r.url)
                   if urlparse(r.url).scheme in ("http", "https", "ws", "wss") and urlparse(r.url).netloc != own
                   else None)
        tab = context.new_page()
        tab.set_default_timeout(120_000)  # a loaded 2-core machine
        try:
            yield tab
            assert elsewhere == [], f"requests to other hosts: {elsewhere}"
        finally:
            context.close()
            browser.close()


def set_number(page, label: str, value: int, scope=None) -> None:
    box = (scope or page).get_by_role("spinbutton", name=label, exact=True).first
    box.fill(str(value))
    box.press("Enter")


def map_state(page) -> dict:
    return page.locator(MAP).first.evaluate(MAP_STATE)


def slide_to(page, chart, cycle: int) -> None:
    """Click the map's slider at the tick of ``cycle`` (the rail takes the click), and wait until plotly says the
    animation to that frame ended (points, title and selection data are then those of ``cycle``)."""
    chart.scroll_into_view_if_needed()
    chart.evaluate("gd => { window.__animated = false; gd.once('plotly_animated', () => { window.__animated = 1; }); }")
    tick = chart.locator(".slider-label", has_text=re.compile(rf"^{cycle}$")).first.bounding_box()
    page.mouse.click(tick["x"] + tick["width"] / 2, tick["y"] + tick["height"] / 2)
    page.wait_for_function(f"gd => gd._fullLayout.sliders[0].active === {cycle} && window.__animated",
                           arg=chart.element_handle())


def wait_until_idle(page, timeout_ms: float = 480_000) -> None:
    """No job runs: the Stop button is disabled again (a few digits cycles with their maps take minutes on a loaded
    2-core machine)."""
    page.wait_for_function("() => [...document.querySelectorAll('button')].some("
                           "b => b.innerText.trim().endsWith('Stop') && b.disabled)", timeout=timeout_ms)


def run_page_text(page) -> str:
    return page.get_by_test_id("stMain").inner_text()


def test_a_new_user_steps_runs_queues_and_plays_the_map(server, page) -> None:
    """Items 1, 4, 8, 9, 12, 13 and 15 of issue 14, in the order a new user meets them."""
    from bench.app_latency import wait_for_map_of_cycle, wait_for_run_page

    url, runs = server
    page.goto(url)
    wait_for_run_page(page)
    set_number(page, "Cycles in run", 4, page.get_by_test_id("stSidebar"))
    page.get_by_role("button", name="Run 4 cycles").wait_for()
    shot(page, "1-opened")

    # 9: the first batch's utilities are numbers or a dash with the reason, never nan or None (the form's default
    # cold start runs BADGE itself on the untrained model; the dash of a fallback batch: AppTests and test_browser.py)
    page.get_by_role("button", name="Step").click()
    wait_for_map_of_cycle(page, 0)
    page.locator("[data-testid='stImageCaption']").first.wait_for()
    captions = page.locator("[data-testid='stImageCaption']").all_inner_texts()
    assert captions and not any("nan" in c or "None" in c for c in captions), captions
    assert not any(bad in run_page_text(page) for bad in ("nan", "None"))
    assert "1 of 4 cycles run" in run_page_text(page), "cycles counted as the setup counts them"
    shot(page, "2-cold-start")

    # 4, 12, 13: Run the 2 cycles asked, with a Step clicked meanwhile; map and batch show the same cycle
    set_number(page, "Cycles to run", 2)
    page.get_by_role("button", name="Run 2 cycles").click()
    step = page.get_by_role("button", name="Step")
    page.wait_for_function("b => !b.disabled", arg=step.element_handle())
    page.get_by_test_id("stProgress").first.wait_for()  # the job is running
    step.click()  # queued on the running job, not dropped
    page.get_by_text("Queued 1 more cycle").wait_for()
    page.evaluate(RECORD_RUN)
    wait_until_idle(page)
    wait_for_map_of_cycle(page, 4)
    shot(page, "3-run-n-with-a-queued-step")
    samples = [(title_cycle(t), b) for t, b in page.evaluate("window.__run")]
    ahead = [(m, b) for m, b in samples if m is not None and b > m]
    assert len(samples) >= 3 and len(ahead) <= 1, f"the batch panel ran ahead of the map: {samples}"
    run_id = re.search(r"run=([^&#]+)", page.url).group(1)
    assert len(list((runs / run_id / "cycles").glob("cycle_*.json"))) == 5, "4 cycles and the final evaluation"
    assert json.loads((runs / run_id / "manifest.json").read_text())["status"] == "complete"
    assert "4 of 4 cycles run · complete" in run_page_text(page)
    assert page.get_by_role("button", name="Step").is_disabled(), "a finished run takes no more cycles"

    # 8: a legend entry for labelled points, and the last frame stars the last batch
    state = map_state(page)
    assert title_cycle(state["title"]) == 4 and "final evaluation" in state["title"]
    assert {"chosen batch", "labelled (outlined)"} <= set(state["legend"])
    assert state["batch"] == 20, "the final frame stars the 20 points of the last batch"

    # 1: the title follows the frame while the map plays
    chart = page.locator(MAP).first
    slide_to(page, chart, 0)
    chart.evaluate(RECORD_PLAYBACK)
    chart.locator(".updatemenu-button", has_text="play").first.click()
    page.wait_for_function("gd => gd._fullLayout.sliders[0].active === 4 && window.__seen.length > 20 "
                           "&& /cycle 4 ·/.test(window.__titles[window.__titles.length - 1])",
                           arg=chart.element_handle(), timeout=60_000)
    seen = [(title_cycle(t), int(s)) for t, s in page.evaluate("window.__seen")]
    shot(page, "4-played")
    titles = [title_cycle(t) for t in page.evaluate("window.__titles")]
    assert [c for i, c in enumerate(titles) if i == 0 or c != titles[i - 1]] == [0, 1, 2, 3, 4], titles
    agree = sum(t == s for t, s in seen) / len(seen)
    assert agree >= 0.9, f"the title and the slider disagree in {1 - agree:.0%} of samples: {seen}"
    assert_no_traceback(page)


def test_explore_details_are_those_of_the_frame_the_points_were_selected_on(server, page) -> None:
    """Item 11: select points on a frame that is not the last; the details name that frame's cycle."""
    from alcore.loop import Experiment
    from alcore.store import new_run_id

    from conftest import make_digits_config

    url, runs = server
    run_dir = runs / new_run_id("explore")
    Experiment(make_digits_config(cycles=3), run_dir=run_dir).run()
    page.goto(f"{url}/explore?run={run_dir.name}")
    page.get_by_text("Explore a run").wait_for()
    chart = page.locator(MAP).first
    chart.wait_for()
    assert title_cycle(map_state(page)["title"]) == 3, "the map opens on the last cycle"
    slide_to(page, chart, 1)
    assert title_cycle(map_state(page)["title"]) == 1
    area = chart.locator(".nsewdrag").first.bounding_box()
    page.mouse.move(area["x"] + area["width"] * 0.05, area["y"] + area["height"] * 0.1)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] * 0.95, area["y"] + area["height"] * 0.95, steps=12)
    page.mouse.up()
    page.get_by_text(re.compile(r"point\(s\) selected at cycle \d+")).wait_for()
    said = page.get_by_text(re.compile(r"point\(s\) selected at cycle \d+")).inner_text()
    shot(page, "5-explore-selection")
    assert "selected at cycle 1" in said, said
    assert_no_traceback(page)


def test_the_learn_demo_shows_progress_then_opens_the_tour_in_view(server, page) -> None:
    """Item 2 (and 7: on the k-means++ step the legend and the colour bar do not overlap)."""
    url, _ = server
    page.goto(f"{url}/learn")
    page.get_by_role("button", name="Start the tour's demo run").click()
    page.get_by_text("the tour opens here as soon as its first cycle is stored").wait_for()
    assert re.search(r"[?&]run=learn-", page.url), "the demo run is in the address at once"
    page.get_by_test_id("stProgress").first.wait_for()
    shot(page, "6-learn-progress")
    tour = page.get_by_role("radiogroup").first
    tour.wait_for(timeout=480_000)
    box = tour.bounding_box()
    assert box is not None and 0 <= box["y"] < 1000, "the tour is in view, not below the fold"
    shot(page, "7-learn-tour")
    page.get_by_text("3 · k-means++ pick by pick").click()
    chart = page.locator("[data-testid='stPlotlyChart']").first
    chart.locator(".colorbar").first.wait_for(timeout=120_000)
    legend, colorbar = chart.locator(".legend").first.bounding_box(), chart.locator(".colorbar").first.bounding_box()
    apart = (legend["x"] + legend["width"] <= colorbar["x"] or colorbar["x"] + colorbar["width"] <= legend["x"]
             or legend["y"] + legend["height"] <= colorbar["y"] or colorbar["y"] + colorbar["height"] <= legend["y"])
    shot(page, "8-learn-kmeanspp")
    assert apart, f"legend {legend} overlaps colour bar {colorbar}"
    assert_no_traceback(page)
    run_id = re.search(r"run=([^&#]+)", page.url).group(1)
    page.goto(f"{url}/?run={run_id}")  # the demo's job ends here, not while the next test works on the same server
    wait_until_idle(page)


def test_a_diverging_run_says_so_stops_and_keeps_its_map(server, page) -> None:
    """Item 3: a learning rate of 10 diverges at the first trained cycle."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from bench.app_latency import wait_for_map_of_cycle, wait_for_run_page

    url, runs = server
    page.goto(url)
    wait_for_run_page(page)
    sidebar = page.get_by_test_id("stSidebar")
    # A number typed while the page re-renders from the previous edit can be replaced by the old value: set the
    # cycles until the Run button says them, then the learning rate until its box holds it (a click commits it).
    run_3 = page.get_by_role("button", name="Run 3 cycles")
    for _ in range(4):
        set_number(page, "Cycles in run", 3, sidebar)
        try:
            run_3.wait_for(timeout=30_000)
            break
        except PlaywrightTimeout:
            continue
    sidebar.get_by_text("Model and training options").click()
    learning_rate = sidebar.get_by_role("spinbutton", name="Learning rate", exact=True).first
    for _ in range(4):
        set_number(page, "Learning rate", 10, sidebar)
        run_3.wait_for()
        if float(learning_rate.input_value() or "nan") == 10:
            break
    page.get_by_role("button", name="Run 3 cycles").click()
    page.get_by_text(re.compile("Training diverged at cycle 1: lower the learning rate")).wait_for(timeout=300_000)
    wait_until_idle(page)
    wait_for_map_of_cycle(page, 0)
    shot(page, "9-diverged")
    run_id = re.search(r"run=([^&#]+)", page.url).group(1)
    manifest = json.loads((runs / run_id / "manifest.json").read_text())
    assert manifest["status"] == "diverged" and manifest["n_cycles"] == 2, "no cycle after the one that diverged"
    assert "SVD" not in run_page_text(page)
    assert page.get_by_role("button", name="Step").is_disabled()
    assert_no_traceback(page)


def test_an_upload_error_shows_beside_the_upload(server, page, tmp_path) -> None:
    """Item 10: the message sits right under the file box, in view, not at the end of the sidebar."""
    from bench.app_latency import wait_for_run_page

    url, _ = server
    page.goto(f"{url}/compare")  # the one page no other test here opens: its icons and fonts are the app's too
    page.get_by_text("Compare strategies").wait_for()
    page.goto(url)
    wait_for_run_page(page)
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").filter(has_text="Dataset").first.click()
    page.get_by_role("option", name="file", exact=True).click()
    bad = tmp_path / "words.csv"
    bad.write_text("colour,size,label\nred,big,1\nblue,small,0\n")
    sidebar.locator("input[type='file']").set_input_files(str(bad))
    error = sidebar.get_by_test_id("stAlertContentError").first
    error.wait_for()
    uploader = sidebar.get_by_test_id("stFileUploader").first.bounding_box()
    box = error.bounding_box()
    shot(page, "10-upload-error")
    assert 0 <= box["y"] - (uploader["y"] + uploader["height"]) < 200, (uploader, box)
    assert box["y"] < 1000, "in view without scrolling"


def test_the_exported_html_map_plays_with_no_network(server, page, tmp_path) -> None:
    """The Export page's HTML map: one file that loads nothing from anywhere and plays its frames."""
    from alcore.loop import Experiment
    from alcore.store import new_run_id

    from conftest import make_digits_config

    url, runs = server
    run_dir = runs / new_run_id("html")
    Experiment(make_digits_config(cycles=2), run_dir=run_dir).run()
    page.goto(f"{url}/export?run={run_dir.name}")
    page.get_by_role("button", name="Make the HTML page").click()
    button = page.get_by_role("button", name=re.compile(r"Download the map"))
    button.wait_for(timeout=120_000)
    with page.expect_download() as info:
        button.click()
    target = ARTIFACTS / "newcomer-map.html"
    info.value.save_as(str(target))

    offline = page.context.new_page()
    fetched = []
    offline.route(re.compile(r"^(https?|wss?)://"), lambda route: (fetched.append(route.request.url), route.abort()))
    offline.goto(target.as_uri())
    offline.locator(".js-plotly-plot .textpoint").first.wait_for()
    offline.locator(".updatemenu-button", has_text="play").first.click()
    offline.wait_for_function("() => /cycle 2 ·/.test(document.querySelector('.textpoint').textContent)",
                              timeout=30_000)
    offline.screenshot(path=str(ARTIFACTS / "newcomer-11-html-offline.png"))
    assert fetched == [], f"the page asked the network for {fetched}"
    assert offline.locator(".slider-group").count() == 1
