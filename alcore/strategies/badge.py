"""BADGE (docs/methods.md#badge, Ash et al. 2020): k-means++ seeding over last-layer gradient embeddings.

The embedding of a pool point is ``g = a ⊗ h`` with ``a = p - onehot(argmax p)``; its norm is a lower bound on the
gradient norm for any label (uncertainty) and k-means++ spreads the batch out (diversity). For a regression model
``a = σ(x)``, the predictive spread, so ``g = σ h`` (docs/tasks.md#hallucinated-labels-in-regression). Distances come from the
factors (docs/methods.md#last-layer-embeddings, docs/methods.md#badge-computation), so the ``n x C·d`` matrix is never
built: ``O(n (C + d))`` memory, ``O(k n (C + d))`` time.

Sampling rule. The first centre is the largest-norm point (uniform among exact maximisers, docs/methods.md#ties). Each
later centre is drawn with probability ``D2_i / Σ D2`` where ``D2_i`` is the squared distance to the nearest chosen
centre (the docs/methods.md#badge pseudo-code). The reference keeps the Euclidean distance ``D`` and samples with
``D**2``: the same weights. A draw uses one uniform ``u`` (all ``k - 1`` drawn up front from the run's generator) and
returns the first ``i`` with ``cumsum(D2)[i] > u · Σ D2`` (float64 cumulative sum, then a binary search): the
inverse-CDF draw that ``rng.choice(p=...)`` also makes, without renormalising a probability vector at every step,
bit-deterministic for a seed on CPU. Chosen points have ``D2 = 0`` and zero-weight points are never returned, so an
index never repeats. When every remaining ``D2`` is 0 (all embeddings zero, or only duplicates of chosen points left)
the draw is uniform over the unchosen points, using the same ``u`` (docs/methods.md#badge-edge-cases). The distances are
``alcore.distances``': values below ``64·eps·(||g_i||² + ||g_c||²)`` are rounding noise of the expansion and count as 0,
so exact duplicates of a chosen point get exactly zero weight (BD7).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch

from alcore.distances import DistancesToCentre, noise_floor, sq_norms
from alcore.gradients import with_bias
from alcore.strategies.alignment import _typed
from alcore.strategies.base import PoolState, Selection, Strategy, argmax_random_tie
from alcore.threads import one_thread


def kmeanspp(a, h, k: int, rng: np.random.Generator, *, return_gains: bool = False,
             cuda_graph: bool | None = None):
    """k-means++ seeding in the space of ``g_i = a_i ⊗ h_i`` (rows of ``a`` (n, C) and ``h`` (n, d)).

    Returns the positions of the ``min(k, n)`` chosen rows in selection order (int64), and with ``return_gains`` also
    the squared distance ``D2`` of each pick at the moment it was chosen (the first pick: its squared norm).

    numpy arrays and CPU tensors run on CPU in their dtype (float32 or float64; the sampling is float64); CUDA
    tensors stay on the device: the uniforms are drawn up front from ``rng``, the draws use ``torch.cumsum`` and
    ``torch.searchsorted``, and no pick is copied to the host until the end (``cuda_graph``: replay the step as a CUDA
    graph; default on for ``k >= 64``).
    """
    if isinstance(a, torch.Tensor) and a.device.type != "cpu":
        return _kmeanspp_torch(a, h, k, rng, return_gains, cuda_graph)
    if isinstance(a, torch.Tensor):
        a, h = a.detach().numpy(), h.detach().numpy()
    return _kmeanspp_numpy(np.asarray(a), np.asarray(h), k, rng, return_gains)


def _kmeanspp_numpy(A: np.ndarray, H: np.ndarray, k: int, rng: np.random.Generator, return_gains: bool):
    n = len(A)
    k = max(0, min(int(k), n))
    picks = np.empty(k, dtype=np.int64)
    gains = np.empty(k, dtype=np.float64)
    if k == 0:
        return (picks, gains) if return_gains else picks
    to_centre = DistancesToCentre(A, H)
    gn = to_centre.sq_norms  # ||g_i||^2
    first = argmax_random_tie(gn, rng)
    u = rng.random(k - 1)
    D2 = np.full(n, np.inf, dtype=to_centre.dtype)
    cum = np.empty(n, dtype=np.float64)
    chosen = np.zeros(n, dtype=bool)
    c = first
    picks[0], gains[0] = c, gn[c]
    with _single_thread_blas(n * (A.shape[1] + H.shape[1])):
        for t in range(1, k):
            np.minimum(D2, to_centre(c), out=D2)  # D2 <- min(D2, ||g - g_c||^2)   (docs/methods.md#badge-computation)
            c = _next_centre(D2, c, chosen, cum, u[t - 1])
            picks[t], gains[t] = c, D2[c]
    return (picks, gains) if return_gains else picks


def _next_centre(D2: np.ndarray, c: int, chosen: np.ndarray, cum: np.ndarray, u: float) -> int:
    """Zero the centre just added, then draw the next one with probability ``D2 / ΣD2`` (see the module doc)."""
    D2[c] = 0
    chosen[c] = True
    np.cumsum(D2, dtype=np.float64, out=cum)
    total = cum[-1]
    if total > 0:
        nxt = int(np.searchsorted(cum, u * total, side="right"))
        if nxt >= len(D2):  # u·total rounded up to total: the last point with positive weight
            nxt = int(np.flatnonzero(D2)[-1])
        return nxt
    free = np.flatnonzero(~chosen)  # nothing left at positive distance: uniform over the unchosen (docs/methods.md#badge-edge-cases)
    return int(free[min(int(u * len(free)), len(free) - 1)])


def _single_thread_blas(size: int):
    """One BLAS thread for the matvec loop on large inputs (``alcore.threads``: safe for runs in threads).

    The products are memory-bound, so a second thread gains little, and on a busy machine a multi-threaded gemv
    that waits for a descheduled thread was measured 10-40x slower (n=50,000, d=128, 2 cores).
    """
    return one_thread("blas") if size >= 1_000_000 else contextlib.nullcontext()


def _kmeanspp_torch(A: torch.Tensor, H: torch.Tensor, k: int, rng: np.random.Generator, return_gains: bool,
                    cuda_graph: bool | None):
    device = A.device
    n = len(A)
    k = max(0, min(int(k), n))
    dtype = torch.promote_types(A.dtype, H.dtype)
    if not dtype.is_floating_point or dtype in (torch.float16, torch.bfloat16):
        dtype = torch.float32
    A = A.to(dtype).contiguous()
    H = H.to(dtype).contiguous()
    if k == 0:
        e = np.zeros(0, np.int64)
        return (e, np.zeros(0)) if return_gains else e
    C = A.shape[1]
    Z = torch.cat([A, H], dim=1)  # one (n, C+d) @ (C+d, 2) product per step reads A and H once
    gn = sq_norms(A, H)
    gn_host = gn.double().cpu().numpy()
    first = argmax_random_tie(gn_host, rng)  # the only host round-trip before the end
    u = torch.from_numpy(rng.random(k - 1)).to(device)
    eps = noise_floor(dtype)  # alcore.distances' duplicate rule, on the device
    eps_gn = gn * eps
    W = torch.zeros(Z.shape[1], 2, dtype=dtype, device=device)
    D2 = torch.full((n,), float("inf"), dtype=dtype, device=device)
    free = torch.ones(n, dtype=torch.float64, device=device)
    picks = torch.empty(k, dtype=torch.long, device=device)
    gains = torch.empty(k, dtype=torch.float64, device=device)
    cur = torch.full((1,), first, dtype=torch.long, device=device)
    t = torch.zeros(1, dtype=torch.long, device=device)
    picks[0] = first
    gains[0:1] = gn[cur].double()
    t += 1
    zero = torch.zeros((), dtype=torch.float64, device=device)

    def step() -> None:
        gn_c = gn.index_select(0, cur)
        W[:C, 0:1].copy_(A.index_select(0, cur).T)
        W[C:, 1:2].copy_(H.index_select(0, cur).T)
        S = Z @ W
        dist = torch.addcmul(gn, S[:, 0], S[:, 1], value=-2.0).add_(gn_c)
        dist.masked_fill_(dist < eps_gn + eps * gn_c, 0.0)
        torch.minimum(D2, dist, out=D2)
        D2.index_fill_(0, cur, 0.0)
        free.index_fill_(0, cur, 0.0)
        weights = D2.double()
        weights = torch.where(weights.sum() > 0, weights, free)
        cum = torch.cumsum(weights, 0)
        total = cum[-1:]
        x = torch.minimum(u.index_select(0, t - 1) * total, torch.nextafter(total, zero))
        nxt = torch.searchsorted(cum, x, right=True).clamp_(max=n - 1)
        picks.index_copy_(0, t, nxt)
        gains.index_copy_(0, t, D2.index_select(0, nxt).double())
        cur.copy_(nxt)
        t.add_(1)

    use_graph = (cuda_graph if cuda_graph is not None else k >= 64) and device.type == "cuda" and k > 2
    if use_graph:
        # The first real step runs on a side stream as the warm-up that capture needs (cuBLAS workspaces), then one
        # step is captured and replayed: the step reads its centre, counter and uniform from device tensors.
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            step()
        torch.cuda.current_stream(device).wait_stream(side)
        try:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                step()
        except RuntimeError:  # capture unsupported here: nothing was executed, finish eagerly
            graph = None
        torch.cuda.synchronize(device)
        for _ in range(k - 2):
            if graph is not None:
                graph.replay()
            else:
                step()
    else:
        for _ in range(k - 1):
            step()
    out = picks.cpu().numpy()
    return (out, gains.cpu().numpy()) if return_gains else out


class Badge(Strategy):
    name = "badge"
    description = "k-means++ over last-layer gradient embeddings: uncertain and diverse points."

    @dataclass
    class Options:
        bias: bool = False          # include the bias gradient (h~ = [h; 1]); the reference uses weights only
        float64: bool = True        # CPU arithmetic in float64 (float32 halves the time on large pools; CUDA: float32)

    def validate_options(self) -> None:
        _typed("bias", self.options.bias, bool)
        _typed("float64", self.options.float64, bool)

    def _select(self, state: PoolState, k: int, rng: np.random.Generator) -> Selection:
        a, h = state.pool_a, state.pool_h.double()
        if self.options.bias:
            h = with_bias(h)
        device = torch.device(state.device)
        if device.type == "cuda":
            a, h = a.float().to(device), h.float().to(device)
        elif not self.options.float64:
            a, h = a.float(), h.float()
        sq_norm = sq_norms(a, h)
        picks, gains = kmeanspp(a, h, k, rng, return_gains=True)
        utilities = np.full(state.n_pool, np.nan)
        utilities[picks] = gains  # the squared distance each point had when it was chosen (docs/methods.md#strategy-contract)
        diagnostics = {"mean_gradient_norm": float(torch.sqrt(sq_norm).mean())}
        # all-zero embeddings: kmeanspp's own rules make the picks uniform (docs/methods.md#badge-edge-cases); say why
        reason = "all_zero_embeddings" if bool(sq_norm.max() == 0) else None
        return Selection(state.pool_idx[picks], utilities, diagnostics, reason)
