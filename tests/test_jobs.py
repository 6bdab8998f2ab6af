"""The job registry imports the engine in the background once the server is idle, and every engine import goes
through one lock (two threads importing torch and scipy at once fail)."""
from __future__ import annotations

import threading
import time

from alcore import jobs
from alcore.jobs import JobRegistry


def test_warm_up_waits_until_the_server_has_been_idle(monkeypatch):
    calls = []
    monkeypatch.setattr(jobs, "import_engine", lambda: calls.append(time.monotonic()))
    registry = JobRegistry(warm_up=True, idle_s=2.0)
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
    inside, most, count = [0], [0], [0]

    def slow_imports():
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        count[0] += 1
        time.sleep(0.2)
        inside[0] -= 1

    monkeypatch.setattr(jobs, "warm_up_imports", slow_imports)
    threads = [threading.Thread(target=jobs.import_engine) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count[0] == 1 and most[0] == 1 and jobs.engine_imported()
