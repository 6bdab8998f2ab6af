"""t-SNE affinities from exact nearest neighbours.

The k = 3 · perplexity nearest neighbours of every point are found exactly, block by block from the space
(``alcore.projection.spaces``), and handed to openTSNE as ``PrecomputedNeighbors``: no approximate index is built.
"""
from __future__ import annotations

import numpy as np


def effective_perplexity(perplexity: float, m: int) -> tuple[float, int]:
    """The perplexity clamped to ``(m - 1) / 3`` for small display sets, and the number of neighbours it needs."""
    perplexity = float(min(perplexity, max((m - 1) / 3, 1.0)))
    return perplexity, int(min(m - 1, max(1, int(3 * perplexity))))


def neighbours_needed(perplexity: float, m: int) -> int:
    """How many nearest neighbours the affinities of ``m`` points at ``perplexity`` use."""
    return effective_perplexity(perplexity, m)[1]


def affinities(space, perplexity: float, n_jobs: int, knn: tuple[np.ndarray, np.ndarray] | None = None):
    """openTSNE's perplexity-based affinities of the points of ``space``; ``knn``: its (indices, distances) of
    ``neighbours_needed(perplexity, len(space))`` nearest neighbours, when already found."""
    from openTSNE import affinity
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    perplexity, k = effective_perplexity(perplexity, len(space))
    neighbors, distances = space.knn(k) if knn is None else knn
    return affinity.PerplexityBasedNN(
        knn_index=PrecomputedNeighbors(neighbors, distances), perplexity=perplexity, n_jobs=n_jobs
    )
