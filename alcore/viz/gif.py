"""The map as an animated GIF, without a browser: matplotlib (Agg canvas, no pyplot) draws, Pillow writes.

One figure is built once; each frame only moves the scatter offsets, recolours the points, updates the
title and grows the learning curve, then the canvas is copied into a palette image. 10 frames of 5,000
points take about a second (bench/projection.py).

Options of ``render_gif`` / ``write_run_gif``:
    size: (width, height) in pixels of every frame.
    fps: frames per second (each frame shows for round(1000 / fps) ms); loops forever.
    color_by: 'label' (true class), 'pred' (predicted class), 'utility' (scaled within each cycle; grey
        = labelled) or 'state' (pool / labelled / selected), with the same colours as the app; a regression
        run's values and 'residual' on the app's continuous scales.
    max_points: draw at most this many display points (a fixed seeded subset, the same in every frame);
        labelled and selected points are always drawn. None draws all.
    title_info: one dict per frame with any of strategy, cycle, n_labeled, metric and value (or accuracy); the
        frame title is "strategy · cycle c · n labels · accuracy a". Missing keys are taken from frames_df /
        curve_df.
    show_curve: a side panel with ``metric`` (default test accuracy; a regression run's R²) against labels used,
        growing frame by frame (needs curve_df with columns n_labeled, the metric and optionally cycle and
        strategy).
    class_names: legend names of the classes.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from alcore.constants import color_by_labels, color_by_option
from alcore.task import FRACTION_METRICS, metric_label
from alcore.viz import palette
from alcore.viz.animated_map import value_range
from alcore.viz.frames import is_continuous, starred_points


def _colors(part: pd.DataFrame, color_by: str, values=None) -> np.ndarray:
    if color_by == "utility":
        return palette.utility_rgb01(palette.normalise_utilities(part["utility"].to_numpy()))
    if values is not None:  # a regression run's values or residuals, on one scale for every frame
        lo, hi, ramp = values
        return palette.utility_rgb01(np.clip((part[color_by].to_numpy(float) - lo) / (hi - lo), 0, 1), ramp)
    if color_by == "state":
        return palette.rgb01([palette.STATE_COLORS[s] for s in part["state"].to_numpy()])
    codes = part[color_by].to_numpy()
    table = palette.rgb01(palette.class_colors(int(max(codes.max(initial=0), 0)) + 1) + [palette.MISSING_COLOR])
    return table[np.where(codes >= 0, codes, len(table) - 1)]


def _shown_points(frames_df: pd.DataFrame, max_points: int | None, random_state: int) -> pd.DataFrame:
    if max_points is None:
        return frames_df
    display = frames_df["in_display"] if "in_display" in frames_df else pd.Series(True, index=frames_df.index)
    ids = np.unique(frames_df.loc[display.to_numpy(), "idx"].to_numpy())
    if len(ids) <= max_points:
        return frames_df
    keep = np.random.default_rng(random_state).choice(ids, max_points, replace=False)
    mask = frames_df["idx"].isin(keep) | (frames_df["state"] != "pool") | ~display
    return frames_df[mask.to_numpy()]


def _frame_title(info: dict) -> str:
    parts = []
    if info.get("strategy"):
        parts.append(str(info["strategy"]))
    if info.get("cycle") is not None:
        parts.append(f"cycle {int(info['cycle'])}")
    if info.get("n_labeled") is not None:
        parts.append(f"{int(info['n_labeled'])} labels")
    metric, value = info.get("metric", "test_accuracy"), info.get("value", info.get("accuracy"))
    if value is not None and np.isfinite(value):
        parts.append(f"accuracy {float(value):.1%}" if metric == "test_accuracy"
                     else f"{metric_label(metric)} {float(value):.3f}")
    return " · ".join(parts)


def _title_infos(cycles: list[int], curve_df: pd.DataFrame | None, title_info: Sequence[dict] | None,
                 metric: str = "test_accuracy") -> list[dict]:
    if title_info is not None and len(title_info) != len(cycles):
        raise ValueError(f"title_info has {len(title_info)} entries for {len(cycles)} frames")
    infos = []
    for i, cycle in enumerate(cycles):
        info = {"cycle": cycle}
        if curve_df is not None and "cycle" in curve_df.columns:
            row = curve_df[curve_df["cycle"] == cycle]
            if len(row) == 1:
                info["n_labeled"] = row["n_labeled"].iloc[0]
                if metric in row:
                    info["metric"], info["value"] = metric, row[metric].iloc[0]
                if "strategy" in row:
                    info["strategy"] = row["strategy"].iloc[0]
        if title_info is not None:
            info.update(title_info[i])
        infos.append(info)
    return infos


MAX_SIDE = 4096   # pixels of a GIF's width or height
MAX_FPS = 60.0


def check_gif_options(*, size: tuple[int, int] = (720, 480), fps: float = 2.0, max_points: int | None = None,
                      n_frames: int = 1) -> None:
    """ConfigError naming the option (``width``, ``height``, ``fps``, ``max_points``) that a GIF cannot be made
    with, including frames that would need more memory than the ceiling (``alcore.limits``)."""
    from alcore import limits, validation as v

    if not isinstance(size, (tuple, list)) or len(size) != 2:
        v.fail("size", size, "it must be (width, height) in pixels")
    width = v.integer("width", size[0], 64, MAX_SIDE)
    height = v.integer("height", size[1], 64, MAX_SIDE)
    v.number("fps", fps, 0, MAX_FPS, lo_open=True)
    if max_points is not None:
        v.integer("max_points", max_points, 1, limits.MAX_DISPLAY)
    need = 4 * width * height * max(n_frames, 1)  # every frame is kept until the GIF is written
    if need > limits.memory_ceiling():
        v.fail("width", width, f"{n_frames} frames of {width} x {height} pixels need {need / limits.GB:.1f} GB, over "
                               f"the ceiling of {limits.memory_ceiling() / limits.GB:.1f} GB; make the GIF smaller")


def legend_handles(frames_df: pd.DataFrame, color_by: str, values, class_names=None) -> list:
    """The GIF's legend: what a colour means (classes, states, or the grey of a point without a value: a labelled
    point has no utility, a point without a prediction no predicted value), the outline of a labelled point and the
    star of the batch, as the interactive map's legend says them."""
    from matplotlib.lines import Line2D

    def entry(label: str, color: str, marker: str = "o", **style) -> "Line2D":
        return Line2D([], [], marker=marker, ls="", color=color, markeredgecolor=palette.EDGE_COLOR, label=label,
                      **style)

    if color_by == "utility":
        handles = [entry("labelled (no utility)", palette.MISSING_COLOR)]
    elif values is not None:  # a continuous colouring: only a prediction can be missing
        handles = [entry("no prediction", palette.MISSING_COLOR)] if color_by != "label" else []
    elif color_by == "state":  # selected points are the stars below
        handles = [entry(k, palette.STATE_COLORS[k]) for k in palette.STATE_ORDER if k != "selected"]
    else:
        present = np.unique(np.concatenate([frames_df["label"].to_numpy(), frames_df["pred"].to_numpy()]))
        handles = [entry(str(class_names[k]) if class_names is not None and k < len(class_names) else str(k),
                         palette.class_color(k)) for k in (int(k) for k in present if k >= 0)]
    if color_by not in ("utility", "state"):
        handles.append(entry("labelled (outlined)", "#ffffff"))
    star = palette.STATE_COLORS["selected"] if color_by == "state" else "#ffffff"
    return [*handles, entry("selected batch", star, marker="*", markersize=10)]


def render_gif(
    frames_df: pd.DataFrame,
    curve_df: pd.DataFrame | None = None,
    *,
    size: tuple[int, int] = (720, 480),
    fps: float = 2,
    color_by: str = "label",
    max_points: int | None = None,
    title_info: Sequence[dict] | None = None,
    show_curve: bool = True,
    class_names: Sequence[str] | None = None,
    point_size: float = 9.0,
    random_state: int = 0,
    metric: str = "test_accuracy",
) -> bytes:
    """The frames of ``frames_df`` (see ``alcore.viz.frames.frames_table``), one per cycle, as GIF bytes.

    Options are described in the module docstring. The GIF has exactly one image per cycle of
    ``frames_df``, each ``size`` pixels, looping forever.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap, Normalize
    from matplotlib.cm import ScalarMappable
    from matplotlib.figure import Figure
    from PIL import Image

    task = "regression" if is_continuous(frames_df) else "classification"
    color_by = color_by_option(color_by, task)
    check_gif_options(size=size, fps=fps, max_points=max_points)
    width, height = int(size[0]), int(size[1])
    frames_df = _shown_points(frames_df, max_points, random_state)
    cycles = sorted(int(c) for c in frames_df["cycle"].unique())
    if not cycles:
        raise ValueError("frames_df has no rows")
    groups = {int(c): g for c, g in frames_df.groupby("cycle", sort=True)}
    infos = _title_infos(cycles, curve_df, title_info, metric)
    curve = show_curve and curve_df is not None and len(curve_df) > 0 and metric in curve_df
    values = value_range(frames_df, color_by)

    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    fig.patch.set_facecolor("white")
    map_box = [0.01, 0.02, 0.60, 0.86] if curve else [0.01, 0.02, 0.74, 0.86]
    ax = fig.add_axes(map_box)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    x0, x1 = frames_df["x"].min(), frames_df["x"].max()
    y0, y1 = frames_df["y"].min(), frames_df["y"].max()
    pad_x, pad_y = 0.04 * (x1 - x0 or 1.0), 0.04 * (y1 - y0 or 1.0)
    ax.set_xlim(x0 - pad_x, x1 + pad_x)
    ax.set_ylim(y0 - pad_y, y1 + pad_y)
    ax.set_aspect("equal", adjustable="box")
    s = point_size
    empty = np.zeros((0, 2))
    pool_sc = ax.scatter(empty[:, 0], empty[:, 1], s=s, linewidths=0, zorder=1)
    lab_sc = ax.scatter(empty[:, 0], empty[:, 1], s=s * 2.2, edgecolors=palette.EDGE_COLOR, linewidths=0.5, zorder=2)
    sel_sc = ax.scatter(empty[:, 0], empty[:, 1], s=s * 14, marker="*", edgecolors=palette.EDGE_COLOR,
                        linewidths=0.6, zorder=3)
    title = fig.text(0.5, 0.965, "", ha="center", va="top", fontsize=max(8, height // 40))

    legend_ax = fig.add_axes([0.64, 0.02, 0.35, 0.42] if curve else [0.77, 0.1, 0.22, 0.78])
    legend_ax.axis("off")
    font = max(6, height // 60)
    if color_by == "utility" or values is not None:  # a horizontal bar under the legend
        cax = fig.add_axes([0.68, 0.10, 0.26, 0.025] if curve else [0.79, 0.25, 0.18, 0.03])
        ramp = palette.VIRIDIS if values is None else values[2]
        cmap = ListedColormap(palette.utility_rgb01(np.linspace(0, 1, 64), ramp))
        bar = fig.colorbar(ScalarMappable(norm=Normalize(0, 1), cmap=cmap), cax=cax, ticks=[0, 1],
                           orientation="horizontal")
        if values is None:
            bar.ax.set_xticklabels(["low", "high"], fontsize=font)
            bar.ax.set_title("utility (scaled per cycle)", fontsize=font)
        else:
            bar.ax.set_xticklabels([f"{values[0]:.3g}", f"{values[1]:.3g}"], fontsize=font)
            bar.ax.set_title(color_by_labels(task)[color_by].split(" (")[0].lower(), fontsize=font)
    handles = legend_handles(frames_df, color_by, values, class_names)
    ncol = 2 if len(handles) > 8 else 1
    legend_ax.legend(handles=handles, loc="upper left" if curve else "center left", fontsize=font,
                     frameon=False, ncol=ncol,
                     title=None if values is not None else {"label": "class", "pred": "predicted"}.get(color_by),
                     title_fontsize=font)

    lines, marks = [], []
    if curve:
        cax_curve = fig.add_axes([0.70, 0.52, 0.28, 0.33])
        cax_curve.set_xlabel("labels used", fontsize=font)
        cax_curve.set_ylabel(metric_label(metric), fontsize=font)
        cax_curve.tick_params(labelsize=font)
        cx, cy = curve_df["n_labeled"].to_numpy(float), curve_df[metric].to_numpy(float)
        finite = np.isfinite(cy)
        span_x = (cx.max() - cx.min()) or 1.0
        cax_curve.set_xlim(cx.min() - 0.03 * span_x, cx.max() + 0.03 * span_x)
        lo, hi = (cy[finite].min(), cy[finite].max()) if finite.any() else (0.0, 1.0)
        if metric in FRACTION_METRICS:
            cax_curve.set_ylim(max(0.0, lo - 0.05), min(1.0, hi + 0.05) if hi + 0.05 > lo else 1.0)
        else:
            pad = 0.05 * ((hi - lo) or 1.0)
            cax_curve.set_ylim(lo - pad, hi + pad)
        cax_curve.grid(alpha=0.3)
        strategies = pd.unique(curve_df["strategy"]) if "strategy" in curve_df else [None]
        for strategy in strategies:
            part = curve_df if strategy is None else curve_df[curve_df["strategy"] == strategy]
            part = part.sort_values("n_labeled")
            color = palette.strategy_color(str(strategy)) if strategy is not None else palette.class_color(0)
            (line,) = cax_curve.plot([], [], color=color, lw=1.8)
            (mark,) = cax_curve.plot([], [], "o", color=color, ms=4)
            lines.append((part, line))
            marks.append(mark)

    images = []
    for cycle, info in zip(cycles, infos):
        part = groups[cycle]
        colors = _colors(part, color_by, values)
        state = part["state"].to_numpy()
        starred = starred_points(part)
        xy = part[["x", "y"]].to_numpy(np.float64)
        for sc, m in ((pool_sc, (state == "pool") & ~starred), (lab_sc, (state == "labeled") & ~starred),
                      (sel_sc, starred)):
            sc.set_offsets(xy[m] if m.any() else empty)
            sc.set_facecolors(colors[m] if m.any() else np.zeros((0, 3)))
        title.set_text(_frame_title(info))
        for (cpart, line), mark in zip(lines, marks):
            if "cycle" in cpart:
                upto = cpart[cpart["cycle"] <= cycle]
            else:
                upto = cpart[cpart["n_labeled"] <= info.get("n_labeled", np.inf)]
            line.set_data(upto["n_labeled"].to_numpy(float), upto[metric].to_numpy(float))
            mark.set_data(upto["n_labeled"].to_numpy(float)[-1:], upto[metric].to_numpy(float)[-1:])
        canvas.draw()
        rgb = np.asarray(canvas.buffer_rgba())[..., :3]
        image = Image.fromarray(np.ascontiguousarray(rgb))
        if image.size != (width, height):
            image = image.resize((width, height))
        images.append(image.quantize(colors=255, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE))

    buffer = io.BytesIO()
    # Pillow merges identical consecutive frames; titles carry the cycle, so frames always differ.
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=int(round(1000 / fps)), loop=0, optimize=False)
    return buffer.getvalue()


def run_curve(records: Sequence, metric: str = "test_accuracy") -> pd.DataFrame:
    """cycle, n_labeled, ``metric`` (test accuracy, a regression run's R², or the target loss), test_loss, strategy of
    each record (the GIF's side panel)."""
    return pd.DataFrame([{"cycle": int(r.cycle), "n_labeled": int(r.n_labeled), metric: getattr(r, metric),
                          "test_loss": r.test_loss, "strategy": r.strategy} for r in records])


def write_run_gif(
    records: Sequence,
    dataset_y: np.ndarray,
    out_path: str | os.PathLike,
    *,
    settings=None,
    X_inputs: np.ndarray | None = None,
    cache_dir: str | os.PathLike | None = None,
    run_id: str = "",
    class_names: Sequence[str] | None = None,
    task=None,
    **options,
) -> Path:
    """Project a run's records (``alcore.projection``), render the GIF and write it atomically to ``out_path``.

    ``settings``: a ``ProjectionSettings`` (default: gradient space). ``cache_dir`` (the run directory)
    reuses frames cached by ``cached_projection``. ``options`` go to ``render_gif`` (size, fps, color_by,
    max_points, show_curve, point_size); the title of each frame comes from the records. ``task``: the run's
    ``alcore.task`` (default classification). Returns the path.
    """
    from alcore import projection
    from alcore.data import strata
    from alcore.task import primary_metric
    from alcore.viz.frames import frames_table

    settings = settings or projection.ProjectionSettings()
    if cache_dir is not None:
        result = projection.cached_projection(cache_dir, run_id, settings, records, X_inputs, y=strata(dataset_y))
    else:
        result = projection.project_records(records, X_inputs, settings, y=strata(dataset_y))
    by_cycle = {int(r.cycle): r for r in records}
    frames_df = frames_table(records, result, dataset_y, class_names, task=task)
    metric = primary_metric("classification" if task is None else task.name)
    curve_df = run_curve([r for r in records if np.isfinite(getattr(r, metric))], metric)
    title_info = [{"strategy": by_cycle[c].strategy, "cycle": c, "n_labeled": by_cycle[c].n_labeled,
                   "metric": metric, "value": getattr(by_cycle[c], metric)} for c in sorted(result.cycles)]
    data = render_gif(frames_df, curve_df if len(curve_df) else None, title_info=title_info,
                      class_names=class_names, metric=metric, **options)
    from alcore import atomic_files

    atomic_files.write_bytes(out_path, data)
    return Path(out_path)
