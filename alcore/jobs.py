"""Background runs for the web app, and the work done before the first click.

A run executes in a worker thread and stores every cycle as it finishes; the truth stays on disk, so a reload or a
server restart loses no finished cycle (``start_group`` on an existing run folder resumes it). The app holds one
``JobRegistry`` (``st.cache_resource``) and polls it.

Before the first click, and only once the server has been idle for a moment (work done while a browser draws the
first page made that render 1.5 s slower on 2 cores), the registry imports the engine, computes the first cycle the
Run page would start with (``prepare``) and takes torch's first optimizer step. Time comes from a ``Clock``, so
tests move it by hand instead of sleeping.

The job (with the cycles queued on it), the registry and the prepared first cycle share the registry's one lock
and clock, so they live together; how many records a job stores is ``alcore.job_plan``.
"""
from __future__ import annotations

import logging
import math
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from alcore import data
from alcore.config import ExperimentConfig
from alcore.imports import IMPORT_LOCK
from alcore.job_plan import cycles_left, planned_records
from alcore.store import RunStore

_log = logging.getLogger("alcore.jobs")
#: Folder, under the runs root, of first cycles computed ahead (``JobRegistry.prepare``); runs are never listed there.
PREPARED_DIR = ".prepared"
#: Generated datasets larger than this are not prepared: a first cycle the user may never ask for stays cheap.
PREPARE_MAX_SAMPLES = 20_000
#: Called with a run's folder after each cycle stored there (the app lays out that cycle's map).
OnCycle = Callable[[Path], None]


def worth_preparing(config: ExperimentConfig) -> bool:
    """Whether to compute ``config``'s first cycle before anyone asks: bundled or generated data of at most
    ``PREPARE_MAX_SAMPLES`` points only (an upload, a download or a large pool is the user's to start)."""
    n_samples = config.dataset_options.get("n_samples", 0)
    small = not isinstance(n_samples, (int, float)) or n_samples <= PREPARE_MAX_SAMPLES
    return data.is_offline(config.dataset) and small


class Clock:
    """Real time for the registry's waits; tests pass a clock they advance by hand."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, condition: threading.Condition, timeout: float | None) -> None:
        """Block on ``condition`` (held by the caller) until it is notified or ``timeout`` seconds have passed."""
        condition.wait(timeout)


@dataclass
class Job:
    """One background task: a single run, or several runs one after another (a comparison).

    ``cycles_done`` counts the records it stored and ``cycles_total`` those it will store: the acquisition cycles
    asked of each run, plus the final evaluation when they reach the end of that run (a run of ``cycles`` cycles
    asked ``cycles`` stores ``cycles + 1`` records and is complete). A single-run job still running takes more
    cycles (``extend``): a Step clicked during a Run N is queued, not dropped.
    """

    job_id: str
    run_dirs: list[Path]
    status: str = "queued"            # queued | running | stopped | done | failed
    error: str | None = None          # what the UI shows; the traceback goes to the log
    cycles_done: int = 0
    cycles_total: int = 0
    asked: int | None = None          # acquisition cycles asked of each run; None: to the end
    _cycles_left: int | None = 0      # acquisition cycles the (single) run had left when the job started
    _closed: bool = False             # the worker decided to end: no more cycles can be queued
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.status in ("queued", "running")

    @property
    def progress(self) -> float:
        return min(1.0, self.cycles_done / self.cycles_total) if self.cycles_total else 0.0

    def stop(self) -> None:
        """Ask the worker to stop after the cycle in progress (that cycle is still stored)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def extend(self, n_cycles: int | None) -> bool:
        """Queue ``n_cycles`` more acquisition cycles (None: to the end of the run) on this running single-run
        job; True too when it runs to the end anyway; False when it cannot take them (it is ending or stopping, or
        it runs several runs a set number of cycles each)."""
        with self._lock:
            if self._closed or self._stop.is_set():
                return False
            if self.asked is None:  # it runs to the end already
                return True
            if len(self.run_dirs) != 1:
                return False
            self.asked = None if n_cycles is None else self.asked + n_cycles
            self.cycles_total = planned_records(self._cycles_left, self.asked)
            return True

    def _should_stop(self, done_here: int, next_is_final: bool) -> bool:
        """Before each step of a run: stop when asked to, or when the cycles asked are done and the next record
        is not the final evaluation (that one always follows the last cycle). Ending closes the job to ``extend``."""
        with self._lock:
            stop = self._stop.is_set() or (self.asked is not None and done_here >= self.asked and not next_is_final)
            self._closed = self._closed or stop
            return stop


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
    """Jobs by id, one worker thread each, and the work done ahead of the first click. Thread-safe.

    The app's first page is drawn without the engine (torch, scikit-learn, openTSNE: ~3 s of imports on 2 cores).
    Once no script run, job or preparation has been active for ``idle_s`` seconds, a thread imports it; every
    later script run and every worker imports it first themselves if it is not there yet (``import_engine``).
    The same thread then takes torch's first optimizer step (``alcore.train.warm_optimizer``: 1.2 s more), which
    only a trained cycle needs: after ``optimizer_idle_s`` idle seconds once a job or a Step has ended (the user
    looks at the first batch), or after ``long_idle_s`` (a user still reading).
    """

    def __init__(self, warm_up: bool = True, idle_s: float = 1.0, optimizer_idle_s: float = 0.2,
                 long_idle_s: float = 4.0, clock: Clock | None = None) -> None:
        self._jobs: dict[str, Job] = {}
        self._changed = threading.Condition(threading.RLock())  # guards the fields below; notified on activity
        self._clock = clock or Clock()
        self._idle_s, self._optimizer_idle_s, self._long_idle_s = idle_s, optimizer_idle_s, long_idle_s
        self._last_activity = self._clock.now()
        self._scripts = 0               # script runs in progress
        self._jobs_ended = 0            # jobs (and Steps that took a prepared cycle) finished
        self._served = False            # the server's first script run has ended
        self._prepared: Prepared | None = None
        if warm_up:
            threading.Thread(target=self.warm_up, name="alcore-warm-up", daemon=True).start()

    # --- activity ------------------------------------------------------------------------------------------
    def script_started(self, needs_engine: bool = False) -> None:
        """A script run begins: after the server's first one, or for a page that needs the engine (every page but
        a new run's first screen), make sure the engine is imported (waiting for an import in progress rather than
        racing it: several tabs may open pages of a fresh server at once)."""
        self._touch(scripts=+1)
        if self._served or needs_engine:
            import_engine()

    def script_finished(self) -> None:
        self._touch(scripts=-1, served=True)

    def _touch(self, scripts: int = 0, ended: int = 0, served: bool = False) -> None:
        with self._changed:
            self._scripts = max(0, self._scripts + scripts)
            self._jobs_ended += ended
            self._served = self._served or served
            self._last_activity = self._clock.now()
            self._changed.notify_all()

    def seconds_to_idle(self, idle_s: float) -> float:
        """Seconds until nothing will have been active for ``idle_s`` seconds; ``inf`` while something runs."""
        with self._changed:
            now, p = self._clock.now(), self._prepared
            busy = (self._scripts or (p is not None and p.started and not p.done.is_set())
                    or any(j.running for j in self._jobs.values()))
            return math.inf if busy else self._last_activity + idle_s - now

    def _wait_idle(self, idle_s: Callable[[], float]) -> None:
        with self._changed:
            while (left := self.seconds_to_idle(idle_s())) > 0:
                self._clock.wait(self._changed, None if math.isinf(left) else left)

    def warm_up(self) -> None:
        """Import the engine once the server is idle, then take the first optimizer step (see the class)."""
        self._wait_idle(lambda: self._idle_s)
        import_engine()
        from alcore.train import warm_optimizer

        self._wait_idle(lambda: self._optimizer_idle_s if self._jobs_ended else self._long_idle_s)
        warm_optimizer()

    # --- the first cycle, ahead of the click ---------------------------------------------------------------
    @property
    def preparation(self) -> Prepared | None:
        """The first cycle being prepared, or prepared and not yet taken."""
        return self._prepared

    def prepare(self, config: ExperimentConfig, run_dir: str | Path, on_cycle: OnCycle | None = None) -> Prepared:
        """Compute the first cycle of ``config`` (and, with ``on_cycle``, its map) into ``run_dir`` in the
        background once the server is idle, so a Step with this config takes it (``take_prepared``) instead of
        computing it while the user waits. One at a time: another config replaces it; the same one is a no-op.

        The cycle is the one the Step would compute (same config, same seed): only the folder's name is chosen
        here. The Step that takes it moves the folder next to the other runs; one never taken is removed.
        """
        key = config.to_json()
        with self._changed:
            previous = self._prepared
            if previous is not None and previous.key == key and not previous.cancelled:
                return previous
            self._prepared = prepared = Prepared(key, Path(run_dir))
            if previous is not None:
                previous.cancelled = True
                if previous.done.is_set():  # finished and never taken: nobody else removes it
                    shutil.rmtree(previous.run_dir, ignore_errors=True)
        threading.Thread(target=self._prepare, args=(prepared, config, on_cycle), name="alcore-prepare",
                         daemon=True).start()
        return prepared

    def _prepare(self, prepared: Prepared, config: ExperimentConfig, on_cycle: OnCycle | None) -> None:
        try:
            self._wait_idle(lambda: self._idle_s)
            with self._changed:
                if prepared.cancelled:
                    return
                prepared.started = True
            import_engine()
            from alcore.loop import Experiment

            with Experiment(config, run_dir=prepared.run_dir) as exp:
                exp.step()
            if on_cycle is not None:
                on_cycle(prepared.run_dir)
            prepared.ok = True
        except Exception as err:  # noqa: BLE001  the Step then computes the cycle itself and shows the error
            _log.info("the first cycle of %s was not prepared: %s: %s", prepared.run_dir.name, type(err).__name__, err)
        finally:
            with self._changed:  # one decision under the lock: ``prepare`` removes a done folder, this thread any other
                if prepared.cancelled or not prepared.ok:
                    shutil.rmtree(prepared.run_dir, ignore_errors=True)
                prepared.done.set()
                self._touch()

    def take_prepared(self, config: ExperimentConfig, runs_root: str | Path,
                      timeout: float | None = None) -> Path | None:
        """Move the prepared first cycle of ``config`` to ``runs_root/<its run id>`` and return that folder.

        One in progress is waited for (up to ``timeout`` s: it is the work the Step would do); None when nothing
        was prepared for this config, when it has not started (the Step computes the cycle itself, as without
        preparation), failed, or did not finish in time.
        """
        with self._changed:
            p = self._prepared
            if p is None or p.key != config.to_json() or p.cancelled:
                return None
            self._prepared = None
            if not p.started:
                p.cancelled = True
                return None
        finished = p.done.wait(timeout)
        with self._changed:
            taken = finished and p.ok and not p.cancelled
            p.cancelled = True  # taken, or given up: nobody else may move it
        if not taken:
            return None
        dest = Path(runs_root) / p.run_dir.name
        try:
            os.replace(p.run_dir, dest)
        except OSError:
            _log.exception("moving the prepared run %s to %s failed", p.run_dir, dest)
            shutil.rmtree(p.run_dir, ignore_errors=True)
            return None
        self._touch(ended=1)  # a Step done: like a job that ended (the optimizer warm-up may follow)
        return dest

    # --- runs in the background ----------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        with self._changed:
            return self._jobs.get(job_id)

    def start_group(self, run_dirs: list[Path], configs: list[ExperimentConfig | None], *, job_id: str,
                    n_cycles: int | None = None, on_cycle: OnCycle | None = None) -> Job:
        """Run (or resume: config None) each run in turn in one worker, ``n_cycles`` more acquisition cycles each
        (with the final evaluation when they reach the end) or to its end.

        A start of a job id still running queues the cycles on that job (``Job.extend``) and returns it: a double
        click starts no second worker, and no click is lost. A job that is just ending is waited for first.
        """
        while True:
            with self._changed:
                existing = self._jobs.get(job_id)
                if existing is None or not existing.running:
                    job = self._jobs[job_id] = Job(job_id, [Path(d) for d in run_dirs], asked=n_cycles)
                    break
                if existing.extend(n_cycles):
                    return existing
            existing.wait()
        job._thread = threading.Thread(target=self._work, args=(job, configs, n_cycles, on_cycle),
                                       name=f"alcore-{job_id}", daemon=True)
        job._thread.start()
        return job

    def _work(self, job: Job, configs: list[ExperimentConfig | None], n_cycles: int | None,
              on_cycle: OnCycle | None) -> None:
        job.status = "running"
        try:
            import_engine()
            from alcore.loop import Experiment  # here: the app lists and polls jobs without importing torch

            plan = [(run_dir, config, RunStore(run_dir).exists()) for run_dir, config in zip(job.run_dirs, configs)]
            missing = [str(d) for d, config, exists in plan if config is None and not exists]
            if missing:
                raise FileNotFoundError(f"no run at {missing[0]} and no config to start one")
            left = [cycles_left(d, c) for d, c, _ in plan]
            with job._lock:
                job._cycles_left = left[0]
                job.cycles_total = sum(planned_records(n, job.asked) for n in left)
            for i, (run_dir, config, exists) in enumerate(plan):
                # the run's one writer while it runs (RunBusy when another worker or process writes it)
                with Experiment.resume(run_dir) if exists else Experiment(config, run_dir=run_dir) as exp:
                    if exp.repaired is not None:  # its damaged cycles were set aside: they are to run again
                        _replan(job, i, left, max(0, exp.config.cycles - exp.cycle))
                    done_here = 0
                    try:
                        for record in exp.iter_cycles(
                                None, should_stop=lambda: job._should_stop(done_here, exp.next_is_final)):
                            done_here += not record.is_final
                            job.cycles_done += 1
                            if on_cycle is not None:
                                on_cycle(run_dir)
                    except Exception as err:
                        exp.store.update(status="failed", error=_message(err))  # still its writer
                        raise
                if job._stop.is_set():
                    break
            job.status = "stopped" if job._stop.is_set() else "done"
        except Exception as err:  # noqa: BLE001  the worker must never die silently: the UI shows the message
            _log.exception("job %s failed", job.job_id)
            job.status, job.error = "failed", _message(err)
        finally:
            with job._lock:
                job._closed = True
            self._touch(ended=1)


def _message(err: BaseException) -> str:
    """What the UI shows: the engine's own errors as they are, anything else with its type."""
    from alcore.config import ConfigError
    from alcore.run_lock import RunBusy

    return str(err) if isinstance(err, (ConfigError, RunBusy, FileExistsError)) else f"{type(err).__name__}: {err}"


def _replan(job: Job, i: int, left: list[int | None], now: int) -> None:
    """Run ``i`` of ``job`` has ``now`` cycles to go, not the ``left[i]`` its manifest said (a resume set damaged
    cycles aside): the records the job will store follow."""
    with job._lock:
        job.cycles_total += planned_records(now, job.asked) - planned_records(left[i], job.asked)
        left[i] = now
        if i == 0:
            job._cycles_left = now


_ENGINE_LOCK = IMPORT_LOCK
_ENGINE_READY = threading.Event()


def import_engine() -> None:
    """Import the engine and its libraries once per process, one thread at a time (``warm_up_imports``), under
    ``alcore.imports.IMPORT_LOCK``: never while another thread imports torch or scipy."""
    if _ENGINE_READY.is_set():
        return
    with _ENGINE_LOCK:
        if not _ENGINE_READY.is_set():
            warm_up_imports()
            _ENGINE_READY.set()


def warm_up_imports() -> None:
    """Pay one-off import costs before the first click: the engine and torch (about 1.5 s; the app's first render
    does not import them), openTSNE and scikit-learn (another 1.5 s). torch's first optimizer step (torch._dynamo,
    1.2 s) is left to ``alcore.train.warm_optimizer``, which the registry calls later."""
    import importlib

    for module in ("torch", "alcore.loop", "alcore.projection", "openTSNE", "sklearn.model_selection"):
        importlib.import_module(module)
