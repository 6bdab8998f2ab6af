"""ProbCover (docs/methods.md#probcover; Yehuda, Dekel, Hacohen & Weinshall, NeurIPS 2022): greedy max coverage.

On the L2-normalised fixed embedding, a point covers every point closer than δ. Greedily pick the candidate that
covers the most points not yet covered by ``L ∪ S``. δ is the largest grid value whose ball purity (all points in
the ball share the k-means pseudo-label, k = C) reaches α.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from alcore import seeding
from alcore.distances import CHUNK_ENTRIES, sq_distances
from alcore.spaces import l2_normalize
from alcore.strategies.base import PoolState, Selection, Strategy, argmax_random_tie
from alcore.strategies.typiclust import cluster

DEFAULT_DELTAS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0)  # scikit-activeml's grid
DEGREE_WARNING = 1000


def _row_blocks(n: int):
    step = max(1, CHUNK_ENTRIES // max(n, 1))
    for s in range(0, n, step):
        yield s, min(n, s + step)


def purity_and_edges(Z: np.ndarray, pseudo_labels: np.ndarray, deltas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each δ of ``deltas``: purity π(δ), the fraction of rows whose open ball ``{y : |f(x) - f(y)| < δ}`` holds
    one pseudo-label only, and the number of directed edges (self-loops included) the graph would have.

    One pass over row blocks: a ball of radius δ is pure iff δ <= the distance to the nearest row with another
    pseudo-label. Time ``O(n² d)``, memory ``O(n + block)``.
    """
    Z = np.asarray(Z, dtype=np.float64)
    deltas = np.asarray(deltas, dtype=np.float64)
    n = len(Z)
    pseudo_labels = np.asarray(pseudo_labels)
    pure = np.zeros(len(deltas))
    edges = np.zeros(len(deltas), dtype=np.int64)
    sq = deltas**2
    for s, e in _row_blocks(n):
        d2 = sq_distances(Z[s:e], Z)
        other = pseudo_labels[s:e, None] != pseudo_labels[None, :]
        nearest_impure = np.where(other, d2, np.inf).min(axis=1)
        pure += (sq[None, :] <= nearest_impure[:, None]).sum(axis=0)
        # edges with d2 < δ²: bucket every distance by the first threshold above it, then cumulate
        bucket = np.searchsorted(sq, d2.ravel(), side="right")
        edges += np.cumsum(np.bincount(bucket, minlength=len(sq) + 1))[:len(sq)]
    return pure / max(n, 1), edges


def choose_delta(purity: np.ndarray, deltas: np.ndarray, alpha: float, edges: np.ndarray | None = None,
                 max_edges: int | None = None) -> tuple[float, dict]:
    """The largest δ with ``purity >= alpha`` (scikit-activeml semantics); the smallest δ when none reaches α.

    With ``max_edges`` the choice is further limited to graphs that fit in memory (said in the returned notes).
    """
    deltas = np.asarray(deltas, dtype=np.float64)
    ok = purity >= alpha
    notes: dict = {}
    if not ok.any():
        notes["warning"] = (f"no delta on the grid reaches purity alpha={alpha} (max purity {purity.max():.3f}); "
                            f"using the smallest delta {deltas.min():g}")
        return float(deltas.min()), notes
    if edges is not None and max_edges is not None:
        fits = ok & (edges <= max_edges)
        if not fits.any():
            small = edges <= max_edges
            if not small.any():
                return float(deltas.min()), notes  # coverage_graph will say the graph is too large
            notes["warning"] = (f"every delta with purity >= {alpha} gives more than max_edges={max_edges} edges; "
                                f"using the largest delta that fits, {deltas[small].max():g}")
            return float(deltas[small].max()), notes
        if deltas[fits].max() < deltas[ok].max():
            notes["delta_reduced_for_memory"] = float(deltas[ok].max())
        ok = fits
    return float(deltas[ok].max()), notes


def coverage_graph(Z: np.ndarray, delta: float, max_edges: int | None = None) -> sp.csr_matrix:
    """Boolean CSR adjacency ``x -> y`` iff ``|Z_x - Z_y| < delta`` (self-loops included), built in row blocks.

    Every row block is kept (the official code's ``range(n // batch_size)`` drops the last partial batch,
    docs/methods.md#reference-pitfalls). The relation is symmetric, so row ``i`` lists both the points ``i`` covers and
    the points that cover ``i``. Raises ``ValueError`` if the graph would exceed ``max_edges`` edges.
    """
    Z = np.asarray(Z, dtype=np.float64)
    n = len(Z)
    indptr = np.zeros(n + 1, dtype=np.int64)
    indices, total = [], 0
    for s, e in _row_blocks(n):
        rows, cols = np.nonzero(sq_distances(Z[s:e], Z) < delta**2)
        total += len(cols)
        if max_edges is not None and total > max_edges:
            raise ValueError(f"delta={delta:g} gives more than max_edges={max_edges} edges "
                             f"(average degree > {max_edges / n:.0f}); choose a smaller delta")
        indptr[s + 1:e + 1] = np.bincount(rows, minlength=e - s)
        indices.append(cols.astype(np.int32))
    np.cumsum(indptr, out=indptr)
    idx = np.concatenate(indices) if indices else np.zeros(0, np.int32)
    return sp.csr_matrix((np.ones(len(idx), dtype=bool), idx, indptr), shape=(n, n))


def greedy_max_coverage(graph: sp.csr_matrix, covered: np.ndarray, is_candidate: np.ndarray, k: int,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Greedy max coverage on a symmetric ``graph`` (docs/methods.md#probcover).

    ``covered``: rows already covered (balls of the labelled set). Each step picks the candidate with the most
    uncovered neighbours (uniform among ties, docs/methods.md#ties) and marks them covered; degrees are updated
    incrementally (``O(K · E)`` worst case). When no candidate covers anything new, the remaining picks are uniform
    among unchosen candidates. Returns row positions, the gain of each pick, the covered fraction after each pick, and
    how many picks were made by that fallback.
    """
    indptr, indices = graph.indptr, graph.indices
    n = graph.shape[0]
    uncovered = ~np.asarray(covered, dtype=bool)
    open_ = np.asarray(is_candidate, dtype=bool).copy()
    running = np.concatenate([[0], np.cumsum(uncovered[indices], dtype=np.int64)])
    degree = running[indptr[1:]] - running[indptr[:-1]]  # uncovered neighbours of every row
    del running
    picks, gains, trace, n_fallback = [], [], [], 0
    for _ in range(min(int(k), int(open_.sum()))):
        if degree[open_].max() > 0:
            i = argmax_random_tie(degree, rng, open_)
        else:  # coverage complete: argmax of all-zero degrees would return an arbitrary (even labelled) row
            i = int(rng.choice(np.flatnonzero(open_)))
            n_fallback += 1
        gains.append(int(degree[i]))
        nbrs = indices[indptr[i]:indptr[i + 1]]
        newly = nbrs[uncovered[nbrs]]
        uncovered[newly] = False
        if len(newly):  # every point that had a newly covered neighbour loses one from its degree
            degree -= np.bincount(graph[newly].indices, minlength=n)
        open_[i] = False
        picks.append(i)
        trace.append(1.0 - uncovered.mean())
    return (np.asarray(picks, dtype=np.int64), np.asarray(gains, dtype=np.float64), np.asarray(trace), n_fallback)


def covered_by(graph: sp.csr_matrix, centres: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows inside the balls of ``centres``."""
    mask = np.zeros(graph.shape[0], dtype=bool)
    if len(centres):
        mask[graph[np.asarray(centres)].indices] = True
    return mask


class ProbCover(Strategy):
    name = "probcover"
    description = "ProbCover: greedy max coverage of δ-balls in a fixed embedding (cold start)."
    needs_model = False

    @dataclass
    class Options:
        delta: float | None = None                         # None: chosen by the purity rule below
        alpha: float = 0.95                                # purity threshold
        deltas: tuple = field(default_factory=lambda: DEFAULT_DELTAS)  # candidate radii for the purity rule
        n_init: int = 3                                    # k-means restarts for the pseudo-labels
        max_edges: int = 50_000_000                        # graph memory guard (int32 indices: 200 MB)

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self._cache: tuple | None = None  # (key, delta, notes, graph): identical every cycle of a run

    def validate_options(self) -> None:
        o = self.options
        if o.delta is not None and not (isinstance(o.delta, (int, float)) and o.delta > 0):
            raise ValueError(f"delta={o.delta!r} is not valid; it must be a number > 0 or None (automatic)")
        if not 0 < o.alpha < 1:
            raise ValueError(f"alpha={o.alpha!r} is not valid; it must lie in (0, 1)")
        grid = np.asarray(o.deltas, dtype=np.float64)
        if grid.ndim != 1 or len(grid) == 0 or (grid <= 0).any():
            raise ValueError(f"deltas={o.deltas!r} is not valid; it must be a non-empty list of numbers > 0")
        if int(o.n_init) < 1 or int(o.max_edges) < 1:
            raise ValueError("n_init and max_edges must be integers >= 1")

    def graph(self, state: PoolState, Z: np.ndarray, rows: np.ndarray) -> tuple[float, dict, sp.csr_matrix]:
        """δ and the coverage graph over ``rows``; cached, since both depend only on the rows, the fixed embedding
        and the run seed (the k-means for purity is seeded from the run seed, not the cycle, so δ is the same every
        cycle and coverage can only grow, PC2)."""
        o = self.options
        key = (zlib.crc32(rows.tobytes()), zlib.crc32(np.ascontiguousarray(Z).tobytes()), state.seed,
               state.task.n_clusters(), o.delta, o.alpha, tuple(o.deltas), o.n_init, o.max_edges)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1:]
        notes: dict = {}
        if o.delta is not None:
            delta = float(o.delta)
        else:
            grid = np.sort(np.asarray(o.deltas, dtype=np.float64))
            seed = seeding.strategy_run_seed(state.seed, self.name)
            pseudo = cluster(Z, state.task.n_clusters(), seed, n_init=int(o.n_init))  # classes, or quantile bins' count
            purity, edges = purity_and_edges(Z, pseudo, grid)
            delta, notes = choose_delta(purity, grid, o.alpha, edges, int(o.max_edges))
            notes["purity"] = dict(zip(grid.tolist(), purity.tolist()))
        graph = coverage_graph(Z, delta, int(o.max_edges))
        avg_degree = graph.nnz / max(graph.shape[0], 1)
        notes["average_degree"] = avg_degree
        if avg_degree > DEGREE_WARNING:
            notes["degree_warning"] = (f"average degree {avg_degree:.0f} > {DEGREE_WARNING}: delta is probably "
                                       "too large")
        self._cache = (key, delta, notes, graph)
        return delta, notes, graph

    def _select(self, state: PoolState, k: int, rng: np.random.Generator) -> Selection:
        # rows in global-index order: the same every cycle of a run (L ∪ U is the pool split), so δ and the graph
        # are computed once and reused
        pool = np.asarray(state.pool_idx, np.int64)
        rows = np.sort(np.concatenate([np.asarray(state.labeled_idx, np.int64), pool]))
        Z = l2_normalize(np.asarray(state.fixed_embedding(), dtype=np.float64)[rows])
        delta, notes, graph = self.graph(state, Z, rows)
        is_candidate = np.isin(rows, pool)
        covered = covered_by(graph, np.flatnonzero(~is_candidate))
        picks, gains, trace, n_fallback = greedy_max_coverage(graph, covered, is_candidate, k, rng)
        order = np.argsort(pool, kind="stable")
        positions = order[np.searchsorted(pool, rows[picks], sorter=order)]
        utilities = np.full(state.n_pool, np.nan)
        utilities[positions] = gains
        diagnostics = {"delta": delta, "gains": gains, "coverage_before": float(covered.mean()),
                       "coverage_after": trace, "n_coverage_complete_picks": n_fallback, **notes}
        reason = "coverage_complete" if n_fallback else None
        return Selection(state.pool_idx[positions], utilities, diagnostics, reason)
