"""One job of a sweep, run in a worker: take the run's writer lock (``alcore.run_lock``), then run, resume or skip
the run, and record a failure in its manifest instead of raising, so that the other jobs go on."""
from __future__ import annotations

import contextlib
import sys
import time
import traceback
from typing import Any

from alcore.config import ExperimentConfig
from alcore.run_group import GroupRun
from alcore.run_lock import RunBusy, RunLock
from alcore.store import RunStore
from alcore.task import primary_metric, task_of


def run_job(job: GroupRun, threads: int = 1) -> dict[str, Any]:
    """Run (or resume, or skip) one job in this process and return its result row. Never raises for a job's error.

    Statuses: ``complete`` (ran to the end now), ``diverged`` (its training diverged: ``error`` says at which
    cycle), ``skipped`` (already finished), ``failed`` (``error`` says why; also written into the run's manifest),
    ``busy`` (another live writer holds the run's lock).
    """
    start = time.perf_counter()
    result = result_row(job, "failed")
    lock = RunLock(job.run_dir)
    try:
        lock.acquire()
    except RunBusy as err:
        result.update(status="busy", error=str(err))
        return result
    except OSError as err:  # the folder cannot be made: the job fails, the others go on
        result.update(error=f"{type(err).__name__}: {err}")
        return result
    try:
        return _run_locked(job, result, threads, start, lock)
    finally:
        lock.release()


def _run_locked(job: GroupRun, result: dict[str, Any], threads: int, start: float, lock: RunLock) -> dict[str, Any]:
    store = RunStore(job.run_dir)
    if store.exists() and job.is_finished():
        result.update(status="skipped", n_cycles=store.n_cycles(), **_final_metric(store))
        return result
    try:
        with _torch_threads(threads):
            from alcore.loop import Experiment

            if store.exists():
                exp = Experiment.resume(job.run_dir, lock=lock)
            else:
                exp = Experiment(ExperimentConfig.from_dict(job.config), run_dir=job.run_dir, lock=lock)
            result["resumed_from"] = exp.cycle
            store.update(status="running", error=None, traceback=None, sweep=_sweep_info(job))
            records = exp.run()
        last = exp.records[-1] if exp.records else None
        diverged = last is not None and last.diverged
        metric = exp.task.primary_metric
        result.update(status="diverged" if diverged else "complete", n_cycles=len(exp.records),
                      ran_cycles=len(records), test_accuracy=None if last is None else float(last.test_accuracy),
                      metric=metric, final_value=None if last is None else float(getattr(last, metric)),
                      error=last.diagnostics.get("diverged") if diverged else None)
    except Exception as err:  # a job's failure is data: record it (still the run's writer), let the others go on
        message = f"{type(err).__name__}: {err}"
        result.update(status="failed", error=message, traceback=traceback.format_exc(limit=20))
        _record_failure(store, job, message, result["traceback"])
    result["seconds"] = time.perf_counter() - start
    return result


def crash_result(job: GroupRun, err: BaseException) -> dict[str, Any]:
    """The result of a job whose worker died; recorded in its manifest too, as the worker could not."""
    result = result_row(job, "failed")
    result["error"] = f"the worker running this job died ({type(err).__name__}: {err})"
    # the dead worker's lock died with it; a live holder means another sweep took the job over
    with contextlib.suppress(RunBusy, OSError), RunLock(job.run_dir):
        _record_failure(RunStore(job.run_dir), job, result["error"], "")
    return result


def result_row(job: GroupRun, status: str) -> dict[str, Any]:
    """A job's result row with nothing run yet."""
    return {"run_id": job.run_id, "dataset": job.dataset, "strategy": job.strategy, "seed": job.seed,
            "run_dir": str(job.run_dir), "status": status, "seconds": 0.0, "n_cycles": None, "ran_cycles": 0,
            "resumed_from": None, "test_accuracy": None, "metric": None, "final_value": None, "error": None,
            "traceback": None}


def _record_failure(store: RunStore, job: GroupRun, message: str, tb: str) -> None:
    try:
        if not store.exists():
            store.create(job.config)
        store.update(status="failed", error=message, traceback=tb, sweep=_sweep_info(job))
    except Exception as err:  # the folder itself is unusable: failures.json still gets the job's error
        print(f"warning: could not record the failure in {job.run_dir}: {err}", file=sys.stderr)


def _final_metric(store: RunStore) -> dict[str, Any]:
    """The last record's test accuracy, and its task's primary metric (``metric``) with its value."""
    rows = store.summary_rows()
    metric = primary_metric(task_of(store.manifest().get("dataset")))
    return {"test_accuracy": float(rows[-1]["test_accuracy"]) if rows else None, "metric": metric,
            "final_value": float(rows[-1][metric]) if rows else None}


def _sweep_info(job: GroupRun) -> dict[str, Any]:
    return {"dataset": job.dataset, "strategy": job.strategy, "seed": job.seed, "settings_hash": job.settings_hash}


@contextlib.contextmanager
def _torch_threads(n: int | None):
    import torch

    if not n:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
