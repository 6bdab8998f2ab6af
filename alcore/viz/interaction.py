"""The map as the browser holds it: the frame an animated figure opens on, and the points a box or lasso chose
(and on which frame).

Both work on plain dicts (a figure's JSON form, the selection event Streamlit hands back), so the app can cache
the figure as JSON and the browser's event needs no plotly to be read.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def open_on_frame(figure: dict, cycle: int) -> dict:
    """Show the animation's frame of ``cycle`` first (its traces, the slider on it) instead of the first frame;
    an unknown cycle leaves the figure as it is.

    ``figure`` is a figure dict from ``alcore.viz.figures.map_figure`` (``fig.to_plotly_json()`` or parsed JSON),
    whose frames name the traces they animate (the points, the batch, the title); it is changed in place and
    returned.
    """
    frames = figure.get("frames") or []
    names = [str(f.get("name")) for f in frames]
    if str(cycle) not in names:
        return figure
    position = names.index(str(cycle))
    frame = frames[position]
    for i, trace in zip(frame.get("traces") or range(len(frame.get("data", []))), frame.get("data", [])):
        figure["data"][i] = {**figure["data"][i], **trace}
    for slider in figure.get("layout", {}).get("sliders", []):
        slider["active"] = position
    return figure


def open_on_last_frame(figure: dict) -> dict:
    """Show the animation's last frame first (the Run page: the batch just chosen); see ``open_on_frame``."""
    frames = figure.get("frames") or []
    return open_on_frame(figure, frames[-1].get("name")) if len(frames) > 1 else figure


def selection_cycle(event: Any) -> int | None:
    """The cycle of the frame a box or lasso selection was drawn on (the map's points carry it as the last entry
    of ``customdata``), or None without a selected point."""
    for point in _selected_points(event):
        custom = point.get("customdata")
        if isinstance(custom, dict):
            value = custom.get("5")
        else:
            value = custom[5] if isinstance(custom, (list, tuple)) and len(custom) > 5 else None
        try:
            return int(value)
        except (TypeError, ValueError):
            continue
    return None


def _selected_points(event: Any) -> list:
    if not event:
        return []
    selection = event.get("selection", {}) if isinstance(event, dict) else getattr(event, "selection", {})
    points = selection.get("points", []) if isinstance(selection, dict) else getattr(selection, "points", [])
    return [p for p in points or [] if isinstance(p, dict)]


def selected_indices(event: Any) -> np.ndarray:
    """Dataset indices of the points inside a box or lasso on the map, without repeats, in the order reported.

    A point carries its dataset index as the first entry of ``customdata`` (the browser sends it as a list, a
    scalar, or an object ``{"0": index}``), or else as its plotly ``id``.
    """
    found: list[int] = []
    for point in _selected_points(event):
        custom = point.get("customdata")
        if isinstance(custom, dict):
            custom = custom.get("0", next(iter(custom.values()), None))
        elif isinstance(custom, (list, tuple)):
            custom = custom[0] if custom else None
        if custom is None:
            custom = point.get("id")
        try:
            index = int(custom)
        except (TypeError, ValueError):
            continue
        if index not in found:
            found.append(index)
    return np.asarray(found, dtype=np.int64)
