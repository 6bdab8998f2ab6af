"""Which run a page shows: the runs folder, the run named in the URL (``?run=<id>``), and the runs on disk.

State flows one way: the URL names the run, the disk holds its cycles, the job registry runs it in the background.
``st.session_state`` only holds widget values (and the run across a page switch, which clears the URL's
parameters), so a browser reload loses nothing that matters.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import streamlit as st

from alcore.job_plan import cycles_run
from alcore.store import UNREADABLE, RunStore, list_runs
from alcore.task import Task, task_from_info

from pages.ui.loaders import damage_note, load_records, run_config  # noqa: F401  run_config: the pages' import

RUN_PARAM = "run"
_SESSION_RUN = "_alcore_run"
_RUN_ID = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def runs_root() -> Path:
    """Folder holding every run: ``$ALCORE_RUNS_DIR`` or ``./runs``."""
    root = Path(os.environ.get("ALCORE_RUNS_DIR", "runs"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def run_dir_for(run_id: str) -> Path | None:
    """The folder of ``run_id`` under ``runs_root()``, or None for an unknown or malformed id."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or run_id in (".", ".."):
        return None
    path = runs_root() / run_id
    return path if RunStore(path).exists() else None


def current_run_dir() -> Path | None:
    """The run named in the URL (``?run=<id>``), if it exists on disk."""
    run_id = st.query_params.get(RUN_PARAM)
    return run_dir_for(run_id) if run_id else None


def set_current_run(run_dir: str | Path | None) -> None:
    """Put the run in the URL so a reload, a second tab or another page finds it."""
    if run_dir is None:
        st.query_params.pop(RUN_PARAM, None)
        st.session_state.pop(_SESSION_RUN, None)
    else:
        st.query_params[RUN_PARAM] = Path(run_dir).name
        st.session_state[_SESSION_RUN] = Path(run_dir).name


def sync_run_param() -> None:
    """Keep ``?run=`` in the URL across page switches (navigation clears query parameters): the URL wins (a
    reload or a shared link), the session fills in when a page switch dropped the parameter."""
    in_url = st.query_params.get(RUN_PARAM)
    if in_url:
        st.session_state[_SESSION_RUN] = in_url
    elif st.session_state.get(_SESSION_RUN):
        st.query_params[RUN_PARAM] = st.session_state[_SESSION_RUN]


def past_runs() -> list[dict[str, Any]]:
    """Manifests of the stored runs that can be read, newest first (see ``alcore.store.list_runs``)."""
    return [r for r in list_runs(runs_root()) if r["status"] != UNREADABLE]


def unreadable_runs() -> list[dict[str, Any]]:
    """Run folders whose manifest cannot be read, each with the reason in ``error`` (listed, never opened)."""
    return [r for r in list_runs(runs_root()) if r["status"] == UNREADABLE]


def run_label(info: dict[str, Any]) -> str:
    """One line naming a run in a select box. Stable while the run grows: the browser matches a select box's
    choice by its text, so a label that changed with every cycle would lose the choice."""
    cfg = info.get("config", {})
    name = cfg.get("name") or f"{cfg.get('strategy', '?')} on {cfg.get('dataset', '?')}"
    return f"{name} · seed {cfg.get('seed', 0)} · {info.get('run_id') or Path(info.get('path', '?')).name}"


def run_select(runs: list[dict[str, Any]], label: str, **selectbox: Any) -> str | None:
    """A select box of ``runs`` (manifests) by their labels; returns the chosen run's folder, or None."""
    labels = {r["path"]: run_label(r) for r in runs}
    return st.selectbox(label, list(labels), format_func=labels.get, **selectbox)


def n_complete(run_dir: str | Path) -> int:
    """Complete cycles on disk (cheap: counts files); the cache key of everything derived from a run."""
    return RunStore(run_dir).n_cycles()


def cycles_line(n_records: int, cycles: int, status: str | None) -> str:
    """'3 of 10 cycles run · running': how far a run is, counted the way the setup form counts (a run of 10 cycles
    also stores a final evaluation, which is not a cycle)."""
    done = cycles_run(n_records, cycles, status)
    words = {"complete": "complete (final evaluation stored)", "diverged": "stopped: training diverged"}
    return f"{done} of {cycles} cycle{'' if cycles == 1 else 's'} run · {words.get(status, status or '?')}"


def run_task(run_dir: str | Path) -> Task:
    """The run's task (``alcore.task``): classification, or regression with the pool's mean and spread."""
    return task_from_info(RunStore(run_dir).manifest().get("dataset"))


def stored_run(key: str) -> tuple[Path, int]:
    """The run this page shows and its number of stored cycles; stops the page with a hint when there is none."""
    run_dir = current_run_dir() or pick_run(key)
    if run_dir is None:
        st.stop()
    n = n_complete(run_dir)
    note = damage_note(run_dir, n) if n else None
    if note is not None:  # the cycles before the damaged one are shown; a Step on the Run page recomputes it
        n = len(load_records(run_dir, n))
        st.warning(f"{note}. The cycles before it are shown; Step or Run on the Run page computes it again "
                   "(docs/run-format.md#damaged-files).", icon=":material/warning:")
    if n == 0:
        st.info("This run has no stored cycle yet: press Step on the Run page.", icon=":material/hourglass_empty:")
        st.stop()
    return run_dir, n


def pick_run(key: str) -> Path | None:
    """When the URL names no run: a select box of past runs (choosing one puts it in the URL), or a hint."""
    runs = past_runs()
    if not runs:
        st.info("No runs yet. Start one on the **Run** page (press Step).", icon=":material/info:")
        return None
    choice = run_select(runs, "Run", index=None, key=f"{key}_pick_run", placeholder="Choose a run",
                        help="Runs stored on disk, newest first.")
    if choice is None:
        return None
    set_current_run(choice)
    return Path(choice)
