"""Faults: concurrent sweeps into one root, processes killed mid-run, workers that die (the writer lock itself:
tests/test_run_lock.py).

Every test here starts other Python processes (each importing torch), so most are marked slow.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alcore.loop import Experiment
from alcore.config import ExperimentConfig
from alcore.store import RunStore
from alcore.run_lock import holder
from alcore.sweep import expand_grid, run_job, run_sweep

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(dataset_options={"n_samples": 300}, model_options={"hidden": [16], "dropout": 0.0}, batch_size=10,
             cycles=3, epochs=10, train_batch_size=32, display_size=40, device="cpu")
SMALL_FLAGS = ["--cycles", "3", "--batch-size", "10", "--epochs", "10", "--device", "cpu",
               "--set", 'dataset_options={"n_samples": 300}', "--set", 'model_options={"hidden": [16], "dropout": 0}',
               "--set", "display_size=40", "--set", "train_batch_size=32"]


def reference_records(job):
    """The records of an uninterrupted, unshared run of ``job`` (no folder: nothing on disk)."""
    exp = Experiment(ExperimentConfig.from_dict(job.config))
    return exp.run()


def start_sweep(root, *extra, env):
    cmd = [sys.executable, "-m", "alcore", "sweep", "--datasets", "moons", "--out", str(root), "--jobs", "1",
           *SMALL_FLAGS, *extra]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


# --- sweeps -------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_two_sweeps_into_one_root_run_each_job_once_and_leave_exact_runs(tmp_path, subprocess_env, same_records):
    # the same grid from both, and a third strategy in only one of them
    a = start_sweep(tmp_path, "--strategies", "random,entropy", "--seeds", "0-1", env=subprocess_env)
    b = start_sweep(tmp_path, "--strategies", "entropy,random,margin", "--seeds", "0-1", env=subprocess_env)
    (out_a, err_a), (out_b, err_b) = a.communicate(timeout=600), b.communicate(timeout=600)
    assert a.returncode == 0, err_a
    assert b.returncode == 0, err_b
    lines = [line for line in (out_a + out_b).splitlines() if line.startswith("[")]
    jobs, _ = expand_grid(SMALL, ["moons"], ["random", "entropy", "margin"], [0, 1], tmp_path)
    ran = [line for line in lines if ": complete in" in line]
    assert len(ran) == len(jobs)  # every job run by exactly one of the two sweeps
    assert len(lines) == 4 + 6  # the others were skipped or found busy
    for job in jobs:
        store = RunStore(job.run_dir)
        assert store.manifest()["status"] == "complete"
        assert holder(job.run_dir) is None
        same_records(store.load_records(), reference_records(job))
    assert json.loads((tmp_path / "failures.json").read_text())["failures"] == {}


@pytest.mark.slow
def test_a_sweep_killed_with_sigkill_mid_run_resumes_to_exact_records(tmp_path, subprocess_env, same_records):
    proc = start_sweep(tmp_path, "--strategies", "entropy", "--seeds", "0", env=subprocess_env)
    (job,), _ = expand_grid(SMALL, ["moons"], ["entropy"], [0], tmp_path)
    first = Path(job.run_dir) / "cycles" / "cycle_00001.json"
    deadline = time.monotonic() + 300
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    store = RunStore(job.run_dir)
    stored = store.n_cycles()
    if stored == SMALL["cycles"] + 1:
        pytest.skip("the sweep finished before it could be killed")
    assert holder(job.run_dir) is None  # it died holding the lock: the operating system released it
    result = run_job(job)
    assert result["status"] == "complete" and result["resumed_from"] == stored
    same_records(store.load_records(), reference_records(job))


def die_on_entropy(job, threads=1):
    """A job function whose worker process dies (no exception, no cleanup) for the entropy job."""
    if job.strategy == "entropy":
        os._exit(13)
    return run_job(job, threads)


@pytest.mark.slow
def test_a_worker_that_dies_fails_only_its_job(tmp_path):
    jobs, _ = expand_grid(SMALL, ["moons"], ["random", "entropy", "margin"], [0], tmp_path)
    results = run_sweep(jobs, n_jobs=2, job_fn=die_on_entropy)
    status = {r["strategy"]: r["status"] for r in results}
    # a job that finished on disk just before the pool broke is found complete when run again: "skipped"
    assert status["entropy"] == "failed" and {status["random"], status["margin"]} <= {"complete", "skipped"}
    assert len(results) == 3
    (failed,) = [r for r in results if r["status"] == "failed"]
    assert "worker" in failed["error"] and "died" in failed["error"]
    for job in jobs:
        manifest = RunStore(job.run_dir).manifest()
        assert manifest["status"] == ("failed" if job.strategy == "entropy" else "complete")
    assert "died" in RunStore(failed["run_dir"]).manifest()["error"]
