"""The sweep report's figures: learning curves with 95% bands over seeds as a PNG (matplotlib, one panel per
dataset) and as one self-contained HTML page (plotly), from ``run_group.curve_bands``; ``alcore.report`` writes
them."""
from __future__ import annotations

import html
import inspect
import math
from pathlib import Path

import numpy as np
import pandas as pd

from alcore.run_group import curve_bands, group_metric
from alcore.task import metric_label

def curves_png(df: pd.DataFrame, path: str | Path, metric: str | None = None, label: str | None = None) -> Path:
    """Learning curves with 95% bands, one panel per dataset (matplotlib, Agg: no display needed); ``metric``
    (default: each dataset's primary metric), titled ``label`` (default: the metric's name)."""
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
        name = label or metric_label(used.get(dataset, metric or "test_accuracy"))
        for strategy, curve in bands[bands["dataset"] == dataset].groupby("strategy", sort=True):
            curve = curve.sort_values("n_labeled")
            n_seeds = int(curve["n_seeds"].max())
            ax.plot(curve["n_labeled"], curve["mean"], marker="o", ms=3, color=colours[strategy],
                    label=f"{strategy} ({n_seeds} seed{'s' if n_seeds != 1 else ''})")
            ax.fill_between(curve["n_labeled"], curve["lo"], curve["hi"], color=colours[strategy], alpha=0.2,
                            linewidth=0)
        ax.set_title(str(dataset))
        ax.set_xlabel("labels used")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(datasets):]:
        ax.set_visible(False)
    shown = [label] if label else \
        sorted({metric_label(m) for m in used.values()}) or [metric_label(metric or "test_accuracy")]
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
