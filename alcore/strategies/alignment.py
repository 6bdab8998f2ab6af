"""Gradient alignment (docs/methods.md#alignment): pool points whose gradient step most lowers the target-set loss.

``s(x) = <∇θ ℓ(x, ŷ(x); θ), G_T>`` with ``G_T = ∇θ L_T(θ)`` the gradient of the mean target loss at the
current parameters: to first order one SGD step on ``x`` changes the target loss by ``-η s(x)``. Computed without
per-sample gradients (docs/methods.md#alignment-computation): for all parameters one forward-mode pass gives the logit
tangents ``ż = dz/dε (θ + ε G_T)``, and for the last layer ``ż = M h~`` with ``M`` the mean target gradient of the head;
every label's score then follows from ``<∇ℓ(x, y), G_T> = p^T ż - ż_y``. The GLISTER-style greedy variant
(docs/methods.md#greedy-alignment) re-scores after simulating a last-layer SGD step on each pick.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from alcore.constants import DEGENERATE_NORM
from alcore.gradients import (directional_logits, eval_mode, gradient_factors, mean_loss_gradient,
                              per_sample_gradient_norms, with_bias)
from alcore.strategies.base import PoolState, Selection, Strategy, top_k


@torch.no_grad()
def head_outputs(model, X: torch.Tensor, batch_size: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and penultimate features ``h`` in the model's own dtype and device (eval mode)."""
    device = next(model.parameters()).device
    logits, feats = [], []
    with eval_mode(model):
        for start in range(0, len(X), batch_size):
            h = model.features(torch.as_tensor(X[start:start + batch_size]).to(device))
            feats.append(h)
            logits.append(model.head(h))
    if not feats:
        return torch.zeros(0, model.head.out_features), torch.zeros(0, model.head.in_features)
    return torch.cat(logits), torch.cat(feats)


def last_layer_target_gradient(logits_T: torch.Tensor, h_T: torch.Tensor, y_T) -> torch.Tensor:
    """``M = (1/|T|) Σ_z (p_z - e_{y_z}) h~_z^T`` (``C x (d+1)``): the head's gradient of the mean target loss,
    bias in the last column."""
    a, ht = gradient_factors(torch.softmax(logits_T.double(), 1), h_T.double(), y_T, bias=True)
    return a.T @ ht / max(len(a), 1)


def label_scores(probs: torch.Tensor, dlogits: torch.Tensor, label_mode: str = "argmax",
                 grad_norms: torch.Tensor | None = None) -> np.ndarray:
    """Scores from the logit tangents: ``s_y = p^T ż - ż_y``, for ``y = argmax p`` (``"argmax"``) or the best label
    (``"max"``, the optimistic mode). ``grad_norms`` (n, C) divides each label's score by ``||∇ℓ(x, y)||``
    (0 where the gradient is 0)."""
    s = (probs * dlogits).sum(1, keepdim=True) - dlogits
    if grad_norms is not None:
        s = torch.where(grad_norms > 0, s / torch.where(grad_norms > 0, grad_norms, 1.0), 0.0)
    if label_mode == "argmax":
        s = s.gather(1, probs.argmax(1, keepdim=True)).squeeze(1)
    elif label_mode == "max":
        s = s.max(1).values
    else:
        raise ValueError(f"label_mode={label_mode!r} is not valid; choose 'argmax' or 'max'")
    return s.double().cpu().numpy()


def alignment_scores(model, X_pool: torch.Tensor, X_target: torch.Tensor, y_target, *, params: str = "all",
                     label_mode: str = "argmax", normalize_candidates: bool = False, batch_size: int = 4096,
                     pool_outputs: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[np.ndarray, float]:
    """``(s, ||G_T||)``: the alignment score of every pool row with the target-set gradient (docs/methods.md#alignment,
    docs/methods.md#alignment-computation).

    ``params="all"``: every trainable parameter, ``G_T`` by one backward over the target set and the scores by one
    JVP over the pool. ``params="last_layer"``: the head's weight and bias in closed form, ``s = a^T M h~``.
    ``normalize_candidates`` divides by ``||∇ℓ(x, ŷ)||`` (closed form for the last layer, per-sample gradient norms
    for all parameters). ``pool_outputs``: precomputed (logits, h) of the pool for the last-layer path.
    Scores are float64; they are all 0 when ``||G_T|| < 1e-12``.
    """
    y_target = torch.as_tensor(np.asarray(y_target), dtype=torch.long)
    if params == "last_layer":
        zT, hT = head_outputs(model, X_target, batch_size)
        M = last_layer_target_gradient(zT, hT, y_target.to(zT.device)).cpu()
        g_norm = float(torch.linalg.matrix_norm(M))
        z, h = pool_outputs if pool_outputs is not None else head_outputs(model, X_pool, batch_size)
        p = torch.softmax(z.double().cpu(), 1)
        ht = with_bias(h.double().cpu())
        dz = ht @ M.T
        norms = None
        if normalize_candidates:  # ||p - e_y|| ||h~|| for every label y
            pn = (p * p).sum(1, keepdim=True)
            norms = torch.sqrt((pn - 2 * p + 1).clamp(min=0)) * torch.linalg.vector_norm(ht, dim=1, keepdim=True)
        scores = label_scores(p, dz, label_mode, norms)
    elif params == "all":
        G_T = mean_loss_gradient(model, X_target, y_target, "all", batch_size)
        g_norm = float(torch.sqrt(sum((g.double() ** 2).sum() for g in G_T.values())))
        z, dz = directional_logits(model, X_pool, G_T, batch_size)
        p = torch.softmax(z.double(), 1)
        norms = None
        if normalize_candidates:
            if label_mode != "argmax":
                raise ValueError("normalize_candidates with label_mode='max' needs params='last_layer'")
            n = per_sample_gradient_norms(model, X_pool, p.argmax(1), "all").double()
            norms = n[:, None].expand_as(p)
        scores = label_scores(p, dz.double(), label_mode, norms)
    else:
        raise ValueError(f"params={params!r} is not valid; choose 'all' or 'last_layer'")
    if g_norm < DEGENERATE_NORM:
        scores = np.zeros(len(scores))
    return scores, g_norm


def greedy_alignment(a_pool: np.ndarray, h_pool: np.ndarray, logits_T: np.ndarray, h_T: np.ndarray, y_T: np.ndarray,
                     k: int, lr: float, rng: np.random.Generator, magnitude: bool = False,
                     pool_norms: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """GLISTER-style look-ahead (docs/methods.md#greedy-alignment) on last-layer factors (``h`` already with the bias
    column).

    Each step scores the remaining pool against the current mean target gradient, takes the best (ties by one
    seeded random key drawn up front, as ``top_k``: with ``lr = 0`` this is exactly the plain top-k, G7), then
    simulates ``θ_last <- θ_last - lr a_x h~_x^T`` on the target logits: ``Z_T -= lr (H~_T h~_x) a_x^T``.
    Returns (positions in pick order, the score each had when picked).
    """
    n = len(a_pool)
    key = rng.permutation(n)
    Z = np.array(logits_T, dtype=np.float64, copy=True)
    y_T = np.asarray(y_T)
    remaining = np.ones(n, dtype=bool)
    picks, gains = np.empty(k, dtype=np.int64), np.empty(k)
    for step in range(k):
        p = np.exp(Z - Z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        a_T, _ = gradient_factors(p, h_T, y_T)
        M = a_T.T @ h_T / len(a_T)
        s = ((a_pool @ M) * h_pool).sum(1)
        if pool_norms is not None:
            s = np.where(pool_norms > 0, s / np.where(pool_norms > 0, pool_norms, 1.0), 0.0)
        if magnitude:
            s = np.abs(s)
        best = s[remaining].max()
        ties = np.flatnonzero(remaining & (s == best))
        i = int(ties[np.argmin(key[ties])])
        picks[step], gains[step] = i, s[i]
        remaining[i] = False
        Z -= lr * np.outer(h_T @ h_pool[i], a_pool[i])
    return picks, gains


class GradientAlignment(Strategy):
    name = "alignment"
    description = "Pool points whose gradient is most aligned with the target set's: the largest predicted drop " \
                  "in target loss."
    needs_target = True

    @dataclass
    class Options:
        mode: str = "signed"               # "signed": largest predicted decrease; "magnitude": largest |s|
        params: str = "all"                # "all" (one JVP) or "last_layer" (closed form a^T M h~)
        normalize_candidates: bool = False  # rank by <g/||g||, G_T> (the cosine ranking)
        label_mode: str = "argmax"         # "argmax" pseudo-label, or "max" (optimistic best label)
        greedy: bool = False               # GLISTER-style look-ahead (last layer only, docs/methods.md#greedy-alignment)
        greedy_lr: float | None = None     # step of the simulated update; None: the training learning rate
        batch_size: int = 4096             # pool rows per forward pass (memory, not results)

    def validate_options(self) -> None:
        o = self.options
        _choice("mode", o.mode, ("signed", "magnitude"))
        _choice("params", o.params, ("all", "last_layer"))
        if o.label_mode == "expected_gradient":
            raise ValueError("label_mode='expected_gradient' is not valid: the expected gradient of a softmax model "
                             "is exactly 0 (docs/methods.md#less-in-this-engine); choose 'argmax' or 'max'")
        _choice("label_mode", o.label_mode, ("argmax", "max"))
        _typed("normalize_candidates", o.normalize_candidates, bool)
        _typed("greedy", o.greedy, bool)
        _typed("greedy_lr", o.greedy_lr, float, optional=True, minimum=0)
        _typed("batch_size", o.batch_size, int, minimum=1)
        if o.normalize_candidates and o.label_mode == "max" and o.params == "all":
            raise ValueError("normalize_candidates=True with label_mode='max' needs params='last_layer'")
        if o.greedy and o.params != "last_layer":
            raise ValueError("greedy=True simulates last-layer steps: set params='last_layer'")
        if o.greedy and o.label_mode != "argmax":
            raise ValueError("greedy=True uses the argmax pseudo-label: set label_mode='argmax'")

    def check_task(self, task: str) -> None:
        if task == "regression":
            from alcore.strategies import targeted_regression

            targeted_regression.check_alignment_options(self.options)

    def fallback_reason(self, state: PoolState) -> str | None:
        # Runs at cold start on the initial model (flagged in diagnostics, docs/methods.md#cold-start); only a missing
        # target stops it.
        return "no_target" if len(state.target_idx) == 0 else None

    def _select(self, state: PoolState, k: int, rng: np.random.Generator) -> Selection:
        if not state.task.categorical:  # a regression model: docs/tasks.md#hallucinated-labels-in-regression
            from alcore.strategies import targeted_regression

            return targeted_regression.select_alignment(self, state, k, rng)
        o = self.options
        X_pool = state.X[torch.as_tensor(state.pool_idx)]
        X_T = state.X[torch.as_tensor(state.target_idx)]
        pool_outputs = (state.pool_logits, state.pool_h) if o.params == "last_layer" else None
        scores, g_norm = alignment_scores(state.model, X_pool, X_T, state.target_y, params=o.params,
                                          label_mode=o.label_mode, normalize_candidates=o.normalize_candidates,
                                          batch_size=o.batch_size, pool_outputs=pool_outputs)
        diagnostics = {"target_gradient_norm": g_norm, "cold_start": state.n_labeled == 0}
        if state.n_labeled > 0 and len(state.labeled_classes) < 2:
            diagnostics["single_class"] = True
        degenerate = g_norm < DEGENERATE_NORM
        u = np.abs(scores) if o.mode == "magnitude" else scores
        if o.greedy and not degenerate:
            lr = o.greedy_lr if o.greedy_lr is not None else (
                state.train_settings.lr if state.train_settings is not None else 1e-3)
            picks, gains = self._greedy(state, k, rng, lr)
            utilities = np.full(state.n_pool, np.nan)
            utilities[picks] = gains  # sequential: the score each point had when it was picked (docs/methods.md#strategy-contract)
            diagnostics["greedy_lr"] = float(lr)
            return Selection(state.pool_idx[picks], utilities, diagnostics)
        chosen = top_k(u, k, rng)
        return Selection(state.pool_idx[chosen], u, diagnostics, "degenerate_scores" if degenerate else None)

    def _greedy(self, state: PoolState, k: int, rng: np.random.Generator, lr: float):
        o = self.options
        a, h = gradient_factors(state.pool_probs.numpy(), state.pool_h.double().numpy(), bias=True)
        zT, hT = head_outputs(state.model, state.X[torch.as_tensor(state.target_idx)])
        norms = None
        if o.normalize_candidates:
            norms = np.linalg.norm(a, axis=1) * np.linalg.norm(h, axis=1)
        return greedy_alignment(a, h, zT.double().cpu().numpy(), with_bias(hT.double().cpu()).numpy(),
                                np.asarray(state.target_y), k, lr, rng, magnitude=o.mode == "magnitude",
                                pool_norms=norms)


def _choice(name: str, value, allowed) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {list(allowed)}")


def _typed(name: str, value, kind: type, optional: bool = False, minimum: float | None = None) -> None:
    """Options arrive from JSON configs: reject wrong types (bools are not numbers) and out-of-range numbers."""
    if value is None and optional:
        return
    ok = isinstance(value, bool) if kind is bool else (isinstance(value, kind) and not isinstance(value, bool))
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise ValueError(f"{name}={value!r} is not valid; expected {kind.__name__}{' or None' if optional else ''}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
