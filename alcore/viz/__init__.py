"""Figures for the app (plotly: ``animated_map``, ``frames``, ``thumbnails``, ``curves``, gathered in ``figures``) and
GIF export (matplotlib + Pillow, ``gif``).

Submodules are imported on first use, so ``from alcore.viz import render_gif`` does not load plotly and
``from alcore.viz import map_figure`` does not load matplotlib.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "frames_table": "frames",
    "map_figure": "animated_map",
    "thumbnail_figure": "thumbnails",
    "learning_curve_figure": "curves",
    "diversity_figure": "curves",
    "run_curves_figure": "curves",
    "utility_histogram": "curves",
    "render_gif": "gif",
    "write_run_gif": "gif",
    "run_curve": "gif",
}

__all__ = sorted(_EXPORTS) + ["palette"]


def __getattr__(name: str):
    if name == "palette":
        return importlib.import_module("alcore.viz.palette")
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"alcore.viz.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'alcore.viz' has no attribute {name!r}")
