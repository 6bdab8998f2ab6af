"""A group of runs (alcore.run_group): one definition behind sweeps and comparisons, folder names that stay stable."""
from __future__ import annotations

import pytest

from alcore import compare, run_group
from alcore.config import ConfigError
from alcore.sweep import expand_grid

from conftest import make_fast_config


def test_folder_names_of_runs_made_by_earlier_versions_are_found_again(tmp_path):
    """The run ids below were made by the sweep before the group existed: existing sweep roots must still be
    recognised (skipped when complete, resumed when not), so the naming and the settings hash may never drift."""
    (job,), _ = expand_grid({}, ["moons"], ["random"], [0], tmp_path)
    assert job.run_id == "moons-random-seed0-f402cabb"
    jobs, _ = expand_grid({"epochs": 5, "model_options": {"hidden": [16], "dropout": 0.0}}, ["digits"],
                          ["badge", "alignment"], [3], tmp_path)
    assert [j.run_id for j in jobs] == ["digits-badge-seed3-7dc8a012", "digits-alignment-seed3-7dc8a012"]
    assert run_group.group_run_id("cmp-x", "badge", 3) == "cmp-x.badge.s3"


def test_a_sweep_and_a_comparison_of_one_base_plan_the_same_runs_but_for_their_names(tmp_path):
    base = make_fast_config()
    names, seeds = ["alignment", "random", "entropy"], [0, 2]
    swept, _ = expand_grid(base.to_dict(), [base.dataset], names, seeds, tmp_path)
    compared = compare.comparison_group(base, names, seeds, group_id="cmp-x").runs(tmp_path)
    unnamed = [{k: v for k, v in run.config.items() if k != "name"} for run in swept]
    assert unnamed == [{k: v for k, v in run.config.items() if k != "name"} for run in compared]
    assert [(r.strategy, r.seed) for r in swept] == [(s, k) for s in names for k in seeds]
    assert {r.config["target_size"] for r in swept} == {run_group.DEFAULT_TARGET_SIZE}  # one split for all
    assert len({r.run_dir for r in swept + compared}) == 2 * len(swept)


@pytest.mark.parametrize("strategies, seeds, field", [(["random", "random"], [0], "strategies"),
                                                      (["random"], [1, 1], "seeds")])
def test_a_run_twice_in_one_group_is_a_config_error_in_sweeps_too(tmp_path, strategies, seeds, field):
    with pytest.raises(ConfigError, match=field):
        expand_grid({}, ["moons"], strategies, seeds, tmp_path)


def test_progress_reads_each_runs_status_from_disk(tmp_path):
    from alcore.loop import Experiment

    group = compare.comparison_group(make_fast_config(cycles=1), ["random", "entropy"], [0], group_id="g")
    runs = group.runs(tmp_path)
    Experiment(group.configs()[0], run_dir=runs[0].run_dir).run()
    table = run_group.progress(runs)
    assert list(table["status"]) == ["complete", "pending"]
    assert list(table["cycles_done"]) == [2, 0] and list(table["cycles_total"]) == [2, 2]
    assert not run_group.is_finished(runs) and run_group.is_finished(runs[:1])
    assert not run_group.is_finished([])
