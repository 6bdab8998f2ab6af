"""The seed's experiment in one command: its preset, ``sweep --preset``, and the report's plots and win/loss table."""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest

from alcore import presets, win_loss
from alcore.cli import main
from alcore.cli import sweep as sweep_cli
from alcore.data import load
from alcore.report import gif_run
from alcore.store import RunStore

#: The preset shrunk to a smoke test: 2 seeds, 2 cycles of 5 on 300 stories, a small network.
SMOKE = ["--seeds", "0-1", "--cycles", "2", "--batch-size", "5", "--epochs", "3", "--target-size", "30",
         "--set", 'dataset_options={"n_samples": 300}', "--set", 'model_options={"hidden": [8], "dropout": 0.1}',
         "--set", "display_size=100", "--jobs", "1"]


def planned(*argv: str):
    parser = argparse.ArgumentParser()
    sweep_cli.add_args(parser)
    return sweep_cli.plan_from_args(parser.parse_args(list(argv)))


def test_the_seed_experiment_is_rated_stories_from_an_untrained_network_on_several_seeds() -> None:
    preset = presets.load_preset("seed-experiment")
    assert set(preset["strategies"]) == {"badge", "alignment", "less", "random"} and len(preset["seeds"]) == 3
    assert preset["page"] == "compare"  # offered among the Compare page's demos
    for config in preset["configs"]:
        assert config.dataset == "rated_stories" and config.cold_start_strategy == "self"
        assert config.initial_labels == 0 and config.target_size > 0
    ds = load("rated_stories", **preset["configs"][0].dataset_options)
    assert ds.target_name == "rating_llm"  # the pool rated by one rater ...
    assert not np.allclose(ds.target_y, ds.y)  # ... the target set by the other


def test_sweep_preset_plans_the_presets_runs_and_flags_beside_it_override_them(tmp_path) -> None:
    jobs, _ = planned("--preset", "seed-experiment", "--out", str(tmp_path))
    preset = presets.load_preset("seed-experiment")
    assert sorted((j.strategy, j.seed) for j in jobs) == sorted((c.strategy, c.seed) for c in preset["configs"])
    for job, config in zip(jobs, preset["configs"]):
        assert {k: v for k, v in job.config.items() if k != "name"} == \
            {k: v for k, v in config.to_dict().items() if k != "name"}

    jobs, _ = planned("--preset", "seed-experiment", "--out", str(tmp_path), "--strategies", "badge,random",
                      "--seeds", "4", "--cycles", "2", "--set", "epochs=3")
    assert [(j.strategy, j.seed) for j in jobs] == [("badge", 4), ("random", 4)]
    assert {(j.config["cycles"], j.config["epochs"], j.config["cold_start_strategy"]) for j in jobs} == \
        {(2, 3, "self")}


@pytest.mark.parametrize("flag", [["--seed", "1"], ["--strategy", "badge"], ["--config", "x.json"]])
def test_sweep_preset_refuses_a_flag_that_would_replace_it(flag, tmp_path, capsys) -> None:
    assert main(["sweep", "--preset", "seed-experiment", "--out", str(tmp_path), *flag]) == 2
    err = capsys.readouterr().err
    assert flag[0] in err and "--preset seed-experiment" in err and "Traceback" not in err


def test_an_unknown_preset_lists_the_available_ones(tmp_path, capsys) -> None:
    assert main(["sweep", "--preset", "no-such-preset", "--out", str(tmp_path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "no-such-preset" in err and all(name in err for name in presets.list_presets())


def frame(rows: list[tuple[str, int, list[float]]], metric: str = "target_loss") -> pd.DataFrame:
    """Cycle rows of complete runs: (strategy, seed, values at 0, 10, 20 labels)."""
    return pd.DataFrame([{"dataset": "d", "strategy": s, "seed": seed, "n_labeled": 10 * i, metric: v,
                          "run_id": f"d-{s}-seed{seed}", "status": "complete"}
                         for s, seed, values in rows for i, v in enumerate(values)])


def test_paired_wins_count_the_seeds_where_a_strategy_beats_the_baseline_on_the_same_seed() -> None:
    df = frame([("random", 0, [1.0, 0.8, 0.6]), ("random", 1, [1.0, 0.5, 0.4]), ("random", 2, [1.0, 0.9, 0.9]),
                ("alignment", 0, [1.0, 0.5, 0.5]),  # better at the end and in area
                ("alignment", 1, [1.0, 0.9, 0.3]),  # better at the end, worse in area
                ("alignment", 2, [1.0, 0.9, 0.9])])  # a tie is no win
    row = win_loss.paired_table(df).set_index("strategy").loc["alignment"]
    assert (row["seeds"], row["final_wins"], row["area_wins"]) == (3, 2, 1)
    assert row["final_diff_mean"] == pytest.approx(((0.5 - 0.6) + (0.3 - 0.4) + 0) / 3)
    area = lambda v: (v[0] + 2 * v[1] + v[2]) / 4  # trapezoids over 0..20, divided by the width  # noqa: E731
    assert row["area_diff_mean"] == pytest.approx(
        (area([1, .5, .5]) - area([1, .8, .6]) + area([1, .9, .3]) - area([1, .5, .4])) / 3)
    # a metric where higher is better counts higher values as wins: the same numbers as R² flip every win
    flipped = win_loss.paired_table(df.rename(columns={"target_loss": "test_r2"}), "test_r2").iloc[0]
    assert (flipped["final_wins"], flipped["area_wins"]) == (0, 1)


def test_the_animated_run_is_the_first_non_baseline_strategy_and_seed_whatever_the_row_order() -> None:
    df = frame([(s, seed, [1.0, 0.5]) for s in ("random", "less", "badge") for seed in (2, 1)])
    for shuffled in (df, df.sample(frac=1.0, random_state=3)):
        run = gif_run(shuffled)
        assert (run["strategy"], run["seed"]) == ("badge", 1)
    assert gif_run(frame([("random", 0, [1.0])]))["strategy"] == "random"


@pytest.fixture(scope="module")
def smoke_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("seed-experiment")
    assert main(["sweep", "--preset", "seed-experiment", "--out", str(root), *SMOKE]) == 0
    return root


def by_hand(root) -> dict[tuple[str, int], tuple[float, float]]:
    """(final target loss, trapezoid area over the labels / width) of every run, straight from its records."""
    out = {}
    for run_dir in root.iterdir():
        store = RunStore(run_dir)
        if not store.exists():
            continue
        records = store.load_records(arrays=False)
        n = np.array([r.n_labeled for r in records], float)
        v = np.array([r.target_loss for r in records], float)
        config = store.manifest()["config"]
        out[(config["strategy"], config["seed"])] = (v[-1], np.trapezoid(v, n) / (n[-1] - n[0]))
    return out


@pytest.mark.slow
def test_the_seed_experiment_report_draws_its_plots_and_counts_wins_as_the_records_do(smoke_sweep, capsys) -> None:
    assert main(["report", str(smoke_sweep)]) == 0
    printed = capsys.readouterr().out
    out = smoke_sweep / "report"
    for name in ("target_loss.png", "diversity.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert (out / "map.gif").read_bytes()[:6] in (b"GIF89a", b"GIF87a")

    table = pd.read_csv(out / "winloss.csv").set_index("strategy")
    assert set(table.index) == {"badge", "alignment", "less"} and set(table["metric"]) == {"target_loss"}
    runs = by_hand(smoke_sweep)
    for strategy, row in table.iterrows():
        pairs = [(runs[(strategy, s)], runs[("random", s)]) for s in (0, 1)]
        assert row["seeds"] == 2
        assert row["final_wins"] == sum(mine[0] < theirs[0] for mine, theirs in pairs)
        assert row["area_wins"] == sum(mine[1] < theirs[1] for mine, theirs in pairs)
        assert row["final_diff_mean"] == pytest.approx(np.mean([m[0] - t[0] for m, t in pairs]))
        assert f"rated_stories/{strategy}: final target loss below random's on {row['final_wins']}/2 seeds" in printed

    report = (out / "report.md").read_text()
    assert "## Win/loss against random" in report and "map.gif animates rated_stories/alignment/seed 0" in report
    assert "accuracy" not in report.lower() and "accuracy" not in printed.lower()  # a regression: its own metrics


def test_both_first_batches_are_chosen_by_the_strategies_themselves_on_one_untrained_network() -> None:
    from alcore.config import ExperimentConfig
    from alcore.teaching.cold_start import SHOWN, cold_start_batches, first_batch

    config = ExperimentConfig(dataset="moons", dataset_options={"n_samples": 300}, batch_size=8, cycles=3,
                              initial_labels=10, display_size=100, epochs=2, device="cpu")
    res = cold_start_batches(config)
    assert res["fallback"] == {"badge": None, "random": None} and res["k"] == 8
    picked = res["frame"]["picked_by"]
    for name in ("badge", "random"):
        record = first_batch(config, name)
        assert record.n_labeled == 0 and record.fallback_reason is None
        assert name == "random" or record.diagnostics["untrained_model"]  # BADGE scored by the seeded weights
        assert picked.isin([name, "both"]).sum() == 8
        assert set(res["frame"].loc[picked.isin([name, "both"]), "index"]) == set(record.selected.tolist())
        assert [res["diversity"].loc[key, name] for key in SHOWN] == \
            pytest.approx([record.diversity[key] for key in SHOWN], nan_ok=True)
    again = cold_start_batches(config)
    assert again["frame"].equals(res["frame"]) and again["verdict"] == res["verdict"]  # same seed, same answer


@pytest.mark.parametrize("badge, random, says", [
    ((2.0, -5.0, 1.0), (3.0, -6.0, 1.0), "not more diverse than random's"),
    ((3.0, -5.0, 1.0), (3.0, -6.0, 1.0), "not more diverse than random's"),  # equal is not more
    ((4.0, -5.0, 2.0), (3.0, -6.0, 1.0), "more diverse than random's: its points are farther apart"),
    ((4.0, -7.0, 2.0), (3.0, -6.0, 1.0), "but not in more directions"),
])
def test_the_verdict_follows_the_numbers(badge, random, says) -> None:
    from alcore.teaching.cold_start import verdict

    index = ["mean_pairwise_distance", "logdet", "mean_gradient_norm", "mean_nearest_labeled"]
    table = pd.DataFrame({"badge": [*badge, 1.0], "random": [*random, 1.0]}, index=index)
    text = verdict(table)
    assert says in text and f"{badge[0]:.3g} against {random[0]:.3g}" in text
    assert ("not more diverse" in text) == (not badge[0] > random[0])
