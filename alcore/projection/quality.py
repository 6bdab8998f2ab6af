"""Trustworthiness of a frame against the high-dimensional distances, on a fixed seeded sample of points.

scikit-learn's formula, with the rank table of the high-dimensional space built once per frame: a frame measures
several layouts against one space (the previous frame, then each tier tried).
"""
from __future__ import annotations

import numpy as np

from alcore.projection.settings import ProjectionSettings

#: Trustworthiness of a layout that knows nothing of the data (random positions), about 1/2.
CHANCE_TRUST = 0.5


def quality_sample(m: int, settings: ProjectionSettings) -> np.ndarray:
    """The fixed seeded positions (into the display set) on which trustworthiness is measured."""
    if m <= settings.quality_points:
        return np.arange(m)
    return np.sort(np.random.default_rng(settings.random_state).choice(m, settings.quality_points, replace=False))


def sample_ranks(space, sample: np.ndarray) -> np.ndarray:
    """``ranks[i, j]``: place (1 = nearest) of sample point j among sample point i's neighbours in the space.

    scikit-learn's ``trustworthiness`` builds this inverted index on every call; here it is built once per frame.
    """
    D = space.sample_distances(sample)
    D = np.array(D, dtype=np.result_type(D.dtype, np.float32))  # a copy, in the dtype scikit-learn would use
    np.fill_diagonal(D, np.inf)
    n = len(D)
    ranks = np.zeros((n, n), dtype=np.int64)
    ranks[np.arange(n)[:, None], np.argsort(D, axis=1)] = np.arange(1, n + 1)
    return ranks


def trust_from_ranks(ranks: np.ndarray, Y_sample: np.ndarray, k: int) -> float:
    """Trustworthiness of the layout ``Y_sample`` of the sample (scikit-learn's formula, identical result)."""
    from sklearn.neighbors import NearestNeighbors

    n = len(ranks)
    k = min(k, (n - 1) // 2)
    if k < 1:
        return float("nan")
    neighbours = NearestNeighbors(n_neighbors=k).fit(Y_sample).kneighbors(return_distance=False)
    excess = ranks[np.arange(n)[:, None], neighbours] - k
    return float(1.0 - np.sum(excess[excess > 0]) * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))))


def retained_trust(trust_in_new: float, trust_own: float) -> float:
    """Share of a layout's better-than-chance trustworthiness it keeps when measured against another space.

    ~1 when the neighbourhoods did not change, ~0 for an unrelated space (a random layout scores about 1/2);
    NaN when the layout was no better than chance in its own space (nothing to keep).
    """
    above = trust_own - CHANCE_TRUST
    return (trust_in_new - CHANCE_TRUST) / above if above > 0 else float("nan")
