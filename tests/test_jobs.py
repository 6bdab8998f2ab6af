"""The job registry: what it does ahead of the first click waits until the server is idle, every engine import goes
through one lock (two threads importing torch and scipy at once fail), and a first cycle computed ahead is the one
a Step computes. Time is a hand-moved clock; the tests wait on events, never on sleeps."""
from __future__ import annotations

import math
import threading

import pytest

from alcore import job_plan, jobs
from alcore.jobs import JobRegistry

WAIT_S = 60.0  # bound on every event wait: reached only when the property under test is broken


class ManualClock:
    """A clock that moves only when the test advances it.

    ``settle(n)`` returns once ``n`` threads are parked in ``wait`` having read the time since the last
    ``advance``: the woken ones have looked at the new time and decided to keep waiting.
    """

    def __init__(self) -> None:
        self.t = 0.0
        self._generation = 0
        self._state = threading.Condition()
        self._seen: dict[int, int] = {}     # thread -> generation of the time it last read
        self._parked: dict[int, int] = {}   # thread -> generation it parked at
        self._conditions: list[threading.Condition] = []

    def now(self) -> float:
        with self._state:
            self._seen[threading.get_ident()] = self._generation
            return self.t

    def wait(self, condition: threading.Condition, timeout: float | None) -> None:
        me = threading.get_ident()
        with self._state:
            if condition not in self._conditions:
                self._conditions.append(condition)
            if self._seen.get(me) != self._generation:  # the time moved since the caller read it
                return
            self._parked[me] = self._generation
            self._state.notify_all()
        condition.wait()  # the caller holds it, so ``advance`` notifies only once this thread waits
        with self._state:
            self._parked.pop(me, None)

    def advance(self, seconds: float) -> None:
        with self._state:
            self.t += seconds
            self._generation += 1
            conditions = list(self._conditions)
        for condition in conditions:
            with condition:
                condition.notify_all()

    def settle(self, n: int = 1) -> None:
        with self._state:
            assert self._state.wait_for(
                lambda: sum(g == self._generation for g in self._parked.values()) >= n, WAIT_S), "no thread parked"


class Contended:
    """A stand-in lock and a slow call behind it. ``run(call)`` calls from several threads, holds the first one
    inside the slow call until every other one waits for the lock, then lets them all finish."""

    def __init__(self) -> None:
        self.calls = self.inside = self.most = self.queued = 0
        self._lock, self._state, self._open = threading.Lock(), threading.Condition(), False

    def __enter__(self) -> None:
        with self._state:
            self.queued += 1
            self._state.notify_all()
        self._lock.acquire()
        with self._state:
            self.queued -= 1

    def __exit__(self, *exc) -> None:
        self._lock.release()

    def slow_call(self, *args, **kwargs) -> None:
        with self._state:
            self.calls += 1
            self.inside += 1
            self.most = max(self.most, self.inside)
            self._state.notify_all()
            assert self._state.wait_for(lambda: self._open, WAIT_S)
            self.inside -= 1

    def run(self, call, n: int = 4) -> None:
        threads = [threading.Thread(target=call) for _ in range(n)]
        for t in threads:
            t.start()
        with self._state:
            queued = self._state.wait_for(lambda: self.calls and self.queued == n - 1, WAIT_S)
            self._open = True
            self._state.notify_all()
        for t in threads:
            t.join(WAIT_S)
        assert queued and self.calls == 1 and self.most == 1, "one call, the other threads waited for the lock"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def warm_up_steps(monkeypatch):
    """The warm-up's two stages record that they ran instead of importing anything; returns (engine, optimizer)."""
    from alcore import train

    done = {"engine": threading.Event(), "optimizer": threading.Event()}
    monkeypatch.setattr(jobs, "import_engine", done["engine"].set)
    monkeypatch.setattr(train, "warm_optimizer", done["optimizer"].set)
    return done["engine"], done["optimizer"]


def start_warm_up(registry: JobRegistry) -> threading.Thread:
    thread = threading.Thread(target=registry.warm_up, daemon=True)
    thread.start()
    return thread


def fires_after(clock: ManualClock, event: threading.Event, seconds: float) -> None:
    """Nothing happens when the clock moves half of ``seconds``; ``event`` fires once it has moved all of them."""
    clock.settle()
    clock.advance(seconds / 2)
    clock.settle()
    assert not event.is_set(), f"not before {seconds:g} s"
    clock.advance(seconds / 2)
    assert event.wait(WAIT_S)


def test_the_server_is_idle_after_idle_s_without_a_script_run_or_a_job(clock, monkeypatch, tmp_path):
    registry = JobRegistry(warm_up=False, clock=clock)
    registry.script_started()
    clock.advance(10)
    assert math.isinf(registry.seconds_to_idle(2.0)), "never idle while a script runs"
    registry.script_finished()
    clock.advance(1.5)
    assert registry.seconds_to_idle(2.0) == pytest.approx(0.5)
    registry.script_started()
    registry.script_finished()
    assert registry.seconds_to_idle(2.0) == pytest.approx(2.0), "each script run starts the idle time again"

    held = threading.Event()
    monkeypatch.setattr(jobs, "import_engine", lambda: held.wait(WAIT_S))  # a worker busy until released
    job = registry.start_group([tmp_path / "missing"], [None], job_id="busy")
    clock.advance(10)
    assert math.isinf(registry.seconds_to_idle(2.0)), "never idle while a job runs"
    held.set()
    assert job.wait(WAIT_S) and job.status == "failed"
    assert registry.seconds_to_idle(2.0) == pytest.approx(2.0)


def test_the_warm_up_imports_the_engine_once_idle_then_the_optimizer_after_a_long_idle(clock, warm_up_steps):
    engine, optimizer = warm_up_steps
    registry = JobRegistry(warm_up=False, idle_s=1.0, optimizer_idle_s=0.25, long_idle_s=4.0, clock=clock)
    start_warm_up(registry)
    fires_after(clock, engine, 1.0)
    clock.settle()
    registry.script_started()
    registry.script_finished()  # the user reads the page, no job has run: wait for a long idle
    fires_after(clock, optimizer, 4.0)


def test_the_optimizer_warm_up_follows_a_job_after_a_short_idle(clock, warm_up_steps, tmp_path):
    engine, optimizer = warm_up_steps
    registry = JobRegistry(warm_up=False, idle_s=1.0, optimizer_idle_s=0.25, long_idle_s=60.0, clock=clock)
    start_warm_up(registry)
    clock.advance(1.0)
    assert engine.wait(WAIT_S)
    job = registry.start_group([tmp_path / "missing"], [None], job_id="ends-at-once")  # it fails at once
    assert job.wait(WAIT_S)
    fires_after(clock, optimizer, 0.25)  # a short idle after the job, not the long one


def test_the_first_script_run_skips_the_engine_and_later_ones_import_it(monkeypatch):
    calls = []
    monkeypatch.setattr(jobs, "import_engine", lambda: calls.append(1))
    registry = JobRegistry(warm_up=False)
    registry.script_started()
    assert calls == [], "the server's first page is drawn without the engine"
    registry.script_finished()
    registry.script_started()
    assert calls == [1]


def test_engine_imports_run_once_and_never_in_two_threads_at_once(monkeypatch):
    ready, contended = threading.Event(), Contended()
    monkeypatch.setattr(jobs, "_ENGINE_READY", ready)
    monkeypatch.setattr(jobs, "_ENGINE_LOCK", contended)
    monkeypatch.setattr(jobs, "warm_up_imports", contended.slow_call)
    contended.run(jobs.import_engine)
    assert ready.is_set()


def test_the_first_optimizer_step_runs_once_and_never_in_two_threads_at_once(monkeypatch):
    import torch

    from alcore import train

    contended = Contended()
    monkeypatch.setattr(train, "_OPTIMIZER_READY", threading.Event())
    monkeypatch.setattr(train, "_OPTIMIZER_LOCK", contended)

    class SlowAdam(torch.optim.Adam):
        def step(self, *args, **kwargs):
            contended.slow_call()
            return super().step(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", SlowAdam)
    contended.run(train.warm_optimizer)
    assert train.optimizer_warmed()


def test_training_warms_the_optimizer_first_and_an_untrained_cycle_does_not(monkeypatch):
    import torch

    from alcore import train
    from alcore.models import build_model

    calls = []
    monkeypatch.setattr(train, "warm_optimizer", lambda: calls.append(1))
    model = build_model("mlp", 4, 2, (), seed=0, hidden=[8])
    settings = train.TrainSettings(epochs=2)
    train.train_model(model, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), settings, seed=0)
    assert calls == [], "zero labels train nothing and need no optimizer"
    train.train_model(model, torch.randn(6, 4), torch.tensor([0, 1] * 3), settings, seed=0)
    assert calls == [1]


# --- the first cycle, computed ahead of the Step (JobRegistry.prepare) ------------------------------------------
def test_a_prepared_first_cycle_is_the_one_a_step_computes(tmp_path, clock, digits_config, same_records):
    from alcore.loop import Experiment
    from alcore.store import RunStore

    config = digits_config(strategy="badge")
    registry = JobRegistry(warm_up=False, clock=clock)
    mapped = []
    prepared = registry.prepare(config, tmp_path / jobs.PREPARED_DIR / "badge-prepared", on_cycle=mapped.append)
    clock.advance(1.0)
    assert prepared.done.wait(WAIT_S) and prepared.ok
    run_dir = registry.take_prepared(config, tmp_path, timeout=WAIT_S)
    assert run_dir == tmp_path / "badge-prepared" and not (tmp_path / jobs.PREPARED_DIR / "badge-prepared").exists()
    assert mapped == [tmp_path / jobs.PREPARED_DIR / "badge-prepared"], "its map was laid out before it moved"
    stepped = Experiment(config, run_dir=tmp_path / "stepped")
    stepped.step()
    same_records(RunStore(run_dir).load_records(), RunStore(tmp_path / "stepped").load_records())
    resumed = Experiment.resume(run_dir)  # a prepared run goes on like any other
    assert resumed.cycle == 1 and resumed.step().cycle == 1
    assert registry.take_prepared(config, tmp_path, timeout=1) is None, "taken once"


def test_another_config_replaces_the_prepared_cycle_and_removes_its_folder(tmp_path, clock, digits_config):
    registry = JobRegistry(warm_up=False, clock=clock)
    first, second = digits_config(seed=0), digits_config(seed=1)
    prepared = registry.prepare(first, tmp_path / ".prepared" / "first")
    clock.advance(1.0)
    assert prepared.done.wait(WAIT_S) and prepared.ok
    assert registry.prepare(first, tmp_path / ".prepared" / "again") is prepared, "the same config: nothing new"
    replacement = registry.prepare(second, tmp_path / ".prepared" / "second")
    assert not (tmp_path / ".prepared" / "first").exists(), "a finished cycle nobody took is removed"
    assert registry.take_prepared(first, tmp_path, timeout=1) is None, "a Step with the old config computes its own"
    clock.advance(1.0)
    assert replacement.done.wait(WAIT_S) and replacement.ok
    assert sorted(p.name for p in (tmp_path / ".prepared").iterdir()) == ["second"]


def test_a_step_before_the_preparation_started_computes_its_own_cycle(tmp_path, clock, digits_config):
    registry = JobRegistry(warm_up=False, clock=clock)
    config = digits_config()
    registry.script_started()  # a script run in progress: the server is not idle, nothing starts
    prepared = registry.prepare(config, tmp_path / ".prepared" / "early")
    taken = []
    step = threading.Thread(target=lambda: taken.append(registry.take_prepared(config, tmp_path, timeout=None)))
    step.start()
    step.join(WAIT_S)
    assert not step.is_alive() and taken == [None], "a preparation that has not started is not waited for"
    registry.script_finished()
    clock.advance(1.0)
    assert prepared.done.wait(WAIT_S) and not prepared.started
    assert not (tmp_path / ".prepared" / "early").exists() and not (tmp_path / "early").exists()


def test_a_config_that_cannot_run_prepares_nothing(tmp_path, clock, digits_config):
    registry = JobRegistry(warm_up=False, clock=clock)
    config = digits_config(batch_size=5000, cycles=3)  # more labels than the pool holds
    prepared = registry.prepare(config, tmp_path / ".prepared" / "too-big")
    clock.advance(1.0)
    assert prepared.done.wait(WAIT_S) and not prepared.ok
    assert registry.take_prepared(config, tmp_path, timeout=5) is None
    assert not (tmp_path / ".prepared" / "too-big").exists()


# --- how many cycles a job runs, and clicks while it runs ------------------------------------------------------
@pytest.mark.parametrize("left, asked, expected", [(10, 10, 11), (10, 3, 3), (10, None, 11), (3, 5, 4), (0, 1, 1),
                                                   (None, 4, 0)])
def test_asking_for_the_cycles_a_run_has_left_includes_its_final_evaluation(left, asked, expected):
    assert job_plan.planned_records(left, asked) == expected


def test_running_as_many_cycles_as_the_run_has_leaves_it_complete(tmp_path, fast_config):
    from alcore.store import RunStore

    config = fast_config(cycles=3)
    job = JobRegistry(warm_up=False).start_group([tmp_path / "r"], [config], job_id="r", n_cycles=3)
    assert job.wait(WAIT_S) and job.status == "done"
    assert RunStore(tmp_path / "r").n_cycles() == 4 and RunStore(tmp_path / "r").manifest()["status"] == "complete"
    assert job.cycles_done == job.cycles_total == 4


def test_one_cycle_at_a_time_the_last_step_also_stores_the_final_evaluation(tmp_path, fast_config):
    from alcore.store import RunStore

    registry, run_dir = JobRegistry(warm_up=False), tmp_path / "r"
    for step in range(2):
        job = registry.start_group([run_dir], [fast_config(cycles=2) if step == 0 else None], job_id="r",
                                   n_cycles=1)
        assert job.wait(WAIT_S)
        assert RunStore(run_dir).n_cycles() == (1 if step == 0 else 3)
    assert RunStore(run_dir).manifest()["status"] == "complete"


def test_a_job_repairing_a_damaged_finished_run_counts_the_cycles_it_computes_again(tmp_path, fast_config):
    """A finished run with a cut cycle: the job sets that cycle (and the later ones) aside and computes them again;
    its progress counts them (it said "2 of 0" when it planned from the manifest's "complete")."""
    from alcore.store import RunStore

    registry, run_dir = JobRegistry(warm_up=False), tmp_path / "r"
    assert registry.start_group([run_dir], [fast_config(cycles=2)], job_id="r", n_cycles=None).wait(WAIT_S)
    cut = run_dir / "cycles" / "cycle_00001.json"
    cut.write_bytes(cut.read_bytes()[:20])
    job = registry.start_group([run_dir], [None], job_id="r", n_cycles=None)
    assert job.wait(WAIT_S) and job.status == "done"
    assert job.cycles_done == job.cycles_total == 2  # cycle 1 again, then the final evaluation
    assert RunStore(run_dir).n_cycles() == 3 and RunStore(run_dir).manifest()["status"] == "complete"


class HeldWorker:
    """``on_cycle`` for a job: the worker stops after each stored cycle until the test lets it go on."""

    def __init__(self) -> None:
        self.stored, self.go = threading.Semaphore(0), threading.Semaphore(0)

    def __call__(self, run_dir) -> None:
        self.stored.release()
        assert self.go.acquire(timeout=WAIT_S)

    def next_cycle(self) -> None:
        assert self.stored.acquire(timeout=WAIT_S), "the worker stored no cycle"


def test_a_step_clicked_while_a_job_runs_is_queued_on_it(tmp_path, fast_config):
    from alcore.store import RunStore

    registry, run_dir, held = JobRegistry(warm_up=False), tmp_path / "r", HeldWorker()
    job = registry.start_group([run_dir], [fast_config(cycles=5)], job_id="r", n_cycles=2, on_cycle=held)
    held.next_cycle()  # cycle 0 stored; the worker waits
    assert job.cycles_total == 2
    again = registry.start_group([run_dir], [None], job_id="r", n_cycles=1, on_cycle=held)  # the click
    assert again is job and job.cycles_total == 3, "the click adds a cycle to the running job"
    for _ in range(2):
        held.go.release()
        held.next_cycle()
    held.go.release()
    assert job.wait(WAIT_S) and job.status == "done"
    assert RunStore(run_dir).n_cycles() == 3 == job.cycles_done


def test_a_click_after_the_worker_decided_to_end_starts_a_new_job(tmp_path, fast_config):
    from alcore.store import RunStore

    registry, run_dir, held = JobRegistry(warm_up=False), tmp_path / "r", HeldWorker()
    first = registry.start_group([run_dir], [fast_config(cycles=5)], job_id="r", n_cycles=1, on_cycle=held)
    held.next_cycle()
    assert not first._should_stop(0, False), "one cycle asked, none done: go on"
    assert first._should_stop(1, False), "the cycle asked is done: the worker ends"
    assert not first.extend(1), "an ending job takes no more cycles"
    held.go.release()
    second = registry.start_group([run_dir], [None], job_id="r", n_cycles=1)
    assert second is not first and second.wait(WAIT_S)
    assert RunStore(run_dir).n_cycles() == 2, "the click ran its own cycle after the first job ended"
