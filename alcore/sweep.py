"""Sweeps: a grid of datasets x strategies x seeds, one run folder per job, run by joblib, Ray or Dask.

``python -m alcore sweep --datasets digits,wine --strategies random,entropy --seeds 0-4 --out runs/sweep1``

- Each job's folder is ``<root>/<dataset>-<strategy>-seed<seed>-<settings hash>``: the hash covers every other config
  field, so a rerun of the same sweep finds the same folders. A run whose manifest says ``complete`` is skipped, an
  incomplete one resumes from its last stored cycle (``Experiment.resume``).
- A job that raises is recorded in its manifest (``status="failed"``, ``error``) and in ``<root>/failures.json``;
  the others go on, and the command exits non-zero once all have finished.
- Two sweeps writing into one root never run the same job at once: a job first claims its folder with a lock file
  created with ``O_CREAT | O_EXCL``. A lock whose process is gone (same host, PID dead or reused) is stale and broken.
- Each worker runs torch with one thread, so ``n_jobs`` processes do not oversubscribe the cores.

This module also registers the ``sweep`` and ``report`` commands with ``alcore.cli``.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import socket
import sys
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from alcore.cli import add_config_args, command, config_values_from_args, progress_line
from alcore.config import ConfigError, ExperimentConfig

BACKENDS = ("joblib", "ray", "dask")
DEFAULT_TARGET_SIZE = 50
LOCK_NAME = ".sweep.lock"
FAILURES = "failures.json"
# Fields that name a job inside a sweep; every other field is part of the sweep's settings (and its hash).
GRID_FIELDS = ("dataset", "strategy", "seed", "name")
# A lock file still empty or unreadable after this long was left by a process killed while writing it.
_LOCK_WRITE_GRACE_S = 10.0
_BREAKER_STALE_S = 60.0


# --- the grid ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepJob:
    """One run of a sweep: its config (a plain dict, validated in the worker) and its folder."""

    dataset: str
    strategy: str
    seed: int
    config: dict[str, Any]
    run_dir: str
    settings_hash: str

    @property
    def run_id(self) -> str:
        return Path(self.run_dir).name

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.strategy}/seed {self.seed}"


def parse_list(text: str | None) -> list[str]:
    """``"digits, wine"`` -> ``["digits", "wine"]`` (empty items dropped, order and first occurrence kept)."""
    items = [t.strip() for t in (text or "").split(",")]
    return list(dict.fromkeys(t for t in items if t))


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> 0..4 inclusive; ``"0,2,7-8"`` -> [0, 2, 7, 8]. Raises ConfigError naming the bad item."""
    seeds: list[int] = []
    for item in parse_list(str(text)):
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", item)
        if not m:
            raise ConfigError(f"seeds: {item!r} is not a seed or a range; use e.g. '0-4' or '0,1,5'")
        lo, hi = int(m.group(1)), int(m.group(2) if m.group(2) is not None else m.group(1))
        if hi < lo:
            raise ConfigError(f"seeds: range {item!r} runs backwards; write it as '{hi}-{lo}'")
        seeds.extend(range(lo, hi + 1))
    if not seeds:
        raise ConfigError("seeds: give at least one seed, e.g. '0-4'")
    return list(dict.fromkeys(seeds))


def settings_hash(config: dict[str, Any]) -> str:
    """Eight hex digits over every config field except the job's own (dataset, strategy, seed, name)."""
    settings = {k: _canonical(v) for k, v in config.items() if k not in GRID_FIELDS}
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _canonical(value: Any) -> Any:
    """Whole floats as ints (``0.0`` and ``0`` run the same), tuples as lists, recursively."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def run_id(dataset: str, strategy: str, seed: int, config: dict[str, Any]) -> str:
    """Deterministic folder name of a job: a rerun of the same sweep finds its runs again."""
    safe = "-".join(re.sub(r"[^A-Za-z0-9_.]+", "_", str(part)) for part in (dataset, strategy))
    return f"{safe}-seed{int(seed)}-{settings_hash(config)}"


def expand_grid(base: dict[str, Any], datasets: Iterable[str], strategies: Iterable[str], seeds: Iterable[int],
                root: str | Path, default_target_size: int = DEFAULT_TARGET_SIZE) -> tuple[list[SweepJob], list[str]]:
    """Every (dataset, strategy, seed) job of the grid over the ``base`` config values, and notes for the user.

    Unknown dataset or strategy names raise ConfigError before anything runs. When a strategy of the grid scores the
    pool against a target set (``needs_target``) and ``base`` has ``target_size`` 0, every job of the grid gets
    ``target_size = default_target_size``: the same pool, target and test split for every strategy, so that seeds
    pair fairly in the penalty matrix. The notes say so.
    """
    from alcore import data, strategies as registry

    datasets, strategy_names, seeds = list(datasets), list(strategies), [int(s) for s in seeds]
    if not datasets or not strategy_names:
        raise ConfigError("a sweep needs at least one dataset and one strategy")
    for name in datasets:
        if name not in data.available():
            raise ConfigError(f"dataset={name!r} is not valid; choose one of {sorted(data.available())}")
    for name in strategy_names:
        if name not in registry.available():
            raise ConfigError(f"strategy={name!r} is not valid; choose one of {sorted(registry.available())}")
    base = dict(base)
    notes = []
    targeted = [s for s in strategy_names if registry.get_class(s).needs_target]
    if targeted and not base.get("target_size"):
        base["target_size"] = int(default_target_size)
        notes.append(f"target_size set to {default_target_size} for every job: {', '.join(targeted)} "
                     "score(s) the pool against a labelled target set, and every strategy gets the same split "
                     "(pass --target-size to choose another size)")
    jobs = []
    for dataset in datasets:
        for strategy in strategy_names:
            for seed in seeds:
                config = {**base, "dataset": dataset, "strategy": strategy, "seed": seed,
                          "name": f"{dataset}/{strategy}/seed {seed}"}
                config = _complete(config)
                rid = run_id(dataset, strategy, seed, config)
                jobs.append(SweepJob(dataset, strategy, seed, config, str(Path(root) / rid), settings_hash(config)))
    return jobs, notes


def _complete(values: dict[str, Any]) -> dict[str, Any]:
    """The values with every unset field at its default, so that the hash does not depend on what was spelled out."""
    from dataclasses import MISSING, fields

    full = {}
    for f in fields(ExperimentConfig):
        if f.name in values:
            full[f.name] = values[f.name]
        elif f.default is not MISSING:
            full[f.name] = f.default
        else:
            full[f.name] = f.default_factory()  # type: ignore[misc]
    full.update({k: v for k, v in values.items() if k not in full})  # unknown keys: the worker's ConfigError names them
    return full


def fit_budget(jobs: list[SweepJob], root: str | Path) -> tuple[list[SweepJob], list[str]]:
    """Lower ``cycles`` per dataset to what its pool holds (``ExperimentConfig.check_budget``), with a note for each.

    Loads each dataset once to measure its pool; the lowered configs get their own hash and so their own folders.
    """
    from alcore import data

    notes, limits, out = [], {}, []
    for job in jobs:
        cfg = job.config
        key = (job.dataset, json.dumps(cfg.get("dataset_options", {}), sort_keys=True, default=str),
               cfg.get("test_size"), cfg.get("target_size"), json.dumps(cfg.get("target_classes")))
        if key not in limits:
            try:
                ds = data.load(job.dataset, **cfg.get("dataset_options", {}))
                split = data.make_splits(ds.y, test_size=cfg["test_size"], target_size=cfg["target_size"],
                                         target_classes=cfg["target_classes"], random_state=0)
                limits[key] = len(split.pool)
            except (ValueError, TypeError):
                limits[key] = None  # the job itself will fail and say why
        pool = limits[key]
        batch, initial = cfg.get("batch_size"), cfg.get("initial_labels")
        if pool is None or not all(isinstance(v, int) and not isinstance(v, bool) for v in (batch, initial)) \
                or batch <= 0 or initial >= pool:
            out.append(job)
            continue
        most = max(1, -(-(pool - initial) // batch))
        if cfg["cycles"] > most:
            note = f"{job.dataset}: cycles lowered from {cfg['cycles']} to {most} (pool of {pool} points)"
            if note not in notes:
                notes.append(note)
            config = {**cfg, "cycles": most}
            rid = run_id(job.dataset, job.strategy, job.seed, config)
            job = SweepJob(job.dataset, job.strategy, job.seed, config, str(Path(root) / rid), settings_hash(config))
        out.append(job)
    return out, notes


# --- run-folder locks ---------------------------------------------------------------------------------------------

def try_lock(path: str | Path) -> dict[str, Any] | None:
    """Claim ``path`` with an exclusive create. None when this process now holds it, else the holder's info.

    A lock left by a dead process (same host; its PID gone, or reused by a process started at another time) is
    broken once, under a second exclusive ``.break`` file so that two breakers cannot delete each other's new lock.
    """
    path = Path(path)
    for attempt in range(2):
        info = {"pid": os.getpid(), "host": socket.gethostname(), "start": _process_start(os.getpid()),
                "token": uuid.uuid4().hex, "time": time.time()}
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = read_lock(path)
            if attempt == 0 and _is_stale(path, holder) and _break_lock(path):
                continue
            return holder or {"pid": None, "host": None}
        with os.fdopen(fd, "w") as fh:
            json.dump(info, fh)
            fh.flush()
            os.fsync(fh.fileno())
        _HELD[str(path)] = info["token"]
        return None
    return read_lock(path) or {"pid": None, "host": None}


def release_lock(path: str | Path) -> None:
    """Remove the lock if this process holds it (never someone else's)."""
    path = Path(path)
    token = _HELD.pop(str(path), None)
    if token is not None and (read_lock(path) or {}).get("token") == token:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def held_lock(path: str | Path, wait_s: float = 30.0, poll_s: float = 0.05):
    """Hold the lock for a short critical section, waiting for it up to ``wait_s`` (TimeoutError after that)."""
    deadline = time.monotonic() + wait_s
    while (holder := try_lock(path)) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} is held by pid {holder.get('pid')} on {holder.get('host')}")
        time.sleep(poll_s)
    try:
        yield
    finally:
        release_lock(path)


_HELD: dict[str, str] = {}


def read_lock(path: str | Path) -> dict[str, Any] | None:
    try:
        info = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _is_stale(path: Path, info: dict[str, Any] | None) -> bool:
    if info is None:  # empty or garbled: stale only once its writer has had time to finish writing it
        try:
            return time.time() - path.stat().st_mtime > _LOCK_WRITE_GRACE_S
        except OSError:
            return False
    if info.get("host") != socket.gethostname():
        return False  # another machine's process cannot be checked from here
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return True
    if not _pid_alive(pid):
        return True
    start = info.get("start")
    now = _process_start(pid)
    return start is not None and now is not None and now != start  # the PID was reused by a newer process


def _break_lock(path: Path) -> bool:
    breaker = path.with_name(path.name + ".break")
    try:
        fd = os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        with contextlib.suppress(OSError):
            if time.time() - breaker.stat().st_mtime > _BREAKER_STALE_S:
                breaker.unlink()  # its owner died between creating and removing it
        return False
    try:
        if _is_stale(path, read_lock(path)):  # look again: another breaker may have replaced it meanwhile
            path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)
        breaker.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux /proc), to tell a reused PID; None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


# --- one job ------------------------------------------------------------------------------------------------------

def run_job(job: SweepJob, threads: int = 1) -> dict[str, Any]:
    """Run (or resume, or skip) one job in this process and return its result row. Never raises for a job's error.

    Statuses: ``complete`` (ran to the end now), ``skipped`` (already complete), ``failed`` (``error`` says why;
    also written into the run's manifest), ``busy`` (another live process holds the folder's lock).
    """
    start = time.perf_counter()
    result = _result(job, "failed")
    run_dir = Path(job.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = run_dir / LOCK_NAME
    holder = try_lock(lock)
    if holder is not None:
        result.update(status="busy", error=f"held by pid {holder.get('pid')} on {holder.get('host')}")
        return result
    try:
        return _run_locked(job, result, threads, start)
    finally:
        release_lock(lock)


def _run_locked(job: SweepJob, result: dict[str, Any], threads: int, start: float) -> dict[str, Any]:
    from alcore.store import RunStore

    store = RunStore(job.run_dir)
    if store.exists() and _manifest_status(store) == "complete":
        result.update(status="skipped", n_cycles=store.n_cycles(), test_accuracy=_final_accuracy(store))
        return result
    try:
        with _torch_threads(threads):
            from alcore.loop import Experiment

            if store.exists():
                exp = Experiment.resume(job.run_dir)
            else:
                exp = Experiment(ExperimentConfig.from_dict(job.config), run_dir=job.run_dir)
            result["resumed_from"] = exp.cycle
            store.update(status="running", error=None, traceback=None, sweep=_sweep_info(job))
            records = exp.run()
        last = exp.records[-1] if exp.records else None
        result.update(status="complete", n_cycles=len(exp.records), ran_cycles=len(records),
                      test_accuracy=None if last is None else float(last.test_accuracy))
    except Exception as err:  # a job's failure is data: record it, let the other jobs go on
        message = f"{type(err).__name__}: {err}"
        result.update(status="failed", error=message, traceback=traceback.format_exc(limit=20))
        _record_failure(store, job, message, result["traceback"])
    result["seconds"] = time.perf_counter() - start
    return result


def _record_failure(store, job: SweepJob, message: str, tb: str) -> None:
    try:
        if not store.exists():
            store.create(job.config)
        store.update(status="failed", error=message, traceback=tb, sweep=_sweep_info(job))
    except Exception as err:  # the folder itself is unusable: failures.json still gets the job's error
        print(f"warning: could not record the failure in {job.run_dir}: {err}", file=sys.stderr)


def _manifest_status(store) -> str | None:
    try:
        return store.manifest().get("status")
    except (OSError, ValueError):
        return None


def _final_accuracy(store) -> float | None:
    rows = store.summary_rows()
    return float(rows[-1]["test_accuracy"]) if rows else None


def _sweep_info(job: SweepJob) -> dict[str, Any]:
    return {"dataset": job.dataset, "strategy": job.strategy, "seed": job.seed, "settings_hash": job.settings_hash}


def _result(job: SweepJob, status: str) -> dict[str, Any]:
    return {"run_id": job.run_id, "dataset": job.dataset, "strategy": job.strategy, "seed": job.seed,
            "run_dir": job.run_dir, "status": status, "seconds": 0.0, "n_cycles": None, "ran_cycles": 0,
            "resumed_from": None, "test_accuracy": None, "error": None, "traceback": None}


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


# --- backends -----------------------------------------------------------------------------------------------------

JobFn = Callable[[SweepJob, int], dict]


def run_sweep(jobs: list[SweepJob], backend: str = "joblib", n_jobs: int = -1, address: str | None = None,
              on_result: Callable[[dict], None] | None = None, threads: int = 1, client: Any = None,
              job_fn: JobFn = run_job) -> list[dict]:
    """Run every job on ``backend`` and return their result rows (in completion order).

    Jobs whose run is already complete are skipped here without being sent anywhere. ``on_result`` is called as
    each job finishes (the progress bar). ``address``: a Ray cluster (``"auto"``, ``"ray://host:10001"``) or a
    Dask scheduler (``"tcp://host:8786"``); without one a local cluster is started and stopped. ``client``: an
    existing ``dask.distributed.Client`` to use instead. On a cluster, ``root`` must be on a filesystem every
    worker sees.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r} is not valid; choose one of {list(BACKENDS)}")
    results, todo = [], []
    for job in jobs:
        if _is_complete(job):
            results.append(_result(job, "skipped"))
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


def _is_complete(job: SweepJob) -> bool:
    try:
        return json.loads((Path(job.run_dir) / "manifest.json").read_text()).get("status") == "complete"
    except (OSError, ValueError):
        return False


def _crash_result(job: SweepJob, err: BaseException) -> dict:
    """The result of a job whose worker died; recorded in its manifest too, as the worker could not."""
    from alcore.store import RunStore

    result = _result(job, "failed")
    result["error"] = f"the worker running this job died ({type(err).__name__}: {err})"
    lock = Path(job.run_dir) / LOCK_NAME
    with contextlib.suppress(OSError):
        Path(job.run_dir).mkdir(parents=True, exist_ok=True)
        if try_lock(lock) is None:  # the dead worker's lock is stale; a live one means another sweep took over
            try:
                _record_failure(RunStore(job.run_dir), job, result["error"], "")
            finally:
                release_lock(lock)
    return result


def _joblib_results(jobs: list[SweepJob], n_jobs: int, threads: int, job_fn: JobFn) -> Iterator[dict]:
    """joblib: loky worker processes (``n_jobs=1``: in this process, one job after another).

    A worker that dies (out of memory, a signal) breaks the whole loky pool. The unfinished jobs then run again,
    each in a process of its own (``n_jobs`` at a time), resuming from what they stored, so that only a job that
    kills its own process is recorded as failed.
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


def _run_isolated(job_fn: JobFn, job: SweepJob, threads: int) -> dict:
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
        return _crash_result(job, RuntimeError(why))
    return result


def _isolated_main(job_fn: JobFn, job: SweepJob, threads: int, send) -> None:
    send.send(job_fn(job, threads))
    send.close()


def _unordered() -> str:
    import joblib

    major, minor = (int(x) for x in joblib.__version__.split(".")[:2])
    return "generator_unordered" if (major, minor) >= (1, 4) else "generator"


def _ray_results(jobs: list[SweepJob], address: str | None, threads: int, job_fn: JobFn) -> Iterator[dict]:
    try:
        import ray
    except ImportError as err:
        raise ConfigError("backend 'ray' needs Ray: pip install -r requirements-extras.txt (or pip install ray)") \
            from err
    started = not ray.is_initialized()
    if started:
        # ship the alcore package with the jobs, so that a cluster's workers need only its requirements
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 runtime_env={"py_modules": [str(Path(__file__).resolve().parent)]})
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
                    yield _crash_result(refs[ref], err)
    finally:
        if started:
            ray.shutdown()


def _dask_results(jobs: list[SweepJob], address: str | None, n_jobs: int, threads: int, job_fn: JobFn,
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
                yield _crash_result(futures[future], err)
    finally:
        if own:
            client.close()
            if cluster is not None:
                cluster.close()


# --- failures.json ------------------------------------------------------------------------------------------------

def write_failures(root: str | Path, results: list[dict]) -> Path:
    """Merge this sweep's failures into ``<root>/failures.json``: its failed jobs added, its finished ones removed.

    Entries of jobs that belong to another sweep into the same root are kept; the read-modify-write holds a lock.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / FAILURES
    with held_lock(root / ".failures.lock"):
        try:
            current = json.loads(path.read_text()).get("failures", {})
        except (OSError, ValueError, AttributeError):
            current = {}
        for r in results:
            if r["status"] == "failed":
                current[r["run_id"]] = {k: r[k] for k in ("dataset", "strategy", "seed", "run_dir", "error",
                                                          "traceback")}
                current[r["run_id"]]["time"] = time.time()
            elif r["status"] in ("complete", "skipped"):
                current.pop(r["run_id"], None)
        from alcore.store import atomic_write_json

        atomic_write_json(path, {"updated": time.time(), "n_failed": len(current), "failures": current})
    return path


# --- command line -------------------------------------------------------------------------------------------------

def _sweep_args(p: argparse.ArgumentParser) -> None:
    p.description = "Run a grid of datasets x strategies x seeds, one run folder per job."
    p.add_argument("--datasets", help="comma-separated dataset names (default: the config's dataset)")
    p.add_argument("--strategies", help="comma-separated strategy names (default: the config's strategy)")
    p.add_argument("--seeds", help="seeds: '0-4', '0,1,5' (default: the config's seed)")
    p.add_argument("--out", required=True, help="sweep root: one folder per job, plus failures.json")
    p.add_argument("--backend", choices=BACKENDS, default="joblib")
    p.add_argument("--jobs", type=int, default=-1, help="parallel jobs for joblib or a local Dask cluster "
                                                        "(-1: one per core)")
    p.add_argument("--address", help="Ray address ('auto', 'ray://host:10001') or Dask scheduler "
                                     "('tcp://host:8786'); default: a local cluster")
    p.add_argument("--threads", type=int, default=1, help="torch threads per job (default 1: no oversubscription)")
    p.add_argument("--default-target-size", type=int, default=DEFAULT_TARGET_SIZE, dest="default_target_size",
                   help="target_size given to the grid when a target-aware strategy is in it and none is set")
    p.add_argument("--fit-budget", action="store_true", dest="fit_budget",
                   help="lower cycles per dataset to what its pool holds instead of failing those jobs")
    p.add_argument("--dry-run", action="store_true", dest="dry_run", help="list the jobs and exit")
    add_config_args(p)


def plan_from_args(args: argparse.Namespace) -> tuple[list[SweepJob], list[str]]:
    base = config_values_from_args(args)
    defaults = ExperimentConfig.__dataclass_fields__
    datasets = parse_list(args.datasets) or [base.get("dataset", defaults["dataset"].default)]
    strategies = parse_list(args.strategies) or [base.get("strategy", defaults["strategy"].default)]
    seeds = parse_seeds(args.seeds) if args.seeds else [int(base.get("seed", 0))]
    jobs, notes = expand_grid(base, datasets, strategies, seeds, args.out, args.default_target_size)
    if args.fit_budget:
        jobs, more = fit_budget(jobs, args.out)
        notes += more
    errors = [_config_error(job) for job in jobs]
    if all(errors):  # nothing can run: a bad flag, not a bad job
        raise ConfigError(errors[0])
    return jobs, notes


def _config_error(job: SweepJob) -> str | None:
    try:
        ExperimentConfig.from_dict(job.config)
    except ConfigError as err:
        return str(err)
    return None


@command("sweep", _sweep_args)
def cmd_sweep(args: argparse.Namespace) -> int:
    jobs, notes = plan_from_args(args)
    for note in notes:
        print(f"note: {note}")
    if args.dry_run:
        for job in jobs:
            print(f"{job.run_id}  {'complete' if _is_complete(job) else 'to run'}")
        return 0
    where = args.address or "local"
    width = "" if args.backend == "ray" else (", one job per core" if args.jobs < 1 else f", {args.jobs} jobs")
    print(f"sweep: {len(jobs)} runs into {args.out} on {args.backend} ({where}{width})", flush=True)
    done = [0]

    def report(r: dict) -> None:
        done[0] += 1
        text = f"{r['dataset']}/{r['strategy']}/seed {r['seed']}: {r['status']}"
        if r["status"] == "complete":
            resumed = f", resumed at cycle {r['resumed_from']}" if r.get("resumed_from") else ""
            text += f" in {r['seconds']:.1f}s, test_acc={r['test_accuracy']:.4f}{resumed}"
        elif r["status"] == "failed":
            text += f": {(r['error'] or '').splitlines()[0][:200]}"
        elif r["status"] == "busy":
            text += f" ({r['error']}: another sweep is running it)"
        print(progress_line(done[0], len(jobs), text), flush=True)

    started = time.perf_counter()
    results = run_sweep(jobs, backend=args.backend, n_jobs=args.jobs, address=args.address, on_result=report,
                        threads=args.threads)
    counts = {s: sum(r["status"] == s for r in results) for s in ("complete", "skipped", "failed", "busy")}
    path = write_failures(args.out, results)
    print(f"done in {time.perf_counter() - started:.1f}s: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    if counts["failed"]:
        print(f"{counts['failed']} job(s) failed; errors in {path} and in each run's manifest.json", file=sys.stderr)
        if any("budget" in (r["error"] or "") for r in results if r["status"] == "failed"):
            print("hint: --fit-budget lowers cycles to what each dataset's pool holds", file=sys.stderr)
        return 1
    return 0


def _report_args(p: argparse.ArgumentParser) -> None:
    p.description = "Summarise every run under a sweep root: tables, learning curves, penalty matrix."
    p.add_argument("root", help="sweep root (the --out of a sweep)")
    p.add_argument("--out", help="folder for the report (default: <root>/report)")
    p.add_argument("--metric", default="test_accuracy")
    p.add_argument("--x-percent", type=float, default=90.0, dest="x_percent",
                   help="labels-to-X%%: X as a percentage of the baseline's final accuracy")
    p.add_argument("--baseline", default="random", help="strategy the label savings are measured against")


@command("report", _report_args)
def cmd_report(args: argparse.Namespace) -> int:
    from alcore.report import write_report

    paths = write_report(args.root, args.out, metric=args.metric, x_percent=args.x_percent, baseline=args.baseline)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


__all__ = ["SweepJob", "expand_grid", "fit_budget", "parse_seeds", "run_id", "run_job", "run_sweep",
           "settings_hash", "try_lock", "release_lock", "write_failures"]
