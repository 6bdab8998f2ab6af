"""The display subset: the fixed set of points a run draws on every map."""
from __future__ import annotations

import numpy as np


def display_subset(
    y: np.ndarray | None,
    candidates: np.ndarray,
    n_max: int = 5000,
    must_include: np.ndarray | None = None,
    random_state: int = 0,
) -> np.ndarray:
    """The fixed set of points drawn on every map of a run.

    Parameters
    ----------
    y: labels indexed by global index (``y[candidates]`` are the candidates' classes), or None for no
        stratification.
    candidates: global indices that may be shown (the engine passes pool ∪ initially labelled).
    n_max: at most this many points, unless ``must_include`` alone is larger.
    must_include: global indices always shown (the initially labelled points); kept even when outside
        ``candidates``.
    random_state: seed of the stratified draw.

    Returns
    -------
    Sorted unique int64 global indices: all candidates when there are at most ``n_max``; otherwise
    ``must_include`` plus a class-stratified draw (largest-remainder allocation) of the rest.
    """
    candidates = np.unique(np.asarray(candidates, dtype=np.int64))
    must = np.unique(np.asarray(must_include if must_include is not None else [], dtype=np.int64))
    if n_max < 1:
        raise ValueError(f"n_max must be a positive int, got {n_max!r}")
    if len(np.union1d(candidates, must)) <= n_max:
        return np.union1d(candidates, must)
    rest = np.setdiff1d(candidates, must, assume_unique=True)
    quota = n_max - len(must)
    if quota <= 0:
        return must
    rng = np.random.default_rng(random_state)
    if y is None:
        return np.union1d(must, rng.choice(rest, quota, replace=False))
    classes, inverse, counts = np.unique(np.asarray(y)[rest], return_inverse=True, return_counts=True)
    exact = counts * quota / len(rest)
    alloc = np.floor(exact).astype(np.int64)
    short = quota - alloc.sum()
    if short > 0:  # largest remainders first; ties broken by class order (stable sort)
        order = np.argsort(-(exact - alloc), kind="stable")
        alloc[order[:short]] += 1
    chosen = [rng.choice(rest[inverse == c], alloc[c], replace=False) for c in range(len(classes)) if alloc[c]]
    return np.union1d(must, np.concatenate(chosen)) if chosen else must
