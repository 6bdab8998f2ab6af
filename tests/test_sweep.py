"""Sweeps: grid expansion, deterministic run folders, skipping finished runs, failures recorded, locks, backends."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from alcore import strategies
from alcore.cli import main
from alcore.config import ConfigError
from alcore.store import RunStore
from alcore.run_group import settings_hash
from alcore.run_lock import RunLock, holder
from alcore.sweep import expand_grid, parse_seeds, run_job, run_sweep, write_failures

# A moons run of 2 cycles that trains in a fraction of a second.
TINY = dict(dataset_options={"n_samples": 200}, model_options={"hidden": [16], "dropout": 0.0}, batch_size=10,
            cycles=2, epochs=5, train_batch_size=32, display_size=40, device="cpu")
COMMON_FLAGS = ["--epochs", "5", "--device", "cpu", "--set", 'model_options={"hidden": [16], "dropout": 0}',
                "--set", "display_size=40", "--set", "train_batch_size=32"]
TINY_FLAGS = ["--cycles", "2", "--batch-size", "10", "--set", 'dataset_options={"n_samples": 200}', *COMMON_FLAGS]


def tiny_jobs(root, strategies_=("random", "entropy"), seeds=(0, 1), **overrides):
    jobs, _ = expand_grid({**TINY, **overrides}, ["moons"], strategies_, seeds, root)
    return jobs


# --- the grid -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seeds", [("0-4", [0, 1, 2, 3, 4]), ("3", [3]), ("0,2,7-8", [0, 2, 7, 8]),
                                         ("1, 1, 0-1", [1, 0])])
def test_seeds_accept_ranges_and_lists(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "a", "4-2", "1-", "-1"])
def test_bad_seed_text_is_a_config_error_naming_it(text):
    with pytest.raises(ConfigError, match="seeds"):
        parse_seeds(text)


def test_grid_is_every_dataset_strategy_seed_with_deterministic_folder_names(tmp_path):
    jobs, notes = expand_grid(TINY, ["moons", "iris"], ["random", "entropy"], [0, 1, 2], tmp_path)
    assert len(jobs) == 2 * 2 * 3 and notes == []
    assert len({j.run_dir for j in jobs}) == len(jobs)
    again, _ = expand_grid(TINY, ["moons", "iris"], ["random", "entropy"], [0, 1, 2], tmp_path)
    assert [j.run_dir for j in again] == [j.run_dir for j in jobs]
    job = jobs[0]
    assert job.run_id == f"moons-random-seed0-{job.settings_hash}"
    assert all(j.config["seed"] == j.seed and j.config["strategy"] == j.strategy for j in jobs)


def test_settings_hash_changes_with_settings_not_with_the_job(tmp_path):
    a = tiny_jobs(tmp_path)
    b = tiny_jobs(tmp_path, epochs=6)
    assert len({j.settings_hash for j in a}) == 1  # one sweep, one settings hash
    assert a[0].settings_hash != b[0].settings_hash
    # spelling out a default does not change the hash
    c = tiny_jobs(tmp_path, lr=1e-3)
    assert c[0].settings_hash == a[0].settings_hash
    assert settings_hash({"seed": 1, "epochs": 5}) == settings_hash({"seed": 2, "epochs": 5})
    assert settings_hash({"model_options": {"dropout": 0}}) == settings_hash({"model_options": {"dropout": 0.0}})
    assert settings_hash({"warm_start": True}) != settings_hash({"warm_start": 1})


def test_unknown_names_fail_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="strategy='nope'"):
        expand_grid(TINY, ["moons"], ["random", "nope"], [0], tmp_path)
    with pytest.raises(ConfigError, match="dataset='nope'"):
        expand_grid(TINY, ["nope"], ["random"], [0], tmp_path)
    assert not any(tmp_path.iterdir())


def test_target_aware_strategy_gives_the_grid_a_target_set_and_says_so(tmp_path):
    targeted = [n for n in strategies.available() if strategies.get_class(n).needs_target]
    if not targeted:
        pytest.skip("no target-aware strategy registered yet")
    jobs, notes = expand_grid(TINY, ["moons"], ["random", targeted[0]], [0], tmp_path, default_target_size=30)
    assert {j.config["target_size"] for j in jobs} == {30}  # the same split for every strategy
    assert len(notes) == 1 and "target_size set to 30" in notes[0] and targeted[0] in notes[0]
    kept, notes = expand_grid({**TINY, "target_size": 12}, ["moons"], [targeted[0]], [0], tmp_path)
    assert kept[0].config["target_size"] == 12 and notes == []


# --- running ------------------------------------------------------------------------------------------------------

def test_sweep_runs_every_job_into_its_folder_and_a_rerun_skips_them(tmp_path):
    jobs = tiny_jobs(tmp_path)
    seen = []
    results = run_sweep(jobs, n_jobs=1, on_result=seen.append)
    assert [r["status"] for r in results] == ["complete"] * 4 and seen == results
    for job in jobs:
        store = RunStore(job.run_dir)
        manifest = store.manifest()
        assert manifest["status"] == "complete" and manifest["error"] is None
        assert manifest["sweep"] == {"dataset": "moons", "strategy": job.strategy, "seed": job.seed,
                                     "settings_hash": job.settings_hash}
        assert store.n_cycles() == TINY["cycles"] + 1
        assert holder(job.run_dir) is None  # released
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    again = run_sweep(jobs, n_jobs=1)
    assert [r["status"] for r in again] == ["skipped"] * 4
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == stamps


def test_an_incomplete_run_is_resumed_from_its_last_cycle(tmp_path, same_records):
    job = tiny_jobs(tmp_path, strategies_=("entropy",), seeds=(0,))[0]
    reference = tiny_jobs(tmp_path / "ref", strategies_=("entropy",), seeds=(0,))[0]
    assert run_job(reference)["status"] == "complete"
    assert run_job(job)["status"] == "complete"
    store = RunStore(job.run_dir)
    last = Path(job.run_dir) / "cycles" / f"cycle_{TINY['cycles']:05d}"
    last.with_suffix(".json").unlink()
    last.with_suffix(".npz").unlink()
    with RunLock(job.run_dir):
        store.update(status="running")
    result = run_job(job)
    assert result["status"] == "complete" and result["resumed_from"] == TINY["cycles"] and result["ran_cycles"] == 1
    same_records(store.load_records(), RunStore(reference.run_dir).load_records())


def test_a_failed_job_is_recorded_and_the_others_finish(tmp_path, capsys):
    # iris has a pool of 120 points: 3 cycles of 60 do not fit, on moons' 800 they do
    code = main(["sweep", "--datasets", "moons,iris", "--strategies", "random", "--seeds", "0", "--out",
                 str(tmp_path), "--jobs", "1", *COMMON_FLAGS, "--batch-size", "60", "--cycles", "3"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "1 complete" in out and "1 failed" in out and "failures.json" in err
    failures = json.loads((tmp_path / "failures.json").read_text())["failures"]
    (run_id, failure), = failures.items()
    assert run_id.startswith("iris-random-seed0-") and "budget" in failure["error"]
    manifest = RunStore(failure["run_dir"]).manifest()
    assert manifest["status"] == "failed" and manifest["error"].startswith("ConfigError: cycles=3 is not valid; the budget")
    moons = [p for p in tmp_path.iterdir() if p.name.startswith("moons-")]
    assert len(moons) == 1 and RunStore(moons[0]).manifest()["status"] == "complete"


def test_fit_budget_lowers_cycles_per_dataset_and_says_so(tmp_path, capsys):
    code = main(["sweep", "--datasets", "iris", "--strategies", "random", "--seeds", "0", "--out", str(tmp_path),
                 "--jobs", "1", *COMMON_FLAGS, "--batch-size", "60", "--cycles", "3", "--fit-budget"])
    out, _ = capsys.readouterr()
    assert code == 0, out
    assert "iris: cycles lowered from 3 to 2 (pool of 120 points)" in out
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert RunStore(run).manifest()["config"]["cycles"] == 2


def test_failures_file_drops_jobs_that_later_succeed_and_keeps_other_sweeps_entries(tmp_path):
    row = {"run_id": "a", "dataset": "moons", "strategy": "random", "seed": 0, "run_dir": "x", "error": "E: boom",
           "traceback": "tb", "status": "failed"}
    write_failures(tmp_path, [row, {**row, "run_id": "b"}])
    write_failures(tmp_path, [{**row, "status": "complete"}])
    data = json.loads((tmp_path / "failures.json").read_text())
    assert list(data["failures"]) == ["b"] and data["n_failed"] == 1


def test_sweep_command_exits_zero_and_prints_a_progress_line_per_job(tmp_path, capsys):
    args = ["sweep", "--datasets", "moons", "--strategies", "random,entropy", "--seeds", "0", "--out",
            str(tmp_path), "--jobs", "1", *TINY_FLAGS]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "[" in out and "1/2" in out and "2/2" in out and "2 complete" in out
    assert main(args) == 0
    assert "2 skipped" in capsys.readouterr().out


def test_a_bad_flag_for_every_job_is_an_argument_error_not_a_sweep(tmp_path, capsys):
    code = main(["sweep", "--datasets", "moons", "--strategies", "random", "--seeds", "0", "--out", str(tmp_path),
                 "--epochs", "0"])
    assert code == 2 and "epochs=0 is not valid" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


# --- the writer lock ----------------------------------------------------------------------------------------------

def test_a_job_whose_run_another_writer_holds_is_busy_and_untouched(tmp_path):
    job = tiny_jobs(tmp_path, seeds=(0,))[0]
    with RunLock(job.run_dir):
        result = run_job(job)
    assert result["status"] == "busy"
    assert f"run {job.run_id} is being written by process {os.getpid()}" in result["error"]
    assert not RunStore(job.run_dir).exists()


# --- backends -----------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_joblib_processes_run_the_grid_in_parallel(tmp_path):
    jobs = tiny_jobs(tmp_path)
    results = run_sweep(jobs, n_jobs=2)
    assert sorted(r["run_id"] for r in results) == sorted(j.run_id for j in jobs)
    assert {r["status"] for r in results} == {"complete"}


def test_dask_local_cluster_runs_a_small_sweep(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    jobs = tiny_jobs(tmp_path)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        results = run_sweep(jobs, backend="dask", client=client)
        assert {r["status"] for r in results} == {"complete"} and len(results) == len(jobs)
        assert {r["status"] for r in run_sweep(jobs, backend="dask", client=client)} == {"skipped"}
    assert all(RunStore(j.run_dir).n_cycles() == TINY["cycles"] + 1 for j in jobs)


@pytest.mark.slow
def test_dask_backend_starts_its_own_local_cluster_from_the_command_line(tmp_path, capsys):
    pytest.importorskip("dask.distributed")
    code = main(["sweep", "--datasets", "moons", "--strategies", "random", "--seeds", "0-1", "--out", str(tmp_path),
                 "--backend", "dask", "--jobs", "1", *TINY_FLAGS])
    assert code == 0
    assert "2 complete" in capsys.readouterr().out


@pytest.mark.slow
def test_ray_local_cluster_runs_a_small_sweep(tmp_path):
    pytest.importorskip("ray")
    jobs = tiny_jobs(tmp_path, strategies_=("random",))
    results = run_sweep(jobs, backend="ray")
    assert {r["status"] for r in results} == {"complete"}, results
    assert all(RunStore(j.run_dir).n_cycles() == TINY["cycles"] + 1 for j in jobs)


def test_unknown_backend_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="backend"):
        run_sweep(tiny_jobs(tmp_path), backend="spark")
