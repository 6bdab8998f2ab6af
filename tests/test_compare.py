"""Comparisons (alcore.compare): configs per strategy x seed, the group manifest, and the group's summary
(alcore.run_group.summarize)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from alcore import compare, run_group
from alcore.config import ConfigError
from alcore.jobs import JobRegistry
from alcore.store import RunStore

from conftest import make_fast_config

RUN_ID = re.compile(r"^[A-Za-z0-9._-]{1,200}$")  # what pages/ui/runs.run_dir_for accepts


def run_comparison(root: Path, strategies, seeds, **overrides) -> compare.Comparison:
    """Create a comparison of fast moons runs and run it to the end in the background worker."""
    base = make_fast_config(cycles=2, batch_size=5, **overrides)
    comparison = compare.create_comparison(root, base, strategies, seeds)
    job = JobRegistry().start_group(*compare.job_arguments(comparison), job_id=comparison.group_id)
    assert job.wait(120), "the comparison did not finish"
    assert job.status == "done", job.error
    return comparison


def test_one_config_per_strategy_and_seed_strategy_major() -> None:
    configs = compare.comparison_configs(make_fast_config(), ["random", "entropy"], [0, 1, 2])
    assert [(c.strategy, c.seed) for c in configs] == [(s, k) for s in ("random", "entropy") for k in (0, 1, 2)]
    assert {c.dataset for c in configs} == {"moons"} and {c.epochs for c in configs} == {5}


def test_target_aware_strategy_gives_every_run_the_same_target_set() -> None:
    configs = compare.comparison_configs(make_fast_config(), ["alignment", "random"], [0])
    assert {c.target_size for c in configs} == {compare.DEFAULT_TARGET_SIZE}
    kept = compare.comparison_configs(make_fast_config(target_size=30), ["random", "entropy"], [0])
    assert {c.target_size for c in kept} == {30}
    plain = compare.comparison_configs(make_fast_config(), ["random", "entropy"], [0])
    assert {c.target_size for c in plain} == {0}


def test_base_strategy_options_apply_to_that_strategy_only() -> None:
    base = make_fast_config(strategy="badge", strategy_options={"bias": True})
    configs = compare.comparison_configs(base, ["badge", "random"], [0])
    assert configs[0].strategy_options == {"bias": True} and configs[1].strategy_options == {}


@pytest.mark.parametrize("strategies, seeds, field", [
    ([], [0], "strategies"), (["nope"], [0], "strategy"), (["random", "random"], [0], "strategies"),
    (["random"], [], "seeds"), (["random"], [0, 0], "seeds"), (["random"], [-1], "seeds"),
])
def test_bad_strategies_or_seeds_are_config_errors_naming_the_field(strategies, seeds, field) -> None:
    with pytest.raises(ConfigError, match=field):
        compare.comparison_configs(make_fast_config(), strategies, seeds)


def test_run_folders_are_plain_run_ids_that_name_their_group(tmp_path: Path) -> None:
    group = compare.comparison_group(make_fast_config(), ["random", "least_confidence"], [0, 1], group_id="cmp-x")
    dirs = [run.run_dir for run in group.runs(tmp_path)]
    assert len(set(dirs)) == 4 and all(d.parent == tmp_path for d in dirs)
    assert all(RUN_ID.match(d.name) and d.name.startswith("cmp-x.") for d in dirs)


def test_the_group_manifest_survives_a_restart(tmp_path: Path) -> None:
    made = compare.create_comparison(tmp_path, make_fast_config(), ["random", "entropy"], [0, 1], title="t")
    again = compare.load_comparison(tmp_path, made.group_id)
    assert again.to_dict() == made.to_dict()
    assert [c.to_dict() for c in again.configs()] == [c.to_dict() for c in made.configs()]
    assert [c.group_id for c in compare.list_comparisons(tmp_path)] == [made.group_id]
    with pytest.raises(FileNotFoundError):
        compare.load_comparison(tmp_path, "../elsewhere")
    table = again.progress()
    assert list(table["status"]) == ["pending"] * 4 and not again.is_finished()


def test_two_strategies_two_seeds_fill_the_summary_and_penalty_tables(tmp_path: Path) -> None:
    comparison = run_comparison(tmp_path, ["random", "entropy"], [0, 1])
    assert comparison.is_finished()
    df = run_group.cycle_frame(comparison.run_dirs)
    assert len(df) == 4 * 3 and set(df["strategy"]) == {"random", "entropy"} and set(df["seed"]) == {0, 1}
    assert (df["status"] == "complete").all() and {"dataset", "n_labeled", "test_accuracy"} <= set(df.columns)
    tables = run_group.summarize(df)
    summary, penalty = tables["summary"], tables["penalty"]
    assert list(summary.index) == ["random", "entropy"] and (summary["n_seeds"] == 2).all()
    assert summary["aulc_mean"].between(0, 1).all()
    assert list(penalty.index) == list(penalty.columns) == ["random", "entropy"]
    assert np.all(np.diag(penalty.to_numpy()) == 0) and tables["runs"] == 4


def test_seeds_are_paired_across_strategies(tmp_path: Path) -> None:
    comparison = run_comparison(tmp_path, ["random", "entropy"], [0, 1], initial_labels=10)
    first = {(c.strategy, c.seed): RunStore(d).load_records()[0] for d, c in zip(comparison.run_dirs,
                                                                                 comparison.configs())}
    for seed in (0, 1):  # same seed: same initial labels and the same model before any strategy acted
        a, b = first[("random", seed)], first[("entropy", seed)]
        assert np.array_equal(a.labeled_idx, b.labeled_idx) and a.test_accuracy == b.test_accuracy
    assert not np.array_equal(first[("random", 0)].labeled_idx, first[("random", 1)].labeled_idx)


def test_a_rerun_resumes_finished_runs_without_recomputing(tmp_path: Path) -> None:
    comparison = run_comparison(tmp_path, ["random"], [0])
    dirs, configs = compare.job_arguments(comparison)
    assert configs == [None]  # on disk: the worker resumes it (a finished run does nothing)
    job = JobRegistry().start_group(dirs, configs, job_id="again")
    assert job.wait(60) and job.status == "done" and job.cycles_done == 0


def test_tables_explain_what_is_missing_while_runs_are_in_progress(tmp_path: Path) -> None:
    assert run_group.summarize(run_group.cycle_frame([]))["notes"]
    comparison = run_comparison(tmp_path, ["entropy"], [0])
    df = run_group.cycle_frame(comparison.run_dirs)
    tables = run_group.summarize(df.assign(status="running"))
    assert tables["summary"].empty and any("complete" in n for n in tables["notes"])
    single = run_group.summarize(df)
    assert any("random" in n for n in single["notes"]) and any("2 strategies" in n for n in single["notes"])
