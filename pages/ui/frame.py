"""The app's frame: navigation between the pages, the run named in the URL, the sidebar of past runs, and the
guard around the page. ``app.py`` draws it on every script run; the frame then runs the page the URL names.

Streamlit also runs a file of ``pages/`` on its own, without ``app.py``, while it treats that folder as its
older multipage layout: at a fresh server's first request for a page URL (``/explore?run=...``), until some
session has called ``st.navigation``, and on every ``AppTest`` run. (A URL naming no file there would get a
"Page not found" dialog, so the page files keep their URLs' names.) So each page file starts with ``in_frame()``:
inside the frame it returns at once; alone, it draws the frame here, whose ``st.navigation`` ends the older layout
for every later run of every session, the frame runs the page, and the outer run stops.
"""
from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st

from pages.ui.browser_warmup import warm_browser
from pages.ui.errors import guard
from pages.ui.jobs import registry, run_status
from pages.ui.runs import (current_run_dir, past_runs, run_dir_for, run_select, set_current_run, sync_run_param,
                           unreadable_runs)

PAGES_DIR = Path(__file__).resolve().parents[1]
#: The tab's icon: a file of the app, served by the app itself. (A ``:material/...:`` page icon makes the browser
#: fetch an SVG from a Google font host; the app asks no other host for anything unless the user asks for a
#: download.)
PAGE_ICON = PAGES_DIR.parent / "assets" / "icon.png"
#: The pages in menu order: file, title, icon. A page's URL is its file's name (``/explore``); the first one is
#: also ``/``.
PAGES = (("run.py", "Run", ":material/play_circle:"), ("explore.py", "Explore", ":material/travel_explore:"),
         ("compare.py", "Compare", ":material/compare_arrows:"), ("learn.py", "Learn", ":material/school:"),
         ("export.py", "Export", ":material/download:"))

_running = threading.local()  # per script-run thread: whether the frame is running the page now


def run_app() -> None:
    """Draw the frame and run the page the URL names inside ``guard()`` (an unexpected error becomes an
    ``st.error`` with what to do; the traceback goes to the server log)."""
    st.set_page_config(page_title="Active-learning explorer", page_icon=str(PAGE_ICON), layout="wide")
    pages = [st.Page(PAGES_DIR / name, title=title, icon=icon, default=not i)
             for i, (name, title, icon) in enumerate(PAGES)]
    sync_run_param()
    page = st.navigation(pages)
    with st.sidebar:
        _sidebar(new_run_page=pages[0])
    jobs = registry()  # it imports the engine once the first page is drawn (alcore.jobs)
    # a new run's first screen is drawn without the engine; every other page needs it, imported under one lock
    jobs.script_started(needs_engine=page.url_path != pages[0].url_path or current_run_dir() is not None)
    _running.page = True
    try:
        with guard():
            page.run()
    finally:
        _running.page = False
        jobs.script_finished()


def in_frame() -> None:
    """First line of every page file: run the page inside the frame (see the module's docstring)."""
    if getattr(_running, "page", False):
        return
    run_app()
    st.stop()


def _pick_run() -> None:
    choice = st.session_state.get("sidebar_run")
    set_current_run(run_dir_for(Path(choice).name) if choice else None)


def _sidebar(new_run_page: st.Page) -> None:
    """The past runs (the box follows the URL's run) and the way to leave the current run for a new one."""
    runs = past_runs()
    current = current_run_dir()
    if runs:
        # the box follows the URL's run: one chosen on a page, by a reload, or a run just started
        known = current is not None and any(r["path"] == str(current) for r in runs)
        st.session_state["sidebar_run"] = str(current) if known else None
        run_select(runs, "Run", key="sidebar_run", on_change=_pick_run, placeholder="Choose a past run",
                   help="Runs stored on disk, newest first. The choice is kept in the page address, so a reload "
                        "or a second tab opens the same run.")
        if known:
            st.caption(run_status(next(r for r in runs if r["path"] == str(current))))
    else:
        st.caption("No runs yet: press Step on the Run page to start one.")
    broken = unreadable_runs()
    if broken:
        with st.expander(f"{len(broken)} run folder{'s' * (len(broken) > 1)} could not be read",
                         icon=":material/warning:"):
            for info in broken:
                st.caption(f"**{info['run_id']}**: {info['error']}")
    warm_browser()  # once per tab, a little after its first page (out of sight)
    if current is not None and st.button("New run", icon=":material/add:", help="Leave this run (it stays on disk) "
                                         "and set up a new one on the Run page."):
        set_current_run(None)
        st.switch_page(new_run_page)
