"""Gradient alignment and LESS for a regression model (docs/tasks.md#hallucinated-labels-in-regression); the
``alignment`` and ``less`` strategies call these when the run's target is a value, not a class.

With the loss ``l = (f - y)² / 2`` of the standardised target, a point's gradient is a residual times the gradient of
the output: ``∇θ l(x, y) = (f(x) - y) ∇θ f(x)``. The target set's gradient is exact, with the target rater's
values: ``G_T = (1/|T|) Σ_z (f(z) - y_z) ∇θ f(z)``. A pool point's label is unknown: the prediction as label gives a zero
gradient, and so does the signed mean over ``y ~ N(f, σ²)``. The engine scores the *optimistic* residual of typical
size ``σ(x)`` (``alcore.uncertainty``): the better of the labels ``f ± σ``.

- alignment: ``s(x) = σ(x) |<∇θ f(x), G_T>|``, one JVP for every pool row (docs/methods.md#jvp). With known labels
  (teaching, tests) ``s(x, y) = (f(x) - y) <∇θ f(x), G_T>``: one SGD step of size ``η`` on ``(x, y)`` changes the
  target loss by ``-η s(x, y) + O(η²)``. ``normalize_candidates`` divides by ``||∇θ l|| = σ ||∇θ f||`` (σ cancels).
  The strategy ranks and draws as for a classifier: ``mode="norm"`` (the seed's rule) orders the positive scores
  by ``σ ||∇θ f||``, and every hallucinated score is >= 0, so it is an uncertainty rule
  (docs/study.md#task-b-rated-stories); ``diverse`` draws over the directions ``±h~`` of the scored residuals.
  ``greedy`` and the argmax label are refused.
- LESS: per checkpoint, the candidates ``±σ ∇θ f(x)`` through the run's gradient transform (Adam's, which is not
  odd in the gradient, or sign, or none), projected and normalised, and their cosine with the normalised target
  direction (``target_agg="normalized_mean"``) or their mean cosine with the target points' own gradients
  (``"mean_cosine"``); the better sign counts (``label_mode="max"``), so with plain gradients and the default
  ``s = |cos(∇θ f, G_T)|``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from alcore.constants import DEGENERATE_NORM
from alcore.distances import normalize_rows
from alcore.gradients import (RademacherProjection, adam_features, directional_logits, flatten, iter_output_jacobians,
                              mean_loss_gradient, model_at, n_params, param_names, with_bias)
from alcore.gradients.random_projection import default_proj_dim
from alcore.models import predict
from alcore.strategies.base import PoolState
from alcore.train import checkpoint_weights
from alcore.uncertainty import last_layer_spread


@dataclass
class RegressionScores:
    """Alignment of every pool row of a regression model: ``scores`` (float64), ``residual`` the residual ``f - y`` each
    was scored with (``±σ``, or the given labels'), ``grad_norms`` ``||∇θ l|| = |f - y| ||∇θ f||`` (when asked for) and
    ``g_norm = ||G_T||``."""

    scores: np.ndarray
    residual: np.ndarray
    grad_norms: np.ndarray | None
    g_norm: float

    def factors(self, pool_h: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``(a, h~)`` of each scored last-layer gradient ``a ⊗ h~``: the residual and the features with the bias."""
        return self.residual[:, None], with_bias(pool_h.double().cpu()).numpy()


def score_pool(model, X_pool: torch.Tensor, X_T: torch.Tensor, y_T, task, spread=None, *, params: str = "all",
               normalize_candidates: bool = False, need_norms: bool = False, batch_size: int = 4096,
               y_pool=None) -> RegressionScores:
    """The alignment of every pool row (see the module docstring). ``y_T``: the target set's standardised values;
    ``task``: the run's ``alcore.task.Regression``; ``spread``: σ of each pool row (the hallucinated residual), or
    ``y_pool``: the rows' standardised values to score with instead. ``need_norms``: also return ``||∇θ l||``.
    Scores are all 0 when ``||G_T|| < 1e-12``."""
    G_T = mean_loss_gradient(model, X_T, torch.as_tensor(np.asarray(y_T), dtype=torch.float32), params, batch_size,
                             loss=task.loss)
    g_norm = float(torch.sqrt(sum((g.double() ** 2).sum() for g in G_T.values())))
    f, df = directional_logits(model, X_pool, G_T, batch_size)
    f, df = f.double().cpu(), df[:, :1].double().cpu()  # f(x) and <∇θ f(x), G_T>
    if y_pool is None:  # the residuals ±σ of the candidate labels f ∓ σ, the better one taken
        candidates = task.candidate_factors(f, spread)[:, :, 0]
        best = (candidates * df).argmax(1)
        residual = candidates.gather(1, best[:, None])[:, 0]
    else:
        residual = task.output_gradient(f, torch.as_tensor(np.asarray(y_pool), dtype=torch.float64))[:, 0]
    s = residual * df[:, 0]
    norms = None
    if normalize_candidates or need_norms:
        norms = residual.abs() * output_gradient_norms(model, X_pool, params, batch_size)
    if normalize_candidates:
        s = torch.where(norms > 0, s / torch.where(norms > 0, norms, 1.0), 0.0)
    scores = s.numpy()
    if g_norm < DEGENERATE_NORM:
        scores = np.zeros(len(scores))
    return RegressionScores(scores, residual.numpy(), None if norms is None else norms.numpy(), g_norm)


def alignment_scores(model, X_pool: torch.Tensor, X_T: torch.Tensor, y_T, task, spread=None, *, params: str = "all",
                     normalize_candidates: bool = False, batch_size: int = 4096,
                     y_pool=None) -> tuple[np.ndarray, float]:
    """``(s, ||G_T||)`` for every pool row (``score_pool``)."""
    res = score_pool(model, X_pool, X_T, y_T, task, spread, params=params, normalize_candidates=normalize_candidates,
                     batch_size=batch_size, y_pool=y_pool)
    return res.scores, res.g_norm


def output_gradient_norms(model, X: torch.Tensor, params: str = "all", batch_size: int = 4096) -> torch.Tensor:
    """``||∇θ f(x)||`` per row (float64): ``||h~||`` for the last layer, else from the per-sample Jacobian."""
    if params == "last_layer":
        _, h = predict(model, X, next(model.parameters()).device, batch_size)
        return torch.linalg.vector_norm(with_bias(h.double()), dim=1)
    return torch.cat([torch.linalg.vector_norm(J[:, 0].double(), dim=1).cpu()
                      for _, J in iter_output_jacobians(model, X, params)])


def pool_scores(strategy, state: PoolState) -> RegressionScores:
    """The ``alignment`` strategy's scores of a regression pool, with its options; the strategy ranks and draws."""
    o = strategy.options
    return score_pool(state.model, state.X[torch.as_tensor(state.pool_idx)],
                      state.X[torch.as_tensor(state.target_idx)], state.target_y, state.task, state.pool_spread,
                      params=o.params, normalize_candidates=o.normalize_candidates, need_norms=o.mode == "norm",
                      batch_size=o.batch_size)


def check_alignment_options(options) -> None:
    """Refuse alignment options that have no regression form."""
    if options.greedy:
        raise ValueError("greedy=True simulates cross-entropy steps of the last layer and has no regression form; "
                         "set greedy=False for a regression target")
    if options.label_mode != "max":
        raise ValueError(f"label_mode={options.label_mode!r} has no regression form (the prediction as label gives a "
                         "zero gradient, and the signed mean over y ~ N(f, σ²) is 0): use label_mode='max', the "
                         "better of the residuals ±σ")


def check_less_options(options) -> None:
    """Refuse LESS options that have no regression form."""
    if options.groups != "one":
        raise ValueError(f"groups={options.groups!r} splits the target set by class; a regression target has none: "
                         "use groups='one'")
    if options.label_mode != "max":
        raise ValueError(f"label_mode={options.label_mode!r} has no regression form (the prediction as label gives a "
                         "zero gradient, and the expected cosine of ±σ is 0): use label_mode='max', the better of "
                         "the residuals ±σ")


# --- LESS ---------------------------------------------------------------------------------------------------------

def less_scores(strategy, state: PoolState) -> tuple[np.ndarray, dict[str, Any]]:
    """The ``less`` strategy's scores for a regression model, and its diagnostics (see the module docstring)."""
    o = strategy.options
    ckpts, gtype = strategy.checkpoints(state)
    weights = checkpoint_weights([c.mean_lr for c in ckpts]) if ckpts[0] is not None else np.ones(1)
    X_pool = state.X[torch.as_tensor(state.pool_idx)]
    X_T = state.X[torch.as_tensor(state.target_idx)]
    y_T = torch.as_tensor(np.asarray(state.target_y), dtype=torch.float32)
    names = param_names(state.model, o.params)
    P = n_params(state.model, names)
    device = torch.device(state.device)
    dim = o.proj_dim if o.proj_dim is not None else default_proj_dim(P, device)
    proj = RademacherProjection(P, dim, seed=state.seed if o.proj_seed is None else o.proj_seed, device=device)
    acc = torch.zeros(state.n_pool, dtype=torch.float64)
    spread = []
    for w, ckpt in zip(weights, ckpts):
        model = state.model if ckpt is None else model_at(state.model, ckpt.params)
        sigma = _spread(model, state)
        target = _target_direction(model, names, proj, X_T, y_T, o, state.task)
        part = _pool_cosines(model, names, proj, X_pool, sigma, target, gtype, ckpt, o, state.task)
        acc += w * part
        spread.append(float(part.std()) if part.numel() > 1 else 0.0)
    diagnostics = {"gradient_type": gtype, "n_checkpoints": len(ckpts), "checkpoint_weights": weights.tolist(),
                   "proj_dim": proj.dim, "n_params": P, "hallucinated_residual": "spread",
                   "score_std_per_checkpoint": spread}
    return acc.numpy(), diagnostics


def _target_direction(model, names, proj, X_T: torch.Tensor, y_T: torch.Tensor, o, task) -> torch.Tensor:
    """What each candidate's normalised projection is dotted with (``target_agg``): the normalised projection of the
    mean target gradient ``G_T`` (``"normalized_mean"``), or the mean of the target points' own normalised projected
    gradients ``(f(z) - y_z) ∇θ f(z)`` (``"mean_cosine"``, so the score is the mean cosine with them)."""
    if o.target_agg == "normalized_mean":
        G_T = mean_loss_gradient(model, X_T, y_T, names, loss=task.loss)
        return normalize_rows(proj(normalize_rows(flatten(G_T, names)[None])))[0]
    total, start = None, 0
    for f, J in iter_output_jacobians(model, X_T, names, o.chunk_size):
        residual = task.output_gradient(f, y_T[start:start + len(J)].to(f.device))  # (rows, 1)
        start += len(J)
        rows = normalize_rows(proj(residual.to(J) * J[:, 0])).sum(0)
        total = rows if total is None else total + rows
    return total / max(len(X_T), 1) if total is not None else torch.zeros(proj.dim, device=proj.device)


def _spread(model, state: PoolState) -> torch.Tensor:
    """σ of every pool row under ``model`` (a checkpoint's weights), against the labelled rows' features."""
    h_pool = predict(model, state.X, state.device, rows=state.pool_idx)[1]
    h_labeled = predict(model, state.X, state.device, rows=np.asarray(state.labeled_idx, dtype=np.int64))[1]
    return torch.as_tensor(last_layer_spread(h_pool.numpy(), h_labeled.numpy()))


def _pool_cosines(model, names, proj, X_pool, sigma, target, gtype, ckpt, o, task) -> torch.Tensor:
    """``max_± cos(T(±σ ∇f(x)), target)`` per pool row, ``T`` the gradient transform of ``gtype``."""
    if gtype == "adam":
        m, v = flatten(ckpt.exp_avg, names), flatten(ckpt.exp_avg_sq, names)
    parts, start = [], 0
    for f, J in iter_output_jacobians(model, X_pool, names, o.chunk_size):
        residuals = task.candidate_factors(f, sigma[start:start + len(J)])[:, :, 0].to(J)  # +σ and -σ
        start += len(J)
        best = None
        for residual in residuals.T:  # the gradient (f - y) ∇f of the labels f - σ and f + σ
            candidate = residual[:, None] * J[:, 0]
            if gtype == "adam":
                candidate = adam_features(candidate, m, v, o.adam_mode, ckpt.betas, ckpt.eps, ckpt.step)
            elif gtype == "sign":
                candidate = torch.sign(candidate)
            cos = (normalize_rows(proj(candidate)) @ target.to(candidate.dtype)).double().cpu()
            best = cos if best is None else torch.maximum(best, cos)
        parts.append(best)
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)
