"""Active-learning explorer: ``streamlit run app.py``.

The entry point only wires things: page navigation, the run named in the URL, and the sidebar list of past runs.
Every page reads the current run from ``?run=<id>`` (``pages/_shared.py``), so a reload finds the same run.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages._shared import (current_run_dir, guard, past_runs, registry, run_dir_for, run_label, run_status,
                           set_current_run, shell_ran, sync_run_param, warm_browser)

st.set_page_config(page_title="Active-learning explorer", page_icon=":material/scatter_plot:", layout="wide")

PAGES = [
    st.Page("pages/run.py", title="Run", icon=":material/play_circle:", default=True),
    st.Page("pages/explore.py", title="Explore", icon=":material/travel_explore:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/learn.py", title="Learn", icon=":material/school:"),
    st.Page("pages/export.py", title="Export", icon=":material/download:"),
]

shell_ran()
sync_run_param()
page = st.navigation(PAGES)


def _pick_run() -> None:
    choice = st.session_state.get("sidebar_run")
    set_current_run(run_dir_for(Path(choice).name) if choice else None)


with st.sidebar:
    runs = past_runs()
    current = current_run_dir()
    paths = [r["path"] for r in runs]
    labels = {r["path"]: run_label(r) for r in runs}
    if runs:
        # the box follows the URL's run: one chosen on a page, by a reload, or a run just started
        st.session_state["sidebar_run"] = str(current) if current is not None and str(current) in paths else None
        st.selectbox("Run", paths, format_func=labels.get, key="sidebar_run",
                     on_change=_pick_run, placeholder="Choose a past run",
                     help="Runs stored on disk, newest first. The choice is kept in the page address, so a reload "
                          "or a second tab opens the same run.")
        if current is not None:
            st.caption(run_status(next(r for r in runs if r["path"] == str(current))))
    else:
        st.caption("No runs yet: press Step on the Run page to start one.")
    warm_browser()  # once per tab, a little after its first page (out of sight)
    if current is not None and st.button("New run", icon=":material/add:", help="Leave this run (it stays on disk) "
                                         "and set up a new one on the Run page."):
        set_current_run(None)
        st.switch_page(PAGES[0])

jobs = registry()  # the server's job registry; it imports the engine once the first page is drawn (alcore.jobs)
jobs.script_started()
try:
    with guard():  # an unexpected error becomes an st.error with what to do; the traceback goes to the server log
        page.run()
finally:
    jobs.script_finished()
