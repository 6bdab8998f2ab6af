"""Where a sweep's jobs run: joblib worker processes, a Ray cluster or a Dask cluster, one job per worker.

Each worker runs torch with one thread (``threads``), so ``n_jobs`` processes do not oversubscribe the cores. A
worker that dies (out of memory, a signal) fails only its own job: the result says so and the run's manifest too.
"""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

from alcore.config import ConfigError
from alcore.run_group import GroupRun
from alcore.sweep.job import crash_result, result_row, run_job

BACKENDS = ("joblib", "ray", "dask")

JobFn = Callable[[GroupRun, int], dict]


def run_sweep(jobs: list[GroupRun], backend: str = "joblib", n_jobs: int = -1, address: str | None = None,
              on_result: Callable[[dict], None] | None = None, threads: int = 1, client: Any = None,
              job_fn: JobFn = run_job) -> list[dict]:
    """Run every job on ``backend`` and return their result rows (in completion order).

    Jobs whose run is already complete are skipped here without being sent anywhere. ``on_result`` is called as
    each job finishes (the progress bar). ``address``: a Ray cluster (``"auto"``, ``"ray://host:10001"``) or a
    Dask scheduler (``"tcp://host:8786"``); without one a local cluster is started and stopped. ``client``: an
    existing ``dask.distributed.Client`` to use instead. On a cluster, the runs' root must be on a filesystem every
    worker sees.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r} is not valid; choose one of {list(BACKENDS)}")
    results, todo = [], []
    for job in jobs:
        if job.is_finished():
            results.append(result_row(job, "skipped"))
            if on_result is not None:
                on_result(results[-1])
        else:
            todo.append(job)
    if todo:
        if backend == "joblib":
            stream = _joblib_results(todo, n_jobs, threads, job_fn)
        elif backend == "ray":
            stream = _ray_results(todo, address, threads, job_fn)
        else:
            stream = _dask_results(todo, address, n_jobs, threads, job_fn, client)
        for result in stream:
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


def _joblib_results(jobs: list[GroupRun], n_jobs: int, threads: int, job_fn: JobFn) -> Iterator[dict]:
    """joblib: loky worker processes (``n_jobs=1``: in this process, one job after another).

    A worker that dies breaks the whole loky pool. The unfinished jobs then run again, each in a process of its own
    (``n_jobs`` at a time), resuming from what they stored, so that only a job that kills its own process is
    recorded as failed.
    """
    from joblib import Parallel, delayed

    seen: set[str] = set()
    try:
        for result in Parallel(n_jobs=n_jobs, return_as=_unordered())(delayed(job_fn)(job, threads) for job in jobs):
            seen.add(result["run_id"])
            yield result
        return
    except Exception as err:  # TerminatedWorkerError, BrokenProcessPool
        rest = [job for job in jobs if job.run_id not in seen]
        print(f"warning: a worker process died ({type(err).__name__}); running the {len(rest)} unfinished job(s) "
              "again, each in its own process", file=sys.stderr)
    yield from Parallel(n_jobs=n_jobs, prefer="threads", return_as=_unordered())(
        delayed(_run_isolated)(job_fn, job, threads) for job in rest)


def _run_isolated(job_fn: JobFn, job: GroupRun, threads: int) -> dict:
    """Run one job in a fresh process and return its result, or a failure saying that the process died."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_isolated_main, args=(job_fn, job, threads, send), daemon=True)
    proc.start()
    send.close()
    try:
        result = receive.recv()
    except EOFError:  # it died before answering
        result = None
    proc.join()
    if result is None:
        code = proc.exitcode
        why = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return crash_result(job, RuntimeError(why))
    return result


def _isolated_main(job_fn: JobFn, job: GroupRun, threads: int, send) -> None:
    send.send(job_fn(job, threads))
    send.close()


def _unordered() -> str:
    import joblib

    major, minor = (int(x) for x in joblib.__version__.split(".")[:2])
    return "generator_unordered" if (major, minor) >= (1, 4) else "generator"


def _ray_results(jobs: list[GroupRun], address: str | None, threads: int, job_fn: JobFn) -> Iterator[dict]:
    try:
        import ray
    except ImportError as err:
        raise ConfigError("backend 'ray' needs Ray: pip install -r requirements-extras.txt (or pip install ray)") \
            from err
    started = not ray.is_initialized()
    if started:
        # ship the alcore package with the jobs, so that a cluster's workers need only its requirements
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 runtime_env={"py_modules": [str(Path(__file__).resolve().parents[1])]})
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(job_fn)
        refs = {remote.remote(job, threads): job for job in jobs}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                try:
                    yield ray.get(ref)
                except Exception as err:  # the worker died, or the task could not be run
                    yield crash_result(refs[ref], err)
    finally:
        if started:
            ray.shutdown()


def _dask_results(jobs: list[GroupRun], address: str | None, n_jobs: int, threads: int, job_fn: JobFn,
                  client: Any) -> Iterator[dict]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as err:
        raise ConfigError("backend 'dask' needs dask.distributed: pip install 'dask[distributed]'") from err
    cluster = None
    own = client is None
    if own:
        if address:
            client = Client(address)
        else:
            workers = (os.cpu_count() or 1) if n_jobs is None or n_jobs < 1 else n_jobs
            cluster = LocalCluster(n_workers=min(workers, len(jobs)), threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
    try:
        futures = {client.submit(job_fn, job, threads, pure=False, key=f"alcore-{job.run_id}-{uuid.uuid4().hex[:8]}"):
                   job for job in jobs}
        for future in as_completed(list(futures)):
            try:
                yield future.result()
            except Exception as err:  # KilledWorker, lost connection
                yield crash_result(futures[future], err)
    finally:
        if own:
            client.close()
            if cluster is not None:
                cluster.close()
