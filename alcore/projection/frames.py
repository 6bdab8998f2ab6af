"""How one frame relates to the previous: a rigid Procrustes alignment onto it and the mean displacement from it."""
from __future__ import annotations

import numpy as np

from alcore.constants import DEGENERATE_NORM


def procrustes_align(Y: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Rotate/reflect and translate ``Y`` onto ``reference`` (least squares, no scaling)."""
    Y = np.asarray(Y, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    mu, mu_ref = Y.mean(axis=0), reference.mean(axis=0)
    U, _, Vt = np.linalg.svd((Y - mu).T @ (reference - mu_ref))
    return (Y - mu) @ (U @ Vt) + mu_ref


def mean_displacement(Y: np.ndarray, previous: np.ndarray) -> float:
    """Mean distance each point moved, in widths (larger bounding-box side) of ``previous``."""
    width = float(np.ptp(previous, axis=0).max())
    return float(np.linalg.norm(np.asarray(Y, np.float64) - previous, axis=1).mean() / max(width, DEGENERATE_NORM))
