"""A killed run resumes from its last complete cycle and ends exactly as an uninterrupted run would."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO_ROOT

import alcore.store
from alcore.loop import Experiment
from alcore.store import RunStore


def _kill_config(fast_config):
    """Enough short cycles that the child is still running when its second cycle lands."""
    return fast_config(dataset_options={"n_samples": 300}, strategy="entropy", cycles=30, batch_size=5, epochs=10,
                       initial_labels=2)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def resumes_from(store, cycle: int, reference, same_records) -> None:
    """The stored run resumes at ``cycle`` and, run to its end, gives exactly the uninterrupted ``reference``."""
    resumed = Experiment.resume(store.path)
    assert resumed.cycle == cycle
    resumed.run()
    same_records(resumed.records, reference)


def test_resume_after_sigkill_matches_an_uninterrupted_run(fast_config, tmp_path, subprocess_env, same_records):
    cfg = _kill_config(fast_config)
    config_path, out = tmp_path / "config.json", tmp_path / "run"
    cfg.to_json(config_path)
    with open(tmp_path / "stdout", "wb") as stdout, open(tmp_path / "stderr", "wb") as stderr:
        child = subprocess.Popen([sys.executable, "-m", "alcore", "run", "--config", str(config_path),
                                  "--out", str(out)], cwd=REPO_ROOT, env=subprocess_env, stdout=stdout, stderr=stderr)
        try:
            deadline = time.monotonic() + 180
            while len(list((out / "cycles").glob("cycle_*.json"))) < 2:
                assert child.poll() is None, f"the run ended early:\n{(tmp_path / 'stderr').read_text()}"
                assert time.monotonic() < deadline, "no second cycle within 180 s"
                time.sleep(0.002)
            os.kill(child.pid, signal.SIGKILL)
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    stored = RunStore(out).n_cycles()
    assert 2 <= stored < cfg.cycles + 1, "the kill should land mid-run"

    resumed = Experiment.resume(out)
    assert resumed.cycle == stored and len(resumed.labeled) == cfg.initial_labels + stored * cfg.batch_size
    resumed.run()
    assert resumed.done and RunStore(out).manifest()["status"] == "complete"

    reference = Experiment(_kill_config(fast_config)).run()
    same_records(resumed.records, reference)
    same_records(RunStore(out).load_records(), reference)  # cycles from the killed child equal in-process ones


def _reference_and_partial(fast_config, tmp_path, n_done, **overrides):
    reference = Experiment(fast_config(**overrides)).run()
    with Experiment(fast_config(**overrides), run_dir=tmp_path / "run") as exp:
        exp.run(n_done)
    return reference, exp.store


def test_leftovers_of_a_kill_mid_write_are_not_counted_and_the_run_resumes(fast_config, tmp_path, same_records):
    reference, store = _reference_and_partial(fast_config, tmp_path, 3, strategy="margin", cycles=4)
    folder = store.path / "cycles"
    (folder / "cycle_00002.json").unlink()  # cycle 2's NPZ landed, its JSON did not
    (folder / ".cycle_00002.json.x1y2z3.tmp").write_text('{"cycle": 2, "n_labeled"')
    (folder / ".manifest.json.q9.tmp").write_text("{")
    assert [r.cycle for r in store.load_records()] == [0, 1]

    resumes_from(store, 2, reference, same_records)
    same_records(store.load_records(), reference)


def test_a_kill_between_a_cycles_arrays_and_its_json_loses_only_that_cycle(fast_config, tmp_path, monkeypatch,
                                                                           same_records):
    reference, store = _reference_and_partial(fast_config, tmp_path, 2, strategy="least_confidence", cycles=3)
    real_write_json = alcore.store.atomic_write_json

    def killed_at_cycle_json(path, obj):
        if path.name.startswith("cycle_"):
            raise KeyboardInterrupt  # stands in for SIGKILL: nothing after this line runs
        real_write_json(path, obj)

    exp = Experiment.resume(store.path)
    monkeypatch.setattr(alcore.store, "atomic_write_json", killed_at_cycle_json)
    with pytest.raises(KeyboardInterrupt):
        exp.step()
    exp.close()  # what the operating system does for a killed process
    monkeypatch.setattr(alcore.store, "atomic_write_json", real_write_json)
    assert (store.path / "cycles" / "cycle_00002.npz").exists() and store.n_cycles() == 2

    resumes_from(store, 2, reference, same_records)


def test_a_warm_start_run_resumes_with_the_weights_of_its_last_complete_cycle(fast_config, tmp_path, same_records):
    """The weights saved for an uncommitted cycle must not leak into the resumed run."""
    reference, store = _reference_and_partial(fast_config, tmp_path, 2, strategy="entropy", cycles=4,
                                              warm_start=True)
    exp = Experiment.resume(store.path)

    def killed(record):
        raise KeyboardInterrupt  # after the model's weights were written, before the cycle's record

    exp.store.append = killed
    with pytest.raises(KeyboardInterrupt):
        exp.step()
    exp.close()  # what the operating system does for a killed process
    resumes_from(store, 2, reference, same_records)


def test_a_clean_warm_start_resume_matches_an_uninterrupted_run(fast_config, tmp_path, same_records):
    reference, store = _reference_and_partial(fast_config, tmp_path, 2, strategy="entropy", cycles=3,
                                              warm_start=True)
    resumes_from(store, 2, reference, same_records)


def test_resuming_a_finished_run_runs_nothing(fast_config, tmp_path, same_records):
    reference, store = _reference_and_partial(fast_config, tmp_path, 10, cycles=2)
    resumed = Experiment.resume(store.path)
    assert resumed.done and resumed.run() == []
    same_records(resumed.records, reference)


def test_resuming_a_folder_without_a_run_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run"):
        Experiment.resume(tmp_path / "nothing")
