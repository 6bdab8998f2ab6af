"""Run: set up an experiment, Step / Run N cycles / Stop, and watch the map, the batch and the curves update.

The run executes in the engine's background worker (``alcore.jobs``) and is stored on disk after every cycle; this
page polls the disk from a fragment. Nothing here is lost by a reload: the run id sits in the URL. A click while the
run's job works is queued on that job (``Job.extend``), never dropped.
"""
from __future__ import annotations

import streamlit as st

from alcore.config import ExperimentConfig
from alcore.job_plan import cycles_run
from alcore.run_lock import RunBusy, holder
from alcore.store import FINISHED, ManifestError, RunStore

from pages.ui.errors import guard, show_error
from pages.ui.frame import in_frame
from pages.ui.jobs import (create_run, prepare_first_cycle, progress_text, registry, start_job, sync_jobs,
                           take_prepared_run)
from pages.ui.loaders import damage_note, load_records
from pages.ui.map_panel import map_view, mapped_cycles
from pages.ui.run_panels import batch_view, curves_view, diverged_view
from pages.ui.runs import current_run_dir, cycles_line, n_complete, run_config, set_current_run
from pages.ui.setup_form import app_defaults, config_form

POLL_S = 1.0        # how often the live view re-reads the disk while a job runs
STEP_WAIT_S = 60.0  # a Step waits inline this long for its cycle (the map updates without a polling delay)


def _same(a: ExperimentConfig, b: ExperimentConfig) -> bool:
    return a.to_dict() == b.to_dict()


def _start(run_dir, config, n_cycles: int | None, wait_s: float | None, same_run: bool) -> None:
    """Start the job; a Step (or any job under ``ALCORE_SYNC``) waits for it here. The page is redrawn from the
    top unless the job already ended on the run this page shows (then the rest of this run draws it)."""
    job = start_job(run_dir, config, n_cycles)
    set_current_run(run_dir)
    if sync_jobs():
        wait_s = None
    if wait_s is None or wait_s > 0:
        with st.spinner("Running the cycle…" if n_cycles == 1 else f"Running {n_cycles} cycles…"):
            job.wait(wait_s)
    if not (same_run and not job.running):
        st.rerun()


def _queue(run_dir, n_cycles: int) -> None:
    """A click while the run's job works: add the cycles to that job and say so."""
    job = start_job(run_dir, None, n_cycles)
    st.toast(f"Queued {n_cycles} more cycle{'s' if n_cycles > 1 else ''}: {progress_text(job)}, "
             f"{job.cycles_total - job.cycles_done} to go.", icon=":material/queue:")


def _damaged_manifest(run_dir, err: ManifestError) -> None:
    """A run whose manifest cannot be read: say so, and offer to resume it (which rebuilds the manifest from the
    run's config.json, docs/run-format.md#damaged-files)."""
    show_error(err, "Resume the run: its manifest is rebuilt from the config stored beside it, or the message "
                    "says why it cannot be. The run's cycles are kept.")
    if st.button("Resume and repair", key="run_repair", icon=":material/build:"):
        _start(run_dir, None, 1, STEP_WAIT_S, same_run=False)
    st.stop()


in_frame()
st.title("Run an active-learning experiment")
run_dir = current_run_dir()
try:
    run_cfg = run_config(run_dir) if run_dir is not None else None
except ManifestError as err:
    _damaged_manifest(run_dir, err)
job = registry().get(run_dir.name) if run_dir is not None else None
running = job is not None and job.running
# another process (a command-line run, another server) or another worker of this one writing this run
writer = holder(run_dir) if run_dir is not None and not running else None

with st.sidebar:
    st.subheader("Setup", help="Dataset, model and strategy of the run. Changing a setting of a stored run makes "
                 "the next Step start a new run; the old one stays on disk.")
    config = config_form(f"run_{run_dir.name if run_dir is not None else 'new'}", run_cfg or app_defaults())

finished, manifest, done, damage = False, {}, 0, None
if run_dir is not None:
    manifest = RunStore(run_dir).manifest()
    done = n_complete(run_dir)
    damage = damage_note(run_dir, done) if done else None
    finished = (manifest.get("status") in FINISHED or done >= run_cfg.cycles + 1) and damage is None
    if damage is not None:
        done = len(load_records(run_dir, done))  # the cycles before the damaged one: a Step computes the rest
        st.warning(f"{damage}. Step or Run computes it (and the cycles after it) again; the damaged files are kept "
                   "in the run's damaged/ folder (docs/run-format.md#damaged-files).", icon=":material/build:")
    if writer is not None:
        st.warning(str(RunBusy(run_dir, writer)), icon=":material/lock:")
continues = run_dir is not None and config is not None and _same(config, run_cfg)
status = None if damage is not None else manifest.get("status")  # a damaged run is not finished: it resumes
ran = cycles_run(done, run_cfg.cycles, status) if run_dir is not None else 0
if config is None:
    hint = "Fix the settings in the sidebar to run."
elif not continues:
    hint = ("Settings differ from this run: Step or Run starts a **new run** (this one stays on disk)."
            if run_dir is not None else "Step runs one acquisition cycle: train, score the pool, choose a batch.")
elif finished:
    hint = (f"This run is finished: {cycles_line(done, run_cfg.cycles, manifest.get('status'))}. Change a setting "
            "to start a new run, or look at it on Explore and Export.")
else:
    hint = (f"Continues run `{run_dir.name}`: {ran} of {run_cfg.cycles} cycles run, {run_cfg.batch_size} labels per "
            "cycle.")

if continues:
    cycles_left = 0 if finished else run_cfg.cycles - ran
else:
    cycles_left = config.cycles if config is not None else 1
b1, b2, b3, b4 = st.columns([1, 1.4, 0.8, 1], vertical_alignment="bottom")
n_more = int(b4.number_input(
    "Cycles to run", 1, max(1, cycles_left), max(1, cycles_left), key="run_n_cycles",
    help="How many acquisition cycles the Run button performs now: at most the cycles this run has left (the "
         "default: all of them). When they reach the end of the run, its final evaluation follows and the run is "
         "complete."))
blocked = config is None or (continues and finished) or (continues and writer is not None)
step = b1.button("Step", type="primary", key="run_step", icon=":material/skip_next:", disabled=blocked,
                 width="stretch", help="Run one acquisition cycle and show the batch it chose (while a job runs "
                                       "this run, the cycle is queued on it).")
run_n = b2.button(f"Run {n_more} cycle{'s' if n_more > 1 else ''}", key="run_many", icon=":material/fast_forward:",
                  disabled=blocked, width="stretch",
                  help="Run several cycles in the background; the map updates after each. You can leave the page "
                       "or reload it meanwhile. While a job runs this run, the cycles are queued on it.")
stop = b3.button("Stop", key="run_stop", icon=":material/stop:", disabled=not running, width="stretch",
                 help="Stop after the cycle in progress (it is still stored).")
st.caption(hint)

if stop and job is not None:
    job.stop()
    with st.spinner("Stopping after the cycle in progress…"):
        job.wait(STEP_WAIT_S)
    st.rerun()
if (step or run_n) and config is not None:
    n = 1 if step else n_more
    wait = STEP_WAIT_S if step else 0.0
    if continues and running:
        _queue(run_dir, n)
    elif continues:
        _start(run_dir, None, n, wait, same_run=True)
        job = registry().get(run_dir.name)
        running = job is not None and job.running
    else:
        with st.spinner("Running the cycle…"):
            ready = take_prepared_run(config, STEP_WAIT_S)  # its first cycle, computed while the page was read
        if ready is not None and n == 1:
            set_current_run(ready)
            st.rerun()
        if ready is not None:
            _start(ready, None, n - 1, wait, same_run=False)
        elif (target := create_run(config)) is not None:
            _start(target, None, n, wait, same_run=False)
elif config is not None and not continues and not running:
    prepare_first_cycle(config)  # what Step will start with, computed while the user reads the page

if run_dir is None:
    st.info("Nothing has run yet. The defaults are a cold start on **digits** with an **MLP** and **BADGE**, "
            "20 labels per cycle: press **Step** to watch the first batch being chosen.",
            icon=":material/lightbulb:")
else:
    @st.fragment(run_every=POLL_S if running else None)
    def live_view() -> None:
        with guard():
            _live_view()

    def _live_view() -> None:
        job = registry().get(run_dir.name)
        if running and (job is None or not job.running):
            st.rerun()  # the job just ended: redraw the whole page (buttons back, polling off)
        n = n_complete(run_dir)
        status = RunStore(run_dir).manifest().get("status")
        if job is not None and job.running:
            st.progress(job.progress, text=f"{progress_text(job)} · {cycles_line(n, run_cfg.cycles, status)}")
        if status == "diverged":
            diverged_view(run_dir, n)
        elif job is not None and job.status == "failed":
            show_error(job.error or "the run failed", "Check the settings (the message names the problem) "
                       "and start a new run; the cycles stored before the failure are kept.")
        elif job is None and status == "failed" and manifest.get("error"):
            show_error(manifest["error"], "Start a new run with changed settings; stored cycles are kept.")
        if n == 0:
            st.info("The first cycle is running…" if running else "No cycle stored yet: press Step.")
            return
        # one cycle for every panel: while a worker runs, the last one whose map is laid out, so the map never
        # lags behind the batch and the curves
        mappable = n - (status == "diverged")  # the cycle that diverged has no map, batch or metrics
        shown = min(mappable, mapped_cycles(run_dir, mappable, job is not None and job.running))
        if shown < mappable:
            st.caption(f"Cycle {n - 1} is stored; its map is being laid out (the panels below show cycle "
                       f"{shown - 1} until then)." if shown else "Laying out the first map (t-SNE of the gradient "
                       "embeddings)…")
        if shown == 0:
            return
        map_col, batch_col = st.columns([3, 2], gap="medium")
        with map_col:
            # a new key per cycle count: the browser draws a fresh chart instead of patching the old one
            map_view(run_dir, shown, key=f"run_map_{shown}")
        with batch_col:
            batch_view(run_dir, shown)
        curves_view(run_dir, shown)

    live_view()
