"""The app's handle on the server's job registry (``alcore.jobs``): starting runs, preparing the first cycle,
and what the pages say about a run a worker may be running."""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import streamlit as st

from alcore.config import ConfigError, ExperimentConfig
from alcore.data import DatasetError
from alcore.jobs import PREPARED_DIR, Job, JobRegistry, worth_preparing
from alcore.store import new_run_id

from pages.ui.errors import show_error
from pages.ui.loaders import dataset_for
from pages.ui.runs import cycles_line, runs_root
from pages.ui.setup_form import attach_upload

_log = logging.getLogger("alcore.app")


@st.cache_resource(show_spinner=False)
def registry() -> JobRegistry:
    """The server's one job registry: background workers outlive reruns, reloads and sessions. First cycles
    prepared by an earlier server and never taken are removed."""
    shutil.rmtree(runs_root() / PREPARED_DIR, ignore_errors=True)
    return JobRegistry()


def job_running(run_dir: str | Path) -> bool:
    job = registry().get(Path(run_dir).name)
    return job is not None and job.running


def run_status(info: dict[str, Any]) -> str:
    """Cycles run and status of a run, for a caption (``runs.cycles_line``). A run whose manifest says running but
    that no worker of this server runs (stopped, or the server restarted) is paused: Step or Run continues it."""
    status = info.get("status", "?")
    if status in ("running", "created") and not job_running(info.get("run_id") or Path(info.get("path", "")).name):
        status = "paused"
    cycles = int((info.get("config") or {}).get("cycles", 0))
    return cycles_line(int(info.get("n_cycles", 0)), cycles, status)


def sync_jobs() -> bool:
    """Wait for every job inline, on every page (tests, scripted use): ``ALCORE_SYNC=1``."""
    return os.environ.get("ALCORE_SYNC", "") not in ("", "0")


def prepare_enabled() -> bool:
    """Compute a new run's first cycle before its Step is pressed (``JobRegistry.prepare``): on by default, off
    with ``ALCORE_PREPARE=0``, and off in scripted runs (``ALCORE_SYNC``) unless ``ALCORE_PREPARE=1``."""
    flag = os.environ.get("ALCORE_PREPARE", "")
    return flag == "1" or (flag != "0" and not sync_jobs())


def precompute_map_quietly(run_dir: Path) -> None:
    """Lay out and cache the map frames of ``run_dir`` (a job's callback after each stored cycle: the worker does
    it, not the page); a failure is logged, never raised (the page reports it when it draws the map)."""
    from alcore import export

    try:
        export.precompute_map(run_dir)
    except Exception:  # noqa: BLE001  a map problem must never stop the run
        _log.exception("precomputing the map of %s failed", run_dir)


def prepare_first_cycle(config: ExperimentConfig) -> None:
    """While the user reads the Run page, compute the first cycle (and its map) that Step would start with, if
    the engine finds it worth it (``alcore.jobs.worth_preparing``); the same seed gives the same cycle, so a Step
    that takes it (``take_prepared_run``) shows exactly what it would have computed."""
    if prepare_enabled() and worth_preparing(config):
        registry().prepare(config, runs_root() / PREPARED_DIR / new_run_id(config.strategy),
                           on_cycle=precompute_map_quietly)


def take_prepared_run(config: ExperimentConfig, timeout: float) -> Path | None:
    """The new run whose first cycle was prepared for ``config`` (waiting for one in progress), or None."""
    return registry().take_prepared(config, runs_root(), timeout)


def create_run(config: ExperimentConfig, prefix: str | None = None) -> Path | None:
    """A new run folder for ``config`` with its manifest (checked against the data: the budget, the model), so the
    pages find the run at once, before its first cycle; None after showing what to fix. A staged upload is copied
    into the folder (``setup_form.attach_upload``)."""
    from alcore.loop import Experiment  # here: the first render does not wait for torch

    run_dir = runs_root() / new_run_id(prefix or config.strategy)
    try:
        config = attach_upload(config, run_dir)
        # checks the budget and the memory against the data, writes the manifest, and lets the run's lock go
        Experiment(config, run_dir=run_dir, dataset=dataset_for(config)).close()
    except (ConfigError, DatasetError, ValueError, OSError, MemoryError) as err:
        shutil.rmtree(run_dir, ignore_errors=True)
        show_error(err)
        return None
    return run_dir


def progress_text(job: Job, what: str = "cycles") -> str:
    """How far a job is, for a progress bar: records stored of those it will store, and what is queued."""
    if job.cycles_total == 0:
        return "Starting…"
    return f"{job.cycles_done} of {job.cycles_total} {what} stored"


def start_job(run_dir: Path, config: ExperimentConfig | None, n_cycles: int | None) -> Job:
    """Run (or resume) ``run_dir`` for ``n_cycles`` cycles in the background worker (job id = run id), laying out
    the map of each new cycle."""
    return registry().start_group([Path(run_dir)], [config], job_id=Path(run_dir).name, n_cycles=n_cycles,
                                  on_cycle=precompute_map_quietly)
