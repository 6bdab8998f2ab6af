"""Paired wins against a baseline, seed by seed: the seed's-experiment table (docs/methods.md#learning-curve-summaries).

The same seed gives every strategy of a group the same split, initial model and initial labels
(``alcore.run_group``), so a strategy's run and the baseline's run of one seed differ only by the strategy. For each
strategy and seed the table compares two numbers of ``metric`` with the baseline's: the final value (the last cycle)
and the normalised area under the curve against labels used (``metrics.aulc``, over the range both runs span). A win
is a strictly better value: lower for a loss such as ``target_loss``, higher for R² or accuracy (``alcore.task``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from alcore import metrics
from alcore.task import higher_is_better, metric_label

COLUMNS = ["dataset", "strategy", "metric", "seeds", "final_wins", "area_wins", "final_diff_mean", "area_diff_mean"]


def run_numbers(run: pd.DataFrame, metric: str, n_lo: float | None = None,
                n_hi: float | None = None) -> tuple[float, float]:
    """(final value, normalised area under the curve over ``[n_lo, n_hi]``) of one run's cycles."""
    ok = run[np.isfinite(pd.to_numeric(run[metric], errors="coerce"))].sort_values("n_labeled")
    if ok.empty:
        return float("nan"), float("nan")
    n, v = ok["n_labeled"].to_numpy(float), ok[metric].to_numpy(float)
    return float(v[-1]), metrics.aulc(n, v, n_lo, n_hi)


def paired_table(df: pd.DataFrame, metric: str = "target_loss", baseline: str = "random") -> pd.DataFrame:
    """Per dataset and strategy (the baseline itself left out): on how many paired ``seeds`` its final value
    (``final_wins``) and its area under the curve (``area_wins``) beat the baseline's for the same seed, and the mean
    difference strategy minus baseline of each (``final_diff_mean``, ``area_diff_mean``, in the metric's units).
    ``df``: ``run_group.cycle_frame`` rows of complete runs. Empty when the baseline has no run."""
    better = np.greater if higher_is_better(metric) else np.less
    rows = []
    for dataset, group in df.groupby("dataset", sort=True):
        runs = {key: run for key, run in group.groupby(["strategy", "seed"], sort=True)}
        base = {seed: run for (strategy, seed), run in runs.items() if strategy == baseline}
        for strategy in sorted({s for s, _ in runs} - {baseline}):
            diffs = []
            for seed in sorted(s for (name, s) in runs if name == strategy and s in base):
                mine, theirs = runs[(strategy, seed)], base[seed]
                lo = max(mine["n_labeled"].min(), theirs["n_labeled"].min())
                hi = min(mine["n_labeled"].max(), theirs["n_labeled"].max())
                diffs.append(np.subtract(run_numbers(mine, metric, lo, hi), run_numbers(theirs, metric, lo, hi)))
            if not diffs:
                continue
            d = np.array(diffs)  # seeds x (final, area): strategy minus baseline
            wins = better(d, 0.0).sum(axis=0)
            rows.append({"dataset": dataset, "strategy": strategy, "metric": metric, "seeds": len(d),
                         "final_wins": int(wins[0]), "area_wins": int(wins[1]),
                         "final_diff_mean": float(d[:, 0].mean()), "area_diff_mean": float(d[:, 1].mean())})
    return pd.DataFrame(rows, columns=COLUMNS)


def describe(table: pd.DataFrame, baseline: str = "random") -> list[str]:
    """One line per row: ``"alignment: final target loss below random on 2/3 seeds, area on 1/3 (mean difference
    +0.031, -0.004)"``."""
    lines = []
    for row in table.itertuples(index=False):
        word = "above" if higher_is_better(row.metric) else "below"
        name = metric_label(row.metric)
        lines.append(f"{row.dataset}/{row.strategy}: final {name} {word} {baseline}'s on {row.final_wins}/{row.seeds} "
                     f"seeds, area under the curve on {row.area_wins}/{row.seeds} (mean difference "
                     f"{row.final_diff_mean:+.4f} final, {row.area_diff_mean:+.4f} area)")
    return lines
