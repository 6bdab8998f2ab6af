"""Learn: a guided tour of how BADGE, gradient alignment and LESS choose, on the current run's own numbers.

The six steps are drawn by ``pages/ui/tour.py``; this page picks the run (or starts the tour's demo run), the
cycle and the step.
"""
from __future__ import annotations

import streamlit as st

from alcore import presets, teaching
from alcore.config import ConfigError
from alcore.store import RunStore

from pages.ui import tour, tour_regression
from pages.ui.tour_cold_start import cold_start
from pages.ui.errors import guard, show_error
from pages.ui.frame import in_frame
from pages.ui.jobs import create_run, progress_text, registry, sync_jobs
from pages.ui.loaders import dataset_for, load_records
from pages.ui.runs import (current_run_dir, cycles_line, n_complete, past_runs, run_config, run_select, run_task,
                           set_current_run)

DEMO_PRESET = "learn-tour"
POLL_S = 1.5
STEPS = {"1 · Hallucinated label": tour.hallucinated_label, "2 · Gradient embedding": tour.gradient_norm,
         "3 · k-means++ pick by pick": tour.kmeanspp, "4 · Gradient alignment": tour.alignment,
         "5 · LESS and Adam": tour.less, "6 · Cold start: BADGE and random": cold_start}


# --- no run yet: offer the demo ----------------------------------------------------------------------------------
def _start_demo() -> None:
    """Create the demo run (its folder and manifest, so the page finds it at once), run it in the background and
    show its progress until its first cycle opens the tour."""
    try:
        preset = presets.load_preset(DEMO_PRESET)
    except ConfigError as err:
        show_error(err)
        return
    config = preset["configs"][0]
    config.name = preset["title"]
    with st.spinner("Setting up the demo run…"):
        run_dir = create_run(config, prefix="learn")
    if run_dir is None:
        return
    job = registry().start_group([run_dir], [None], job_id=run_dir.name)
    set_current_run(run_dir)
    if sync_jobs():
        with st.spinner("Running the demo…"):
            job.wait()
    st.rerun()


def _no_run() -> None:
    st.info("The tour explains the run named in the page address. Start the short demo run below (BADGE on "
            "digits with a target set of 3s, 5s and 8s, about half a minute), or choose a past run.",
            icon=":material/school:")
    if st.button("Start the tour's demo run", key="learn_demo", icon=":material/play_arrow:", type="primary"):
        _start_demo()
    runs = past_runs()
    if runs:
        choice = run_select(runs, "Or explain a past run", index=None, key="learn_pick", placeholder="Choose a run")
        if choice is not None:
            set_current_run(choice)
            st.rerun()


def _wait_for_cycle(run_dir, n_stored: int) -> None:
    """The run has not chosen a batch yet: show how far it is until it stores another cycle (then the page looks
    again, and opens the tour once a cycle chose a batch)."""
    job = registry().get(run_dir.name)
    if job is None or not job.running:
        st.warning("This run has no cycle that chose a batch: continue it on the Run page, or start the demo.",
                   icon=":material/warning:")
        if st.button("Start the tour's demo run", key="learn_demo_2"):
            _start_demo()
        return
    st.info(f"Running **{run_dir.name}**: the tour opens here as soon as its first cycle is stored (training, "
            "scoring the pool and choosing a batch take a few seconds).", icon=":material/hourglass_top:")

    @st.fragment(run_every=POLL_S)
    def _poll() -> None:
        st.progress(job.progress, text=progress_text(job))
        if not job.running or n_complete(run_dir) > n_stored:
            st.rerun(scope="app")

    _poll()


# --- the page ---------------------------------------------------------------------------------------------------
in_frame()
st.title("Learn: how gradient-based strategies choose")
st.caption("A guided tour in six steps, each with the formula and the current run's numbers.")
run_dir = current_run_dir()
if run_dir is None:
    _no_run()
    st.stop()

n = n_complete(run_dir)
records = load_records(str(run_dir), n)
default_cycle = teaching.tour_cycle(records)
if default_cycle is None:
    _wait_for_cycle(run_dir, n)
    st.stop()

config = run_config(run_dir)
choices = [r.cycle for r in records if len(r.selected) and not r.is_final]
head1, head2 = st.columns([3, 1])
head1.markdown(f"Run **{run_dir.name}**: {config.strategy} on {config.dataset} ({config.model}) · "
               f"{cycles_line(n, config.cycles, RunStore(run_dir).manifest().get('status'))}.")
cycle = head2.selectbox("Cycle", choices, index=choices.index(default_cycle), key="learn_cycle",
                        help="The cycle whose model and batch the tour explains (default: the latest one with a "
                             "trained model).")
steps = STEPS if run_task(run_dir).categorical else tour_regression.STEPS  # a regression run: a residual, σ
titles = list(steps)
step = st.radio("Step", titles, horizontal=True, key="learn_step", label_visibility="collapsed")
st.subheader(step)
with guard():  # an engine error becomes a message with what to do, never a traceback
    steps[step](str(run_dir), n, cycle, dataset_for(config))

index = titles.index(step)
if index + 1 < len(titles):
    def _next() -> None:
        st.session_state["learn_step"] = titles[index + 1]

    st.button(f"Next: {titles[index + 1]}", key="learn_next", on_click=_next, icon=":material/arrow_forward:")
