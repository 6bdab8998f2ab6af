"""Gradient alignment (docs/methods.md#alignment): properties G1-G8 and the edge cases of
docs/methods.md#alignment-edge-cases."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from alcore import gradients as G
from alcore import strategies
from alcore.models import MLP, LogReg, build_model
from alcore.strategies.alignment import alignment_scores, greedy_alignment
from alcore.strategies.base import PoolState
from alcore.train import TrainSettings, train_model


def _blobs(n, C=3, D=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    X = rng.standard_normal((C, D))[y] * 1.5 + rng.standard_normal((n, D))
    return X, y


def _state(n_pool=150, n_labeled=30, n_target=20, C=3, D=5, seed=0, model="mlp", optimizer="adam", epochs=15,
           labeled=True):
    X, y = _blobs(n_pool + n_labeled + n_target, C, D, seed)
    X = torch.tensor(X, dtype=torch.float32)
    lab = np.arange(n_labeled) if labeled else np.zeros(0, dtype=int)
    tgt = np.arange(n_labeled, n_labeled + n_target)
    pool = np.arange(n_labeled + n_target, len(y))
    m = build_model(model, D, C, seed=seed, **({"hidden": (8,), "dropout": 0.0} if model == "mlp" else {}))
    settings = TrainSettings(epochs=epochs, lr=1e-2, batch_size=16, optimizer=optimizer)
    result = train_model(m, X[lab], torch.as_tensor(y[lab]), settings, seed=seed)
    return PoolState(X=X, pool_idx=pool, labeled_idx=lab, labeled_y=y[lab], target_idx=tgt, target_y=y[tgt],
                     n_classes=C, model=m, train_result=result, train_settings=settings)


def _logreg64(D=4, C=3, seed=0):
    torch.manual_seed(seed)
    model = LogReg(D, C).double()
    with torch.no_grad():
        model.head.weight.normal_(0, 0.5)
        model.head.bias.normal_(0, 0.5)
    return model


# --- G1 ------------------------------------------------------------------------------------------------------------
def test_G1_jvp_equals_vmap_equals_closed_form_when_only_the_last_layer_trains():
    torch.manual_seed(0)
    model = MLP(6, 4, hidden=(9,), dropout=0.0)
    for p in model.body.parameters():
        p.requires_grad_(False)
    X, XT, yT = torch.randn(50, 6), torch.randn(15, 6), torch.randint(0, 4, (15,))
    jvp, _ = alignment_scores(model, X, XT, yT, params="all")
    closed, _ = alignment_scores(model, X, XT, yT, params="last_layer")
    G_T = G.mean_loss_gradient(model, XT, yT)
    yhat = model.eval()(X).argmax(1)
    explicit = (G.per_sample_gradients(model, X, yhat, method="vmap") @ G.flatten(G_T, G.param_names(model))).numpy()
    assert np.allclose(jvp, explicit, rtol=1e-4, atol=1e-7)
    assert np.allclose(closed, explicit, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("label_mode", ["argmax", "max"])
def test_G1_all_parameter_and_closed_form_paths_agree_on_logistic_regression(label_mode):
    model = _logreg64()
    X, XT, yT = torch.randn(40, 4, dtype=torch.float64), torch.randn(10, 4, dtype=torch.float64), torch.arange(10) % 3
    s_all, n_all = alignment_scores(model, X, XT, yT, params="all", label_mode=label_mode)
    s_ll, n_ll = alignment_scores(model, X, XT, yT, params="last_layer", label_mode=label_mode)
    assert np.allclose(s_all, s_ll, atol=1e-12) and n_all == pytest.approx(n_ll)
    if label_mode == "max":
        argmax, _ = alignment_scores(model, X, XT, yT, params="all")
        assert (s_all >= argmax - 1e-12).all()


def test_normalized_candidates_agree_across_paths_and_equal_the_cosine_ranking():
    model = _logreg64(seed=1)
    X, XT, yT = torch.randn(40, 4, dtype=torch.float64), torch.randn(10, 4, dtype=torch.float64), torch.arange(10) % 3
    s_all, g_norm = alignment_scores(model, X, XT, yT, params="all", normalize_candidates=True)
    s_ll, _ = alignment_scores(model, X, XT, yT, params="last_layer", normalize_candidates=True)
    assert np.allclose(s_all, s_ll, atol=1e-10)
    yhat = model(X).argmax(1)
    g = G.per_sample_gradients(model, X, yhat)
    G_T = G.flatten(G.mean_loss_gradient(model, XT, yT), G.param_names(model))
    cos = (G.normalize_rows(g) @ G_T / G_T.norm()).numpy()
    assert np.allclose(s_all, cos * g_norm, atol=1e-10)


# --- G2 / G3 -------------------------------------------------------------------------------------------------------
def test_G2_ranking_invariant_to_scaling_and_duplicating_the_target():
    model = _logreg64(seed=2)
    X, XT, yT = torch.randn(60, 4, dtype=torch.float64), torch.randn(12, 4, dtype=torch.float64), torch.arange(12) % 3
    base, _ = alignment_scores(model, X, XT, yT)
    dup, _ = alignment_scores(model, X, torch.cat([XT, XT]), torch.cat([yT, yT]))
    assert np.allclose(base, dup, atol=1e-12)
    G_T = G.mean_loss_gradient(model, XT, yT)
    scaled = G.jvp_scores(model, X, {k: 7.5 * v for k, v in G_T.items()}).numpy()  # loss scaled by 7.5
    assert np.array_equal(np.argsort(-scaled, kind="stable"), np.argsort(-base, kind="stable"))


def test_G3_scaling_a_candidate_gradient_scales_its_score():
    rng = np.random.default_rng(3)
    a, h, M = rng.standard_normal((20, 3)), rng.standard_normal((20, 5)), rng.standard_normal((3, 5))
    s = G.bilinear_scores(a, h, M)
    a2 = a.copy()
    a2[4] *= 3.0
    s2 = G.bilinear_scores(a2, h, M)
    assert s2[4] == pytest.approx(3.0 * s[4])
    assert np.allclose(np.delete(s2, 4), np.delete(s, 4))


# --- G4 / G5 -------------------------------------------------------------------------------------------------------
def _loss_at(model, params, X, y, reduction="none"):
    out = torch.func.functional_call(model, params, (X,))
    return F.cross_entropy(out, y, reduction=reduction)


def test_G4_scores_match_finite_differences_along_the_target_gradient():
    model = _logreg64(seed=4)
    X, XT, yT = torch.randn(25, 4, dtype=torch.float64), torch.randn(9, 4, dtype=torch.float64), torch.arange(9) % 3
    s, _ = alignment_scores(model, X, XT, yT)
    G_T = G.mean_loss_gradient(model, XT, yT)
    theta = {k: v.detach() for k, v in model.named_parameters()}
    yhat = model(X).argmax(1)
    eps = 1e-3
    plus = _loss_at(model, {k: theta[k] + eps * G_T[k] for k in theta}, X, yhat)
    minus = _loss_at(model, {k: theta[k] - eps * G_T[k] for k in theta}, X, yhat)
    fd = ((plus - minus) / (2 * eps)).detach().numpy()
    assert np.allclose(s, fd, rtol=1e-5, atol=1e-8)


def test_G5_a_small_step_on_the_top_pick_lowers_the_target_loss_and_a_negative_pick_raises_it():
    model = _logreg64(seed=5)
    X, XT, yT = torch.randn(80, 4, dtype=torch.float64), torch.randn(20, 4, dtype=torch.float64), torch.arange(20) % 3
    s, _ = alignment_scores(model, X, XT, yT)
    theta = {k: v.detach() for k, v in model.named_parameters()}
    target_loss = _loss_at(model, theta, XT, yT, "mean").item()
    for i, sign in ((int(np.argmax(s)), -1), (int(np.argmin(s)), +1)):
        assert np.sign(s[i]) == -sign
        yhat = model(X[i:i + 1]).argmax(1)
        g = G.per_sample_gradients(model, X[i:i + 1], yhat)[0]
        step, start = {}, 0
        for name, p in theta.items():
            step[name] = p - 1e-6 * g[start:start + p.numel()].reshape(p.shape)
            start += p.numel()
        after = _loss_at(model, step, XT, yT, "mean").item()
        assert np.sign(after - target_loss) == sign
        assert after - target_loss == pytest.approx(-1e-6 * s[i], rel=1e-3)


# --- G6 -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("label_mode, params", [("argmax", "all"), ("max", "last_layer")])
def test_G6_normalised_alignment_ranks_like_less_in_the_matching_configuration(label_mode, params):
    state = _state(optimizer="sgd", seed=6)
    align = strategies.get("alignment", normalize_candidates=True, label_mode=label_mode, params=params)
    less = strategies.get("less", groups="one", target_agg="normalized_mean", label_mode=label_mode, params=params,
                          warmup_min=0)
    a_sel = align.select(state, 10, np.random.default_rng(0))
    l_sel = less.select(state, 10, np.random.default_rng(0))
    assert l_sel.diagnostics["gradient_type"] == "sgd" and l_sel.diagnostics["n_checkpoints"] == 1
    assert l_sel.diagnostics["proj_dim"] in (None, l_sel.diagnostics["n_params"])  # no projection
    ratio = a_sel.utilities / l_sel.utilities
    assert np.allclose(ratio, a_sel.diagnostics["target_gradient_norm"], rtol=1e-4)
    assert set(a_sel.indices.tolist()) == set(l_sel.indices.tolist())


# --- G7 / G8 / D1 ---------------------------------------------------------------------------------------------------
def test_G7_greedy_with_zero_step_equals_plain_top_k():
    state = _state(seed=7)
    plain = strategies.get("alignment", params="last_layer").select(state, 12, np.random.default_rng(4))
    greedy = strategies.get("alignment", params="last_layer", greedy=True, greedy_lr=0.0).select(
        state, 12, np.random.default_rng(4))
    assert np.array_equal(plain.indices, greedy.indices)
    assert np.isnan(greedy.utilities).sum() == state.n_pool - 12


def test_greedy_look_ahead_diversifies_after_a_pick():
    rng = np.random.default_rng(8)
    a = np.tile(rng.standard_normal((1, 3)), (6, 1))
    h = np.tile(rng.standard_normal((1, 4)), (6, 1))
    zT, hT, yT = rng.standard_normal((5, 3)), rng.standard_normal((5, 4)), np.arange(5) % 3
    picks0, gains0 = greedy_alignment(a, h, zT, hT, yT, 3, 0.0, np.random.default_rng(0))
    picks1, gains1 = greedy_alignment(a, h, zT, hT, yT, 3, 5.0, np.random.default_rng(0))
    assert np.allclose(gains0, gains0[0])  # no look-ahead: identical points keep their score
    assert gains1[1] < gains1[0]  # after a simulated step along x, copies of x pay less


def test_G8_D1_distinct_in_pool_and_deterministic():
    for opts in ({}, {"params": "last_layer", "mode": "magnitude"}, {"label_mode": "max"},
                 {"params": "last_layer", "greedy": True}):
        s1 = strategies.get("alignment", **opts).select(_state(seed=9), 15, np.random.default_rng(5))
        s2 = strategies.get("alignment", **opts).select(_state(seed=9), 15, np.random.default_rng(5))
        state = _state(seed=9)
        assert len(set(s1.indices.tolist())) == 15 and np.isin(s1.indices, state.pool_idx).all()
        assert not np.isin(s1.indices, np.concatenate([state.labeled_idx, state.target_idx])).any()
        assert np.array_equal(s1.indices, s2.indices), opts
        assert np.array_equal(s1.utilities, s2.utilities, equal_nan=True)


def test_magnitude_mode_ranks_by_absolute_score():
    state = _state(seed=10)
    signed = strategies.get("alignment").select(state, 5, np.random.default_rng(0))
    mag = strategies.get("alignment", mode="magnitude").select(state, 5, np.random.default_rng(0))
    assert np.allclose(mag.utilities, np.abs(signed.utilities))
    assert np.all(mag.utilities[np.isin(state.pool_idx, mag.indices)].min() >= np.sort(mag.utilities)[-5])


# --- docs/methods.md#alignment-edge-cases edge cases ------------------------------------------------------------------
def test_zero_target_gradient_gives_degenerate_scores_with_random_ties():
    D, C = 4, 4  # p = 1/4 is exact in binary: the class-balanced target gradient cancels exactly in float32
    model = LogReg(D, C)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    X = torch.randn(40, D)
    X[:C] = 0.0  # the target: one example per class at the origin -> G_T = 0 exactly
    state = PoolState(X=X, pool_idx=np.arange(C, 40), labeled_idx=np.arange(C), labeled_y=np.arange(C),
                      target_idx=np.arange(C), target_y=np.arange(C), n_classes=C, model=model)
    firsts = set()
    for seed in range(10):
        sel = strategies.get("alignment").select(state, 4, np.random.default_rng(seed))
        assert sel.fallback_reason == "degenerate_scores"
        assert np.all(sel.utilities == 0)
        firsts.add(int(sel.indices[0]))
    assert len(firsts) > 3


def test_cold_start_runs_on_the_initial_model_and_is_flagged():
    state = _state(labeled=False)
    sel = strategies.get("alignment").select(state, 6, np.random.default_rng(0))
    assert sel.fallback_reason is None and sel.diagnostics["cold_start"] is True
    assert len(set(sel.indices.tolist())) == 6 and np.isin(sel.indices, state.pool_idx).all()


def test_without_a_target_set_it_falls_back():
    state = _state()
    state.target_idx, state.target_y = np.zeros(0, int), np.zeros(0, int)
    state.cold_start_strategy = "random"
    sel = strategies.get("alignment").select(state, 6, np.random.default_rng(0))
    assert sel.fallback_reason == "no_target" and len(sel.indices) == 6


def test_options_are_validated_at_the_door():
    assert strategies.get_class("alignment").needs_target
    for bad in ({"label_mode": "expected_gradient"}, {"mode": "both"}, {"params": "head_and_more"},
                {"greedy": True}, {"greedy_lr": -1.0, "params": "last_layer"},
                {"normalize_candidates": True, "label_mode": "max"}):
        with pytest.raises(ValueError):
            strategies.get("alignment", **bad)
