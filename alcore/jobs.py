"""Background runs for a web app: a run executes in a worker thread and writes each cycle to disk as it finishes.

The app holds one ``JobRegistry`` (in ``st.cache_resource``) and polls it; the truth stays on disk, so a browser
reload or a server restart loses no finished cycle: ``start`` on an existing run folder resumes it.
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from alcore.config import ExperimentConfig
from alcore.store import RunStore


@dataclass
class Job:
    """One background task: a single run, or a group of runs executed one after another (a comparison)."""

    job_id: str
    run_dirs: list[Path]
    status: str = "queued"            # queued | running | stopped | done | failed
    error: str | None = None
    detail: str | None = None         # the traceback, for logs only; the UI shows ``error``
    cycles_done: int = 0
    cycles_total: int = 0
    current: int = 0                  # index into run_dirs of the run in progress
    started: float = field(default_factory=time.time)
    finished: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.status in ("queued", "running")

    @property
    def progress(self) -> float:
        return self.cycles_done / self.cycles_total if self.cycles_total else 0.0

    def stop(self) -> None:
        """Ask the worker to stop after the cycle in progress (that cycle is still stored)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running


class JobRegistry:
    """Jobs by id. Thread-safe; one worker thread per job.

    The app's first page is drawn without the engine (torch, scikit-learn, openTSNE: ~2.5 s of imports on 2 cores).
    ``warm_up`` imports it in a background thread once the server has been idle for ``idle_s`` seconds (done while
    a browser draws the first page, it made that render 1.5 s slower); every later script run (``script_started``)
    and every worker imports it first themselves if it is not there yet, always through ``import_engine``.
    """

    def __init__(self, warm_up: bool = True, idle_s: float = 1.0) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._idle_s = float(idle_s)
        self._last_activity = time.monotonic()
        self._served = False
        if warm_up:
            threading.Thread(target=self._warm_up_when_idle, name="alcore-warm-up", daemon=True).start()

    def script_started(self) -> None:
        """A script run begins: after the server's first one, make sure the engine is imported (waiting for an
        import in progress rather than racing it)."""
        self._last_activity = time.monotonic()
        if self._served:
            import_engine()

    def script_finished(self) -> None:
        """A script run ended: the warm-up waits ``idle_s`` seconds after the last one."""
        self._last_activity = time.monotonic()
        self._served = True

    def _warm_up_when_idle(self) -> None:
        while (wait := self._last_activity + self._idle_s - time.monotonic()) > 0:
            time.sleep(min(wait, 0.1) + 1e-3)
        import_engine()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def active(self) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.running]

    def start(self, run_dir: str | Path, config: ExperimentConfig | None = None, n_cycles: int | None = None,
              job_id: str | None = None) -> Job:
        """Run (or resume) one run in the background; ``n_cycles`` more cycles, or to the end."""
        return self.start_group([Path(run_dir)], [config], n_cycles=n_cycles, job_id=job_id or Path(run_dir).name)

    def start_group(self, run_dirs: list[Path], configs: list[ExperimentConfig | None], n_cycles: int | None = None,
                    job_id: str | None = None, on_cycle: Callable | None = None) -> Job:
        """Run several runs one after another in one worker (a comparison of strategies x seeds)."""
        job_id = job_id or f"group-{int(time.time() * 1000)}"
        with self._lock:
            existing = self._jobs.get(job_id)
            if existing is not None and existing.running:
                return existing  # a second click while running must not start a second worker
            job = Job(job_id, [Path(d) for d in run_dirs])
            self._jobs[job_id] = job
        job._thread = threading.Thread(target=self._work, args=(job, configs, n_cycles, on_cycle),
                                       name=f"alcore-{job_id}", daemon=True)
        job._thread.start()
        return job

    def _work(self, job: Job, configs: list[ExperimentConfig | None], n_cycles: int | None,
              on_cycle: Callable | None) -> None:
        job.status = "running"
        try:
            import_engine()
            from alcore.loop import Experiment  # here: the app lists and polls jobs without importing torch

            experiments = []
            for run_dir, config in zip(job.run_dirs, configs):
                exists = RunStore(run_dir).exists()
                if config is None and not exists:
                    raise FileNotFoundError(f"no run at {run_dir} and no config to start one")
                experiments.append((run_dir, config, exists))
            job.cycles_total = sum((n_cycles if n_cycles is not None else
                                    (c.cycles + 1 if c is not None else _remaining(d)))
                                   for d, c, exists in experiments)
            for i, (run_dir, config, exists) in enumerate(experiments):
                job.current = i
                exp = Experiment.resume(run_dir) if exists else Experiment(config, run_dir=run_dir)
                for record in exp.iter_cycles(n_cycles, should_stop=job._stop.is_set):
                    job.cycles_done += 1
                    if on_cycle is not None:
                        on_cycle(job, record)
                if job._stop.is_set():
                    break
            job.status = "stopped" if job._stop.is_set() else "done"
        except Exception as err:  # the worker must never die silently: the UI shows the message
            job.status, job.error, job.detail = "failed", f"{type(err).__name__}: {err}", traceback.format_exc()
            for run_dir in job.run_dirs[job.current:job.current + 1]:
                store = RunStore(run_dir)
                if store.exists():
                    store.update(status="failed", error=job.error)
        finally:
            job.finished = time.time()


_ENGINE_LOCK = threading.Lock()
_ENGINE_READY = threading.Event()


def import_engine() -> None:
    """Import the engine and its libraries once per process, one thread at a time (``warm_up_imports``).

    Never two threads at once: some libraries look torch up in ``sys.modules`` without importing it (scipy's
    array-API helpers, run by ``import scipy.stats``) and fail on a torch module that another thread is still
    importing ("partially initialized module 'torch' has no attribute 'Tensor'").
    """
    if _ENGINE_READY.is_set():
        return
    with _ENGINE_LOCK:
        if not _ENGINE_READY.is_set():
            warm_up_imports()
            _ENGINE_READY.set()


def engine_imported() -> bool:
    return _ENGINE_READY.is_set()


def warm_up_imports() -> None:
    """Pay one-off import costs before the first click: the engine and torch (about 1.5 s; the app's first render
    does not import them), torch's first optimizer step (torch._dynamo, about 1 s) and openTSNE (another second);
    a server that waits for a user can do all of it in the background."""
    import importlib

    import torch

    for module in ("alcore.loop", "alcore.projection", "openTSNE", "sklearn.model_selection"):
        importlib.import_module(module)

    param = torch.zeros(1, requires_grad=True)
    torch.optim.Adam([param]).step()


def _remaining(run_dir: Path) -> int:
    store = RunStore(run_dir)
    cycles = store.manifest()["config"].get("cycles", 10) + 1
    return max(0, cycles - store.n_cycles())
