"""Steps 4-5 of the tour, on the rebuilt model: gradient alignment with the target set, and LESS's Adam features
against plain SGD features (docs/methods.md#alignment, docs/methods.md#less)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from alcore import distances, gradients, seeding
from alcore.metrics import spearman
from alcore.teaching.replay import Replay, run_options, score_subset, target_set

#: Most pool points the replayed scores use; more are subsampled (seeded), batch kept.
MAX_SCORE_POINTS = 5000
#: Above this many gradient entries (pool points x parameters) the LESS step uses the last layer only.
MAX_GRADIENT_ENTRIES = 3_000_000


def alignment_scores(rep: Replay, k: int | None = None, max_points: int = MAX_SCORE_POINTS) -> dict[str, Any]:
    """Gradient alignment with the target set (docs/methods.md#alignment), by the alignment strategy's own scoring,
    for the rebuilt model.

    ``frame``: per pool point, ``score``: for an alignment run its own rule's score (its options, the strategy's
    defaults for the rest), for any other run ``<∇θ ℓ(x, ŷ), G_T>`` on all parameters (one JVP, docs/methods.md#jvp);
    the last-layer form ``score_last = a^T M h~`` with ``M = mean_z a_z h~_z^T`` (true target labels) split as
    ``g_norm · ||M|| · cosine`` (``g_norm = ||a||·||h~||``: the uncertainty half, ``cosine``: the alignment half);
    ``rank`` by score; ``in_batch`` (the run's batch). Also ``top`` (global indices of the top-``k``; for an
    alignment run whose rule is not a top-k of the score, e.g. its default diverse draw, the batch its own
    ``select`` replays), ``g_t_norm`` (``||G_T||``), ``m_norm`` (``||M||_F``), ``spearman_last_full``,
    ``spearman_norm_score`` (how much of the ranking the gradient norm alone explains), ``target_source``,
    ``target_loss`` (this cycle's, from the record) and ``overlap`` (top-k ∩ the run's batch).
    """
    from alcore.strategies.alignment import GradientAlignment, head_outputs, last_layer_target_gradient
    from alcore.strategies.alignment import alignment_scores as score_pool

    k = len(rep.record.selected) if k is None else int(k)
    own_run = rep.config.strategy == "alignment"
    # an alignment run is scored by its own rule (its options, the strategy's defaults for the rest); any other run
    # by the hallucinated label's inner product on all parameters, the score this step explains
    strategy = GradientAlignment(**run_options(rep, "alignment")) if own_run else GradientAlignment(
        params="all", label_mode="argmax", normalize_candidates=False, diverse=False)
    opts = vars(strategy.options)
    model = rep.model
    t_idx, source = target_set(rep)
    pool = score_subset(rep, max_points)
    X_p, X_t = rep.X[torch.as_tensor(pool)], rep.X[torch.as_tensor(t_idx)]
    y_t = rep.experiment.target_y[t_idx]  # the target set's own labels (a second rater's, when there is one)
    score, g_t_norm = score_pool(model, X_p, X_t, y_t, params=opts["params"], label_mode=opts["label_mode"],
                                 normalize_candidates=opts["normalize_candidates"])
    zT, hT = head_outputs(model, X_t)
    M = last_layer_target_gradient(zT, hT, torch.as_tensor(y_t)).cpu().numpy()
    z, h = head_outputs(model, X_p)
    p = torch.softmax(z.double().cpu(), 1).numpy()
    a, ht = gradients.gradient_factors(p, h.double().cpu().numpy(), bias=True)
    score_last = gradients.bilinear_scores(a, ht, M)
    g_norm = np.sqrt(distances.sq_norms(a, ht))
    m_norm = float(np.linalg.norm(M))
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = np.where(g_norm * m_norm > 0, score_last / (g_norm * m_norm), 0.0)
    frame = pd.DataFrame({"index": pool, "score": score, "score_last": score_last, "g_norm": g_norm,
                          "cosine": cosine, "y_hat": p.argmax(1), "in_batch": np.isin(pool, rep.record.selected)})
    frame["rank"] = frame["score"].rank(ascending=False, method="first").astype(int)
    top = frame.nsmallest(k, "rank")["index"].to_numpy()
    if own_run and (opts["diverse"] or opts["greedy"] or opts["mode"] != "signed"):  # not a top-k of the score
        top = strategy.select(rep.pool_state(rep.pool, t_idx), k,
                              seeding.strategy_rng(rep.config.seed, rep.record.cycle, strategy.name)).indices
    return {"frame": frame, "top": top, "g_t_norm": float(g_t_norm), "m_norm": m_norm,
            "spearman_last_full": spearman(score, score_last), "spearman_norm_score": spearman(g_norm, score),
            "target_source": source, "n_target": int(len(t_idx)), "target_loss": float(rep.record.target_loss),
            "overlap": int(np.isin(top, rep.record.selected).sum()), "k": k,
            "params": opts["params"]}


# --- step 5: LESS, Adam feature against SGD feature ------------------------------------------------------------

def less_features(rep: Replay, k: int | None = None, params: str | None = None,
                  max_points: int = MAX_SCORE_POINTS) -> dict[str, Any]:
    """LESS (docs/methods.md#adam-features, docs/methods.md#less-in-this-engine) at the rebuilt cycle: the strategy's
    own scores with Adam features and with plain SGD features, and the geometry of the two feature sets.

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
    opts = run_options(rep, "less")
    model = rep.model
    t_idx, source = target_set(rep)
    pool = score_subset(rep, max_points)
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
        phi_a, phi_s = distances.normalize_rows(Gamma), distances.normalize_rows(G)
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
            "spearman": spearman(s_adam, s_sgd), "top_adam": top_a, "top_sgd": top_s,
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
