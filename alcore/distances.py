"""Squared distances, Euclidean and in gradient space, with one rule for exact duplicates.

Every squared distance of the engine is computed here (docs/methods.md#last-layer-embeddings), except BADGE's CUDA
step, which fuses the same arithmetic on the device (for CUDA-graph capture) and takes its floor from here. In
gradient space a point is ``g = a ⊗ h``, known by its factors: ``<g_i, g_j> = <a_i, a_j><h_i, h_j>`` and
``||g_i||² = ||a_i||² ||h_i||²``, so a block of distances costs ``O(n m (C + d))`` and the ``n x C·d`` matrix is
never built.

The duplicate rule. Both kinds expand ``||x - y||² = ||x||² + ||y||² - 2<x, y>``; for two equal rows that leaves
rounding noise of a few ulps of ``||x||² + ||y||²``, of either sign, instead of 0. A value below
``noise_floor(dtype) · (||x||² + ||y||²)`` is that noise and becomes exactly 0 (negative values too), so exact
duplicates are at distance 0: BADGE gives a duplicate of a chosen centre no weight (docs/methods.md#badge-edge-cases),
k-center and ProbCover count duplicates as covered.

The order of the additions is part of a result: t-SNE turns a last-bit change of one distance into a visibly
different layout (measured on the digits map). Gradient-space distances accumulate in the Gram buffer
(``-2G``, then ``+ ||x||²``, then ``+ ||y||²``), as BADGE and the map always have; Euclidean distances subtract
``2<x, y>`` from ``||x||² + ||y||²``, as the fixed-embedding strategies always have. Both orders are kept so stored
runs and cached maps stay bit-identical.
"""
from __future__ import annotations

import numpy as np

from alcore.constants import DUPLICATE_ULPS

#: Entries of one block of a chunked distance computation (32 MB in float64).
CHUNK_ENTRIES = 2**22
#: Entries the duplicate rule handles at once (its work buffers stay in cache).
_RULE_ENTRIES = 2**15


def noise_floor(dtype) -> float:
    """``DUPLICATE_ULPS · eps`` of a numpy or torch float dtype: rounding noise relative to ``||x||² + ||y||²``."""
    if hasattr(dtype, "is_floating_point"):  # a torch dtype; torch is only imported when a tensor is already in use
        import torch

        return DUPLICATE_ULPS * torch.finfo(dtype).eps
    return DUPLICATE_ULPS * np.finfo(dtype).eps


def _zero_noise(d2: np.ndarray, floor_1: np.ndarray, floor_2, thr: np.ndarray | None = None,
                keep: np.ndarray | None = None) -> np.ndarray:
    """The duplicate rule, in place: ``d2 = 0`` where ``d2 < floor_1 + floor_2`` (each ``floor · ||.||²``, broadcast
    to ``d2``'s shape). ``thr`` and ``keep`` are optional work buffers of that shape (float, bool)."""
    thr = np.add(floor_1, floor_2, out=thr)
    keep = np.greater_equal(d2, thr, out=keep)
    return np.multiply(d2, keep, out=d2)


def _zero_noise_2d(d2: np.ndarray, floor_1: np.ndarray, floor_2: np.ndarray) -> np.ndarray:
    """The duplicate rule over a matrix (``floor_1`` per row, ``floor_2`` per column), a few rows at a time: the work
    buffers stay in cache and are allocated once, so the rule costs a fraction of computing the block."""
    n, m = d2.shape
    step = max(1, _RULE_ENTRIES // max(m, 1))
    thr, keep = np.empty((min(step, n), m), d2.dtype), np.empty((min(step, n), m), dtype=bool)
    for s in range(0, n, step):
        rows = d2[s:s + step]
        r = len(rows)
        _zero_noise(rows, floor_1[s:s + step, None], floor_2[None, :], thr[:r], keep[:r])
    return d2


def as_floats(*arrays) -> tuple[np.ndarray, ...]:
    """numpy arrays (CPU tensors too) in one float dtype: float64 stays float64, everything else at least float32."""
    arrays = [np.asarray(x) for x in arrays]
    dtype = np.result_type(*[x.dtype for x in arrays], np.float32)
    return tuple(np.asarray(x, dtype=dtype) for x in arrays)


def _row_sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


# --- gradient space: g = a ⊗ h -----------------------------------------------------------------------------------

def sq_norms(a, h):
    """``||g_i||² = ||a_i||² ||h_i||²``; torch tensors stay torch tensors (on their device)."""
    if type(a).__module__.startswith("torch"):
        return (a * a).sum(1) * (h * h).sum(1)
    a, h = as_floats(a, h)
    return _row_sq_norms(a) * _row_sq_norms(h)


def gram(a, h, a2=None, h2=None) -> np.ndarray:
    """``<g_i, g_j> = <a_i, a_j><h_i, h_j>`` between the rows of ``(a, h)`` and of ``(a2, h2)`` (default: the same
    rows), shape ``(n1, n2)``."""
    a, h = as_floats(a, h)
    a2 = a if a2 is None else np.asarray(a2, dtype=a.dtype)
    h2 = h if h2 is None else np.asarray(h2, dtype=h.dtype)
    G = a @ a2.T
    G *= h @ h2.T
    return G


def gradient_sq_distances(a, h, a2=None, h2=None, norms: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``||g_i - g_j||²`` between the rows of ``(a, h)`` and of ``(a2, h2)`` (default: the same rows, then the
    diagonal is exactly 0), from the factors only, with the duplicate rule.

    float64 factors give float64 distances, anything else float32. ``norms``: the squared norms of both sets when
    the caller keeps them (a map's blocks).
    """
    same = a2 is None and h2 is None
    a, h = as_floats(a, h)
    if not same:
        a2, h2 = np.asarray(a2, dtype=a.dtype), np.asarray(h2, dtype=a.dtype)
    D2 = gram(a, h, a2, h2)
    if norms is None:
        n1 = sq_norms(a, h)
        n2 = n1 if same else sq_norms(a2, h2)
    else:
        n1, n2 = (np.asarray(n, dtype=D2.dtype) for n in norms)
    D2 *= -2
    D2 += n1[:, None]
    D2 += n2[None, :]
    floor = noise_floor(D2.dtype)
    _zero_noise_2d(D2, floor * n1, floor * n2)
    if same:
        np.fill_diagonal(D2, 0)
    return D2


def cosine_similarities(a, h, a2=None, h2=None) -> np.ndarray:
    """``cos(g_i, g_j) = cos(a_i, a_j) cos(h_i, h_j)``; a zero gradient has cosine 0 with everything."""
    if a2 is None:
        return gram(normalize_rows(np.asarray(a)), normalize_rows(np.asarray(h)))
    return gram(normalize_rows(np.asarray(a)), normalize_rows(np.asarray(h)), normalize_rows(np.asarray(a2)),
                normalize_rows(np.asarray(h2)))


class DistancesToCentre:
    """``||g_i - g_c||²`` of every row ``i`` to one row ``c`` at a time, from the factors, with the duplicate rule:
    the step of k-means++ (BADGE, the Learn page's trace).

    The same arithmetic as ``gradient_sq_distances`` for one column, written into buffers allocated once, so a step
    costs two matrix-vector products and no allocation. The result is a buffer overwritten by the next call.

    ``workers`` row blocks are computed at once in threads (numpy releases the GIL in BLAS and ufunc loops): the
    step is memory-bound, and a second core adds its own bandwidth. A BLAS matrix-vector product gives every row
    the same bits whichever block the row is in, so the result does not depend on ``workers``. Threads that wait
    sleep rather than spin, so a busy machine slows a step by its share instead of stalling it (a multi-threaded
    BLAS gemv was measured 10-40x slower there).
    """

    def __init__(self, a, h, workers: int = 1) -> None:
        a, h = as_floats(a, h)
        self.a, self.h = np.ascontiguousarray(a), np.ascontiguousarray(h)
        self.dtype = self.a.dtype
        self.sq_norms = _row_sq_norms(self.a) * _row_sq_norms(self.h)
        self.floor = noise_floor(self.dtype)
        self._floor_norms = self.floor * self.sq_norms
        n = len(self.a)
        self._d2, self._sh, self._thr = np.empty(n, self.dtype), np.empty(n, self.dtype), np.empty(n, self.dtype)
        self._keep = np.empty(n, dtype=bool)
        self._blocks = row_blocks(n, workers)

    def __len__(self) -> int:
        return len(self.a)

    def __call__(self, c: int) -> np.ndarray:
        self._run(c, None)
        return self._d2

    def minimum_into(self, D2: np.ndarray, c: int) -> np.ndarray:
        """``D2 <- min(D2, ||g - g_c||²)`` in place, block by block (the k-means++ update); returns ``D2``."""
        self._run(c, D2)
        return D2

    def _run(self, c: int, D2: np.ndarray | None) -> None:
        ac = self.a[c] * self.dtype.type(-2.0)
        hc, gn_c, floor_c = self.h[c], self.sq_norms[c], self.floor * self.sq_norms[c]
        run_blocks(lambda s, e: self._block(s, e, ac, hc, gn_c, floor_c, D2), self._blocks)

    def _block(self, s: int, e: int, ac, hc, gn_c, floor_c, D2: np.ndarray | None) -> None:
        d2, sh = self._d2[s:e], self._sh[s:e]
        np.dot(self.a[s:e], ac, out=d2)
        np.dot(self.h[s:e], hc, out=sh)
        np.multiply(d2, sh, out=d2)
        np.add(d2, self.sq_norms[s:e], out=d2)
        d2 += gn_c
        _zero_noise(d2, self._floor_norms[s:e], floor_c, self._thr[s:e], self._keep[s:e])
        if D2 is not None:
            np.minimum(D2[s:e], d2, out=D2[s:e])


#: Rows of a block start at a multiple of this (whole SIMD groups of rows in a BLAS kernel).
_BLOCK_ALIGN = 64
_POOL = None


def row_blocks(n: int, workers: int) -> list[tuple[int, int]]:
    """``workers`` (at most) contiguous ``(start, end)`` row ranges covering ``range(n)``, starts aligned."""
    workers = max(1, min(int(workers), n // _BLOCK_ALIGN or 1))
    bounds = [min(n, (n * i // workers) // _BLOCK_ALIGN * _BLOCK_ALIGN) for i in range(workers)] + [n]
    return [(s, e) for s, e in zip(bounds[:-1], bounds[1:]) if e > s]


def _pool(workers: int):
    global _POOL
    if _POOL is None or _POOL._max_workers < workers:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alcore-rows")
    return _POOL


def run_blocks(fn, blocks: list[tuple[int, int]]) -> None:
    """``fn(start, end)`` for every block: the first in this thread, the others in worker threads, all at once."""
    if len(blocks) == 1:
        fn(*blocks[0])
        return
    futures = [_pool(len(blocks) - 1).submit(fn, s, e) for s, e in blocks[1:]]
    fn(*blocks[0])
    for f in futures:
        f.result()


def map_threads(fn, items: list, workers: int | None = None) -> list:
    """``[fn(item) for item in items]`` on ``workers`` threads (default: one per core, at most 2), in order.

    For numpy or torch work on independent pieces (both release the GIL): the result does not depend on the
    number of threads, and a thread that waits sleeps instead of spinning (see ``DistancesToCentre``).
    """
    workers = available_cores() if workers is None else workers
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    return list(_pool(workers).map(fn, items))


def available_cores(at_most: int = 2) -> int:
    """Cores this process may run on, at most ``at_most`` (memory-bound loops gain little beyond two)."""
    import os

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(at_most, cores))


# --- Euclidean ---------------------------------------------------------------------------------------------------

def sq_distances(P, Q=None) -> np.ndarray:
    """Squared Euclidean distances ``(len(P), len(Q))`` in float64 (``Q`` default: ``P``), with the duplicate rule."""
    P = np.asarray(P, dtype=np.float64)
    Q = P if Q is None else np.asarray(Q, dtype=np.float64)
    pn = _row_sq_norms(P)
    qn = pn if Q is P else _row_sq_norms(Q)
    d2 = pn[:, None] + qn[None, :]
    d2 -= 2.0 * (P @ Q.T)
    floor = noise_floor(np.float64)
    return _zero_noise_2d(d2, floor * pn, floor * qn)


def min_sq_distances(P, Q, chunk_entries: int = CHUNK_ENTRIES) -> np.ndarray:
    """For each row of ``P``, the squared distance to its nearest row of ``Q`` (``inf`` when ``Q`` is empty).

    Blocks of at most ``chunk_entries`` distances at a time: time ``O(|P| |Q| d)``, memory ``O(chunk_entries)``.
    """
    out = np.full(len(P), np.inf)
    if len(Q) == 0 or len(P) == 0:
        return out
    q_step = max(1, min(len(Q), chunk_entries))
    p_step = max(1, chunk_entries // q_step)
    for p0 in range(0, len(P), p_step):
        rows = P[p0:p0 + p_step]
        best = out[p0:p0 + p_step]
        for q0 in range(0, len(Q), q_step):
            np.minimum(best, sq_distances(rows, Q[q0:q0 + q_step]).min(axis=1), out=best)
    return out


def sq_distances_to_row(P: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``||p_i - x||²`` for every row of ``P`` from the differences: exact, no expansion and so no noise to zero
    (k-center's running minimum, one centre at a time)."""
    diff = P - x
    return np.einsum("ij,ij->i", diff, diff)


# --- rows --------------------------------------------------------------------------------------------------------

def normalize_rows(x, eps: float = 0.0):
    """Rows scaled to unit L2 norm; a row of norm ``<= eps`` is left as it is, so a zero row stays zero
    (``normalize(0) = 0``, docs/methods.md#less-in-this-engine). numpy arrays or torch tensors."""
    if isinstance(x, np.ndarray):
        n = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(n > eps, n, 1.0)
    import torch

    n = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    return x / torch.where(n > eps, n, torch.ones_like(n))
