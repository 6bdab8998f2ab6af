"""LESS-style selection (docs/methods.md#less): properties L1-L8 and D1, plus the docs/methods.md#less-edge-cases edge
cases."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from alcore import gradients as G
from alcore import strategies
from alcore.models import build_model
from alcore.strategies.base import PoolState
from alcore.strategies.less import checkpoint_weights, group_means, less_scores, target_groups
from alcore.train import TrainResult, TrainSettings, train_model


def _state(n_pool=120, n_labeled=30, n_target=18, C=3, D=5, seed=0, model="mlp", optimizer="adam", epochs=12,
           hidden=(8,)):
    rng = np.random.default_rng(seed)
    n = n_pool + n_labeled + n_target
    y = rng.integers(0, C, n)
    X = torch.tensor(rng.standard_normal((C, D))[y] * 1.5 + rng.standard_normal((n, D)), dtype=torch.float32)
    lab, tgt = np.arange(n_labeled), np.arange(n_labeled, n_labeled + n_target)
    pool = np.arange(n_labeled + n_target, n)
    m = build_model(model, D, C, seed=seed, **({"hidden": hidden, "dropout": 0.0} if model == "mlp" else {}))
    settings = TrainSettings(epochs=epochs, lr=1e-2, batch_size=16, optimizer=optimizer, n_checkpoints=4)
    result = train_model(m, X[lab], torch.as_tensor(y[lab]), settings, seed=seed)
    return PoolState(X=X, pool_idx=pool, labeled_idx=lab, labeled_y=y[lab], target_idx=tgt, target_y=y[tgt],
                     n_classes=C, model=m, train_result=result, train_settings=settings, seed=seed)


# the released code's matching (mean of per-example cosines, argmax pseudo-labels): what L1-L7 describe
REFERENCE = {"target_agg": "mean_cosine", "label_mode": "argmax"}


def _less(**options):
    return strategies.get("less", warmup_min=0, **{**REFERENCE, **options})


def _utilities(state, k=10, seed=0, **options):
    return _less(**options).select(state, k, np.random.default_rng(seed))


def _brute_force_mean_cosine(state, params="last_layer"):
    """mean_z cos(g_x, g_z) over the whole target, plain gradients of the final model (L3)."""
    model = state.model
    X_pool, X_T = state.X[state.pool_idx], state.X[state.target_idx]
    yhat = model.eval()(X_pool).argmax(1)
    gp = G.per_sample_gradients(model, X_pool, yhat, params, method="vmap").double()
    gt = G.per_sample_gradients(model, X_T, torch.as_tensor(state.target_y), params, method="vmap").double()
    return (G.normalize_rows(gp) @ G.normalize_rows(gt).T).mean(1).numpy()


# --- L1 -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("options", [{}, {"adam_mode": "paper"}, {"adam_mode": "frozen"}, {"gradient_type": "sign"},
                                     {"gradient_type": "sgd", "params": "last_layer", "groups": "class"},
                                     {"label_mode": "expected_cosine", "params": "last_layer"},
                                     {"label_mode": "max", "gradient_type": "sgd", "params": "last_layer"},
                                     {"target_agg": "normalized_mean", "proj_dim": 32}])
def test_L1_scores_lie_in_minus_one_one(options):
    sel = _utilities(_state(seed=1), **options)
    assert np.all(np.abs(sel.utilities) <= 1 + 1e-6)
    assert np.isfinite(sel.utilities).all()


# --- L2 -------------------------------------------------------------------------------------------------------------
def test_L2_invariant_to_scaling_checkpoint_weights():
    state = _state(seed=2)
    base = _utilities(state).utilities
    scaled = dataclasses.replace(state.train_result, checkpoints=[
        dataclasses.replace(c, mean_lr=c.mean_lr * 13.0) for c in state.train_result.checkpoints])
    state2 = dataclasses.replace(state, train_result=scaled)
    assert np.allclose(_utilities(state2).utilities, base, atol=1e-12)


def test_L2_invariant_to_scaling_the_loss_or_any_single_gradient():
    rng = np.random.default_rng(3)
    pool, target = torch.from_numpy(rng.standard_normal((30, 50))), torch.from_numpy(rng.standard_normal((8, 50)))
    proj = G.RademacherProjection(50, 20, seed=0, dtype=torch.float64)
    ids = np.array([0, 0, 0, 1, 1, 1, 1, 1])

    def scores(p, t):
        return less_scores([G.normalize_rows(proj(p))], [G.normalize_rows(proj(t))], [1.0], ids)

    base = scores(pool, target)
    scaled_pool = pool.clone()
    scaled_pool[4] *= 9.0
    scaled_target = target.clone()
    scaled_target[6] *= 0.01
    assert np.allclose(scores(scaled_pool, scaled_target), base, atol=1e-12)
    assert np.allclose(scores(2.5 * pool, 2.5 * target), base, atol=1e-12)  # the loss scaled by 2.5


# --- L3 -------------------------------------------------------------------------------------------------------------
def test_L3_fast_path_and_general_path_equal_the_brute_force_mean_cosine():
    state = _state(seed=4, optimizer="sgd")  # no Adam state: sgd, final model only
    want = _brute_force_mean_cosine(state)
    fast = _utilities(state, params="last_layer")
    assert fast.diagnostics["fast_path"] and fast.diagnostics["n_checkpoints"] == 1
    assert np.allclose(fast.utilities, want, atol=1e-6)
    lr_state = _state(seed=4, optimizer="sgd", model="logreg")  # for LR "all" = the last layer, via the general path
    general = _utilities(lr_state, params="all")
    assert not general.diagnostics["fast_path"] and general.diagnostics["proj_dim"] == general.diagnostics["n_params"]
    assert np.allclose(general.utilities, _brute_force_mean_cosine(lr_state), atol=1e-6)


# --- L4 -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["less_code", "paper", "frozen"])
def test_L4_adam_with_zero_momentum_and_constant_second_moment_gives_sgd_scores(mode):
    state = _state(seed=5)
    ckpts = [dataclasses.replace(c, exp_avg={k: torch.zeros_like(v) for k, v in c.exp_avg.items()},
                                 exp_avg_sq={k: torch.full_like(v, 0.3) for k, v in c.exp_avg_sq.items()},
                                 betas=(0.9, 1.0)) for c in state.train_result.checkpoints]
    state = dataclasses.replace(state, train_result=dataclasses.replace(state.train_result, checkpoints=ckpts))
    adam = _utilities(state, gradient_type="adam", adam_mode=mode)
    sgd = _utilities(state, gradient_type="sgd")
    assert adam.diagnostics["n_checkpoints"] == sgd.diagnostics["n_checkpoints"] == 4
    assert np.allclose(adam.utilities, sgd.utilities, atol=1e-5)


# --- L5 -------------------------------------------------------------------------------------------------------------
def test_L5_max_over_groups_duplicating_a_group_keeps_and_adding_one_can_only_raise():
    rng = np.random.default_rng(6)
    phi = G.normalize_rows(rng.standard_normal((25, 12)))
    psi = G.normalize_rows(rng.standard_normal((9, 12)))
    ids = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    base = less_scores([phi], [psi], [1.0], ids)
    dup = less_scores([phi], [np.vstack([psi, psi[ids == 1]])], [1.0], np.concatenate([ids, np.full(2, 3)]))
    assert np.allclose(dup, base)
    extra = G.normalize_rows(rng.standard_normal((3, 12)))
    more = less_scores([phi], [np.vstack([psi, extra])], [1.0], np.concatenate([ids, np.full(3, 3)]))
    assert np.all(more >= base - 1e-12)


def test_L5_through_the_strategy_with_class_groups():
    state = _state(seed=7, optimizer="sgd")
    base = _utilities(state, groups="class", params="last_layer").utilities
    t, y = state.target_idx, state.target_y
    keep = y != 2
    fewer = dataclasses.replace(state, target_idx=t[keep], target_y=y[keep])
    # float32 forward passes over differently sized target batches differ in the last bits: 1e-6
    assert np.all(base >= _utilities(fewer, groups="class", params="last_layer").utilities - 1e-6)
    doubled = dataclasses.replace(state, target_idx=np.concatenate([t, t]), target_y=np.concatenate([y, y]))
    assert np.allclose(_utilities(doubled, groups="class", params="last_layer").utilities, base, atol=1e-6)


def test_group_means_use_each_groups_own_size():
    psi = torch.arange(12.0).reshape(6, 2)
    ids = np.array([1, 0, 1, 1, 2, 0])
    means = group_means(psi, ids, 3)
    for g in range(3):
        assert torch.allclose(means[g], psi[torch.as_tensor(ids == g)].mean(0))
    assert target_groups([3, 5, 3], "class")[0].tolist() == [0, 1, 0]


# --- L6 -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("params", ["last_layer", "all"])
def test_L6_a_copy_of_the_target_example_has_cosine_one(params):
    state = _state(seed=8, optimizer="sgd")
    z = int(state.target_idx[0])
    copy = int(state.pool_idx[5])
    state.X[copy] = state.X[z]
    pred = int(state.model.eval()(state.X[z:z + 1]).argmax(1))
    state = dataclasses.replace(state, target_idx=np.array([z]), target_y=np.array([pred]))
    sel = _utilities(state, params=params)
    assert sel.utilities[5] == pytest.approx(1.0, abs=1e-5)
    assert np.argmax(sel.utilities) == 5 or sel.utilities.max() == pytest.approx(1.0, abs=1e-5)


# --- L7 / D1 ----------------------------------------------------------------------------------------------------------
def test_L7_projection_shared_by_pool_and_target_keeps_the_ranking_and_is_deterministic():
    state = _state(seed=9, hidden=(32,))
    exact = _utilities(state, proj_dim=4096)
    assert exact.diagnostics["proj_dim"] == exact.diagnostics["n_params"]
    projected = _utilities(state, proj_dim=128)
    assert projected.diagnostics["proj_dim"] == 128
    ranks = lambda x: np.argsort(np.argsort(x))  # noqa: E731
    assert np.corrcoef(ranks(exact.utilities), ranks(projected.utilities))[0, 1] > 0.7
    again = _utilities(_state(seed=9, hidden=(32,)), proj_dim=128)
    assert np.array_equal(again.indices, projected.indices)
    assert np.array_equal(again.utilities, projected.utilities)
    other_seed = _utilities(state, proj_dim=128, proj_seed=123)
    assert not np.array_equal(other_seed.utilities, projected.utilities)


def test_D1_deterministic_for_a_seed_in_every_mode():
    for options in ({}, {"params": "last_layer", "gradient_type": "sgd"}, {"groups": "class"}):
        s1 = _utilities(_state(seed=10), seed=3, **options)
        s2 = _utilities(_state(seed=10), seed=3, **options)
        assert np.array_equal(s1.indices, s2.indices) and np.array_equal(s1.utilities, s2.utilities)


# --- L8 -------------------------------------------------------------------------------------------------------------
def test_L8_expected_gradient_label_mode_is_rejected_at_config_time():
    with pytest.raises(ValueError, match="expected_gradient"):
        strategies.get("less", label_mode="expected_gradient")
    for bad in ({"adam_mode": "adamw"}, {"groups": "task"}, {"proj_dim": 0}, {"gradient_type": "lbfgs"}):
        with pytest.raises(ValueError):
            strategies.get("less", **bad)


# --- cold start, optimizer state, checkpoints ------------------------------------------------------------------------
def test_falls_back_until_enough_labels():
    state = _state(n_labeled=12, seed=11)
    state.cold_start_strategy = "random"
    sel = strategies.get("less", warmup_min=20).select(state, 5, np.random.default_rng(0))
    assert sel.fallback_reason == "cold_start" and sel.diagnostics["fallback_strategy"] == "random"
    sel = strategies.get("less", warmup_min=10).select(state, 5, np.random.default_rng(0))
    assert sel.fallback_reason is None
    empty = dataclasses.replace(state, labeled_idx=np.zeros(0, int), labeled_y=np.zeros(0, int))
    assert strategies.get("less").select(empty, 5, np.random.default_rng(0)).fallback_reason == "cold_start"
    no_target = dataclasses.replace(state, target_idx=np.zeros(0, int), target_y=np.zeros(0, int))
    assert _less().select(no_target, 5, np.random.default_rng(0)).fallback_reason == "no_target"


def test_without_adam_state_uses_plain_gradients_of_the_final_model():
    state = _state(seed=12, optimizer="sgd")
    sel = _utilities(state)
    assert sel.diagnostics["gradient_type"] == "sgd" and sel.diagnostics["n_checkpoints"] == 1
    untrained = dataclasses.replace(state, train_result=TrainResult(np.zeros(0), [], "adam"))
    assert _utilities(untrained).diagnostics["n_checkpoints"] == 1


def test_checkpoints_are_weighted_by_learning_rate_and_thinned_evenly():
    assert np.allclose(checkpoint_weights([2.0, 1.0, 1.0]), [0.5, 0.25, 0.25])
    assert np.allclose(checkpoint_weights([0.0, 0.0]), [0.5, 0.5])
    state = _state(seed=13)
    ckpts = state.train_result.checkpoints
    chosen, gtype = _less(max_checkpoints=2).checkpoints(state)
    assert gtype == "adam" and chosen[-1] is ckpts[-1] and len(chosen) == 2


def test_max_label_mode_is_at_least_the_argmax_score_with_one_checkpoint():
    state = _state(seed=14, optimizer="sgd")
    argmax = _utilities(state, params="last_layer").utilities
    best = _utilities(state, params="last_layer", label_mode="max").utilities
    assert np.all(best >= argmax - 1e-12)
    general = _utilities(state, label_mode="max", params="all").utilities
    assert np.all(np.abs(general) <= 1 + 1e-6)


# --- the engine's defaults: cosine with the mean target gradient (the paper's reading) and the best label ---------
def _brute_force_default(state, params):
    """max_y cos(∇ℓ(x, y), mean_z ∇ℓ(z, y_z)) in parameter space, plain gradients of the final model."""
    model, C = state.model, state.n_classes
    X_pool, X_T = state.X[state.pool_idx], state.X[state.target_idx]
    target = G.per_sample_gradients(model, X_T, torch.as_tensor(state.target_y), params, method="vmap").double()
    direction = G.normalize_rows(target.mean(0, keepdim=True))
    per_label = [G.normalize_rows(G.per_sample_gradients(model, X_pool, torch.full((len(X_pool),), y), params,
                                                         method="vmap").double()) @ direction.T
                 for y in range(C)]
    return torch.cat(per_label, dim=1).max(1).values.numpy()


@pytest.mark.parametrize("params", ["last_layer", "all"])
def test_default_scores_are_the_best_labels_cosine_with_the_mean_target_gradient(params):
    state = _state(seed=15, optimizer="sgd")
    sel = strategies.get("less", warmup_min=0, params=params).select(state, 10, np.random.default_rng(0))
    assert sel.diagnostics["proj_dim"] in (None, sel.diagnostics["n_params"])  # small model: exact, no projection
    assert np.allclose(sel.utilities, _brute_force_default(state, params), atol=1e-6)


def test_exact_below_the_size_limit_projected_above():
    from alcore.strategies.less import EXACT_MAX_PARAMS, default_proj_dim

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert default_proj_dim(EXACT_MAX_PARAMS, cpu) == EXACT_MAX_PARAMS
    assert default_proj_dim(EXACT_MAX_PARAMS + 1, cpu) == 1024
    assert default_proj_dim(EXACT_MAX_PARAMS + 1, cuda) == 8192


def test_best_label_finds_the_class_the_model_never_predicts():
    """The argmax pseudo-label of a point from a class the model never predicts is wrong, and its gradient points
    away from the target's (which asks to raise that class): "max" scores such points high, "argmax" cannot."""
    state = _state(seed=16, C=3, n_labeled=40, n_target=30)
    labeled_y = state.labeled_y.copy()
    keep = labeled_y != 0  # train without class 0: the model never predicts it
    X_lab = state.X[state.labeled_idx[keep]]
    model = build_model("mlp", X_lab.shape[1], 3, seed=0, hidden=(8,), dropout=0.0)
    settings = TrainSettings(epochs=30, lr=1e-2, batch_size=16, n_checkpoints=2)
    result = train_model(model, X_lab, torch.as_tensor(labeled_y[keep]), settings, seed=0)
    state = dataclasses.replace(state, model=model, train_result=result, train_settings=settings)
    target_is_0 = np.asarray(state.target_y) == 0
    state = dataclasses.replace(state, target_idx=state.target_idx[target_is_0],
                                target_y=np.asarray(state.target_y)[target_is_0])
    y_all = np.random.default_rng(16).integers(0, 3, len(state.X))  # the classes _state drew first
    pool_is_0 = y_all[state.pool_idx] == 0
    k = int(pool_is_0.sum()) // 2
    best = strategies.get("less", warmup_min=0).select(state, k, np.random.default_rng(0))
    argmax = strategies.get("less", warmup_min=0, label_mode="argmax").select(state, k, np.random.default_rng(0))
    frac_best = np.isin(best.indices, state.pool_idx[pool_is_0]).mean()
    frac_argmax = np.isin(argmax.indices, state.pool_idx[pool_is_0]).mean()
    assert frac_best >= 0.8 and frac_best > frac_argmax + 0.3, (frac_best, frac_argmax)
