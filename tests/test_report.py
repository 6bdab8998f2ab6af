"""The sweep report: every cycle as a table, curves as PNG and self-contained HTML, summary and penalty tables."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from alcore import metrics
from alcore.cli import main
from alcore.records import CycleRecord
from alcore.report import collect_cycles, write_report
from alcore.run_group import curve_bands
from alcore.run_lock import RunLock
from alcore.store import RunStore
from alcore.sweep import expand_grid, run_sweep

LABELS = [0, 10, 20, 30, 40]
BASE = {"dataset": "moons", "epochs": 5, "batch_size": 10, "cycles": len(LABELS) - 1}


def fake_run(root, strategy: str, seed: int, accuracies, status_final: bool = True, **config) -> str:
    """A stored run with known accuracies, written through RunStore like a real one."""
    run_id = f"moons-{strategy}-seed{seed}-{config.get('epochs', 5)}"
    store = RunStore(root / run_id)
    with RunLock(store.path):
        store.create({**BASE, **config, "strategy": strategy, "seed": seed},
                     {"dataset": {"name": "moons", "n_samples": 1000}})
        for cycle, (n, acc) in enumerate(zip(LABELS, accuracies)):
            final = status_final and cycle == len(LABELS) - 1
            store.append(CycleRecord(cycle=cycle, n_labeled=n, strategy=strategy, is_final=final,
                                     test_accuracy=acc, test_loss=1.0 - acc, selected=np.arange(0 if final else 10),
                                     batch_size=0 if final else 10))
    return run_id


@pytest.fixture
def sweep_root(tmp_path):
    """random climbs 0.5 -> 0.9; entropy is 0.05 better at every point after the first, on each of 3 seeds."""
    for seed in range(3):
        base = np.array([0.5, 0.6, 0.7, 0.8, 0.9]) + 0.01 * seed
        fake_run(tmp_path, "random", seed, base)
        fake_run(tmp_path, "entropy", seed, base + np.array([0, 0.05, 0.05, 0.05, 0.05]))
    return tmp_path


def test_cycle_table_has_a_row_per_cycle_of_every_run_with_its_job(sweep_root):
    df = collect_cycles(sweep_root)
    assert len(df) == 6 * len(LABELS)
    assert set(df["strategy"]) == {"random", "entropy"} and set(df["seed"]) == {0, 1, 2}
    assert set(df["status"]) == {"complete"} and set(df["dataset"]) == {"moons"}
    one = df[(df["strategy"] == "entropy") & (df["seed"] == 1)]
    assert one["n_labeled"].tolist() == LABELS
    assert one["batch_size"].tolist() == [10, 10, 10, 10, 0]  # labels bought in each cycle


def test_report_writes_every_file_and_the_numbers_of_alcore_metrics(sweep_root):
    paths = write_report(sweep_root)
    out = sweep_root / "report"
    assert set(paths) == {"cycles.csv", "cycles.parquet", "curves.png", "curves.html", "summary.csv",
                          "penalty.csv", "winloss.csv", "report.md"}  # no target set, no batch factors: no more
    assert all(p.parent == out and p.stat().st_size > 0 for p in paths.values())
    wins = pd.read_csv(paths["winloss.csv"]).set_index("strategy")
    assert list(wins.index) == ["entropy"] and wins.loc["entropy", "metric"] == "test_accuracy"
    assert (wins.loc["entropy", "final_wins"], wins.loc["entropy", "area_wins"]) == (3, 3)  # 0.05 better, each seed
    assert wins.loc["entropy", "final_diff_mean"] == pytest.approx(0.05)

    cycles = pd.read_csv(paths["cycles.csv"])
    assert len(cycles) == 30 and len(pd.read_parquet(paths["cycles.parquet"])) == 30

    summary = pd.read_csv(paths["summary.csv"]).set_index("strategy")
    want = metrics.summary_table(collect_cycles(sweep_root))
    assert summary.loc["entropy", "aulc_mean"] == pytest.approx(want.loc["entropy", "aulc_mean"])
    assert summary.loc["entropy", "aulc_mean"] > summary.loc["random", "aulc_mean"]
    assert summary.loc["entropy", "label_savings_mean"] > 0 and summary.loc["random", "label_savings_mean"] == 0

    penalty = pd.read_csv(paths["penalty.csv"])
    moons = penalty[penalty["dataset"] == "moons"].set_index("winner")
    assert moons.loc["entropy", "random"] == pytest.approx(1.0)  # a significant win at every checkpoint
    assert moons.loc["random", "entropy"] == 0.0
    assert set(penalty["dataset"]) == {"moons", "all"}

    assert paths["curves.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = paths["curves.html"].read_text()
    assert not re.search(r"<script[^>]*\bsrc=", page)  # self-contained: plotly.js inlined, nothing fetched
    assert page.count("Plotly.newPlot") >= 1 and len(page) > 1_000_000
    md = paths["report.md"].read_text()
    for name in ("cycles.csv", "curves.png", "curves.html", "summary.csv", "penalty.csv"):
        assert f"({name})" in md
    assert "6 runs" in md and "6 complete" in md
    assert "map.gif not written: run moons-entropy-seed0-5 has no map to animate" in md  # said, not raised


def test_bands_are_t_intervals_over_seeds_clipped_to_fractions(sweep_root):
    bands = curve_bands(collect_cycles(sweep_root))
    row = bands[(bands["strategy"] == "random") & (bands["n_labeled"] == 20)].iloc[0]
    mean, half = metrics.mean_ci([0.7, 0.71, 0.72])
    assert row["mean"] == pytest.approx(mean) and row["hi"] - row["mean"] == pytest.approx(half)
    assert row["n_seeds"] == 3
    assert (bands["lo"] >= 0).all() and (bands["hi"] <= 1).all()


def test_incomplete_runs_are_listed_but_kept_out_of_the_numbers(sweep_root):
    fake_run(sweep_root, "margin", 0, [0.1, 0.1, 0.1, 0.1, 0.1], status_final=False)
    with RunLock(sweep_root / "moons-margin-seed0-5"):
        RunStore(sweep_root / "moons-margin-seed0-5").update(status="running")
    paths = write_report(sweep_root)
    assert "margin" in set(pd.read_csv(paths["cycles.csv"])["strategy"])
    assert "margin" not in set(pd.read_csv(paths["summary.csv"])["strategy"])
    assert "1 running" in paths["report.md"].read_text()


def test_runs_with_other_settings_are_never_averaged_together(sweep_root):
    fake_run(sweep_root, "random", 0, [0.2, 0.2, 0.2, 0.2, 0.2], epochs=50)
    df = collect_cycles(sweep_root)
    assert df["strategy"].nunique() == 3
    odd = df[df["run_id"] == "moons-random-seed0-50"]["strategy"].iloc[0]
    assert odd.startswith("random [") and odd != "random"


def test_failures_of_the_sweep_are_listed_in_the_report(sweep_root):
    (sweep_root / "failures.json").write_text(json.dumps(
        {"failures": {"iris-random-seed0-abc": {"error": "ConfigError: the budget is larger than the pool"}}}))
    md = write_report(sweep_root)["report.md"].read_text()
    assert "1 failed job" in md and "iris-random-seed0-abc" in md and "budget" in md


def test_a_root_without_runs_still_gets_a_report(tmp_path):
    paths = write_report(tmp_path)
    assert pd.read_csv(paths["cycles.csv"]).empty
    assert "No complete runs" in paths["curves.html"].read_text()


def test_report_command_prints_where_the_files_are(sweep_root, tmp_path, capsys):
    out = tmp_path / "elsewhere"
    assert main(["report", str(sweep_root), "--out", str(out), "--x-percent", "80"]) == 0
    printed = capsys.readouterr().out
    assert f"summary.csv: {out / 'summary.csv'}" in printed
    assert "labels-to-80%" in (out / "report.md").read_text()
    assert main(["report", str(tmp_path / "missing")]) == 2


def test_report_of_a_real_sweep(tmp_path):
    config = dict(dataset_options={"n_samples": 200}, model_options={"hidden": [16], "dropout": 0.0},
                  batch_size=10, cycles=2, epochs=5, display_size=40, device="cpu")
    jobs, _ = expand_grid(config, ["moons"], ["random", "entropy"], [0, 1], tmp_path)
    assert {r["status"] for r in run_sweep(jobs, n_jobs=1)} == {"complete"}
    paths = write_report(tmp_path)
    cycles = pd.read_csv(paths["cycles.csv"])
    assert len(cycles) == 4 * 3 and set(cycles["n_labeled"]) == {0, 10, 20}
    assert set(pd.read_csv(paths["summary.csv"])["strategy"]) == {"random", "entropy"}


def test_html_uses_the_apps_learning_curve_figure_when_there_is_one(sweep_root, monkeypatch):
    import sys
    import types

    import plotly.graph_objects as go

    seen = []

    def learning_curve_figure(df, metric="test_accuracy"):
        seen.append((set(df["strategy"]), metric))
        return go.Figure(layout_title_text="from alcore.viz.figures")

    fake = types.ModuleType("alcore.viz.figures")
    fake.learning_curve_figure = learning_curve_figure
    monkeypatch.setitem(sys.modules, "alcore.viz.figures", fake)
    page = write_report(sweep_root, metric="test_loss")["curves.html"].read_text()
    assert seen == [({"random", "entropy"}, "test_loss")]
    assert "Plotly.newPlot" in page
