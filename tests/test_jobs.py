"""The job registry imports the engine in the background once the server is idle, and every engine import goes
through one lock (two threads importing torch and scipy at once fail)."""
from __future__ import annotations

import threading
import time

from alcore import jobs
from alcore.jobs import JobRegistry


class SlowCalls:
    """A slow stand-in that counts its calls and the most of them in progress at once."""

    def __init__(self) -> None:
        self.count = self.inside = self.most = 0

    def enter(self) -> None:
        self.count += 1
        self.inside += 1
        self.most = max(self.most, self.inside)
        time.sleep(0.2)
        self.inside -= 1


def in_threads(target, n: int = 4) -> None:
    threads = [threading.Thread(target=target) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def start_warm_up(registry: JobRegistry) -> threading.Thread:
    """Run ``registry``'s warm-up in a thread of the test's own (the app tests' registries warm up in theirs)."""
    thread = threading.Thread(target=registry._warm_up_when_idle, daemon=True)
    thread.start()
    return thread


def test_warm_up_waits_until_the_server_has_been_idle(monkeypatch):
    calls = []
    registry = JobRegistry(warm_up=False, idle_s=2.0)
    mine = start_warm_up(registry)
    monkeypatch.setattr(jobs, "import_engine",
                        lambda: calls.append(time.monotonic()) if threading.current_thread() is mine else None)
    for _ in range(10):  # one second of script runs ending, never two seconds idle
        registry.script_finished()
        last = time.monotonic()
        time.sleep(0.1)
    assert calls == []
    deadline = time.monotonic() + 30
    while not calls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(calls) == 1 and calls[0] - last >= 1.9


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
    monkeypatch.setattr(jobs, "_ENGINE_READY", threading.Event())
    monkeypatch.setattr(jobs, "_ENGINE_LOCK", threading.Lock())
    calls = SlowCalls()
    monkeypatch.setattr(jobs, "warm_up_imports", calls.enter)
    in_threads(jobs.import_engine)
    assert calls.count == 1 and calls.most == 1 and jobs.engine_imported()


def _warm_up_order(monkeypatch, **registry_options):
    """A registry whose two warm-up stages only record when they run."""
    from alcore import train

    order = []
    registry = JobRegistry(warm_up=False, **registry_options)
    threads: list[threading.Thread] = []

    def record(name):
        if threading.current_thread() in threads:
            order.append((name, time.monotonic()))

    monkeypatch.setattr(jobs, "import_engine", lambda: record("engine"))
    monkeypatch.setattr(train, "warm_optimizer", lambda: record("optimizer"))
    threads.append(start_warm_up(registry))
    return registry, order


def _wait_for(order, n, timeout=30.0):
    deadline = time.monotonic() + timeout
    while len(order) < n and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_optimizer_warm_up_waits_for_the_engine_and_a_long_idle_when_no_job_ran(monkeypatch):
    registry, order = _warm_up_order(monkeypatch, idle_s=0.2, optimizer_idle_s=0.1, long_idle_s=1.5)
    _wait_for(order, 1)
    registry.script_started()  # a script run lasting a second
    time.sleep(1.0)
    registry.script_finished()
    ended = time.monotonic()
    assert [name for name, _ in order] == ["engine"], "no optimizer warm-up while a script runs"
    _wait_for(order, 2)
    assert [name for name, _ in order] == ["engine", "optimizer"]
    assert order[1][1] - ended >= 1.45, "no job has run: the user is still reading, wait for a long idle"


def test_the_optimizer_warm_up_follows_the_first_job_after_a_short_idle(monkeypatch, tmp_path):
    registry, order = _warm_up_order(monkeypatch, idle_s=0.2, optimizer_idle_s=0.3, long_idle_s=60.0)
    _wait_for(order, 1)
    job = registry.start_group([tmp_path / "missing"], [None])  # a job that ends at once (it fails)
    job.wait(10)
    ended = time.monotonic()
    _wait_for(order, 2, timeout=10.0)
    assert [name for name, _ in order] == ["engine", "optimizer"]
    assert 0.25 <= order[1][1] - ended < 5.0


def test_the_first_optimizer_step_runs_once_and_never_in_two_threads_at_once(monkeypatch):
    import torch

    from alcore import train

    monkeypatch.setattr(train, "_OPTIMIZER_READY", threading.Event())
    monkeypatch.setattr(train, "_OPTIMIZER_LOCK", threading.Lock())
    calls = SlowCalls()

    class SlowAdam(torch.optim.Adam):
        def step(self, *args, **kwargs):
            calls.enter()
            return super().step(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", SlowAdam)
    in_threads(train.warm_optimizer)
    assert calls.count == 1 and calls.most == 1 and train.optimizer_warmed()


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
def _ready(registry: JobRegistry, config, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while registry.prepared_run(config) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return registry.prepared_run(config)


def test_a_prepared_first_cycle_is_the_one_a_step_computes(tmp_path, digits_config, same_records):
    from alcore.loop import Experiment
    from alcore.store import RunStore

    config = digits_config(strategy="badge")
    registry = JobRegistry(warm_up=False, idle_s=0.05)
    mapped = []
    registry.prepare(config, tmp_path / jobs.PREPARED_DIR / "badge-prepared", on_cycle=mapped.append)
    assert _ready(registry, config) is not None
    run_dir = registry.take_prepared(config, tmp_path, timeout=10)
    assert run_dir == tmp_path / "badge-prepared" and not (tmp_path / jobs.PREPARED_DIR / "badge-prepared").exists()
    assert mapped == [tmp_path / jobs.PREPARED_DIR / "badge-prepared"], "its map was laid out before it moved"
    stepped = Experiment(config, run_dir=tmp_path / "stepped")
    stepped.step()
    same_records(RunStore(run_dir).load_records(), RunStore(tmp_path / "stepped").load_records())
    resumed = Experiment.resume(run_dir)  # a prepared run goes on like any other
    assert resumed.cycle == 1 and resumed.step().cycle == 1
    assert registry.take_prepared(config, tmp_path, timeout=1) is None, "taken once"


def test_another_config_replaces_the_prepared_cycle_and_removes_its_folder(tmp_path, digits_config):
    registry = JobRegistry(warm_up=False, idle_s=0.05)
    first, second = digits_config(seed=0), digits_config(seed=1)
    registry.prepare(first, tmp_path / ".prepared" / "first")
    assert _ready(registry, first) is not None
    registry.prepare(first, tmp_path / ".prepared" / "again")  # the same config: nothing new
    registry.prepare(second, tmp_path / ".prepared" / "second")
    assert registry.prepared_run(first) is None
    assert registry.take_prepared(first, tmp_path, timeout=1) is None, "a Step with the old config computes its own"
    assert _ready(registry, second) == tmp_path / ".prepared" / "second"
    deadline = time.monotonic() + 10
    while (tmp_path / ".prepared" / "first").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(p.name for p in (tmp_path / ".prepared").iterdir()) == ["second"]


def test_a_step_before_the_preparation_started_computes_its_own_cycle(tmp_path, digits_config):
    registry = JobRegistry(warm_up=False, idle_s=0.5)
    config = digits_config()
    registry.script_started()  # a script run in progress: the server is not idle, nothing starts
    registry.prepare(config, tmp_path / ".prepared" / "early")
    started = time.monotonic()
    assert registry.take_prepared(config, tmp_path, timeout=30) is None
    assert time.monotonic() - started < 1.0, "a preparation that has not started is not waited for"
    registry.script_finished()
    time.sleep(1.0)
    assert not (tmp_path / ".prepared" / "early").exists() and not (tmp_path / "early").exists()


def test_a_config_that_cannot_run_prepares_nothing(tmp_path, digits_config):
    registry = JobRegistry(warm_up=False, idle_s=0.05)
    config = digits_config(batch_size=5000, cycles=3)  # more labels than the pool holds
    registry.prepare(config, tmp_path / ".prepared" / "too-big")
    deadline = time.monotonic() + 30
    while registry._prepared is not None and not registry._prepared.done.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert registry.take_prepared(config, tmp_path, timeout=5) is None
    assert not (tmp_path / ".prepared" / "too-big").exists()
