"""A sweep's summary: every cycle of every run as a table, learning curves with bands, the AULC / labels-to-X% /
label-savings table and the pairwise penalty matrix (docs/methods.md#learning-curve-summaries), written next to the
runs.

``python -m alcore report runs/sweep1`` writes into ``runs/sweep1/report/``:

    cycles.csv, cycles.parquet   one row per cycle of every run (incomplete and failed runs included, with status)
    curves.png                   mean learning curve per strategy, 95% t-band over seeds, one panel per dataset
    curves.html                  the same as interactive plotly figures, self-contained (plotly.js inlined)
    summary.csv                  per dataset and strategy: AULC, final value, labels to X%, label savings
    penalty.csv                  per dataset, and summed over datasets: winner rows x loser columns
    report.md                    what was summarised, and where each file is

Each dataset's runs are a group (``alcore.run_group``): its ``summarize`` and ``curve_bands`` give the numbers, with
``alcore.metrics``'s formulas; only complete runs enter them, so that every curve spans the same budget. Without
``metric``, each dataset is summarised by its task's primary metric (test accuracy, or R² for regression,
docs/tasks.md#regression).
"""
from __future__ import annotations

import html
import inspect
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alcore.run_group import curve_bands, cycle_frame, group_metric, summarize
from alcore.store import list_runs
from alcore.sweep.failures import read_failures
from alcore.task import metric_label

REPORT_DIR = "report"
KEYS = ["dataset", "strategy", "seed", "run_id", "status"]


# --- the table ----------------------------------------------------------------------------------------------------

def collect_cycles(root: str | Path) -> pd.DataFrame:
    """One row per stored cycle of every run under ``root`` (``run_group.cycle_frame``), sorted by dataset, strategy,
    seed and cycle; ``strategy_name`` is the run's strategy.

    When runs of one dataset differ in other settings (two sweeps with different epochs into one root), the
    ``strategy`` label carries the settings hash, ``"entropy [1a2b3c4d]"``, so that unlike runs are never averaged.
    """
    df = cycle_frame(manifest["path"] for manifest in list_runs(root))
    if df.empty:
        return pd.DataFrame(columns=KEYS + ["cycle", "n_labeled"])
    df.insert(2, "strategy_name", df["strategy"])
    variants = df.groupby("dataset")["settings_hash"].transform("nunique")
    df["strategy"] = np.where(variants > 1, df["strategy_name"] + " [" + df["settings_hash"] + "]",
                              df["strategy_name"])
    return df.sort_values(["dataset", "strategy", "seed", "cycle"], kind="stable").reset_index(drop=True)


def complete_runs(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs that reached their final cycle."""
    return df[df["status"] == "complete"] if len(df) else df


# --- numbers ------------------------------------------------------------------------------------------------------

def dataset_summaries(df: pd.DataFrame, metric: str | None = None, x_percent: float = 90.0,
                      baseline: str = "random") -> tuple[pd.DataFrame, dict[str, pd.DataFrame], list[str]]:
    """``run_group.summarize`` per dataset: the summary tables stacked with a ``dataset`` column; the penalty
    matrices by dataset plus ``"all"``, their sum over datasets (BADGE, Sec. 4, sums over experiments, so a cell of
    ``"all"`` is at most the number of datasets); and lines saying what the labels-to-X% target and the checkpoints
    were, or why a number is missing."""
    tables, matrices, summary_notes, penalty_notes = [], {}, [], []
    for dataset, runs in df.groupby("dataset", sort=True):
        used = metric or group_metric(runs)
        found = summarize(runs, x_percent=x_percent, metric=used, baseline=baseline)
        table, matrix = found["summary"], found["penalty"]
        if len(table):
            a = table.attrs
            summary_notes.append(f"{dataset}: {used} summarised; AULC over {a['n_lo']:g}..{a['n_hi']:g} labels; "
                                 f"labels-to-{x_percent:g}% target {used} = {a['target_value']:.4f} ({x_percent:g}% "
                                 f"of {a['reference']} {a['reference_value']:.4f})")
            tables.append(table.reset_index().assign(dataset=dataset, metric=used))
        summary_notes += [f"{dataset}: {note}" for note in found["notes"]]
        if len(matrix):
            matrices[str(dataset)] = matrix
            checkpoints = ", ".join(f"{c:g}" for c in matrix.attrs.get("checkpoints", []))
            penalty_notes.append(f"{dataset}: checkpoints at {checkpoints or 'none'} labels")
    if matrices:
        names = sorted({n for m in matrices.values() for n in m.index})
        total = sum(m.reindex(index=names, columns=names, fill_value=0.0) for m in matrices.values())
        total.index.name, total.columns.name = "winner", "loser"
        matrices["all"] = total
    summary = pd.DataFrame()
    if tables:
        summary = pd.concat(tables, ignore_index=True)
        summary = summary[["dataset", *[c for c in summary.columns if c != "dataset"]]]
    return summary, matrices, summary_notes + penalty_notes


def penalty_long(matrices: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The matrices as one CSV-ready table: ``dataset, winner, <loser columns>``."""
    frames = [m.reset_index().assign(dataset=name) for name, m in matrices.items()]
    if not frames:
        return pd.DataFrame(columns=["dataset", "winner"])
    out = pd.concat(frames, ignore_index=True)
    return out[["dataset", "winner", *[c for c in out.columns if c not in ("dataset", "winner")]]]


# --- figures ------------------------------------------------------------------------------------------------------

def curves_png(df: pd.DataFrame, path: str | Path, metric: str | None = None) -> Path:
    """Learning curves with 95% bands, one panel per dataset (matplotlib, Agg: no display needed); ``metric``
    (default: each dataset's primary metric)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {d: g for d, g in df.groupby("dataset", sort=True)} if len(df) else {}
    used = {d: metric or group_metric(g) for d, g in groups.items()}
    bands = pd.concat([curve_bands(g, used[d]) for d, g in groups.items()], ignore_index=True) if groups \
        else curve_bands(df, metric or "test_accuracy")
    datasets = sorted(bands["dataset"].unique()) or ["(no complete runs)"]
    ncols = min(3, len(datasets))
    nrows = math.ceil(len(datasets) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.8 * nrows), squeeze=False)
    colours = _colours(sorted(bands["strategy"].unique()))
    for ax, dataset in zip(axes.flat, datasets):
        label = metric_label(used.get(dataset, metric or "test_accuracy"))
        for strategy, curve in bands[bands["dataset"] == dataset].groupby("strategy", sort=True):
            curve = curve.sort_values("n_labeled")
            n_seeds = int(curve["n_seeds"].max())
            ax.plot(curve["n_labeled"], curve["mean"], marker="o", ms=3, color=colours[strategy],
                    label=f"{strategy} ({n_seeds} seed{'s' if n_seeds != 1 else ''})")
            ax.fill_between(curve["n_labeled"], curve["lo"], curve["hi"], color=colours[strategy], alpha=0.2,
                            linewidth=0)
        ax.set_title(str(dataset))
        ax.set_xlabel("labels used")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(datasets):]:
        ax.set_visible(False)
    shown = sorted({metric_label(m) for m in used.values()}) or [metric_label(metric or "test_accuracy")]
    fig.suptitle(f"{', '.join(shown)}: mean over seeds, 95% t-band")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def curve_figure(df: pd.DataFrame, metric: str | None = None):
    """The plotly learning-curve figure of one dataset's runs: ``alcore.viz.figures.learning_curve_figure`` when
    it is there, else mean lines with 95% bands drawn here. ``metric``: default the runs' primary metric."""
    metric = metric or group_metric(df)
    try:
        from alcore.viz.figures import learning_curve_figure
    except ImportError:
        learning_curve_figure = None
    if learning_curve_figure is not None:
        params = inspect.signature(learning_curve_figure).parameters
        return learning_curve_figure(df, metric=metric) if "metric" in params else learning_curve_figure(df)
    return _band_figure(df, metric)


def _band_figure(df: pd.DataFrame, metric: str):
    import plotly.graph_objects as go

    bands = curve_bands(df, metric)
    colours = _colours(sorted(bands["strategy"].unique()))
    fig = go.Figure()
    for strategy, curve in bands.groupby("strategy", sort=True):
        curve = curve.sort_values("n_labeled")
        rgb = tuple(int(255 * c) for c in colours[strategy][:3])
        ok = curve["lo"].notna()
        if ok.any():
            x = list(curve["n_labeled"][ok]) + list(curve["n_labeled"][ok])[::-1]
            y = list(curve["hi"][ok]) + list(curve["lo"][ok])[::-1]
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", fill="toself", fillcolor=f"rgba{rgb + (0.2,)}",
                                     line_width=0, hoverinfo="skip", showlegend=False, legendgroup=strategy))
        fig.add_trace(go.Scatter(x=curve["n_labeled"], y=curve["mean"], mode="lines+markers", name=strategy,
                                 legendgroup=strategy, line_color=f"rgb{rgb}",
                                 customdata=np.stack([curve["lo"], curve["hi"], curve["n_seeds"]], axis=1),
                                 hovertemplate="%{y:.4f} [%{customdata[0]:.4f}, %{customdata[1]:.4f}] "
                                               "over %{customdata[2]} seeds<extra>" + html.escape(strategy)
                                               + "</extra>"))
    fig.update_layout(xaxis_title="labels used", yaxis_title=metric_label(metric), template="plotly_white",
                      height=420, margin=dict(l=60, r=20, t=40, b=50))
    return fig


def curves_html(df: pd.DataFrame, path: str | Path, metric: str | None = None,
                summary: pd.DataFrame | None = None, penalty: dict[str, pd.DataFrame] | None = None,
                title: str = "Sweep report") -> Path:
    """One self-contained page: plotly.js inlined once, a figure per dataset, then the tables."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    first = True
    for dataset, group in df.groupby("dataset", sort=True):
        used = metric or group_metric(group)
        fig = curve_figure(group, used)
        fig.update_layout(title=f"{dataset}: {metric_label(used)} (mean over seeds, 95% band)")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=True if first else False))
        first = False
    if first:
        parts.append("<p>No complete runs to plot.</p>")
    if summary is not None and len(summary):
        parts += ["<h2>Summary</h2>", summary.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="")]
    for name, matrix in (penalty or {}).items():
        parts += [f"<h2>Penalty matrix: {html.escape(name)}</h2>",
                  "<p>Rows win against columns; a cell is the fraction of checkpoints with a significant win.</p>",
                  matrix.to_html(float_format=lambda v: f"{v:.3g}")]
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
            "</style></head><body>" + "\n".join(parts) + "</body></html>")
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


def _colours(names: list[str]) -> dict[str, tuple[float, ...]]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


# --- the report ---------------------------------------------------------------------------------------------------

def write_report(root: str | Path, out: str | Path | None = None, metric: str | None = None,
                 x_percent: float = 90.0, baseline: str = "random") -> dict[str, Path]:
    """Write every output of the report into ``out`` (default ``<root>/report``); return ``{name: path}``.
    ``metric``: the per-cycle column summarised (default: each dataset's primary metric, accuracy or R²)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no sweep at {root}")
    out = Path(out) if out is not None else root / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    df = collect_cycles(root)
    if len(df) and metric is not None and metric not in df.columns:
        raise ValueError(f"metric {metric!r} is not a column of the cycle table; choose one of "
                         f"{[c for c in df.columns if df[c].dtype.kind == 'f']}")
    paths = {"cycles.csv": out / "cycles.csv", "cycles.parquet": out / "cycles.parquet"}
    df.to_csv(paths["cycles.csv"], index=False)
    df.to_parquet(paths["cycles.parquet"], index=False)

    done = complete_runs(df)
    summary, penalty, notes = dataset_summaries(done, metric, x_percent, baseline) if len(done) \
        else (pd.DataFrame(), {}, [])
    paths["summary.csv"] = out / "summary.csv"
    summary.to_csv(paths["summary.csv"], index=False)
    paths["penalty.csv"] = out / "penalty.csv"
    penalty_long(penalty).to_csv(paths["penalty.csv"], index=False)
    paths["curves.png"] = curves_png(done, out / "curves.png", metric)
    paths["curves.html"] = curves_html(done, out / "curves.html", metric, summary, penalty,
                                       title=f"Sweep report: {root.name}")
    paths["report.md"] = out / "report.md"
    paths["report.md"].write_text(_markdown(root, out, df, summary, penalty, notes, metric, x_percent, baseline))
    return paths


def _markdown(root: Path, out: Path, df: pd.DataFrame, summary: pd.DataFrame, penalty: dict[str, pd.DataFrame],
              notes: list[str], metric: str, x_percent: float, baseline: str) -> str:
    runs = df.drop_duplicates("run_id") if len(df) else df
    status = runs["status"].value_counts().to_dict() if len(runs) else {}
    failures = read_failures(root)
    what = (f"the metric is `{metric}`" if metric
            else "each dataset's metric is its task's primary one (column `metric`)")
    lines = [f"# Sweep report: {root.name}", "",
             f"{len(runs)} runs with stored cycles under `{root}`: "
             + (", ".join(f"{v} {k}" for k, v in sorted(status.items())) or "none") + ". "
             f"Only complete runs enter the curves and tables; {what}, labels-to-{x_percent:g}% "
             f"and label savings are measured against `{baseline}`.", ""]
    if failures:
        done_jobs = set()
        if len(runs):
            complete = runs[runs["status"] == "complete"]
            done_jobs = set(zip(complete["dataset"], complete["strategy_name"], complete["seed"]))
        superseded = {r for r, f in failures.items()
                      if (f.get("dataset"), f.get("strategy"), f.get("seed")) in done_jobs}
        lines += [f"**{len(failures)} failed job(s)** (from `failures.json`)"
                  + (f"; {len(superseded)} of them have since completed with other settings" if superseded else "")
                  + ":", ""]
        by_error: dict[str, list[str]] = {}
        for run_id, f in sorted(failures.items()):
            error = str(f.get("error") or "?").splitlines()[0]
            by_error.setdefault(error, []).append(run_id + (" (superseded)" if run_id in superseded else ""))
        for error, ids in by_error.items():
            shown = ", ".join(f"`{i}`" for i in ids[:4]) + (f" and {len(ids) - 4} more" if len(ids) > 4 else "")
            lines.append(f"- {error}: {len(ids)} job(s): {shown}")
        lines.append("")
    if len(df) and (df["strategy"] != df["strategy_name"]).any():
        lines += ["Runs of one dataset differ in settings other than strategy and seed; their strategy labels carry "
                  "the settings hash in brackets, and unlike runs are never averaged.", ""]
    lines += ["## Files", ""]
    described = {"cycles.csv": "every cycle of every run (also `cycles.parquet`)",
                 "curves.png": "learning curves, mean over seeds with 95% t-bands",
                 "curves.html": "the same curves, interactive, self-contained (open in any browser, offline)",
                 "summary.csv": "AULC, final value, labels to X%, label savings per dataset and strategy "
                                "(mean and 95% half-width over seeds)",
                 "penalty.csv": "pairwise penalty matrices per dataset and summed (`all`): rows win against columns"}
    lines += [f"- [`{name}`]({name}): {text}" for name, text in described.items()]
    lines += ["", "![learning curves](curves.png)", ""]
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    if len(summary):
        lines += ["## Summary", "", _md_table(summary), ""]
    for name, matrix in penalty.items():
        lines += [f"## Penalty matrix: {name}", "", _md_table(matrix.reset_index()), ""]
    return "\n".join(lines)


def _md_table(frame: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if not np.isfinite(v) else f"{v:.4g}"
        return str(v).replace("|", "\\|")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])
