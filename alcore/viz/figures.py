"""Plotly figures for the app, by the names pages and reports import them: the animated map (``animated_map``), the
table behind it (``frames``), image panels (``thumbnails``) and curves over cycles (``curves``).

Every function takes plain arrays or DataFrames and returns a ``go.Figure``; nothing here touches the store or
streamlit.
"""
from __future__ import annotations

from alcore.viz.curves import diversity_figure, learning_curve_figure, run_curves_figure, utility_histogram
from alcore.viz.frames import FRAME_COLUMNS, frames_table
from alcore.viz.animated_map import UTILITY_LOW, WEBGL_ABOVE, map_figure, padded_range
from alcore.viz.thumbnails import thumbnail_figure

__all__ = ["FRAME_COLUMNS", "UTILITY_LOW", "WEBGL_ABOVE", "diversity_figure", "frames_table", "learning_curve_figure",
           "map_figure", "padded_range", "run_curves_figure", "thumbnail_figure", "utility_histogram"]
