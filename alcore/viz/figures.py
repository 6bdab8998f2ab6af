"""Plotly figures for the app: the animated map, learning curves, diversity per cycle, utility histograms.

Every function takes plain arrays or DataFrames and returns a ``go.Figure``; nothing here touches the store
or streamlit. Colours come from ``alcore.viz.palette`` so a class or strategy looks the same everywhere.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from alcore.viz import palette

COLOR_BY = ("label", "pred", "utility", "state")
_COLOR_ALIASES = {"prediction": "pred", "class": "label", "labeled": "state"}
FRAME_COLUMNS = ("cycle", "idx", "x", "y", "label", "pred", "utility", "state")
#: Where utilities start on the map's colour scale; below it, a grey band for points without one.
UTILITY_LOW = 0.15
#: Above this many points per frame the map switches to WebGL (SVG tweens smoothly up to about 5k).
WEBGL_ABOVE = 5000
_METRIC_TITLES = {"test_accuracy": "test accuracy", "test_loss": "test loss", "test_macro_f1": "test macro-F1",
                  "target_loss": "target loss", "target_accuracy": "target accuracy"}


# --------------------------------------------------------------------------------------------
# The table behind the map and the GIF
# --------------------------------------------------------------------------------------------
def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray, fill) -> np.ndarray:
    """values[keys == q] for each q in query, ``fill`` where q is not a key."""
    keys, values = np.asarray(keys, dtype=np.int64), np.asarray(values)
    out = np.full(len(query), fill, dtype=values.dtype if len(values) else np.float64)
    if len(keys) == 0 or len(values) != len(keys):  # e.g. the final record scores nothing
        return out
    order = np.argsort(keys, kind="stable")
    pos = np.searchsorted(keys[order], query)
    pos = np.minimum(pos, len(keys) - 1)
    found = keys[order][pos] == query
    out[found] = values[order][pos[found]]
    return out


def _predictions(probs: np.ndarray, a: np.ndarray) -> np.ndarray:
    probs, a = np.asarray(probs), np.asarray(a)
    if probs.ndim == 2 and probs.size:
        return probs.argmax(axis=1)
    if a.ndim == 2 and a.size:  # a = p - onehot(argmax p): the predicted class is its most negative entry
        return a.argmin(axis=1)
    return np.full(len(probs) if probs.ndim else 0, -1)


def _names(codes: np.ndarray, class_names: Sequence[str] | None) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.int64)
    if class_names is None:
        names = np.array([str(c) for c in range(codes.max(initial=-1) + 1)] or ["0"], dtype=object)
    else:
        names = np.asarray([str(c) for c in class_names], dtype=object)
    out = np.full(len(codes), "?", dtype=object)
    ok = (codes >= 0) & (codes < len(names))
    out[ok] = names[codes[ok]]
    return out


def frames_table(
    records: Sequence, result, y_true: np.ndarray, class_names: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per (cycle, point) of a ``ProjectionResult``: the data of the map and of the GIF.

    Columns: cycle, idx (global index), x, y, label (true class), pred (predicted class at that cycle),
    utility (NaN when the point was not a candidate), state ('labeled' | 'pool' | 'selected'), label_name,
    pred_name, and in_display (False for selected points outside the display set, placed at their nearest
    display point). ``labeled`` means labelled before this cycle's batch; the batch itself is 'selected'.
    """
    y_true = np.asarray(y_true)
    by_cycle = {int(r.cycle): r for r in records}
    parts = []
    for t, cycle in enumerate(result.cycles):
        r = by_cycle[int(cycle)]
        idx = np.asarray(result.idx, dtype=np.int64)
        display_idx = np.asarray(r.display_idx, dtype=np.int64)
        pred_display = _predictions(r.display_probs, r.display_a)
        pred = _lookup(display_idx, pred_display, idx, -1) if len(pred_display) else np.full(len(idx), -1)
        xy = np.asarray(result.frames[t], dtype=np.float32)
        extra_idx = np.asarray(result.extra_idx[t], dtype=np.int64) if result.extra_idx else np.zeros(0, np.int64)
        if len(extra_idx):
            selected = np.asarray(r.selected, dtype=np.int64)
            pred_sel = _predictions(np.zeros((0, 0)), r.selected_a)
            extra_pred = _lookup(selected, pred_sel, extra_idx, -1) if len(pred_sel) else np.full(len(extra_idx), -1)
            idx = np.concatenate([idx, extra_idx])
            pred = np.concatenate([pred, extra_pred])
            xy = np.concatenate([xy, np.asarray(result.extra_xy[t], np.float32).reshape(-1, 2)])
        state = np.full(len(idx), "pool", dtype=object)
        state[np.isin(idx, np.asarray(r.labeled_idx, dtype=np.int64))] = "labeled"
        state[np.isin(idx, np.asarray(r.selected, dtype=np.int64))] = "selected"
        utility = _lookup(np.asarray(r.pool_idx), np.asarray(r.utilities, np.float64), idx, np.nan)
        label = y_true[idx].astype(np.int64)
        parts.append(pd.DataFrame({
            "cycle": np.full(len(idx), int(cycle), dtype=np.int64), "idx": idx,
            "x": xy[:, 0], "y": xy[:, 1], "label": label, "pred": pred.astype(np.int64),
            "utility": utility.astype(np.float64), "state": state,
            "label_name": _names(label, class_names), "pred_name": _names(pred, class_names),
            "in_display": np.arange(len(idx)) < len(result.idx),
        }))
    return pd.concat(parts, ignore_index=True)


def _check_frames_df(df: pd.DataFrame, color_by: str) -> str:
    missing = [c for c in FRAME_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"frames_df is missing columns {missing}; build it with frames_table()")
    color_by = _COLOR_ALIASES.get(color_by, color_by)
    if color_by not in COLOR_BY:
        raise ValueError(f"color_by={color_by!r} is not valid; choose one of {list(COLOR_BY)}")
    return color_by


# --------------------------------------------------------------------------------------------
# Colour codes (numbers + a colour scale: plotly validates 5k colour strings per frame slowly)
# --------------------------------------------------------------------------------------------
def _step_scale(colors: Sequence[str]) -> list:
    n = len(colors)
    scale = []
    for j, c in enumerate(colors):
        scale += [[j / n, c], [(j + 1) / n, c]]
    return scale


def _categories(df: pd.DataFrame, color_by: str, class_names) -> tuple[list[str], list[str]]:
    """(names, colours) of the categories of a categorical colouring; codes index into them."""
    if color_by == "state":
        return list(palette.STATE_ORDER), [palette.STATE_COLORS[s] for s in palette.STATE_ORDER]
    n = int(max(df["label"].max(), df["pred"].max())) + 1
    if class_names is not None:
        n = max(n, len(class_names))
    names = [str(class_names[k]) if class_names is not None and k < len(class_names) else str(k) for k in range(n)]
    return names, palette.class_colors(n)


def _color_values(part: pd.DataFrame, color_by: str, n_categories: int) -> np.ndarray:
    if color_by == "utility":  # NaN -> 0 (grey band), utilities -> [UTILITY_LOW, 1] within the cycle
        u = palette.normalise_utilities(part["utility"].to_numpy())
        return np.where(np.isnan(u), 0.0, UTILITY_LOW + (1 - UTILITY_LOW) * np.nan_to_num(u))
    if color_by == "state":
        codes = part["state"].map({s: i for i, s in enumerate(palette.STATE_ORDER)}).to_numpy()
    else:
        codes = part[color_by].to_numpy()
    codes = np.asarray(codes, dtype=np.float64)
    return np.where((codes >= 0) & (codes < n_categories), codes, n_categories)  # last bin: unknown


def _marker_scale(color_by: str, colors: list[str]) -> dict:
    if color_by == "utility":
        stops = [[0.0, palette.MISSING_COLOR], [UTILITY_LOW - 0.02, palette.MISSING_COLOR]]
        grid = np.linspace(UTILITY_LOW, 1.0, len(palette.VIRIDIS))
        stops += [[float(g), c] for g, c in zip(grid, palette.VIRIDIS)]
        return dict(colorscale=stops, cmin=0.0, cmax=1.0)
    n = len(colors)
    return dict(colorscale=_step_scale(colors + [palette.MISSING_COLOR]), cmin=-0.5, cmax=n + 0.5)


def _hover(part: pd.DataFrame) -> np.ndarray:
    utility = ["–" if not np.isfinite(u) else f"{u:.4g}" for u in part["utility"].to_numpy()]
    label = part["label_name"] if "label_name" in part else part["label"].astype(str)
    pred = part["pred_name"] if "pred_name" in part else part["pred"].astype(str)
    return np.column_stack([part["idx"].to_numpy(), np.asarray(label, object), np.asarray(pred, object),
                            np.asarray(utility, object), part["state"].to_numpy()])


_HOVER = ("point %{customdata[0]}<br>class %{customdata[1]}<br>predicted %{customdata[2]}"
          "<br>utility %{customdata[3]}<br>%{customdata[4]}<extra></extra>")


def padded_range(lo: float, hi: float, pad: float = 0.05) -> list[float]:
    span = hi - lo if hi > lo else 1.0
    return [lo - pad * span, hi + pad * span]


# --------------------------------------------------------------------------------------------
# The animated map
# --------------------------------------------------------------------------------------------
def map_figure(
    frames_df: pd.DataFrame,
    color_by: str = "label",
    *,
    class_names: Sequence[str] | None = None,
    title: str = "",
    frame_titles: dict[int, str] | None = None,
    height: int = 600,
    webgl: bool | None = None,
    point_size: float = 6.0,
    frame_duration: int = 800,
    transition_duration: int = 500,
) -> go.Figure:
    """The map animated over cycles: one plotly frame per cycle, play/pause and a cycle slider.

    Trace 0 holds every display point in every frame with stable ``ids`` (the global index), so plotly
    tweens each point from its previous position; labelled points have a dark outline. Trace 1, drawn on
    top, is the cycle's selected batch (stars). Axis ranges are fixed over all frames. ``color_by``: 'label'
    (true class), 'pred' (predicted class), 'utility' (scaled within each cycle; grey = not a candidate) or
    'state' (pool / labelled / selected). ``webgl`` defaults to True above 5,000 points per frame (no
    tweening there). ``frame_titles`` maps a cycle to the title shown with that frame.
    """
    color_by = _check_frames_df(frames_df, color_by)
    names, colors = _categories(frames_df, color_by, class_names) if color_by != "utility" else ([], [])
    scale = _marker_scale(color_by, colors)
    cycles = sorted(int(c) for c in frames_df["cycle"].unique())
    in_display = frames_df["in_display"] if "in_display" in frames_df else pd.Series(True, index=frames_df.index)
    per_frame = int(in_display.sum() / max(len(cycles), 1))
    if webgl is None:
        webgl = per_frame > WEBGL_ABOVE
    Scatter = go.Scattergl if webgl else go.Scatter
    groups = {int(c): g for c, g in frames_df.groupby("cycle", sort=True)}

    def traces(cycle: int) -> list:
        part = groups[cycle]
        values = _color_values(part, color_by, len(colors))  # utilities scaled over the whole cycle
        shown = in_display.loc[part.index].to_numpy()
        on_top = (part["state"] == "selected").to_numpy()
        points, batch = part[shown], part[on_top]
        labeled = (points["state"] == "labeled").to_numpy()
        marker = dict(
            color=values[shown], size=np.where(labeled, point_size * 1.4, point_size),
            line=dict(color=palette.EDGE_COLOR, width=np.where(labeled, 1.0, 0.0)), opacity=0.85, **scale,
        )
        if color_by == "utility":
            marker["colorbar"] = dict(title=dict(text="utility<br>(per cycle)"), len=0.6,
                                      tickvals=[UTILITY_LOW / 2 - 0.01, UTILITY_LOW, 1.0],
                                      ticktext=["labelled", "low", "high"])
        main = Scatter(
            x=points["x"].to_numpy(), y=points["y"].to_numpy(), ids=points["idx"].astype(str).to_numpy(),
            mode="markers", marker=marker, customdata=_hover(points), hovertemplate=_HOVER, name="points",
            showlegend=False,
        )
        top = Scatter(
            x=batch["x"].to_numpy(), y=batch["y"].to_numpy(), ids=("s" + batch["idx"].astype(str)).to_numpy(),
            mode="markers", name="selected batch", customdata=_hover(batch), hovertemplate=_HOVER, showlegend=False,
            marker=dict(symbol="star", size=point_size * 2.6, color=values[on_top],
                        line=dict(color=palette.EDGE_COLOR, width=1.2), **scale),
        )
        return [main, top]

    def frame_title(cycle: int) -> str:
        if frame_titles and cycle in frame_titles:
            return frame_titles[cycle]
        return f"{title + ' · ' if title else ''}cycle {cycle}"

    fig = go.Figure(data=traces(cycles[0]))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="selected batch", hoverinfo="skip",
                             marker=dict(symbol="star", size=12, color="#ffffff",
                                         line=dict(color=palette.EDGE_COLOR, width=1.2))))
    for name, color in zip(names, colors):  # legend entries: constant, not animated
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, hoverinfo="skip",
                                 marker=dict(color=color, size=9)))
    fig.frames = [go.Frame(name=str(c), data=traces(c), traces=[0, 1], layout=dict(title_text=frame_title(c)))
                  for c in cycles]
    x0, x1 = padded_range(float(frames_df["x"].min()), float(frames_df["x"].max()))
    y0, y1 = padded_range(float(frames_df["y"].min()), float(frames_df["y"].max()))
    redraw = bool(webgl)
    play = dict(label="▶ play", method="animate", args=[None, dict(
        frame=dict(duration=frame_duration, redraw=redraw), fromcurrent=True,
        transition=dict(duration=transition_duration, easing="cubic-in-out"))])
    pause = dict(label="❚❚ pause", method="animate", args=[[None], dict(
        frame=dict(duration=0, redraw=redraw), mode="immediate", transition=dict(duration=0))])
    steps = [dict(label=str(c), method="animate", args=[[str(c)], dict(
        mode="immediate", frame=dict(duration=0, redraw=redraw), transition=dict(duration=transition_duration))])
        for c in cycles]
    axis = dict(showgrid=False, zeroline=False, showticklabels=False, autorange=False, fixedrange=False)
    fig.update_layout(
        title=dict(text=frame_title(cycles[0])), height=height, template="plotly_white",
        xaxis=dict(range=[x0, x1], **axis),
        yaxis=dict(range=[y0, y1], scaleanchor="x", scaleratio=1, constrain="domain", **axis),
        legend=dict(title=dict(text={"label": "class", "pred": "predicted", "state": "state"}.get(color_by, "")),
                    itemsizing="constant"),
        hovermode="closest", margin=dict(l=10, r=10, t=50, b=10),
        updatemenus=[dict(type="buttons", direction="left", buttons=[play, pause], showactive=False,
                          x=0.0, y=0.0, xanchor="left", yanchor="top", pad=dict(t=40, r=10))],
        sliders=[dict(active=0, steps=steps, x=0.3, len=0.7, y=0.0, yanchor="top", pad=dict(t=30),
                      currentvalue=dict(prefix="cycle ", visible=True, xanchor="right"),
                      transition=dict(duration=transition_duration))],
    )
    return fig


def thumbnail_figure(
    images: np.ndarray,
    titles: Sequence[str] | None = None,
    *,
    image_shape: tuple[int, ...] | None = None,
    cols: int = 10,
    invert: bool = True,
    cell_px: int = 72,
) -> go.Figure:
    """A panel of small images (e.g. the selected batch, or hovered points) with a caption under each.

    ``images``: (n, h, w), (n, h, w, 3), or flat rows with ``image_shape``. Grey images are scaled jointly
    to 0..255, dark ink on white when ``invert`` (digits, MNIST). One ``go.Image`` of a montage: fast.
    """
    images = np.asarray(images, dtype=np.float64)
    if image_shape is not None:
        images = images.reshape((len(images), *image_shape))
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"images must be (n, h, w) or (n, h, w, 3) with n >= 1, got shape {images.shape}")
    n, h, w = images.shape[:3]
    lo, hi = float(images.min()), float(images.max())
    scaled = (images - lo) / (hi - lo if hi > lo else 1.0) * 255.0
    if images.ndim == 3:
        if invert:
            scaled = 255.0 - scaled
        scaled = np.repeat(scaled[..., None], 3, axis=3)
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    pad, band = max(1, w // 8), max(2, h // 2)  # gap between cells, caption band under each image
    montage = np.full((rows * (h + band), cols * (w + pad), 3), 255, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        montage[r * (h + band):r * (h + band) + h, c * (w + pad):c * (w + pad) + w] = scaled[i].astype(np.uint8)
    fig = go.Figure(go.Image(z=montage, hoverinfo="skip"))
    for i, text in enumerate(titles or []):
        r, c = divmod(i, cols)
        fig.add_annotation(x=c * (w + pad) + (w - 1) / 2, y=r * (h + band) + h - 0.5, text=str(text),
                           showarrow=False, yanchor="top", font=dict(size=10))
    fig.update_layout(
        height=rows * cell_px + 20, width=cols * cell_px + 20, margin=dict(l=5, r=5, t=5, b=5),
        xaxis=dict(visible=False), yaxis=dict(visible=False),
    )
    return fig


# --------------------------------------------------------------------------------------------
# Curves
# --------------------------------------------------------------------------------------------
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
    """``metric`` against labels used: per strategy the mean over seeds and a band (min–max or ±1 std).

    ``df``: one row per (strategy, seed, cycle) with columns strategy, seed, ``x`` and ``metric``.
    """
    _check_band(band)
    missing = [c for c in ("strategy", x, metric) if c not in df.columns]
    if missing:
        raise ValueError(f"df is missing columns {missing}")
    fig = go.Figure()
    for strategy in pd.unique(df["strategy"]):
        xs, mean, lower, upper = _summary(df[df["strategy"] == strategy], x, metric, band)
        _band_traces(fig, xs, mean, lower, upper, str(strategy), palette.strategy_color(str(strategy)), True)
    fig.update_layout(
        title=title or None, height=height, template="plotly_white", hovermode="x unified",
        xaxis_title="labels used" if x == "n_labeled" else x, yaxis_title=_METRIC_TITLES.get(metric, metric),
        legend=dict(title=dict(text="strategy")), margin=dict(l=10, r=10, t=40 if title else 10, b=10),
    )
    return fig


def run_curves_figure(summary: pd.DataFrame, *, height: int = 360) -> go.Figure:
    """One run's test accuracy and test loss against labels used, side by side (``CycleRecord.summary()`` rows)."""
    metrics = [m for m in ("test_accuracy", "test_loss") if m in summary.columns]
    if "n_labeled" not in summary.columns or not metrics:
        raise ValueError("summary needs n_labeled and test_accuracy/test_loss columns (CycleRecord.summary())")
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[_METRIC_TITLES[m] for m in metrics],
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
