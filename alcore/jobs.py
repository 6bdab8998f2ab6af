"""Background runs for a web app: a run executes in a worker thread and writes each cycle to disk as it finishes.

The app holds one ``JobRegistry`` (in ``st.cache_resource``) and polls it; the truth stays on disk, so a browser
reload or a server restart loses no finished cycle: ``start`` on an existing run folder resumes it.
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from alcore import data
from alcore.config import ExperimentConfig
from alcore.store import RunStore

_log = logging.getLogger("alcore.jobs")
#: Folder, under the runs root, of first cycles computed ahead (``JobRegistry.prepare``); runs are never listed there.
PREPARED_DIR = ".prepared"
#: Generated datasets larger than this are not prepared: a first cycle the user may never ask for stays cheap.
PREPARE_MAX_SAMPLES = 20_000


def worth_preparing(config: ExperimentConfig) -> bool:
    """Whether to compute ``config``'s first cycle before anyone asks: bundled or generated data of at most
    ``PREPARE_MAX_SAMPLES`` points only (an upload, a download or a large pool is the user's to start)."""
    n_samples = config.dataset_options.get("n_samples", 0)
    small = not isinstance(n_samples, (int, float)) or n_samples <= PREPARE_MAX_SAMPLES
    return data.is_offline(config.dataset) and small


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


@dataclass
class Prepared:
    """The first cycle of a run nobody has started yet, computed while the user reads the page."""

    key: str                          # the config, as JSON
    run_dir: Path
    started: bool = False             # computing (or done): a Step waits for it rather than redoing it
    ok: bool = False
    cancelled: bool = False           # replaced or taken: the thread removes its folder if it is still there
    done: threading.Event = field(default_factory=threading.Event, repr=False)


class JobRegistry:
    """Jobs by id. Thread-safe; one worker thread per job.

    The app's first page is drawn without the engine (torch, scikit-learn, openTSNE: ~3 s of imports on 2 cores).
    A background thread imports it once the server has been idle for ``idle_s`` seconds (done while a browser
    draws the first page, it made that render 1.5 s slower); every later script run (``script_started``) and every
    worker imports it first themselves if it is not there yet, always through ``import_engine``.

    The same thread then takes torch's first optimizer step (``alcore.train.warm_optimizer``: 1.2 s more of
    imports), which only a trained cycle needs: the first Step of a cold start trains nothing, so it waits until a
    job has ended (or a Step took a prepared first cycle) and the server has been idle for ``optimizer_idle_s``
    (the user looks at the first batch), or until the server has been idle for ``long_idle_s`` (a user still
    reading). Never while a script, a job or a preparation runs.
    """

    def __init__(self, warm_up: bool = True, idle_s: float = 1.0, optimizer_idle_s: float = 0.2,
                 long_idle_s: float = 4.0) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._idle_s = float(idle_s)
        self._optimizer_idle_s = float(optimizer_idle_s)
        self._long_idle_s = float(long_idle_s)
        self._last_activity = time.monotonic()
        self._scripts = 0           # script runs in progress
        self._jobs_ended = 0        # jobs whose worker has finished
        self._served = False
        self._prepared: Prepared | None = None
        if warm_up:
            threading.Thread(target=self._warm_up_when_idle, name="alcore-warm-up", daemon=True).start()

    def script_started(self) -> None:
        """A script run begins: after the server's first one, make sure the engine is imported (waiting for an
        import in progress rather than racing it)."""
        self._touch(+1)
        if self._served:
            import_engine()

    def script_finished(self) -> None:
        """A script run ended: the warm-up waits until no script has run for ``idle_s`` seconds."""
        self._touch(-1)
        self._served = True

    def _touch(self, scripts: int = 0, ended: int = 0) -> None:
        """Activity: ``scripts`` script runs started (+1) or ended (-1), ``ended`` jobs (or Steps) done."""
        with self._lock:
            self._scripts = max(0, self._scripts + scripts)
            self._jobs_ended += ended
            self._last_activity = time.monotonic()

    def _wait_idle(self, idle_s: Callable[[], float]) -> None:
        """Return once no script run or job is in progress and none has started or ended for ``idle_s()`` s."""
        while True:
            with self._lock:
                preparing = self._prepared is not None and self._prepared.started and not self._prepared.done.is_set()
                busy = self._scripts or preparing or any(j.running for j in self._jobs.values())
                wait = idle_s() if busy else self._last_activity + idle_s() - time.monotonic()
            if wait <= 0:
                return
            time.sleep(min(wait, 0.1) + 1e-3)

    def _warm_up_when_idle(self) -> None:
        self._wait_idle(lambda: self._idle_s)
        import_engine()
        from alcore.train import warm_optimizer

        self._wait_idle(lambda: self._optimizer_idle_s if self._jobs_ended else self._long_idle_s)
        warm_optimizer()

    # --- the first cycle, ahead of the click ------------------------------------------------------------
    def prepare(self, config: ExperimentConfig, run_dir: str | Path,
                on_cycle: Callable[[Path], None] | None = None) -> None:
        """Compute the first cycle of ``config`` (and, with ``on_cycle``, its map) into ``run_dir`` in the
        background once the server is idle, so that a Step with this config takes it (``take_prepared``) instead
        of computing it while the user waits. One at a time: another config replaces it (the same one is a no-op).

        The cycle is the one the Step would compute (same config, same seed): only ``run_dir``'s name is chosen
        here. The Step that takes it moves the folder next to the other runs; one never taken is removed.
        """
        key = config.to_json()
        with self._lock:
            previous = self._prepared
            if previous is not None and previous.key == key and not previous.cancelled:
                return
            self._prepared = prepared = Prepared(key, Path(run_dir))
            stale = previous is not None and previous.done.is_set() and previous.ok
            if previous is not None:
                previous.cancelled = True
        if stale:  # finished and never taken: nobody else removes it
            shutil.rmtree(previous.run_dir, ignore_errors=True)
        threading.Thread(target=self._prepare, args=(prepared, config, on_cycle), name="alcore-prepare",
                         daemon=True).start()

    def _prepare(self, prepared: Prepared, config: ExperimentConfig, on_cycle: Callable[[Path], None] | None) -> None:
        try:
            self._wait_idle(lambda: self._idle_s)
            with self._lock:
                if prepared.cancelled:
                    return
                prepared.started = True
            import_engine()
            from alcore.loop import Experiment

            Experiment(config, run_dir=prepared.run_dir).step()
            if on_cycle is not None:
                on_cycle(prepared.run_dir)
            prepared.ok = True
        except Exception as err:  # noqa: BLE001  the Step then computes the cycle itself and shows the error
            _log.info("the first cycle of %s was not prepared: %s: %s", prepared.run_dir.name, type(err).__name__, err)
        finally:
            with self._lock:  # one decision under the lock: ``prepare`` removes a done folder, this thread any other
                if prepared.cancelled or not prepared.ok:
                    shutil.rmtree(prepared.run_dir, ignore_errors=True)
                prepared.done.set()
                self._last_activity = time.monotonic()

    def prepared_run(self, config: ExperimentConfig) -> Path | None:
        """The folder of ``config``'s first cycle if it is computed and not yet taken (nothing waits)."""
        with self._lock:
            p = self._prepared
            ready = p is not None and p.key == config.to_json() and p.done.is_set() and p.ok and not p.cancelled
        return p.run_dir if ready else None

    def take_prepared(self, config: ExperimentConfig, runs_root: str | Path, timeout: float | None = None) -> Path | None:
        """Move the prepared first cycle of ``config`` to ``runs_root/<its run id>`` and return that folder.

        One in progress is waited for (up to ``timeout`` s: it is the work the Step would do); None when nothing
        was prepared for this config, when it has not started (the Step computes the cycle itself, as without
        preparation), failed, or did not finish in time.
        """
        with self._lock:
            p = self._prepared
            if p is None or p.key != config.to_json() or p.cancelled:
                return None
            self._prepared = None
            if not p.started:
                p.cancelled = True
                return None
        if not p.done.wait(timeout):
            with self._lock:
                p.cancelled = True
            return None
        with self._lock:
            if not p.ok or p.cancelled:
                return None
            p.cancelled = True  # taken: nobody else may move it
        dest = Path(runs_root) / p.run_dir.name
        try:
            os.replace(p.run_dir, dest)
        except OSError:
            _log.exception("moving the prepared run %s to %s failed", p.run_dir, dest)
            shutil.rmtree(p.run_dir, ignore_errors=True)
            return None
        self._touch(ended=1)  # a Step done: like a job that ended (the optimizer warm-up may follow)
        return dest

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
            self._touch(ended=1)


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
    does not import them), openTSNE and scikit-learn (another 1.5 s). torch's first optimizer step (torch._dynamo,
    1.2 s) is left to ``alcore.train.warm_optimizer``, which the registry calls later."""
    import importlib

    for module in ("torch", "alcore.loop", "alcore.projection", "openTSNE", "sklearn.model_selection"):
        importlib.import_module(module)


def _remaining(run_dir: Path) -> int:
    store = RunStore(run_dir)
    cycles = store.manifest()["config"].get("cycles", 10) + 1
    return max(0, cycles - store.n_cycles())
