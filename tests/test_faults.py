"""Faults: concurrent sweeps into one root, processes killed mid-run, workers that die.

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
from alcore.run_lock import read_lock
from alcore.sweep import LOCK_NAME, expand_grid, run_job, run_sweep

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


# --- the lock -----------------------------------------------------------------------------------------------------

CONTENDER = """
import sys, time
from alcore.run_lock import try_lock
start = float(sys.argv[2])
while time.time() < start:
    pass
held = try_lock(sys.argv[1])
print("won" if held is None else "lost", flush=True)
time.sleep(float(sys.argv[3]))  # the winner keeps its lock while the others look (then dies holding it)
"""


def test_of_processes_racing_for_one_lock_exactly_one_wins(tmp_path, subprocess_env):
    lock = tmp_path / "lock"
    start = time.time() + 3.0  # each child busy-waits for the same instant
    procs = [subprocess.Popen([sys.executable, "-c", CONTENDER, str(lock), str(start), "4"], cwd=REPO,
                              env=subprocess_env, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    answers = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(answers) == ["lost", "lost", "lost", "won"]


def test_a_lock_held_by_a_process_killed_with_sigkill_is_taken_over(tmp_path, subprocess_env):
    lock = tmp_path / "lock"
    proc = subprocess.Popen([sys.executable, "-c", CONTENDER, str(lock), "0", "600"], cwd=REPO, env=subprocess_env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "won"
    from alcore.run_lock import release_lock, try_lock

    assert try_lock(lock)["pid"] == proc.pid  # alive: respected
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert try_lock(lock) is None  # dead: broken and taken
    release_lock(lock)


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
        assert not (Path(job.run_dir) / LOCK_NAME).exists()
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
    assert read_lock(Path(job.run_dir) / LOCK_NAME)["pid"] == proc.pid  # it died holding the lock
    result = run_job(job)
    assert result["status"] == "complete" and result["resumed_from"] == stored
    same_records(store.load_records(), reference_records(job))
    assert not (Path(job.run_dir) / LOCK_NAME).exists()


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
