"""The animated map: one plotly frame per cycle, play/pause and a cycle slider, points tweened between cycles.

Colours are numbers on a colour scale (plotly validates 5k colour strings per frame slowly) taken from
``alcore.viz.palette``, so a class or a state looks the same on every figure and in the GIF.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from alcore.constants import MISSING_VALUE, color_by_labels
from alcore.viz import palette
from alcore.viz.frames import check_frames_df, is_continuous, starred_points

#: Where utilities start on the map's colour scale; below it, a grey band for points without one.
UTILITY_LOW = 0.15
#: Above this many points per frame the map switches to WebGL (SVG tweens smoothly up to about 5k).
WEBGL_ABOVE = 5000
#: The traces every frame replaces: the points, the batch (stars) and the title. The title is a text trace above
#: the plot, not the layout's title: plotly.js applies a frame's layout only on a full redraw, after the points'
#: tween, so a layout title lagged behind the frame (or, without redraws, stayed on "cycle 0").
ANIMATED_TRACES = (0, 1, 2)
TITLE_COLOR = "#2a3f5f"
#: A colour bar sits low on the right, below the legend's entries at the top (the batch and the outline).
COLORBAR_PLACE = dict(len=0.55, y=0.0, yanchor="bottom")


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


def value_range(df: pd.DataFrame, color_by: str) -> tuple[float, float, tuple[str, ...]] | None:
    """``(lo, hi, colours)`` of a continuous colouring (a regression run's values or residuals), the same over every
    frame; true and predicted values share one range, so a colour means one value. None for other colourings."""
    if color_by not in ("label", "pred", "residual") or not is_continuous(df):
        return None
    if color_by == "residual":
        return palette.value_scale(df["residual"].to_numpy(), signed=True)
    return palette.value_scale(np.concatenate([df["label"].to_numpy(float), df["pred"].to_numpy(float)]))


def _scaled(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (NaN for none) -> the colour axis: NaN -> 0 (grey band), values -> [UTILITY_LOW, 1]."""
    return np.where(np.isnan(values), 0.0, UTILITY_LOW + (1 - UTILITY_LOW) * np.nan_to_num(values))


def _color_values(part: pd.DataFrame, color_by: str, n_categories: int, values=None) -> np.ndarray:
    if color_by == "utility":  # utilities scaled within the cycle
        return _scaled(palette.normalise_utilities(part["utility"].to_numpy()))
    if values is not None:  # a continuous colouring over the range of every frame
        lo, hi, _ = values
        return _scaled(np.clip((part[color_by].to_numpy(float) - lo) / (hi - lo), 0.0, 1.0))
    if color_by == "state":
        codes = part["state"].map({s: i for i, s in enumerate(palette.STATE_ORDER)}).to_numpy()
    else:
        codes = part[color_by].to_numpy()
    codes = np.asarray(codes, dtype=np.float64)
    return np.where((codes >= 0) & (codes < n_categories), codes, n_categories)  # last bin: unknown


def _marker_scale(color_by: str, colors: list[str], values=None) -> dict:
    if color_by == "utility" or values is not None:
        ramp = palette.VIRIDIS if values is None else values[2]
        stops = [[0.0, palette.MISSING_COLOR], [UTILITY_LOW - 0.02, palette.MISSING_COLOR]]
        grid = np.linspace(UTILITY_LOW, 1.0, len(ramp))
        stops += [[float(g), c] for g, c in zip(grid, ramp)]
        return dict(colorscale=stops, cmin=0.0, cmax=1.0)
    n = len(colors)
    return dict(colorscale=_step_scale(colors + [palette.MISSING_COLOR]), cmin=-0.5, cmax=n + 0.5)


def _hover(part: pd.DataFrame) -> np.ndarray:
    """Per point: index, class, prediction, utility, state, and the frame's cycle (a box or lasso selection then
    says which frame it was drawn on: ``alcore.viz.interaction.selection_cycle``)."""
    utility = [MISSING_VALUE if not np.isfinite(u) else f"{u:.4g}" for u in part["utility"].to_numpy()]
    label = part["label_name"] if "label_name" in part else part["label"].astype(str)
    pred = part["pred_name"] if "pred_name" in part else part["pred"].astype(str)
    return np.column_stack([part["idx"].to_numpy(), np.asarray(label, object), np.asarray(pred, object),
                            np.asarray(utility, object), part["state"].to_numpy(), part["cycle"].to_numpy()])


def _hover_template(noun: str) -> str:
    return (f"point %{{customdata[0]}}<br>{noun} %{{customdata[1]}}<br>predicted %{{customdata[2]}}"
            "<br>utility %{customdata[3]}<br>%{customdata[4]}<extra></extra>")


def _colorbar(color_by: str, values) -> dict | None:
    """The colour bar of a continuous colouring: the utility's low to high, or the values' own numbers."""
    if color_by == "utility":
        return dict(title=dict(text="utility<br>(per cycle)"), **COLORBAR_PLACE,
                    tickvals=[UTILITY_LOW / 2 - 0.01, UTILITY_LOW, 1.0], ticktext=["labelled", "low", "high"])
    if values is None:
        return None
    lo, hi, _ = values
    title = color_by_labels("regression")[color_by].split(" (")[0].lower()
    return dict(title=dict(text=title), **COLORBAR_PLACE, tickvals=[UTILITY_LOW, (UTILITY_LOW + 1) / 2, 1.0],
                ticktext=[f"{v:.3g}" for v in (lo, (lo + hi) / 2, hi)])


def _title_trace(text: str, x: float, y: float) -> go.Scatter:
    """The frame's title, centred just above the plot (``cliponaxis`` off), the same colour when points around it
    are selected."""
    font = dict(size=15, color=TITLE_COLOR)
    same = dict(textfont=dict(color=TITLE_COLOR))
    return go.Scatter(x=[x], y=[y], mode="text", text=[text], textposition="top center", cliponaxis=False,
                      textfont=font, hoverinfo="skip", showlegend=False, name="title", selected=same, unselected=same)


def _legend_marker(name: str, **marker) -> go.Scatter:
    """A legend entry only: one marker that is never drawn."""
    return go.Scatter(x=[None], y=[None], mode="markers", name=name, hoverinfo="skip", marker=marker)


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
    top, is the cycle's selected batch (stars; in the final frame, which selects nothing, the last batch bought).
    Trace 2 is the frame's title. The legend names the stars, the outline and the colours. Axis ranges are fixed
    over all frames. ``color_by``: 'label' (true class), 'pred' (predicted class), 'utility' (scaled within each
    cycle; grey = not a candidate) or 'state' (pool / labelled / selected). ``webgl`` defaults to True above 5,000
    points per frame (no tweening there). ``frame_titles`` maps a cycle to the title shown with that frame.
    """
    color_by = check_frames_df(frames_df, color_by)
    values = value_range(frames_df, color_by)
    categorical = color_by != "utility" and values is None
    names, colors = _categories(frames_df, color_by, class_names) if categorical else ([], [])
    scale = _marker_scale(color_by, colors, values)
    hover = _hover_template("value" if is_continuous(frames_df) else "class")
    colorbar = _colorbar(color_by, values)
    cycles = sorted(int(c) for c in frames_df["cycle"].unique())
    in_display = frames_df["in_display"] if "in_display" in frames_df else pd.Series(True, index=frames_df.index)
    per_frame = int(in_display.sum() / max(len(cycles), 1))
    if webgl is None:
        webgl = per_frame > WEBGL_ABOVE
    Scatter = go.Scattergl if webgl else go.Scatter
    groups = {int(c): g for c, g in frames_df.groupby("cycle", sort=True)}
    x0, x1 = padded_range(float(frames_df["x"].min()), float(frames_df["x"].max()))
    y0, y1 = padded_range(float(frames_df["y"].min()), float(frames_df["y"].max()))

    def frame_title(cycle: int) -> str:
        if frame_titles and cycle in frame_titles:
            return frame_titles[cycle]
        return f"{title + ' · ' if title else ''}cycle {cycle}"

    def traces(cycle: int) -> list:
        part = groups[cycle]
        color = _color_values(part, color_by, len(colors), values)  # utilities scaled over the whole cycle
        shown = in_display.loc[part.index].to_numpy()
        on_top = starred_points(part)
        points, batch = part[shown], part[on_top]
        labeled = (points["state"] == "labeled").to_numpy()
        marker = dict(
            color=color[shown], size=np.where(labeled, point_size * 1.4, point_size),
            line=dict(color=palette.EDGE_COLOR, width=np.where(labeled, 1.0, 0.0)), opacity=0.85, **scale,
        )
        if colorbar is not None:
            marker["colorbar"] = colorbar
        main = Scatter(
            x=points["x"].to_numpy(), y=points["y"].to_numpy(), ids=points["idx"].astype(str).to_numpy(),
            mode="markers", marker=marker, customdata=_hover(points), hovertemplate=hover, name="points",
            showlegend=False,
        )
        top = Scatter(
            x=batch["x"].to_numpy(), y=batch["y"].to_numpy(), ids=("s" + batch["idx"].astype(str)).to_numpy(),
            mode="markers", name="selected batch", customdata=_hover(batch), hovertemplate=hover, showlegend=False,
            marker=dict(symbol="star", size=point_size * 2.6, color=color[on_top],
                        line=dict(color=palette.EDGE_COLOR, width=1.2), **scale),
        )
        return [main, top, _title_trace(frame_title(cycle), (x0 + x1) / 2, y1)]

    fig = go.Figure(data=traces(cycles[0]))
    fig.add_trace(_legend_marker("chosen batch", symbol="star", size=12, color="#ffffff",
                                 line=dict(color=palette.EDGE_COLOR, width=1.2)))
    fig.add_trace(_legend_marker("labelled (outlined)", size=9, color="#ffffff",
                                 line=dict(color=palette.EDGE_COLOR, width=1.5)))
    for name, color in zip(names, colors):  # legend entries: constant, not animated
        fig.add_trace(_legend_marker(name, color=color, size=9))
    fig.frames = [go.Frame(name=str(c), data=traces(c), traces=list(ANIMATED_TRACES)) for c in cycles]
    # Every frame ends with a full redraw (after the tween): without it, plotly.js leaves its selection state on the
    # frame it was drawn with, and a box or lasso drawn after the slider moved or the animation played selects
    # nothing.
    redraw = True
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
        height=height, template="plotly_white",
        xaxis=dict(range=[x0, x1], **axis),
        yaxis=dict(range=[y0, y1], scaleanchor="x", scaleratio=1, constrain="domain", **axis),
        legend=dict(title=dict(text={"label": "class", "pred": "predicted", "state": "state"}.get(color_by, "")),
                    itemsizing="constant"),
        hovermode="closest", margin=dict(l=10, r=10, t=50, b=10),
        updatemenus=[dict(type="buttons", direction="left", buttons=[play, pause], showactive=False,
                          x=0.0, y=0.0, xanchor="left", yanchor="top", pad=dict(t=40, r=10))],
        sliders=[dict(active=0, steps=steps, x=0.35, len=0.65, y=0.0, yanchor="top", pad=dict(t=30),
                      currentvalue=dict(prefix="cycle ", visible=True, xanchor="right"),
                      transition=dict(duration=transition_duration))],
    )
    return fig
