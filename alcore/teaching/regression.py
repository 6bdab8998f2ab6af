"""The tour's numbers for a regression run (docs/tasks.md#hallucinated-labels-in-regression): one point's prediction,
predictive spread σ and gradient embedding ``g = σ h``; σ against the embedding's norm over the pool; and the
alignment and LESS scores of the rebuilt model, by the strategies' own regression scoring
(``alcore.strategies.targeted_regression``)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from alcore.metrics import spearman
from alcore.records import CycleRecord
from alcore.task import Regression
from alcore.teaching.points import candidate_positions
from alcore.teaching.replay import Replay, run_options, score_subset, target_set


def example_points(record: CycleRecord) -> dict[str, int]:
    """Display positions worth looking at: the largest embedding norm σ·||h|| (BADGE's first pick), the smallest and
    the largest σ, and the first point of the batch when it is displayed."""
    pos = candidate_positions(record)
    if len(pos) == 0:
        return {}
    sigma = np.abs(np.asarray(record.display_a, np.float64)[pos, 0])
    g = sigma * np.linalg.norm(np.asarray(record.display_h, np.float64)[pos], axis=1)
    out = {"largest gradient norm (BADGE's first pick)": int(pos[int(np.argmax(g))]),
           "largest spread σ": int(pos[int(np.argmax(sigma))]), "smallest spread σ": int(pos[int(np.argmin(sigma))])}
    shown = np.flatnonzero(np.isin(record.display_idx, record.selected[:1]))
    if len(shown):
        out["first point of the batch"] = int(shown[0])
    return out


def point_residual(record: CycleRecord, position: int, y: np.ndarray, task: Regression) -> dict[str, Any]:
    """One display point: its ``prediction`` and ``true_value`` (the target's units), the spread ``sigma``
    (standardised units) and ``sigma_units``, ``h_norm`` and ``g_norm = σ·||h||``."""
    index = int(record.display_idx[position])
    sigma = float(abs(record.display_a[position, 0]))
    h_norm = float(np.linalg.norm(np.asarray(record.display_h[position], np.float64)))
    return {"index": index, "prediction": float(task.predicted(record.display_probs[position:position + 1])[0]),
            "true_value": float(y[index]), "sigma": sigma, "sigma_units": sigma * task.std, "h_norm": h_norm,
            "g_norm": sigma * h_norm}


def spread_frame(record: CycleRecord) -> pd.DataFrame:
    """Per displayed pool point: σ, ||h||, ||g|| = σ·||h|| and whether it is in the batch; ``attrs["spearman"]``:
    the rank correlation of ||g|| with σ."""
    pos = candidate_positions(record)
    sigma = np.abs(np.asarray(record.display_a, np.float64)[pos, 0]) if len(pos) else np.zeros(0)
    h_norm = np.linalg.norm(np.asarray(record.display_h, np.float64)[pos], axis=1) if len(pos) else np.zeros(0)
    df = pd.DataFrame({"index": np.asarray(record.display_idx)[pos], "sigma": sigma, "h_norm": h_norm,
                       "g_norm": sigma * h_norm, "selected": np.isin(np.asarray(record.display_idx)[pos],
                                                                     record.selected)})
    df.attrs["spearman"] = spearman(df["g_norm"], df["sigma"])
    return df


def alignment_scores(rep: Replay, k: int | None = None, max_points: int = 5000) -> dict[str, Any]:
    """``s(x) = σ(x) |<∇f(x), G_T>|`` of the rebuilt model over the pool (the run's alignment options), with σ and
    the alignment ``|<∇f, G_T>|`` apart, the top-``k`` and its overlap with the run's batch."""
    from alcore.strategies.targeted_regression import alignment_scores as score_pool

    k = len(rep.record.selected) if k is None else int(k)
    opts = run_options(rep, "alignment")
    t_idx, source = target_set(rep)
    pool = score_subset(rep, max_points)
    state = rep.pool_state(pool, t_idx)
    score, g_norm = score_pool(rep.model, rep.X[torch.as_tensor(pool)], rep.X[torch.as_tensor(t_idx)],
                               state.target_y, state.task, state.pool_spread, params=opts.get("params", "all"))
    sigma = state.pool_spread
    frame = pd.DataFrame({"index": pool, "score": score, "sigma": sigma,
                          "alignment": np.where(sigma > 0, score / np.where(sigma > 0, sigma, 1.0), 0.0),
                          "in_batch": np.isin(pool, rep.record.selected)})
    frame["rank"] = frame["score"].rank(ascending=False, method="first").astype(int)
    top = frame.nsmallest(k, "rank")["index"].to_numpy()
    return {"frame": frame, "top": top, "k": k, "g_t_norm": g_norm, "target_source": source,
            "n_target": int(len(t_idx)), "target_loss": float(rep.record.target_loss),
            "overlap": int(np.isin(top, rep.record.selected).sum()), "spearman_sigma_score": spearman(sigma, score)}


def less_scores(rep: Replay, k: int | None = None, max_points: int = 2000) -> dict[str, Any]:
    """LESS's regression scores of the rebuilt model with Adam and with plain SGD features, their rank correlation
    and top-``k`` overlap; ``available`` False (with ``reason``) before a model was trained with Adam."""
    from alcore.strategies.less import Less
    from alcore.strategies.targeted_regression import less_scores as score_pool

    k = len(rep.record.selected) if k is None else int(k)
    ckpts = list(rep.train_result.checkpoints) if rep.train_result is not None else []
    if not ckpts or not ckpts[-1].exp_avg:
        return {"available": False, "reason": "no model was trained with Adam at this cycle, so there are no Adam "
                "moments to precondition with"}
    opts = {key: v for key, v in run_options(rep, "less").items() if key != "gradient_type"}
    t_idx, source = target_set(rep)
    pool = score_subset(rep, max_points)
    state = rep.pool_state(pool, t_idx)
    s_adam, diagnostics = score_pool(Less(**opts, gradient_type="adam"), state)
    s_sgd, _ = score_pool(Less(**opts, gradient_type="sgd"), state)
    frame = pd.DataFrame({"index": pool, "score_adam": s_adam, "score_sgd": s_sgd,
                          "in_batch": np.isin(pool, rep.record.selected)})
    top_a = frame.nlargest(k, "score_adam")["index"].to_numpy()
    top_s = frame.nlargest(k, "score_sgd")["index"].to_numpy()
    return {"available": True, "frame": frame, "k": k, "spearman": spearman(s_adam, s_sgd),
            "top_overlap": int(np.isin(top_a, top_s).sum()),
            "overlap_run": int(np.isin(top_a, rep.record.selected).sum()),
            "n_checkpoints": diagnostics["n_checkpoints"], "target_source": source, "n_target": int(len(t_idx))}
