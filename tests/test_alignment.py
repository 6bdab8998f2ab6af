"""Gradient alignment (docs/methods.md#alignment): properties G1-G8 and the edge cases of
docs/methods.md#alignment-edge-cases."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from alcore import distances
from alcore import gradients as G
from alcore import strategies
from alcore.models import MLP, LogReg, build_model
from alcore.strategies.alignment import (alignment_scores, greedy_alignment, ranking_utility, score_pool,
                                         weighted_kmeanspp)
from alcore.strategies.base import PoolState, top_k
from alcore.train import TrainSettings, train_model


# The hallucinated-label rule (the seed's score, the old default) and its last-layer form, as plain top-k rankings.
HALLUCINATED_TOP_K = {"params": "all", "label_mode": "argmax", "normalize_candidates": False, "diverse": False}
LAST_LAYER_TOP_K = {**HALLUCINATED_TOP_K, "params": "last_layer"}


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
@pytest.mark.parametrize("label_mode, params", [("argmax", "all"), ("max", "last_layer"), ("max", "all")])
def test_G6_normalised_alignment_ranks_like_less_in_the_matching_configuration(label_mode, params):
    state = _state(optimizer="sgd", seed=6)
    align = strategies.get("alignment", normalize_candidates=True, label_mode=label_mode, params=params,
                           diverse=False)
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
    plain = strategies.get("alignment", **LAST_LAYER_TOP_K).select(state, 12, np.random.default_rng(4))
    greedy = strategies.get("alignment", **LAST_LAYER_TOP_K, greedy=True, greedy_lr=0.0).select(
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
                 {**LAST_LAYER_TOP_K, "greedy": True}, {"mode": "norm"}, HALLUCINATED_TOP_K,
                 {"params": "all", "label_mode": "max", "normalize_candidates": True, "diverse": True}):
        s1 = strategies.get("alignment", **opts).select(_state(seed=9), 15, np.random.default_rng(5))
        s2 = strategies.get("alignment", **opts).select(_state(seed=9), 15, np.random.default_rng(5))
        state = _state(seed=9)
        assert len(set(s1.indices.tolist())) == 15 and np.isin(s1.indices, state.pool_idx).all()
        assert not np.isin(s1.indices, np.concatenate([state.labeled_idx, state.target_idx])).any()
        assert np.array_equal(s1.indices, s2.indices), opts
        assert np.array_equal(s1.utilities, s2.utilities, equal_nan=True)


def test_magnitude_mode_ranks_by_absolute_score():
    state = _state(seed=10)
    signed = strategies.get("alignment", diverse=False).select(state, 5, np.random.default_rng(0))
    mag = strategies.get("alignment", mode="magnitude", diverse=False).select(state, 5, np.random.default_rng(0))
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
                {"greedy": True}, {"greedy_lr": -1.0, "params": "last_layer"}, {"diverse": 1},
                {"greedy": True, "params": "last_layer", "label_mode": "argmax", "diverse": True},
                {"greedy": True, "params": "last_layer", "label_mode": "argmax", "mode": "norm"}):
        with pytest.raises(ValueError):
            strategies.get("alignment", **bad)


# --- the label a point is scored with, the seed's rule, the diverse batch ------------------------------------------
def _mlp64(seed):
    torch.manual_seed(seed)
    return MLP(4, 3, hidden=(6,), dropout=0.0).double()


def _step(theta, names, direction):
    """``theta`` with ``direction`` (flat, over ``names`` in order) added to the named parameters."""
    out, start = dict(theta), 0
    for name in names:
        p = theta[name]
        out[name] = p + direction[start:start + p.numel()].reshape(p.shape)
        start += p.numel()
    return out


@pytest.mark.parametrize("params", ["all", "last_layer"])
@pytest.mark.parametrize("label_mode, normalize", [("argmax", False), ("max", False), ("max", True)])
def test_score_sign_is_the_sign_of_the_target_loss_drop_after_a_small_sgd_step_on_the_point(params, label_mode,
                                                                                            normalize):
    model = _mlp64(11)
    X, XT = torch.randn(30, 4, dtype=torch.float64), torch.randn(12, 4, dtype=torch.float64)
    yT = torch.arange(12) % 3
    res = score_pool(model, X, XT, yT, params=params, label_mode=label_mode, normalize_candidates=normalize)
    names = G.param_names(model, params)
    theta = {k: v.detach() for k, v in model.named_parameters()}
    before = _loss_at(model, theta, XT, yT, "mean").item()
    grads = G.per_sample_gradients(model, X, torch.as_tensor(res.labels), names)  # each point with its own label
    checked = 0
    for i in range(len(X)):
        if abs(res.scores[i]) < 1e-4 * np.abs(res.scores).max():
            continue  # too close to 0 for a finite step to resolve the sign
        after = _loss_at(model, _step(theta, names, -1e-6 * grads[i]), XT, yT, "mean").item()
        assert np.sign(after - before) == -np.sign(res.scores[i]), i
        checked += 1
    assert checked >= 25


def test_best_label_scores_each_point_with_the_label_of_its_largest_score_or_cosine():
    model = _mlp64(12)
    X, XT, yT = torch.randn(40, 4, dtype=torch.float64), torch.randn(10, 4, dtype=torch.float64), torch.arange(10) % 3
    raw = score_pool(model, X, XT, yT, label_mode="max")
    cos = score_pool(model, X, XT, yT, label_mode="max", normalize_candidates=True)
    G_T = G.flatten(G.mean_loss_gradient(model, XT, yT), G.param_names(model))
    per_label = np.stack([(G.per_sample_gradients(model, X, torch.full((40,), y)) @ G_T).numpy()
                          for y in range(3)], 1)  # <∇ℓ(x, y), G_T> for every label, explicitly
    norms = np.stack([G.per_sample_gradient_norms(model, X, torch.full((40,), y)).numpy() for y in range(3)], 1)
    assert np.array_equal(raw.labels, per_label.argmax(1))
    assert np.allclose(raw.scores, per_label.max(1), atol=1e-10)
    assert np.array_equal(cos.labels, (per_label / norms).argmax(1))
    assert np.allclose(cos.grad_norms, norms[np.arange(40), cos.labels])


def test_seed_rule_takes_aligned_points_in_order_of_their_gradient_magnitude():
    state = _state(seed=12)
    X_pool, X_T = state.X[torch.as_tensor(state.pool_idx)], state.X[torch.as_tensor(state.target_idx)]
    res = score_pool(state.model, X_pool, X_T, state.target_y, need_norms=True)
    hallucinated = G.per_sample_gradient_norms(state.model, X_pool, res.probs.argmax(1)).numpy()
    assert np.allclose(res.grad_norms, hallucinated, rtol=1e-5)  # ||∇ℓ(x, ŷ)|| of the argmax label
    positive = res.scores > 0
    assert 10 <= positive.sum() < state.n_pool
    sel = strategies.get("alignment", **HALLUCINATED_TOP_K, mode="norm").select(state, 10, np.random.default_rng(0))
    picked = np.isin(state.pool_idx, sel.indices)
    assert positive[picked].all(), "only points whose step lowers the target loss"
    assert res.grad_norms[picked].min() >= res.grad_norms[positive & ~picked].max(), "the largest gradients first"
    signed = strategies.get("alignment", **HALLUCINATED_TOP_K).select(state, 10, np.random.default_rng(0))
    assert set(sel.indices.tolist()) != set(signed.indices.tolist())


def test_seed_rule_puts_positive_scores_by_norm_first_then_the_rest_by_score():
    scores = np.array([0.1, -0.5, 2.0, 0.0, -0.1])
    norms = np.array([3.0, 9.0, 1.0, 5.0, 4.0])
    order = top_k(ranking_utility(scores, norms, "norm"), 5, np.random.default_rng(0))
    assert order.tolist() == [0, 2, 3, 4, 1]


def _clusters(seed=13, n_clusters=5, size=30):
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_clusters), size)
    a = rng.standard_normal((n_clusters, 3))[cluster] + 0.01 * rng.standard_normal((len(cluster), 3))
    h = rng.standard_normal((n_clusters, 6))[cluster] + 0.01 * rng.standard_normal((len(cluster), 6))
    return a, h, cluster


def test_weighted_kmeanspp_never_repeats_and_spreads_over_directions_that_top_k_leaves_out():
    a, h, cluster = _clusters()
    w = np.where(cluster == 0, 2.0, 1.0) + 0.01 * np.random.default_rng(0).random(len(cluster))
    assert len(set(cluster[top_k(w, 10, np.random.default_rng(0))])) == 1  # the best 30 share one direction
    for seed in range(5):
        picks, gains = weighted_kmeanspp(a, h, w, 10, np.random.default_rng(seed))
        assert len(np.unique(picks)) == 10
        assert picks[0] == np.argmax(w) and gains[0] == w.max()
        assert len(set(cluster[picks].tolist())) == 5
    everything, _ = weighted_kmeanspp(a, h, w, len(w), np.random.default_rng(0))
    assert sorted(everything.tolist()) == list(range(len(w)))


def test_weighted_kmeanspp_draws_no_unweighted_point_while_weighted_ones_remain():
    a, h, cluster = _clusters(seed=14)
    w = np.where(cluster < 2, 1.0, 0.0)  # 60 points with weight, 90 without
    picks, _ = weighted_kmeanspp(a, h, w, 70, np.random.default_rng(1))
    assert (cluster[picks[:60]] < 2).all() and (cluster[picks[60:]] >= 2).all()
    assert len(set(cluster[picks[60:]].tolist())) == 3  # then by distance alone: spread over the rest


def _direction_spread(a, h, rows):
    """Mean pairwise ``1 - cos`` between the gradient embeddings of ``rows``."""
    cos = distances.cosine_similarities(a[rows], h[rows])
    return float((1 - cos)[np.triu_indices(len(rows), 1)].mean())


def test_diverse_batches_spread_over_more_gradient_directions_than_top_k():
    state = _state(seed=15, n_pool=300)
    opts = {"params": "last_layer", "label_mode": "max", "normalize_candidates": True}
    X_pool, X_T = state.X[torch.as_tensor(state.pool_idx)], state.X[torch.as_tensor(state.target_idx)]
    res = score_pool(state.model, X_pool, X_T, state.target_y, **opts)
    a, h = G.gradient_factors(res.probs.numpy(), state.pool_h.double().numpy(), res.labels, bias=True)
    for seed in range(3):
        top = strategies.get("alignment", **opts, diverse=False).select(state, 15, np.random.default_rng(seed))
        div = strategies.get("alignment", **opts, diverse=True).select(state, 15, np.random.default_rng(seed))
        assert len(np.unique(div.indices)) == 15 and div.fallback_reason is None
        rows_top, rows_div = (np.searchsorted(state.pool_idx, s.indices) for s in (top, div))
        assert _direction_spread(a, h, rows_div) > _direction_spread(a, h, rows_top)
        assert (res.scores[rows_div] > 0).all(), "a weighted draw takes aligned points while there are enough"
