"""A panel of small images with captions (the selected batch, hovered points), as one plotly image."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go


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
