"""One colour per class, per strategy and per point state, shared by every plotly figure and the GIF.

Colours are hex strings (both plotly and matplotlib read them). A strategy's colour depends only on its
name, never on which other strategies are on the same figure, so a strategy looks the same everywhere.
"""
from __future__ import annotations

import colorsys
import zlib

import numpy as np

#: matplotlib's tab10 then the light half of tab20: distinct for up to 20 classes.
_CLASS_BASE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)

#: Fixed colours for the registry's strategies; random is neutral grey, the baseline everything is compared to.
STRATEGY_COLORS = {
    "random": "#7f7f7f",
    "badge": "#d62728",
    "entropy": "#1f77b4",
    "margin": "#2ca02c",
    "least_confidence": "#17becf",
    "bald": "#9467bd",
    "coreset": "#ff7f0e",
    "typiclust": "#8c564b",
    "probcover": "#e377c2",
    "alignment": "#bcbd22",
    "less": "#393b79",
    "kmeans": "#637939",
    "alps": "#843c39",
}
#: For strategies not listed above, chosen by a stable hash of the name.
_STRATEGY_EXTRA = ("#5254a3", "#8ca252", "#bd9e39", "#ad494a", "#a55194", "#6b6ecf", "#b5cf6b", "#e7ba52",
                   "#d6616b", "#ce6dbd", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363")

#: Point states on the map: still in the pool, already labelled, chosen in this cycle.
STATE_COLORS = {"pool": "#c7c7c7", "labeled": "#1f3b73", "selected": "#e6194b"}
STATE_ORDER = ("pool", "labeled", "selected")
#: Points without a value (a labelled point has no utility).
MISSING_COLOR = "#d9d9d9"
#: The utility colour map: matplotlib's viridis sampled at 9 stops (plotly's 'Viridis' is the same map).
VIRIDIS = ("#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725")
#: A signed quantity (a regression residual): blue below zero, white at zero, red above (ColorBrewer's RdBu, reversed).
DIVERGING = ("#2166ac", "#67a9cf", "#d1e5f0", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b")
#: Edge of labelled markers and of the selected batch.
EDGE_COLOR = "#111111"


def class_color(k: int) -> str:
    """Colour of class ``k`` (0-based); beyond 20 classes, evenly spread hues (golden-ratio steps)."""
    k = int(k)
    if k < 0:
        return MISSING_COLOR
    if k < len(_CLASS_BASE):
        return _CLASS_BASE[k]
    hue = (k * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.65, 0.85)
    return "#{:02x}{:02x}{:02x}".format(int(r * 255), int(g * 255), int(b * 255))


def class_colors(n: int) -> list[str]:
    """Colours of classes 0..n-1."""
    return [class_color(k) for k in range(n)]


def strategy_color(name: str) -> str:
    """Colour of a strategy, by name only."""
    if name in STRATEGY_COLORS:
        return STRATEGY_COLORS[name]
    return _STRATEGY_EXTRA[zlib.crc32(str(name).encode()) % len(_STRATEGY_EXTRA)]


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


def rgba(color: str, alpha: float) -> str:
    """A CSS ``rgba(...)`` string (plotly bands and fills)."""
    r, g, b = hex_to_rgb(color)
    return f"rgba({r},{g},{b},{alpha})"


def rgb01(colors) -> np.ndarray:
    """(n, 3) floats in [0, 1] for a list of hex colours (matplotlib facecolor arrays)."""
    return np.array([hex_to_rgb(c) for c in colors], dtype=np.float64).reshape(-1, 3) / 255.0


def utility_rgb01(values01: np.ndarray, colors=VIRIDIS) -> np.ndarray:
    """Colours of a continuous scale (viridis unless ``colors`` are given) for values in [0, 1]; NaN gets
    ``MISSING_COLOR``. Returns (n, 3) floats in [0, 1]."""
    values01 = np.asarray(values01, dtype=np.float64)
    stops = rgb01(colors)
    grid = np.linspace(0.0, 1.0, len(colors))
    v = np.clip(np.nan_to_num(values01, nan=0.0), 0.0, 1.0)
    out = np.stack([np.interp(v, grid, stops[:, c]) for c in range(3)], axis=1)
    out[np.isnan(values01)] = rgb01([MISSING_COLOR])[0]
    return out


def value_scale(values: np.ndarray, signed: bool = False) -> tuple[float, float, tuple[str, ...]]:
    """``(lo, hi, colours)`` of a continuous colouring over every frame: viridis over the values' range, or a
    diverging scale symmetric around 0 for a ``signed`` quantity (a residual)."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if signed:
        top = float(np.abs(finite).max()) if len(finite) else 1.0
        return -(top or 1.0), top or 1.0, DIVERGING
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    return lo, (hi if hi > lo else lo + 1.0), VIRIDIS


def normalise_utilities(values: np.ndarray) -> np.ndarray:
    """Utilities scaled to [0, 1] within one cycle (their scale changes from cycle to cycle); NaN stays NaN."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    out = np.full(values.shape, np.nan)
    if finite.any():
        lo, hi = values[finite].min(), values[finite].max()
        out[finite] = (values[finite] - lo) / (hi - lo) if hi > lo else 0.5
    return out
