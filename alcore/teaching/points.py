"""Steps 1-2 of the tour: which cycle and which points to look at, one point's hallucinated label and gradient norm,
and the gradient norm against uncertainty over the pool (docs/methods.md#badge)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from alcore import distances
from alcore.metrics import spearman
from alcore.records import CycleRecord


def tour_cycle(records: list[CycleRecord]) -> int | None:
    """The cycle the tour shows by default: the latest one that selected a batch with a trained model (labels
    > 0); else the latest that selected anything; None when no cycle selected a batch yet."""
    selecting = [r for r in records if len(r.selected) and not r.is_final]
    trained = [r for r in selecting if r.n_labeled > 0]
    pick = trained or selecting
    return pick[-1].cycle if pick else None


def keep_selected(values: np.ndarray, selected: np.ndarray, max_points: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions into ``values`` of every value in ``selected`` plus a seeded draw of the others, up to
    ``max_points`` in all (the batch is always kept)."""
    in_batch = np.isin(values, selected)
    keep = np.flatnonzero(in_batch)
    extra = rng.choice(np.flatnonzero(~in_batch), max(0, max_points - len(keep)), replace=False)
    return np.sort(np.concatenate([keep, extra]))


def candidate_positions(record: CycleRecord) -> np.ndarray:
    """Positions (into the display subset) of the display points still in the pool at this cycle, ordered by
    global index, as the pool is."""
    display = np.asarray(record.display_idx)
    order = np.argsort(display, kind="stable")
    in_pool = np.isin(display[order], np.asarray(record.pool_idx))
    return order[in_pool]


def example_points(record: CycleRecord) -> dict[str, int]:
    """A few points worth looking at, as positions into the display subset: the largest gradient norm in the pool
    (BADGE's first pick), the most confident pool point, and the first point of the batch if it is displayed."""
    pos = candidate_positions(record)
    if len(pos) == 0:
        pos = np.arange(len(record.display_idx))
    if len(pos) == 0:
        return {}
    a = np.asarray(record.display_a, np.float64)[pos]
    h = np.asarray(record.display_h, np.float64)[pos]
    p = np.asarray(record.display_probs, np.float64)[pos]
    gn = np.sqrt(distances.sq_norms(a, h))
    out = {"largest gradient norm (BADGE's first pick)": int(pos[int(np.argmax(gn))]),
           "most confident point": int(pos[int(np.argmax(p.max(1)))]),
           "least confident point": int(pos[int(np.argmin(p.max(1)))])}
    shown = np.flatnonzero(np.isin(record.display_idx, record.selected[:1]))
    if len(shown):
        out["first point of the batch"] = int(shown[0])
    return out


def point_gradient(record: CycleRecord, position: int, labels: np.ndarray | None = None) -> dict[str, Any]:
    """One display point's numbers: ``probs``, the hallucinated label ``y_hat = argmax p`` (lowest index on ties),
    ``a = p - e_ŷ``, ``a_norm``, ``h_norm``, ``g_norm = ||a||·||h||`` (= ||dL/dW|| at label ŷ), ``entropy``, its global
    ``index`` and, when ``labels`` (the dataset's labels) are given, its ``true_label``."""
    p = np.asarray(record.display_probs[position], np.float64)
    h = np.asarray(record.display_h[position], np.float64)
    y_hat = int(np.argmax(p))
    a = p.copy()
    a[y_hat] -= 1.0
    index = int(record.display_idx[position])
    out = {"index": index, "position": int(position), "probs": p, "y_hat": y_hat, "p_max": float(p[y_hat]),
           "a": a, "a_norm": float(np.linalg.norm(a)), "h_norm": float(np.linalg.norm(h)),
           "entropy": float(-(p[p > 0] * np.log(p[p > 0])).sum())}
    out["g_norm"] = out["a_norm"] * out["h_norm"]
    out["true_label"] = int(labels[index]) if labels is not None else None
    return out


def label_gradient_norms(probs: np.ndarray, h_norm: float) -> pd.DataFrame:
    """For every label ``y``: ``p_y``, ``||a^y|| = ||p - e_y|| = sqrt(||p||² + 1 - 2 p_y)`` and
    ``||g^y|| = ||a^y||·||h||`` (docs/methods.md#badge, Proposition 1). The hallucinated label ``ŷ = argmax p`` has
    the smallest, so BADGE's norm is a lower bound on the gradient norm the true label will produce."""
    p = np.asarray(probs, np.float64)
    a_norm = np.sqrt(np.clip((p * p).sum() + 1.0 - 2.0 * p, 0.0, None))
    return pd.DataFrame({"label": np.arange(len(p)), "p": p, "a_norm": a_norm, "g_norm": a_norm * float(h_norm),
                         "hallucinated": np.arange(len(p)) == int(np.argmax(p))})


def uncertainty_frame(record: CycleRecord) -> pd.DataFrame:
    """Per pool point of the display subset: gradient norm ``||a||·||h||``, ``||a||``, ``||h||``, predictive entropy,
    confidence ``max p``, hallucinated label, and whether it was in this cycle's batch. ``attrs["spearman"]``: rank
    correlation of ``||a||`` with entropy (near 1: ``||a||`` measures uncertainty; ``||h||`` adds a per-point scale)."""
    pos = candidate_positions(record)
    p = np.asarray(record.display_probs, np.float64)[pos]
    a = np.asarray(record.display_a, np.float64)[pos]
    h = np.asarray(record.display_h, np.float64)[pos]
    a_norm, h_norm = np.linalg.norm(a, axis=1), np.linalg.norm(h, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(p > 0, p * np.log(p), 0.0).sum(1)
    df = pd.DataFrame({"position": pos, "index": np.asarray(record.display_idx)[pos], "g_norm": a_norm * h_norm,
                       "a_norm": a_norm, "h_norm": h_norm, "entropy": ent, "confidence": p.max(1) if len(p) else [],
                       "y_hat": p.argmax(1) if len(p) else [],
                       "selected": np.isin(np.asarray(record.display_idx)[pos], record.selected)})
    df.attrs["spearman_a_entropy"] = spearman(a_norm, ent)
    df.attrs["spearman_g_entropy"] = spearman(a_norm * h_norm, ent)
    return df
