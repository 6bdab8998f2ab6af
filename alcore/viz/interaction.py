"""The map as the browser holds it: the frame an animated figure opens on, and the points a box or lasso chose.

Both work on plain dicts (a figure's JSON form, the selection event Streamlit hands back), so the app can cache
the figure as JSON and the browser's event needs no plotly to be read.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def open_on_last_frame(figure: dict) -> dict:
    """Show the animation's last frame first (its traces, its title, the slider on it) instead of the first.

    ``figure`` is a figure dict from ``alcore.viz.figures.map_figure`` (``fig.to_plotly_json()`` or parsed JSON),
    whose frames animate its first two traces; it is changed in place and returned.
    """
    frames = figure.get("frames") or []
    if len(frames) < 2:
        return figure
    last = frames[-1]
    for i, trace in enumerate(last.get("data", [])[:2]):
        figure["data"][i] = {**figure["data"][i], **trace}
    title = last.get("layout", {}).get("title", {})
    if title:
        figure["layout"].setdefault("title", {}).update(title if isinstance(title, dict) else {"text": title})
    for slider in figure["layout"].get("sliders", []):
        slider["active"] = len(frames) - 1
    return figure


def selected_indices(event: Any) -> np.ndarray:
    """Dataset indices of the points inside a box or lasso on the map, without repeats, in the order reported.

    A point carries its dataset index as the first entry of ``customdata`` (the browser sends it as a list, a
    scalar, or an object ``{"0": index}``), or else as its plotly ``id``.
    """
    if not event:
        return np.zeros(0, dtype=np.int64)
    selection = event.get("selection", {}) if isinstance(event, dict) else getattr(event, "selection", {})
    points = selection.get("points", []) if isinstance(selection, dict) else getattr(selection, "points", [])
    found: list[int] = []
    for point in points or []:
        if not isinstance(point, dict):
            continue
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
