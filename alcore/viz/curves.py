"""Curves over cycles: learning curves with bands over seeds, one run's primary metric (accuracy, or R²) and loss,
diversity per cycle, and one cycle's utility histogram."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from alcore.task import metric_label
from alcore.viz import palette


def _band_traces(fig: go.Figure, x, mean, lower, upper, name: str, color: str, showlegend: bool,
                 row: int | None = None, col: int | None = None) -> None:
    where = {} if row is None else dict(row=row, col=col)
    if lower is not None:
        fig.add_trace(go.Scatter(x=x, y=upper, mode="lines", line=dict(width=0), legendgroup=name,
                                 showlegend=False, hoverinfo="skip"), **where)
        fig.add_trace(go.Scatter(x=x, y=lower, mode="lines", line=dict(width=0), fill="tonexty",
                                 fillcolor=palette.rgba(color, 0.18), legendgroup=name, showlegend=False,
                                 hoverinfo="skip"), **where)
    fig.add_trace(go.Scatter(x=x, y=mean, mode="lines+markers", name=name, legendgroup=name, showlegend=showlegend,
                             line=dict(color=color, width=2), marker=dict(size=5, color=color)), **where)


def _summary(df: pd.DataFrame, x: str, metric: str, band: str | None):
    g = df.groupby(x, sort=True)[metric]
    stats = g.agg(["mean", "min", "max", "std"]).reset_index()
    if band == "minmax":
        return stats[x], stats["mean"], stats["min"], stats["max"]
    if band == "std":
        std = stats["std"].fillna(0.0)
        return stats[x], stats["mean"], stats["mean"] - std, stats["mean"] + std
    return stats[x], stats["mean"], None, None


def _check_band(band):
    if band not in ("minmax", "std", None):
        raise ValueError(f"band={band!r} is not valid; choose 'minmax', 'std' or None")


def learning_curve_figure(
    df: pd.DataFrame, metric: str = "test_accuracy", *, band: str | None = "minmax", x: str = "n_labeled",
    title: str = "", height: int = 420,
) -> go.Figure:
    """``metric`` against labels used: per strategy the mean over seeds and a band (min–max or ±1 std); the legend
    gives each strategy's number of seeds (``strategy (n=3)``).

    ``df``: one row per (strategy, seed, cycle) with columns strategy, seed, ``x`` and ``metric``.
    """
    _check_band(band)
    missing = [c for c in ("strategy", x, metric) if c not in df.columns]
    if missing:
        raise ValueError(f"df is missing columns {missing}")
    fig = go.Figure()
    for strategy in pd.unique(df["strategy"]):
        part = df[df["strategy"] == strategy]
        xs, mean, lower, upper = _summary(part, x, metric, band)
        name = f"{strategy} (n={part['seed'].nunique()})" if "seed" in part else str(strategy)
        _band_traces(fig, xs, mean, lower, upper, name, palette.strategy_color(str(strategy)), True)
    fig.update_layout(
        title=title or None, height=height, template="plotly_white", hovermode="x unified",
        xaxis_title="labels used" if x == "n_labeled" else x, yaxis_title=metric_label(metric),
        legend=dict(title=dict(text="strategy")), margin=dict(l=10, r=10, t=40 if title else 10, b=10),
    )
    return fig


def run_curves_figure(summary: pd.DataFrame, metrics: Sequence[str] = ("test_accuracy", "test_loss"), *,
                      height: int = 360) -> go.Figure:
    """One run's ``metrics`` (test accuracy and test loss; a regression run's R² and loss) against labels used, side
    by side (``CycleRecord.summary()`` rows)."""
    wanted = list(metrics)
    metrics = [m for m in wanted if m in summary.columns]
    if "n_labeled" not in summary.columns or not metrics:
        raise ValueError(f"summary needs n_labeled and {'/'.join(wanted)} columns (CycleRecord.summary())")
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[metric_label(m) for m in metrics],
                        horizontal_spacing=0.12)
    strategies = list(pd.unique(summary["strategy"])) if "strategy" in summary.columns else [""]
    for i, metric in enumerate(metrics):
        for strategy in strategies:
            part = summary[summary["strategy"] == strategy] if "strategy" in summary.columns else summary
            part = part.sort_values("n_labeled")
            color = palette.strategy_color(str(strategy))
            fig.add_trace(go.Scatter(x=part["n_labeled"], y=part[metric], mode="lines+markers", name=str(strategy),
                                     legendgroup=str(strategy), showlegend=(i == 0), line=dict(color=color, width=2),
                                     marker=dict(size=5, color=color)), row=1, col=i + 1)
        fig.update_xaxes(title_text="labels used", row=1, col=i + 1)
    fig.update_layout(height=height, template="plotly_white", margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(title=dict(text="strategy")))
    return fig


def diversity_figure(
    df: pd.DataFrame, metrics: Sequence[str] | None = None, *, x: str | None = None, band: str | None = "minmax",
    height_per_row: int = 230,
) -> go.Figure:
    """One panel per diversity metric (``div_*`` columns by default), a line per strategy over cycles."""
    _check_band(band)
    metrics = list(metrics) if metrics is not None else [c for c in df.columns if str(c).startswith("div_")]
    if not metrics:
        raise ValueError("no diversity metric to plot: pass metrics=[...] or columns named div_*")
    if x is None:
        x = "cycle" if "cycle" in df.columns else "n_labeled"
    ncols = 2 if len(metrics) > 1 else 1
    nrows = math.ceil(len(metrics) / ncols)
    titles = [m[4:].replace("_", " ") if m.startswith("div_") else m for m in metrics]
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=titles, horizontal_spacing=0.08,
                        vertical_spacing=0.12 if nrows > 1 else 0.0)
    strategies = list(pd.unique(df["strategy"])) if "strategy" in df.columns else [""]
    for i, metric in enumerate(metrics):
        row, col = divmod(i, ncols)
        for strategy in strategies:
            part = df[df["strategy"] == strategy] if "strategy" in df.columns else df
            part = part[np.isfinite(part[metric].astype(float))]
            if part.empty:
                continue
            xs, mean, lower, upper = _summary(part, x, metric, band)
            _band_traces(fig, xs, mean, lower, upper, str(strategy), palette.strategy_color(str(strategy)),
                         showlegend=(i == 0), row=row + 1, col=col + 1)
        fig.update_xaxes(title_text=x if row == nrows - 1 else None, row=row + 1, col=col + 1)
    fig.update_layout(height=height_per_row * nrows + 60, template="plotly_white",
                      legend=dict(title=dict(text="strategy")), margin=dict(l=10, r=10, t=40, b=10))
    return fig


def utility_histogram(
    utilities: np.ndarray, selected_mask: np.ndarray, *, bins: int = 40, title: str = "", height: int = 320,
) -> go.Figure:
    """Histogram of one cycle's pool utilities with the chosen batch overlaid and marked by a rug."""
    u = np.asarray(utilities, dtype=np.float64)
    mask = np.asarray(selected_mask, dtype=bool)
    if mask.shape != u.shape:
        raise ValueError(f"selected_mask has shape {mask.shape}, utilities {u.shape}; they must match")
    finite = np.isfinite(u)
    fig = go.Figure()
    if finite.any():
        lo, hi = float(u[finite].min()), float(u[finite].max())
        size = (hi - lo) / bins if hi > lo else 1.0
        xbins = dict(start=lo, end=hi + size * 1e-6, size=size)
        fig.add_trace(go.Histogram(x=u[finite & ~mask], xbins=xbins, name="pool",
                                   marker_color=palette.STATE_COLORS["pool"]))
        fig.add_trace(go.Histogram(x=u[finite & mask], xbins=xbins, name="chosen batch",
                                   marker_color=palette.STATE_COLORS["selected"], opacity=0.85))
        fig.add_trace(go.Scatter(x=u[finite & mask], y=np.zeros(int((finite & mask).sum())), mode="markers",
                                 name="chosen", showlegend=False, hovertemplate="utility %{x:.4g}<extra></extra>",
                                 marker=dict(symbol="line-ns-open", size=16, color=palette.STATE_COLORS["selected"])))
    fig.update_layout(barmode="overlay", title=title or None, height=height, template="plotly_white",
                      xaxis_title="utility", yaxis_title="points", margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig
