"""One writer per run (docs/run-format.md#the-writer-lock): every writer holds the run's OS lock for its life, a
second writer is told who writes, a killed writer's lock is gone with it, and readers never wait."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest
from conftest import REPO_ROOT, make_fast_config

from alcore.cli import EXIT_BUSY, main
from alcore.jobs import JobRegistry
from alcore.loop import Experiment
from alcore.run_lock import RunBusy, RunLock, holder
from alcore.store import RunStore, list_runs

WAIT_S = 120.0  # bound on every wait: reached only when the property under test is broken

HOLD = """
import sys
from alcore.run_lock import RunBusy, RunLock
try:
    lock = RunLock(sys.argv[1]).acquire()
    print("won", flush=True)
except RunBusy as err:
    print("lost", err, flush=True)
sys.stdin.read()  # hold the lock (if won) until the parent closes stdin or kills this process
"""


def _holder_process(run_dir, env):
    return subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], cwd=REPO_ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


@pytest.fixture
def stored_run(tmp_path):
    with Experiment(make_fast_config(cycles=3), run_dir=tmp_path / "run") as exp:
        exp.run(1)
    return tmp_path / "run"


def test_a_second_writer_is_told_which_process_writes_the_run(stored_run):
    with Experiment.resume(stored_run):
        with pytest.raises(RunBusy, match=f"run run is being written by process {os.getpid()}"):
            Experiment.resume(stored_run)
        with pytest.raises(RunBusy):
            RunLock(stored_run).acquire()
    with Experiment.resume(stored_run) as again:  # released: the next writer gets it
        assert again.cycle == 1


def test_of_processes_racing_for_one_run_exactly_one_writes(tmp_path, subprocess_env):
    procs = [_holder_process(tmp_path / "run", subprocess_env) for _ in range(4)]
    answers = [p.stdout.readline().split()[0] for p in procs]  # each has tried; the winner still holds it
    winner = procs[answers.index("won")]
    assert sorted(answers) == ["lost", "lost", "lost", "won"]
    assert holder(tmp_path / "run") == winner.pid
    for p in procs:
        p.communicate("", timeout=WAIT_S)


def test_a_writer_killed_with_sigkill_leaves_no_lock_behind(tmp_path, subprocess_env):
    proc = _holder_process(tmp_path / "run", subprocess_env)
    assert proc.stdout.readline().strip() == "won"
    with pytest.raises(RunBusy, match=f"process {proc.pid}"):
        RunLock(tmp_path / "run").acquire()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=WAIT_S)
    assert holder(tmp_path / "run") is None
    with RunLock(tmp_path / "run") as lock:
        assert lock.held


def test_readers_never_wait_for_the_writer(stored_run, subprocess_env):
    proc = _holder_process(stored_run, subprocess_env)
    try:
        assert proc.stdout.readline().strip() == "won"
        assert [r.cycle for r in RunStore(stored_run).load_records()] == [0]
        assert list_runs(stored_run.parent)[0]["run_id"] == "run"
        assert holder(stored_run) == proc.pid
        with pytest.raises(RuntimeError, match="writer lock"):  # and a reader cannot write behind its back
            RunStore(stored_run).update(status="failed")
    finally:
        proc.communicate("", timeout=WAIT_S)


def test_two_writers_on_one_run_in_threads_never_both_write(stored_run, same_records, monkeypatch):
    """Writer A pauses inside its first write, holding the run; writer B tries meanwhile and must not write."""
    reference = Experiment(make_fast_config(cycles=3)).run()
    a_inside, b_done, writing = threading.Event(), threading.Event(), []
    real_append = RunStore.append

    def append(store, record):
        writing.append(threading.current_thread().name)
        if threading.current_thread().name == "A" and not a_inside.is_set():
            a_inside.set()
            b_done.wait(WAIT_S)
        real_append(store, record)

    monkeypatch.setattr(RunStore, "append", append)

    def writer_a() -> None:
        with Experiment.resume(stored_run) as exp:
            exp.run()

    a = threading.Thread(target=writer_a, name="A")
    a.start()
    assert a_inside.wait(WAIT_S)
    try:
        with pytest.raises(RunBusy, match="is being written by process"):
            Experiment.resume(stored_run)
    finally:
        b_done.set()
        a.join(WAIT_S)
    assert set(writing) == {"A"}
    same_records(RunStore(stored_run).load_records(), reference)


def test_the_command_line_exits_3_when_another_process_writes_the_run(stored_run, capsys):
    with RunLock(stored_run):
        assert main(["run", "--out", str(stored_run), "--resume"]) == EXIT_BUSY
    err = capsys.readouterr().err
    assert err.startswith(f"error: run run is being written by process {os.getpid()}")
    assert RunStore(stored_run).n_cycles() == 1


def test_an_app_job_on_a_run_another_writer_holds_fails_with_the_message_and_writes_nothing(stored_run):
    registry = JobRegistry(warm_up=False)
    before = RunStore(stored_run).manifest()
    with RunLock(stored_run):
        job = registry.start_group([stored_run], [None], job_id="step")
        assert job.wait(WAIT_S)
    assert job.status == "failed" and job.error.startswith("run run is being written by process")
    assert RunStore(stored_run).manifest() == before  # the busy worker did not mark the run failed


def test_a_step_while_the_compare_job_writes_the_run_is_refused_and_the_run_ends_exact(stored_run, same_records):
    """The Compare page's group job and a Step on the same run: two workers of one server."""
    registry = JobRegistry(warm_up=False)
    inside, go_on = threading.Event(), threading.Event()

    def on_cycle(_run_dir) -> None:  # the group job pauses after its first new cycle, holding the run
        inside.set()
        go_on.wait(WAIT_S)

    group = registry.start_group([stored_run], [None], job_id="cmp-group", on_cycle=on_cycle)
    assert inside.wait(WAIT_S)
    step = registry.start_group([stored_run], [None], job_id="run", n_cycles=1)
    assert step.wait(WAIT_S) and step.status == "failed" and "is being written by process" in step.error
    go_on.set()
    assert group.wait(WAIT_S) and group.status == "done"
    same_records(RunStore(stored_run).load_records(), Experiment(make_fast_config(cycles=3)).run())
