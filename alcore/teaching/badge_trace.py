"""Step 3 of the tour: BADGE's k-means++ one pick at a time, with the D² probabilities before each pick, on a 2-D
map of the gradient embeddings (docs/methods.md#badge-computation)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alcore import distances, seeding
from alcore.records import CycleRecord
from alcore.strategies.badge import kmeanspp
from alcore.teaching.points import candidate_positions, keep_selected

#: Most points the k-means++ map and trace use (kernel PCA is O(n²) memory); more are subsampled, batch kept.
MAX_TRACE_POINTS = 1500


@dataclass
class KMeansPPTrace:
    """BADGE's seeding, step by step, over ``n`` candidates.

    ``picks``: positions chosen, in order. ``probabilities[t]``: the distribution pick ``t`` was drawn from
    (step 0: all mass on the largest-norm point(s); later: ``D2 / Σ D2``, or uniform over the unchosen when every
    ``D2`` is 0). ``d2[t]``: squared gradient distance of every candidate to its nearest centre before pick ``t``
    (step 0: the squared norms). ``pick_probability[t]``: the probability the actual pick had.
    """

    picks: np.ndarray
    probabilities: np.ndarray
    d2: np.ndarray
    pick_probability: np.ndarray
    sq_norms: np.ndarray


def kmeanspp_trace(a: np.ndarray, h: np.ndarray, k: int, rng: np.random.Generator) -> KMeansPPTrace:
    """Run ``badge.kmeanspp`` (the engine's own picks, same ``rng`` stream) and recompute, along its picks, the D²
    distribution each pick was drawn from, with BADGE's own distances (docs/methods.md#badge-computation):
    ``O(k n (C + d))`` time, ``O(k n)`` memory."""
    a = np.asarray(a, np.float64)
    h = np.asarray(h, np.float64)
    n = len(a)
    picks = np.asarray(kmeanspp(a, h, k, rng), dtype=np.int64)
    k = len(picks)
    to_centre = distances.DistancesToCentre(a, h)
    gn = to_centre.sq_norms
    probs = np.zeros((k, n))
    d2s = np.zeros((k, n))
    if k == 0:
        return KMeansPPTrace(picks, probs, d2s, np.zeros(0), gn)
    top = gn == gn.max()
    probs[0] = top / top.sum()
    d2s[0] = gn
    D2 = np.full(n, np.inf)
    chosen = np.zeros(n, dtype=bool)
    for t in range(1, k):
        c = picks[t - 1]
        D2 = np.minimum(D2, to_centre(c))
        chosen[c] = True
        D2[chosen] = 0.0
        d2s[t] = D2
        total = D2.sum()
        probs[t] = D2 / total if total > 0 else (~chosen) / (~chosen).sum()
    return KMeansPPTrace(picks, probs, d2s, probs[np.arange(k), picks], gn)


def gradient_map(a: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2-D coordinates of the gradient embeddings ``g = a ⊗ h`` by kernel PCA of the factorised Gram matrix
    ``K_ij = <a_i, a_j><h_i, h_j>`` (docs/methods.md#last-layer-embeddings; ``g`` is never built). Returns
    ``(coords (n, 2), explained)`` with ``explained`` the share of the total variance on each axis. Distances on the
    map approximate gradient distances."""
    a = np.asarray(a, np.float64)
    h = np.asarray(h, np.float64)
    n = len(a)
    if n == 0:
        return np.zeros((0, 2)), np.zeros(2)
    K = distances.gram(a, h)
    row = K.mean(0)
    Kc = K - row[None, :] - row[:, None] + row.mean()
    if n > 200:  # the two leading eigenpairs only (ARPACK), from a seeded start vector: reproducible
        from scipy.sparse.linalg import eigsh

        v0 = np.random.default_rng(0).standard_normal(n)
        vals, vecs = eigsh(Kc, k=2, which="LA", v0=v0)
        order = np.argsort(vals)[::-1]
        vals, vecs = vals[order], vecs[:, order]
    else:
        vals, vecs = np.linalg.eigh(Kc)
        vals, vecs = vals[::-1][:2], vecs[:, ::-1][:, :2]
    vals = np.clip(vals, 0.0, None)
    coords = vecs * np.sqrt(vals)[None, :]
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
        vals = np.pad(vals, (0, 2 - len(vals)))
    for j in range(2):  # a stable sign: the largest-|coordinate| point on the positive side
        if coords[np.argmax(np.abs(coords[:, j])), j] < 0:
            coords[:, j] *= -1
    total = max(float(np.trace(Kc)), 1e-300)
    return coords, vals / total


def badge_trace(record: CycleRecord, seed: int, max_points: int = MAX_TRACE_POINTS) -> dict[str, Any]:
    """BADGE's k-means++ on this cycle's displayed pool points, with the run's generator for this cycle.

    Returns ``trace`` (KMeansPPTrace over the candidates), ``positions`` (candidates as display positions),
    ``index`` (their global indices), ``coords`` and ``explained`` (``gradient_map``), ``k``, and ``matches_run``:
    True when the candidates are the whole pool and the picks are the run's own batch (a BADGE run, no fallback),
    with ``note`` saying why not otherwise. More than ``max_points`` candidates are subsampled (batch kept).
    """
    pos = candidate_positions(record)
    display = np.asarray(record.display_idx)
    whole_pool = len(pos) == len(record.pool_idx)
    note = None
    if len(pos) > max_points:
        rng = seeding.tour_rng(seed, record.cycle, seeding.TOUR_TRACE)
        pos = pos[keep_selected(display[pos], record.selected, max_points, rng)]
        whole_pool = False
    a = np.asarray(record.display_a, np.float64)[pos]
    h = np.asarray(record.display_h, np.float64)[pos]
    k = min(len(record.selected), len(pos))
    trace = kmeanspp_trace(a, h, k, seeding.strategy_rng(seed, record.cycle, "badge"))
    coords, explained = gradient_map(a, h)
    index = display[pos]
    matches = bool(whole_pool and record.strategy == "badge" and record.fallback_reason is None
                   and set(index[trace.picks].tolist()) == set(np.asarray(record.selected).tolist()))
    if not matches:
        if record.strategy != "badge":
            note = f"This run uses {record.strategy}: these are the picks BADGE would make on the same model."
        elif record.fallback_reason is not None:
            note = (f"At this cycle BADGE fell back ({record.fallback_reason}): the batch came from the cold-start "
                    "strategy; these are the picks BADGE's seeding makes on the untrained model.")
        elif not whole_pool:
            note = (f"The map shows {len(pos)} of the {len(record.pool_idx)} pool points, so the picks differ "
                    "from the run's batch.")
        else:
            note = "The stored (float32) factors moved a draw across a boundary: the picks differ from the run's."
    return {"trace": trace, "positions": pos, "index": index, "coords": coords, "explained": explained, "k": k,
            "matches_run": matches, "note": note}


def trace_frame(result: dict[str, Any], step: int) -> pd.DataFrame:
    """The map's table at pick ``step`` (0-based): coordinates, the probability of being pick ``step``, and each
    point's role: ``chosen`` (an earlier pick), ``this pick``, or ``candidate``."""
    trace: KMeansPPTrace = result["trace"]
    n = len(result["positions"])
    role = np.full(n, "candidate", dtype=object)
    role[trace.picks[:step]] = "chosen"
    role[trace.picks[step]] = "this pick"
    return pd.DataFrame({"x": result["coords"][:, 0], "y": result["coords"][:, 1], "index": result["index"],
                         "position": result["positions"], "probability": trace.probabilities[step],
                         "d2": trace.d2[step], "role": role,
                         "order": _pick_order(trace.picks, n)})


def _pick_order(picks: np.ndarray, n: int) -> np.ndarray:
    order = np.zeros(n, dtype=np.int64)
    order[picks] = np.arange(1, len(picks) + 1)
    return order
