"""Coreset / k-center greedy (docs/methods.md#coreset; Sener & Savarese 2018, Alg. 1).

Repeatedly pick the pool point farthest from its nearest centre in ``L ∪ S``. A running vector of squared
distances to the nearest centre is kept, initialised by a chunked distance computation against the labelled set,
so memory stays ``O(|U| d)``: no ``n × n`` matrix is ever built.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alcore.distances import CHUNK_ENTRIES, min_sq_distances, sq_distances, sq_distances_to_row
from alcore.models import predict
from alcore.strategies.base import PoolState, Selection, Strategy, argmax_random_tie


def medoid(Z: np.ndarray, rng: np.random.Generator, max_reference: int = 10_000) -> int:
    """Position of the row with the smallest summed distance to the others.

    Exact for up to ``max_reference`` rows; beyond that the sums run over a seeded subsample of that size.
    """
    ref = Z if len(Z) <= max_reference else Z[rng.choice(len(Z), max_reference, replace=False)]
    step = max(1, CHUNK_ENTRIES // len(ref))
    totals = np.concatenate([np.sqrt(sq_distances(Z[s:s + step], ref)).sum(axis=1)
                             for s in range(0, len(Z), step)])
    return argmax_random_tie(-totals, rng)


def k_center_greedy(pool: np.ndarray, labeled: np.ndarray, k: int, rng: np.random.Generator,
                    first: str = "random") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy k-center (docs/methods.md#coreset): positions into ``pool`` of ``k`` picks, the distance of each pick to
    its nearest centre at pick time (its gain; NaN for a first centre picked without any labelled point), and every pool
    point's distance to its nearest centre in ``L ∪ S`` after the picks (the k-center cost is its max).

    ``pool`` (n, d) and ``labeled`` (m, d) are embeddings; ``m`` may be 0, then the first centre is uniform random
    (``first="random"``) or the medoid of the pool (``first="medoid"``). Ties, including "every remaining point
    duplicates a centre" (all distances 0), are broken uniformly among the unchosen points (docs/methods.md#ties).
    Time ``O(n d (m + k))``, memory ``O(n d)``.
    """
    pool = np.asarray(pool, dtype=np.float64)
    n = len(pool)
    k = min(int(k), n)
    md = min_sq_distances(pool, labeled)
    unchosen = np.ones(n, dtype=bool)
    picks = np.empty(k, dtype=np.int64)
    gains = np.empty(k, dtype=np.float64)
    for step in range(k):
        if step == 0 and len(labeled) == 0:
            i = rng.integers(n) if first == "random" else medoid(pool, rng)
            gains[step] = np.nan
        else:
            i = argmax_random_tie(md, rng, unchosen)
            gains[step] = np.sqrt(md[i])
        picks[step] = i
        unchosen[i] = False
        np.minimum(md, sq_distances_to_row(pool, pool[i]), out=md)
    return picks, gains, np.sqrt(md)


class Coreset(Strategy):
    name = "coreset"
    description = "k-center greedy: each pick is the point farthest from everything labelled or picked so far."
    needs_model = False  # works from zero labels on the fixed embedding (docs/methods.md#cold-start)

    @dataclass
    class Options:
        embedding: str = "auto"   # "auto": model features h once labelled, fixed embedding before; "model"; "fixed"
        first: str = "random"     # first centre when nothing is labelled: "random" or "medoid"

    def validate_options(self) -> None:
        if self.options.embedding not in ("auto", "model", "fixed"):
            raise ValueError(f"embedding={self.options.embedding!r} is not valid; choose one of "
                             "['auto', 'model', 'fixed']")
        if self.options.first not in ("random", "medoid"):
            raise ValueError(f"first={self.options.first!r} is not valid; choose one of ['random', 'medoid']")

    def _space(self, state: PoolState) -> str:
        if self.options.embedding != "auto":
            return self.options.embedding
        untrained = state.train_result is not None and not state.train_result.trained
        return "fixed" if state.n_labeled == 0 or untrained else "model"

    def _select(self, state: PoolState, k: int, rng: np.random.Generator) -> Selection:
        space = self._space(state)
        if space == "fixed":
            fixed = state.fixed_embedding()
            pool, labeled = fixed[state.pool_idx], fixed[state.labeled_idx]
        else:  # penultimate features of the current model (logreg: its inputs), docs/methods.md#coreset
            pool = state.pool_h.numpy()
            labeled = predict(state.model, state.X[np.asarray(state.labeled_idx, dtype=np.int64)],
                              state.device)[1].numpy()
        picks, gains, nearest = k_center_greedy(pool, labeled, k, rng, self.options.first)
        utilities = np.full(state.n_pool, np.nan)
        utilities[picks] = gains
        diagnostics = {"embedding": space, "gains": gains, "radius_after": float(nearest.max())}
        return Selection(state.pool_idx[picks], utilities, diagnostics)
