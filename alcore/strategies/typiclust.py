"""TypiClust (docs/methods.md#typiclust; Hacohen, Dekel & Weinshall, ICML 2022): typical points of uncovered clusters.

Cluster ``L ∪ U`` on the L2-normalised fixed embedding into ``min(|L| + B, 500)`` clusters; visit the clusters with
the fewest labelled members first (largest first among equals) and take each one's most typical candidate,
``Typ(x) = 1 / (mean distance to its K_nn nearest neighbours + 1e-5)``. Needs no model, so it is the engine's
cold-start strategy on tabular data.
"""
from __future__ import annotations

import contextlib

import warnings
from dataclasses import dataclass

import numpy as np

from alcore import seeding
from alcore.distances import CHUNK_ENTRIES, sq_distances
from alcore.spaces import l2_normalize
from alcore.strategies.base import PoolState, Selection, Strategy, argmax_random_tie
from alcore.threads import one_thread

_SINGLE_THREAD_WORK = 20_000_000  # rows × clusters below which k-means runs on one thread


def typicality(Z: np.ndarray, k_nn: int = 20, distance: str = "euclidean") -> np.ndarray:
    """Typicality of each row of ``Z`` among the rows of ``Z`` (docs/methods.md#typiclust, with the engine fixes).

    ``k = max(1, min(k_nn, n - 1))`` neighbours; a row's own index is excluded (not "the first neighbour", which
    breaks with exact duplicates); a single row gets typicality 1. ``distance="euclidean"`` is the paper's mean L2
    distance, ``"sqeuclidean"`` the official code's faiss squared distances. Time ``O(n² d)`` in row blocks.
    """
    Z = np.asarray(Z, dtype=np.float64)
    n = len(Z)
    if n <= 1:
        return np.ones(n)
    k = max(1, min(int(k_nn), n - 1))
    step = max(1, CHUNK_ENTRIES // n)
    mean_dist = np.empty(n)
    for s in range(0, n, step):
        d2 = sq_distances(Z[s:s + step], Z)
        rows = np.arange(len(d2))
        d2[rows, s + rows] = np.inf  # drop self by index
        nearest = np.partition(d2, k - 1, axis=1)[:, :k]
        mean_dist[s:s + step] = (nearest if distance == "sqeuclidean" else np.sqrt(nearest)).mean(axis=1)
    return 1.0 / (mean_dist + 1e-5)


def cluster(Z: np.ndarray, n_clusters: int, random_state: int, n_init: int = 3,
            minibatch_above: int = 50) -> np.ndarray:
    """Seeded k-means labels: ``KMeans`` up to ``minibatch_above`` clusters, ``MiniBatchKMeans`` beyond (as the
    official code). ``n_clusters`` is clamped to the number of rows; duplicate rows are allowed."""
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.exceptions import ConvergenceWarning
    n_clusters = max(1, min(int(n_clusters), len(Z)))
    if n_clusters == 1:
        return np.zeros(len(Z), dtype=np.int64)
    if n_clusters <= minibatch_above:
        model = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=random_state)
    else:
        model = MiniBatchKMeans(n_clusters=n_clusters, n_init=n_init, batch_size=5000, random_state=random_state)
    # Small problems run faster on one thread (OpenMP start-up dominates); the rule depends on the size only.
    threads = 1 if len(Z) * n_clusters < _SINGLE_THREAD_WORK else None
    with warnings.catch_warnings(), one_thread("pools") if threads == 1 else contextlib.nullcontext():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct points than clusters
        return model.fit_predict(np.asarray(Z, dtype=np.float64)).astype(np.int64)


def typiclust_select(Z: np.ndarray, labels: np.ndarray, is_candidate: np.ndarray, k: int,
                     rng: np.random.Generator, k_nn: int = 20, min_cluster_size: int = 6,
                     distance: str = "euclidean") -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """The TypiClust pick rule over rows of ``Z`` with cluster ``labels``.

    ``is_candidate`` marks selectable rows (the pool); the other rows are labelled. Clusters are ordered by labelled
    members ascending, then size descending, then a seeded random key (docs/methods.md#ties); clusters smaller than
    ``min_cluster_size`` are skipped; the ``i``-th pick goes to the next cluster in that order that still has a
    candidate (cycling when ``k`` exceeds the clusters). Typicality is computed over the cluster's remaining
    candidates. Returns row positions, their typicality, their cluster, and whether small clusters had to be used
    because the large ones ran out of candidates.
    """
    labels = np.asarray(labels, dtype=np.int64)
    remaining = np.asarray(is_candidate, dtype=bool).copy()
    n_clusters = int(labels.max()) + 1 if len(labels) else 0
    sizes = np.bincount(labels, minlength=n_clusters)
    n_labeled = np.bincount(labels[~remaining], minlength=n_clusters)
    order = np.lexsort((rng.permutation(n_clusters), -sizes, n_labeled))
    order = order[sizes[order] > 0]
    large = order[sizes[order] >= min_cluster_size]
    open_count = np.bincount(labels[remaining], minlength=n_clusters)
    picks, scores, clusters = [], [], []
    cursor, used_small = 0, False
    for _ in range(min(int(k), int(remaining.sum()))):
        large_open = open_count[large].any()
        visit = large if large_open else order
        used_small |= not large_open
        while open_count[visit[cursor % len(visit)]] == 0:  # next cluster in order that has a candidate
            cursor += 1
        c = visit[cursor % len(visit)]
        cursor += 1
        members = np.flatnonzero((labels == c) & remaining)
        typ = typicality(Z[members], k_nn, distance)
        best = argmax_random_tie(typ, rng)
        picks.append(members[best])
        scores.append(typ[best])
        clusters.append(c)
        remaining[members[best]] = False
        open_count[c] -= 1
    return (np.asarray(picks, dtype=np.int64), np.asarray(scores, dtype=np.float64),
            np.asarray(clusters, dtype=np.int64), used_small)


class TypiClust(Strategy):
    name = "typiclust"
    description = "TypiClust: the most typical point of each of the largest clusters without labels (cold start)."
    needs_model = False

    @dataclass
    class Options:
        max_clusters: int = 500       # MAX_NUM_CLUSTERS of the official code
        k_nn: int = 20                # neighbours in the typicality estimate
        min_cluster_size: int = 6     # official code drops clusters of size <= 5
        n_init: int = 3               # k-means restarts (fixed, recorded in the diagnostics)
        minibatch_above: int = 50     # MiniBatchKMeans beyond this many clusters
        distance: str = "euclidean"   # paper; "sqeuclidean" for parity with the official faiss code

    def validate_options(self) -> None:
        o = self.options
        for name in ("max_clusters", "k_nn", "min_cluster_size", "n_init", "minibatch_above"):
            value = getattr(o, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}={value!r} is not valid; it must be an integer >= 1")
        if o.distance not in ("euclidean", "sqeuclidean"):
            raise ValueError(f"distance={o.distance!r} is not valid; choose one of ['euclidean', 'sqeuclidean']")

    def _select(self, state: PoolState, k: int, rng: np.random.Generator) -> Selection:
        o = self.options
        rows = np.concatenate([np.asarray(state.labeled_idx, np.int64), np.asarray(state.pool_idx, np.int64)])
        is_candidate = np.zeros(len(rows), dtype=bool)
        is_candidate[state.n_labeled:] = True
        Z = l2_normalize(np.asarray(state.fixed_embedding(), dtype=np.float64)[rows])
        utilities = np.full(state.n_pool, np.nan)
        if not np.any(Z[is_candidate]):
            chosen = rng.permutation(state.n_pool)[:k]
            return Selection(state.pool_idx[chosen], utilities, {"message": "every pool embedding is zero"},
                             "all_zero_embeddings")
        n_clusters = min(state.n_labeled + k, o.max_clusters, len(rows))
        labels = cluster(Z, n_clusters, seeding.child_seed(rng, bits=31), o.n_init, o.minibatch_above)
        picks, scores, clusters, used_small = typiclust_select(Z, labels, is_candidate, k, rng, o.k_nn,
                                                                o.min_cluster_size, o.distance)
        positions = picks - state.n_labeled
        utilities[positions] = scores
        sizes = np.bincount(labels)
        diagnostics = {"n_clusters": int(n_clusters), "n_init": o.n_init,
                       "n_eligible_clusters": int((sizes >= o.min_cluster_size).sum()),
                       "clusters": clusters, "cluster_sizes": sizes[clusters], "used_small_clusters": used_small}
        return Selection(state.pool_idx[positions], utilities, diagnostics)
