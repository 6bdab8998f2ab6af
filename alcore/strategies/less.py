"""LESS-style target-aware selection (docs/methods.md#less, Xia et al. 2024).

Per training checkpoint ``i`` of the current cycle: pool features ``φ_i(x) = normalize(R Γ_i(x, ŷ_i(x)))`` (Adam-
preconditioned per-sample gradients, docs/methods.md#adam-features, or plain / sign gradients) and target features
``ψ_i(z) = normalize(R ∇ℓ(z, y_z))`` (always plain gradients, as LESS does for its validation side), one seeded
projection ``R`` shared by pool, target and every checkpoint (docs/methods.md#random-projection). Score
``s(x) = max_groups Σ_i w_i · mean_{z in group} <φ_i(x), ψ_i(z)>`` with ``w_i`` the checkpoints' mean learning rates
normalised to sum 1; the mean over a group's examples is taken as ``<φ, mean_z ψ(z)>`` (not renormalised, so it
equals the reference's mean of cosines), with each group's mean computed explicitly (unequal group sizes are fine,
unlike the reference's ``reshape``). Top-k with docs/methods.md#ties ties: LESS has no diversity term.

Defaults, chosen by measurement (``tests/test_targeted.py``: two-domain digits, target from one domain):
``target_agg="normalized_mean"`` (the paper's reading: cosine with the mean target gradient, which points where the
target loss is) and ``label_mode="max"`` (each pool point scored with its best label; every label's gradient comes
from one per-sample Jacobian, ``gradients.iter_label_gradients``). The released code's matching, the mean of
per-example cosines with argmax pseudo-labels, is ``target_agg="mean_cosine", label_mode="argmax"``: it picks from
the target's domain but buys labels the model already fits (a point of a class the model never predicts gets a
wrong pseudo-label whose gradient points away from the target's), and lowered the target loss more slowly than random
sampling (0.52 vs 0.32 over 18 seeds, ``python bench/targeted.py``), where the defaults reach 0.17. Models of at most
``EXACT_MAX_PARAMS`` parameters are scored without projection: the projection approximates these same cosines, and
computing them exactly is cheaper at that size.

Before any training (``cold_start_strategy="self"`` at zero labels) there are no checkpoints and no optimizer
state: LESS then scores with plain gradients of the untrained, seeded weights (one "checkpoint", the current model),
as it does after SGD training; ``diagnostics["optimizer_state"]`` says which it used.

Fast path (plain gradients of the last layer): ``cos(g_x, g_z) = cos(a_x, a_z) cos(h~_x, h~_z)``, so a group's mean
cosine is the bilinear form ``â_x^T M_g ĥ_x`` with ``M_g = mean_z â_z ĥ_z^T``: no projection, no materialisation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from alcore.distances import normalize_rows
from alcore.gradients import (ADAM_MODES, RademacherProjection, adam_features, flatten, gradient_factors,
                              iter_label_gradients, iter_per_sample_gradients, model_at, n_params, param_names,
                              with_bias)
from alcore.strategies.alignment import _choice, _typed, head_outputs
from alcore.strategies.base import PoolState, Selection, Strategy, top_k
from alcore.gradients.random_projection import EXACT_MAX_PARAMS, default_proj_dim  # noqa: F401 (less.EXACT_...)
from alcore.train import Checkpoint, checkpoint_weights

def target_groups(target_y, groups: str = "one") -> tuple[np.ndarray, np.ndarray]:
    """Group id of every target example and the group labels: one group, or one per class present."""
    y = np.asarray(target_y)
    if groups == "one":
        return np.zeros(len(y), dtype=np.int64), np.zeros(1, dtype=np.int64)
    if groups == "class":
        labels, ids = np.unique(y, return_inverse=True)
        return ids.astype(np.int64), labels
    raise ValueError(f"groups={groups!r} is not valid; choose 'one' or 'class'")


def group_means(psi: torch.Tensor, ids: np.ndarray, n_groups: int) -> torch.Tensor:
    """Mean row of ``psi`` per group, each over its own members (docs/methods.md#less-edge-cases)."""
    idx = torch.as_tensor(ids, device=psi.device)
    sums = torch.zeros(n_groups, psi.shape[1], dtype=psi.dtype, device=psi.device).index_add_(0, idx, psi)
    counts = torch.bincount(idx, minlength=n_groups).clamp(min=1).to(psi.dtype)
    return sums / counts[:, None]


def less_scores(phis, psis, weights, ids) -> np.ndarray:
    """The reference matching written out (for small inputs and tests): ``Σ_i w_i φ_i ψ_i^T`` (n x m), mean over each
    group's target columns, max over groups. ``phis``/``psis``: per-checkpoint feature matrices (rows already
    normalised), ``ids``: group id per target row."""
    ids = np.asarray(ids)
    w = np.asarray(weights, dtype=np.float64)
    total = sum(wi * (np.asarray(p, np.float64) @ np.asarray(q, np.float64).T) for wi, p, q in zip(w, phis, psis))
    return np.max(np.stack([total[:, ids == g].mean(1) for g in np.unique(ids)], axis=1), axis=1)


def _label_combine(s_all: torch.Tensor, probs: torch.Tensor, label_mode: str) -> torch.Tensor:
    """Per-label scores (n, C) -> per point: the argmax label's, the best label's ("max" is kept per label here
    and maximised at the end), or the probability-weighted mean ("expected_cosine")."""
    if label_mode == "argmax":
        return s_all.gather(1, probs.argmax(1, keepdim=True)).squeeze(1)
    if label_mode == "expected_cosine":
        return (probs * s_all).sum(1)
    return s_all  # "max": combined after the sum over checkpoints and the max over groups


def _optimizer_state(state: PoolState, ckpts: list[Checkpoint | None], gtype: str) -> str:
    """Which weights and optimizer state the scores used, in words for the diagnostics."""
    kind = {"adam": "Adam-preconditioned", "sgd": "plain", "sign": "sign"}[gtype]
    if ckpts[0] is not None:
        return f"{kind} gradients at {len(ckpts)} training checkpoint(s)"
    if state.train_result is not None and state.train_result.trained:
        return f"{kind} gradients of the trained weights (no optimizer moments kept)"
    return f"{kind} gradients of the untrained, seeded weights (no training, no optimizer state)"


class Less(Strategy):
    name = "less"
    description = "LESS: pool points whose (Adam-preconditioned) gradients point like the target set's, by cosine."
    needs_target = True

    @dataclass
    class Options:
        gradient_type: str = "auto"       # "auto" (adam if the run kept Adam moments, else sgd), "adam", "sgd", "sign"
        adam_mode: str = "less_code"      # "less_code" | "paper" | "frozen" (docs/methods.md#adam-features)
        params: str = "all"               # "all" trainable parameters or "last_layer"
        proj_dim: int | None = None       # None: exact cosines up to 65,536 parameters, else 8192 (CUDA) / 1024 (CPU)
        proj_seed: int | None = None      # None: the run seed (one matrix for the whole run)
        groups: str = "one"               # target subsets: "one" or "class"
        target_agg: str = "normalized_mean"  # cosine with the mean target gradient, or the code's "mean_cosine"
        label_mode: str = "max"           # pool label: best cosine over labels ("max"), "argmax", "expected_cosine"
        max_checkpoints: int = 4          # training checkpoints scored, evenly spaced, always the last
        warmup_min: int = 20              # falls back to the cold-start strategy until |L| >= max(C, warmup_min)
        chunk_size: int | None = None     # rows per gradient chunk; None: about 16 MB of gradients

    def validate_options(self) -> None:
        o = self.options
        if o.label_mode == "expected_gradient":
            raise ValueError("label_mode='expected_gradient' is not valid: E_y~p[∇ℓ(x, y)] = 0 exactly for softmax "
                             "models, so every score would be 0 (docs/methods.md#less-in-this-engine); use 'expected_cosine'")
        _choice("label_mode", o.label_mode, ("argmax", "max", "expected_cosine"))
        _choice("gradient_type", o.gradient_type, ("auto", "adam", "sgd", "sign"))
        _choice("adam_mode", o.adam_mode, ADAM_MODES)
        _choice("params", o.params, ("all", "last_layer"))
        _choice("groups", o.groups, ("one", "class"))
        _choice("target_agg", o.target_agg, ("mean_cosine", "normalized_mean"))
        _typed("proj_dim", o.proj_dim, int, optional=True, minimum=1)
        _typed("proj_seed", o.proj_seed, int, optional=True, minimum=0)
        _typed("max_checkpoints", o.max_checkpoints, int, minimum=1)
        _typed("warmup_min", o.warmup_min, int, minimum=0)
        _typed("chunk_size", o.chunk_size, int, optional=True, minimum=1)

    def check_task(self, task: str) -> None:
        if task == "regression":
            from alcore.strategies import targeted_regression

            targeted_regression.check_less_options(self.options)

    def min_labels(self, state: PoolState) -> int:
        return max(state.n_classes, self.options.warmup_min)

    def fallback_reason(self, state: PoolState) -> str | None:
        if len(state.target_idx) == 0:
            return "no_target"
        return super().fallback_reason(state)

    # ------------------------------------------------------------------------------------------
    def checkpoints(self, state: PoolState) -> tuple[list[Checkpoint | None], str]:
        """The checkpoints to score with (``None`` = the final model) and the gradient type actually used."""
        o = self.options
        result = state.train_result
        ckpts = list(result.checkpoints) if result is not None else []
        has_adam = bool(ckpts) and all(c.exp_avg for c in ckpts)
        gtype = o.gradient_type
        if gtype == "auto":
            gtype = "adam" if has_adam else "sgd"
        if not has_adam:  # no optimizer moments (SGD trainer, untrained): plain gradients of the final model (docs/methods.md#less-in-this-engine)
            return [None], ("sgd" if gtype == "adam" else gtype)
        if len(ckpts) > o.max_checkpoints:  # evenly spaced, always including the last
            keep = np.unique(np.round(np.linspace(len(ckpts) - 1, 0, o.max_checkpoints)).astype(int))
            ckpts = [ckpts[i] for i in sorted(keep)]
        return ckpts, gtype

    def scores(self, state: PoolState) -> tuple[np.ndarray, dict]:
        o = self.options
        ckpts, gtype = self.checkpoints(state)
        weights = checkpoint_weights([c.mean_lr for c in ckpts]) if ckpts[0] is not None else np.ones(1)
        ids, _ = target_groups(state.target_y, o.groups)
        n_groups = int(ids.max()) + 1 if len(ids) else 1
        X_pool = state.X[torch.as_tensor(state.pool_idx)]
        X_T = state.X[torch.as_tensor(state.target_idx)]
        y_T = torch.as_tensor(np.asarray(state.target_y), dtype=torch.long)
        fast = gtype == "sgd" and o.params == "last_layer"
        names = param_names(state.model, o.params)
        P = n_params(state.model, names)
        device = torch.device(state.device)
        dim = o.proj_dim if o.proj_dim is not None else default_proj_dim(P, device)
        proj = None if fast else RademacherProjection(P, dim, seed=state.seed if o.proj_seed is None else o.proj_seed,
                                                      device=device)
        C = state.n_classes
        shape = (state.n_pool, n_groups, C) if o.label_mode == "max" else (state.n_pool, n_groups)
        acc = torch.zeros(shape, dtype=torch.float64)
        spread = []
        for w, ckpt in zip(weights, ckpts):
            model = state.model if ckpt is None else model_at(state.model, ckpt.params)
            if fast:
                part = self._fast_scores(model, X_pool, X_T, y_T, ids, n_groups)
            else:
                part = self._projected_scores(model, ckpt, gtype, names, proj, X_pool, X_T, y_T, ids, n_groups)
            acc += w * part
            spread.append(float(part.std()) if part.numel() > 1 else 0.0)
        s = acc.max(1).values  # max over groups
        if o.label_mode == "max":
            s = s.max(1).values
        diagnostics = {"gradient_type": gtype, "optimizer_state": _optimizer_state(state, ckpts, gtype),
                       "n_checkpoints": len(ckpts), "checkpoint_weights": weights.tolist(),
                       "fast_path": fast, "proj_dim": None if proj is None else proj.dim, "n_params": P,
                       "n_groups": n_groups, "score_std_per_checkpoint": spread}
        return s.numpy(), diagnostics

    def _fast_scores(self, model, X_pool, X_T, y_T, ids, n_groups) -> torch.Tensor:
        """docs/methods.md#less-in-this-engine fast path: plain last-layer gradients, cosine by the factorisation, per
        group and label."""
        o = self.options
        zT, hT = head_outputs(model, X_T)
        aT, htT = gradient_factors(torch.softmax(zT.double().cpu(), 1), hT.double().cpu(), y_T, bias=True)
        z, h = head_outputs(model, X_pool)
        p = torch.softmax(z.double().cpu(), 1)
        ht = with_bias(h.double().cpu())
        h_norm = torch.linalg.vector_norm(ht, dim=1, keepdim=True)
        a_norms = torch.sqrt(((p * p).sum(1, keepdim=True) - 2 * p + 1).clamp(min=0))  # ||p - e_y|| for each y
        denom = a_norms * h_norm
        parts = []
        for g in range(n_groups):
            members = torch.as_tensor(ids == g)
            if o.target_agg == "mean_cosine":
                M = normalize_rows(aT[members]).T @ normalize_rows(htT[members]) / max(int(members.sum()), 1)
            else:  # normalize(mean gradient): the paper's reading
                M = aT[members].T @ htT[members]
                norm = torch.linalg.matrix_norm(M)
                M = M / norm if norm > 0 else M
            dz = ht @ M.T
            s_all = (p * dz).sum(1, keepdim=True) - dz  # (p - e_y)^T M h~ for every label y
            s_all = torch.where(denom > 0, s_all / torch.where(denom > 0, denom, 1.0), 0.0)
            parts.append(_label_combine(s_all, p, o.label_mode))
        return torch.stack(parts, dim=1)

    def _projected_scores(self, model, ckpt, gtype, names, proj, X_pool, X_T, y_T, ids, n_groups) -> torch.Tensor:
        """General path: per-sample gradients in chunks -> (Adam | sign) -> projection -> normalise -> match."""
        o = self.options
        psi_bar = self._target_means(model, names, proj, X_T, y_T, ids, n_groups)
        if gtype == "adam":
            m, v = flatten(ckpt.exp_avg, names), flatten(ckpt.exp_avg_sq, names)

        def cosines(G: torch.Tensor) -> torch.Tensor:  # rows of G -> <φ, ψ̄_g> for every group
            if gtype == "adam":
                G = adam_features(G, m, v, o.adam_mode, ckpt.betas, ckpt.eps, ckpt.step)
            elif gtype == "sign":
                G = torch.sign(G)
            return (normalize_rows(proj(G)) @ psi_bar.T).double().cpu()

        if o.label_mode == "argmax":
            z, _ = head_outputs(model, X_pool)
            labels = torch.softmax(z.double().cpu(), 1).argmax(1)
            return torch.cat([cosines(G) for G in iter_per_sample_gradients(model, X_pool, labels, names,
                                                                             o.chunk_size)])
        probs, parts = [], []
        for p, G in iter_label_gradients(model, X_pool, names, o.chunk_size):  # every label at once
            rows, C = G.shape[:2]
            parts.append(cosines(G.reshape(rows * C, -1)).reshape(rows, C, -1).transpose(1, 2))
            probs.append(p.double().cpu())
        s_all = torch.cat(parts)  # (n, groups, C)
        if o.label_mode == "expected_cosine":
            return (s_all * torch.cat(probs)[:, None, :]).sum(2)
        return s_all

    def _target_means(self, model, names, proj, X_T, y_T, ids, n_groups) -> torch.Tensor:
        """ψ̄_g: mean of the normalised projected target gradients of each group, or (``normalized_mean``) the
        normalised projected normalised mean gradient."""
        o = self.options
        ids_t = torch.as_tensor(ids)
        sums, counts, start = None, torch.bincount(ids_t, minlength=n_groups).clamp(min=1), 0
        for G in iter_per_sample_gradients(model, X_T, y_T, names, o.chunk_size):
            rows = G if o.target_agg == "normalized_mean" else normalize_rows(proj(G))
            if sums is None:
                sums = torch.zeros(n_groups, rows.shape[1], dtype=rows.dtype, device=rows.device)
            sums.index_add_(0, ids_t[start:start + len(G)].to(rows.device), rows)
            start += len(G)
        if sums is None:  # empty target set: nothing to align with
            return torch.zeros(n_groups, proj.dim, device=proj.device)
        means = sums / counts.to(sums.device, sums.dtype)[:, None]
        if o.target_agg == "mean_cosine":
            return means
        return normalize_rows(proj(normalize_rows(means)))

    def _select(self, state: PoolState, k: int, rng: np.random.Generator) -> Selection:
        if state.task.categorical:
            s, diagnostics = self.scores(state)
        else:  # a regression model: docs/tasks.md#hallucinated-labels-in-regression
            from alcore.strategies import targeted_regression

            s, diagnostics = targeted_regression.less_scores(self, state)
        reason = "degenerate_scores" if np.all(s == s[0]) else None
        chosen = top_k(s, k, rng)
        return Selection(state.pool_idx[chosen], s, diagnostics, reason)
