"""The numbers of the Learn page's guided tour, computed from a stored run (STRATEGIES.md §1.1, §1.5, §3, §6, §7).

Each function takes a run's cycle record (and, for the target-aware steps, a model rebuilt for that cycle) and
returns plain arrays and tables; the page only explains and draws them.

1. ``point_gradient``: one point's probabilities, hallucinated label ``ŷ = argmax p``, ``a = p - e_ŷ`` and
   ``||g|| = ||a||·||h||``.
2. ``label_gradient_norms``: ``||g^y|| = sqrt(||p||² + 1 - 2 p_y)·||h||`` for every label ``y`` (Proposition 1: the
   hallucinated label gives the smallest, so ``||g^ŷ||`` is a lower bound whatever the true label);
   ``uncertainty_frame``: gradient norm against entropy and confidence over the pool.
3. ``kmeanspp_trace`` / ``badge_trace``: BADGE's k-means++ picks one at a time with the D² probabilities before
   each pick, on a 2-D ``gradient_map`` (kernel PCA of the factorised Gram matrix).
4. ``alignment_scores``: ``s(x) = <∇ℓ(x, ŷ), G_T>`` with the target gradient ``G_T``, by the alignment strategy's
   own scoring (one JVP over all parameters), and its last-layer form ``a^T M h~`` split into ``||g||·||M||·cos``.
5. ``less_features``: LESS's scores (``Less.scores``) with Adam features ``Γ = m'/sqrt(v' + ε)`` and with plain SGD
   features ``g``, the cosine between the two features, and the spread of each.

Steps 4-5 need the model of that cycle. Records do not store weights, so ``replay`` rebuilds it: the same data,
split, labelled set and seeds retrain the same model on CPU (``replay_error`` reports how closely its display
probabilities match the stored ones). Nothing here imports streamlit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from alcore import gradients
from alcore.config import ExperimentConfig
from alcore.models import predict
from alcore.records import CycleRecord
from alcore.strategies.badge import kmeanspp
from alcore.strategies.base import PoolState, strategy_rng

#: Most points the k-means++ map and trace use (kernel PCA is O(n²) memory); more are subsampled, batch kept.
MAX_TRACE_POINTS = 1500
#: Most pool points the replayed scores use; more are subsampled (seeded), batch kept.
MAX_SCORE_POINTS = 5000
#: Above this many gradient entries (pool points x parameters) the LESS step uses the last layer only.
MAX_GRADIENT_ENTRIES = 3_000_000
_EPS_FACTOR = 64.0  # the rounding threshold of badge.kmeanspp's factorised distances


# --- which cycle and which points ----------------------------------------------------------------------------

def tour_cycle(records: list[CycleRecord]) -> int | None:
    """The cycle the tour shows by default: the latest one that selected a batch with a trained model (labels
    > 0); else the latest that selected anything; None when no cycle selected a batch yet."""
    selecting = [r for r in records if len(r.selected) and not r.is_final]
    trained = [r for r in selecting if r.n_labeled > 0]
    pick = trained or selecting
    return pick[-1].cycle if pick else None


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
    gn = np.sqrt(gradients.sq_norms(a, h))
    out = {"largest gradient norm (BADGE's first pick)": int(pos[int(np.argmax(gn))]),
           "most confident point": int(pos[int(np.argmax(p.max(1)))]),
           "least confident point": int(pos[int(np.argmin(p.max(1)))])}
    shown = np.flatnonzero(np.isin(record.display_idx, record.selected[:1]))
    if len(shown):
        out["first point of the batch"] = int(shown[0])
    return out


# --- step 1-2: the hallucinated label and the gradient norm ----------------------------------------------------

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
    ``||g^y|| = ||a^y||·||h||`` (§3.1, Proposition 1). The hallucinated label ``ŷ = argmax p`` has the smallest, so
    BADGE's norm is a lower bound on the gradient norm the true label will produce."""
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
    df.attrs["spearman_a_entropy"] = _spearman(a_norm, ent)
    df.attrs["spearman_g_entropy"] = _spearman(a_norm * h_norm, ent)
    return df


# --- step 3: k-means++ one pick at a time ----------------------------------------------------------------------

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
    distribution each pick was drawn from (§3.1, §3.2): ``O(k n (C + d))`` time, ``O(k n)`` memory."""
    a = np.asarray(a, np.float64)
    h = np.asarray(h, np.float64)
    n = len(a)
    picks = np.asarray(kmeanspp(a, h, k, rng), dtype=np.int64)
    k = len(picks)
    gn = gradients.sq_norms(a, h)
    probs = np.zeros((k, n))
    d2s = np.zeros((k, n))
    if k == 0:
        return KMeansPPTrace(picks, probs, d2s, np.zeros(0), gn)
    top = gn == gn.max()
    probs[0] = top / top.sum()
    d2s[0] = gn
    eps = _EPS_FACTOR * np.finfo(np.float64).eps
    D2 = np.full(n, np.inf)
    chosen = np.zeros(n, dtype=bool)
    for t in range(1, k):
        c = picks[t - 1]
        dist = gn + gn[c] - 2.0 * (a @ a[c]) * (h @ h[c])
        dist[dist < eps * (gn + gn[c])] = 0.0
        D2 = np.minimum(D2, dist)
        chosen[c] = True
        D2[chosen] = 0.0
        d2s[t] = D2
        total = D2.sum()
        probs[t] = D2 / total if total > 0 else (~chosen) / (~chosen).sum()
    return KMeansPPTrace(picks, probs, d2s, probs[np.arange(k), picks], gn)


def gradient_map(a: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2-D coordinates of the gradient embeddings ``g = a ⊗ h`` by kernel PCA of the factorised Gram matrix
    ``K_ij = <a_i, a_j><h_i, h_j>`` (§1.1; ``g`` is never built). Returns ``(coords (n, 2), explained)`` with
    ``explained`` the share of the total variance on each axis. Distances on the map approximate gradient distances."""
    a = np.asarray(a, np.float64)
    h = np.asarray(h, np.float64)
    n = len(a)
    if n == 0:
        return np.zeros((0, 2)), np.zeros(2)
    K = gradients.inner_products(a, h)
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
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(record.cycle), 11]))
        in_batch = np.isin(display[pos], record.selected)
        others = np.flatnonzero(~in_batch)
        keep = np.flatnonzero(in_batch)
        extra = rng.choice(others, max(0, max_points - len(keep)), replace=False)
        pos = pos[np.sort(np.concatenate([keep, extra]))]
        whole_pool = False
    a = np.asarray(record.display_a, np.float64)[pos]
    h = np.asarray(record.display_h, np.float64)[pos]
    k = min(len(record.selected), len(pos))
    trace = kmeanspp_trace(a, h, k, strategy_rng(seed, record.cycle, "badge"))
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


# --- the model of a cycle, rebuilt -----------------------------------------------------------------------------

@dataclass
class Replay:
    """A run's cycle rebuilt: its data, split, labelled set and the model trained on it."""

    config: ExperimentConfig
    record: CycleRecord
    experiment: Any                # the loop.Experiment holding data, split and settings (never stepped)
    model: Any
    train_result: Any
    replay_error: float            # max |p - p_stored| over the display subset (0 when the retraining is exact)
    approximate: bool              # warm-start runs are retrained from scratch: close, not identical
    notes: list[str] = field(default_factory=list)

    @property
    def X(self) -> torch.Tensor:
        return self.experiment.X

    @property
    def y(self) -> np.ndarray:
        return self.experiment.y

    @property
    def pool(self) -> np.ndarray:
        return np.asarray(self.record.pool_idx, np.int64)

    def pool_state(self, pool: np.ndarray, target: np.ndarray) -> PoolState:
        """What a strategy would see at this cycle, restricted to ``pool`` and with ``target`` as the target set."""
        exp, labeled = self.experiment, np.asarray(self.record.labeled_idx, np.int64)
        return PoolState(X=exp.X, pool_idx=np.asarray(pool, np.int64), labeled_idx=labeled, labeled_y=exp.y[labeled],
                         target_idx=np.asarray(target, np.int64), target_y=exp.y[target], n_classes=exp.n_classes,
                         model=self.model, train_result=self.train_result, train_settings=exp.train_settings,
                         sample_shape=tuple(exp.dataset.sample_shape), device=exp.device, cycle=self.record.cycle,
                         seed=self.config.seed, cold_start_strategy=self.config.cold_start_strategy)


def replay(config: ExperimentConfig, record: CycleRecord, dataset=None) -> Replay:
    """Retrain the model of ``record``'s cycle (same data, split, labels and training seed as the run)."""
    from alcore.loop import Experiment

    exp = Experiment(config, dataset=dataset)  # no run_dir: nothing is written
    model, result = exp.train_cycle(record.cycle, record.labeled_idx)
    logits, _ = predict(model, exp.X[np.asarray(record.display_idx)], exp.device)
    p = torch.softmax(logits.double(), 1).numpy()
    err = float(np.abs(p - record.display_probs).max()) if p.size and record.display_probs.size else 0.0
    notes = []
    if config.warm_start:
        notes.append("This run continues training across cycles (warm start); the tour retrains this cycle's "
                     "model from its initialisation, so its numbers are close to the run's, not identical.")
    return Replay(config=config, record=record, experiment=exp, model=model, train_result=result,
                  replay_error=err, approximate=bool(config.warm_start), notes=notes)


def _score_subset(rep: Replay, max_points: int) -> np.ndarray:
    """The pool points the replayed scores cover: all, or a seeded subsample keeping the batch."""
    pool = rep.pool
    if len(pool) <= max_points:
        return pool
    rng = np.random.default_rng(np.random.SeedSequence([rep.config.seed, rep.record.cycle, 13]))
    batch = np.isin(pool, rep.record.selected)
    extra = rng.choice(np.flatnonzero(~batch), max(0, max_points - int(batch.sum())), replace=False)
    return pool[np.sort(np.concatenate([np.flatnonzero(batch), extra]))]


def target_set(rep: Replay) -> tuple[np.ndarray, str]:
    """The run's target set, or the test set as a stand-in when the run has none (said in the second value)."""
    split = rep.experiment.split
    if len(split.target):
        return split.target, "target"
    return split.test, "test set (stand-in: this run has no target set)"


def _run_options(rep: Replay, strategy: str) -> dict[str, Any]:
    """The run's own options when it uses ``strategy`` (so the tour's numbers are the run's), else the defaults."""
    return dict(rep.config.strategy_options) if rep.config.strategy == strategy else {}


# --- step 4: gradient alignment --------------------------------------------------------------------------------

def alignment_scores(rep: Replay, k: int | None = None, max_points: int = MAX_SCORE_POINTS) -> dict[str, Any]:
    """Gradient alignment with the target set (§7), by the alignment strategy's own scoring, for the rebuilt model.

    ``frame``: per pool point, ``score``: for an alignment run its own rule's score (its options, the strategy's
    defaults for the rest), for any other run ``<∇θ ℓ(x, ŷ), G_T>`` on all parameters (one JVP, §1.3); the last-layer
    form ``score_last = a^T M h~`` with ``M = mean_z a_z h~_z^T`` (true
    target labels) split as ``g_norm · ||M|| · cosine`` (``g_norm = ||a||·||h~||``: the uncertainty half,
    ``cosine``: the alignment half); ``rank`` by score; ``in_batch`` (the run's batch). Also ``top`` (global
    indices of the top-``k``; for an alignment run whose rule is not a top-k of the score, e.g. its default diverse
    draw, the batch its own ``select`` replays), ``g_t_norm`` (``||G_T||``), ``m_norm`` (``||M||_F``), ``spearman_last_full``,
    ``spearman_norm_score`` (how much of the ranking the gradient norm alone explains), ``target_source``,
    ``target_loss`` (this cycle's, from the record) and ``overlap`` (top-k ∩ the run's batch).
    """
    from alcore.strategies.alignment import GradientAlignment, head_outputs, last_layer_target_gradient
    from alcore.strategies.alignment import alignment_scores as score_pool

    k = len(rep.record.selected) if k is None else int(k)
    own_run = rep.config.strategy == "alignment"
    # an alignment run is scored by its own rule (its options, the strategy's defaults for the rest); any other run
    # by the hallucinated label's inner product on all parameters, the score this step explains
    strategy = GradientAlignment(**_run_options(rep, "alignment")) if own_run else GradientAlignment(
        params="all", label_mode="argmax", normalize_candidates=False, diverse=False)
    opts = vars(strategy.options)
    model = rep.model
    t_idx, source = target_set(rep)
    pool = _score_subset(rep, max_points)
    X_p, X_t = rep.X[torch.as_tensor(pool)], rep.X[torch.as_tensor(t_idx)]
    score, g_t_norm = score_pool(model, X_p, X_t, rep.y[t_idx], params=opts["params"],
                                 label_mode=opts["label_mode"], normalize_candidates=opts["normalize_candidates"])
    zT, hT = head_outputs(model, X_t)
    M = last_layer_target_gradient(zT, hT, torch.as_tensor(rep.y[t_idx])).cpu().numpy()
    z, h = head_outputs(model, X_p)
    p = torch.softmax(z.double().cpu(), 1).numpy()
    a, ht = gradients.gradient_factors(p, h.double().cpu().numpy(), bias=True)
    score_last = gradients.bilinear_scores(a, ht, M)
    g_norm = np.sqrt(gradients.sq_norms(a, ht))
    m_norm = float(np.linalg.norm(M))
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = np.where(g_norm * m_norm > 0, score_last / (g_norm * m_norm), 0.0)
    frame = pd.DataFrame({"index": pool, "score": score, "score_last": score_last, "g_norm": g_norm,
                          "cosine": cosine, "y_hat": p.argmax(1), "in_batch": np.isin(pool, rep.record.selected)})
    frame["rank"] = frame["score"].rank(ascending=False, method="first").astype(int)
    top = frame.nsmallest(k, "rank")["index"].to_numpy()
    if own_run and (opts["diverse"] or opts["greedy"] or opts["mode"] != "signed"):  # not a top-k of the score
        top = strategy.select(rep.pool_state(rep.pool, t_idx), k,
                              strategy_rng(rep.config.seed, rep.record.cycle, strategy.name)).indices
    return {"frame": frame, "top": top, "g_t_norm": float(g_t_norm), "m_norm": m_norm,
            "spearman_last_full": _spearman(score, score_last), "spearman_norm_score": _spearman(g_norm, score),
            "target_source": source, "n_target": int(len(t_idx)), "target_loss": float(rep.record.target_loss),
            "overlap": int(np.isin(top, rep.record.selected).sum()), "k": k,
            "params": opts["params"]}


# --- step 5: LESS, Adam feature against SGD feature ------------------------------------------------------------

def less_features(rep: Replay, k: int | None = None, params: str | None = None,
                  max_points: int = MAX_SCORE_POINTS) -> dict[str, Any]:
    """LESS (§1.5, §6.2) at the rebuilt cycle: the strategy's own scores with Adam features and with plain SGD
    features, and the geometry of the two feature sets.

    ``params``: ``"all"`` or ``"last_layer"``; default for a LESS run its own setting, else ``"all"`` when the pool's
    gradients stay under ``MAX_GRADIENT_ENTRIES`` numbers, else the last layer. Returns ``frame`` (per pool point:
    ``score_adam`` and ``score_sgd`` from ``Less.scores`` with ``gradient_type`` adam / sgd, their ranks,
    ``cos_adam_sgd`` = mean over checkpoints of ``cos(Γ, g)`` (unprojected), ``in_batch``), ``checkpoints`` (per
    checkpoint: epoch, weight ``w_i``, mean ``cos(Γ, g)``, the spread of each feature set as the mean pairwise cosine
    — Adam features share the momentum term ``β1 m`` and crowd together — and the std of each score), ``spearman``
    between the two scores, ``top_overlap`` of their top-k, ``overlap_run`` (Adam top-k ∩ the run's batch), and
    ``available`` (False with ``reason`` when the cycle has no Adam state or no trained model).
    """
    from alcore.strategies.less import Less, checkpoint_weights

    k = len(rep.record.selected) if k is None else int(k)
    ckpts = list(rep.train_result.checkpoints) if rep.train_result is not None else []
    if not ckpts:
        return {"available": False, "reason": "no model was trained at this cycle (no labels yet): LESS waits for "
                "a warm-up model and falls back to the cold-start strategy"}
    if not ckpts[-1].exp_avg:
        return {"available": False, "reason": f"this run trains with {rep.config.optimizer}: there is no Adam "
                "state, so LESS uses plain SGD features"}
    opts = _run_options(rep, "less")
    model = rep.model
    t_idx, source = target_set(rep)
    pool = _score_subset(rep, max_points)
    if params is None and rep.config.strategy == "less":  # the run's own setting: the tour reproduces its batch
        params = opts.get("params", Less.Options().params)
    if params is None:
        P_all = gradients.n_params(model, gradients.param_names(model, "all"))
        params = "all" if len(pool) * P_all <= MAX_GRADIENT_ENTRIES else "last_layer"
    opts = {**opts, "params": params}
    state = rep.pool_state(pool, t_idx)
    s_adam, diag_adam = Less(**{**opts, "gradient_type": "adam"}).scores(state)
    s_sgd, diag_sgd = Less(**{**opts, "gradient_type": "sgd"}).scores(state)
    used, _ = Less(**opts).checkpoints(state)
    weights = checkpoint_weights([c.mean_lr for c in used])
    names = gradients.param_names(model, params)
    X_p = rep.X[torch.as_tensor(pool)]
    mode = opts.get("adam_mode", "less_code")
    cos_sum = np.zeros(len(pool))
    rows = []
    for ckpt, w in zip(used, weights):
        m_i = gradients.model_at(model, ckpt.params)
        with torch.no_grad():
            y_hat = m_i(X_p.to(next(m_i.parameters()).device)).argmax(1).cpu()
        G = gradients.per_sample_gradients(m_i, X_p, y_hat, names).double()
        m, v = gradients.flatten(ckpt.exp_avg, names).double(), gradients.flatten(ckpt.exp_avg_sq, names).double()
        Gamma = gradients.adam_features(G, m, v, mode=mode, betas=ckpt.betas, eps=ckpt.eps, step=ckpt.step)
        phi_a, phi_s = gradients.normalize_rows(Gamma), gradients.normalize_rows(G)
        cos = (phi_a * phi_s).sum(1).cpu().numpy()
        cos_sum += cos
        rows.append({"epoch": ckpt.epoch, "weight": float(w), "mean_lr": float(ckpt.mean_lr),
                     "cos_adam_sgd": float(cos.mean()), "spread_adam": _mean_pairwise_cosine(phi_a),
                     "spread_sgd": _mean_pairwise_cosine(phi_s)})
    table = pd.DataFrame(rows)
    if len(table) == len(diag_adam["score_std_per_checkpoint"]):
        table["score_std_adam"] = diag_adam["score_std_per_checkpoint"]
    if len(table) == len(diag_sgd["score_std_per_checkpoint"]):
        table["score_std_sgd"] = diag_sgd["score_std_per_checkpoint"]
    frame = pd.DataFrame({"index": pool, "cos_adam_sgd": cos_sum / len(used), "score_adam": s_adam,
                          "score_sgd": s_sgd, "in_batch": np.isin(pool, rep.record.selected)})
    frame["rank_adam"] = frame["score_adam"].rank(ascending=False, method="first").astype(int)
    frame["rank_sgd"] = frame["score_sgd"].rank(ascending=False, method="first").astype(int)
    top_a = frame.nsmallest(k, "rank_adam")["index"].to_numpy()
    top_s = frame.nsmallest(k, "rank_sgd")["index"].to_numpy()
    return {"available": True, "frame": frame, "checkpoints": table, "params": params,
            "n_params": gradients.n_params(model, names), "proj_dim": diag_adam.get("proj_dim"),
            "spearman": _spearman(s_adam, s_sgd), "top_adam": top_a, "top_sgd": top_s,
            "top_overlap": int(np.isin(top_a, top_s).sum()),
            "overlap_run": int(np.isin(top_a, rep.record.selected).sum()),
            "k": k, "target_source": source, "n_target": int(len(t_idx)), "adam_mode": mode,
            "betas": tuple(used[-1].betas), "eps": float(used[-1].eps)}


def _mean_pairwise_cosine(U: torch.Tensor) -> float:
    """Mean of ``<u_i, u_j>`` over ``i != j`` for unit rows: ``(||Σ u||² - Σ ||u||²) / (n (n - 1))``, O(nP)."""
    n = len(U)
    if n < 2:
        return float("nan")
    s = U.sum(0)
    return float(((s @ s) - (U * U).sum()) / (n * (n - 1)))


def _spearman(x, y) -> float:
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)
