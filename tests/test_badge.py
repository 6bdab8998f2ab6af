"""BADGE (docs/methods.md#badge): properties BD1-BD9 and D1, on ``kmeanspp`` directly and through the strategy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from alcore import distances
from alcore import gradients as G
from alcore import strategies
from alcore.models import build_model
from alcore.strategies.badge import _kmeanspp_torch, kmeanspp
from alcore.strategies.base import PoolState
from alcore.train import TrainSettings, train_model


def _factors(n=60, C=4, d=6, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, C)) * 2
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    a, h = G.gradient_factors(p, np.maximum(rng.standard_normal((n, d)), 0) + 0.1)
    return a.astype(dtype), h.astype(dtype)


def _state(n_pool=120, n_labeled=30, C=3, D=5, seed=0, zero_pool=False, epochs=20):
    rng = np.random.default_rng(seed)
    n = n_pool + n_labeled
    y = rng.integers(0, C, n)
    X = rng.standard_normal((C, D))[y] * 2 + rng.standard_normal((n, D))
    pool, labeled = np.arange(n_labeled, n), np.arange(n_labeled)
    if zero_pool:
        X[pool] = 0.0
    X = torch.tensor(X, dtype=torch.float32)
    model = build_model("logreg" if zero_pool else "mlp", D, C, seed=seed,
                        **({} if zero_pool else {"hidden": (8,), "dropout": 0.0}))
    settings = TrainSettings(epochs=epochs, lr=1e-2, batch_size=32)
    result = train_model(model, X[labeled], torch.as_tensor(y[labeled]), settings, seed=seed)
    return PoolState(X=X, pool_idx=pool, labeled_idx=labeled, labeled_y=y[labeled], target_idx=np.zeros(0, int),
                     target_y=np.zeros(0, int), n_classes=C, model=model, train_result=result,
                     train_settings=settings)


def _materialised_kmeanspp(a, h, k, rng):
    """Reference over explicit embeddings: first centre max norm (random ties), then inverse-CDF D² draws with one
    uniform per pick, drawn up front (the documented draw rule of ``kmeanspp``)."""
    g = G.outer_embeddings(a, h)
    norms = (g * g).sum(1)
    winners = np.flatnonzero(norms == norms.max())
    picks = [int(winners[rng.integers(len(winners))])]
    u = rng.random(k - 1)
    D2 = ((g - g[picks[0]]) ** 2).sum(1)
    for t in range(1, k):
        D2[picks[-1]] = 0
        cum = np.cumsum(D2)
        picks.append(int(np.searchsorted(cum, u[t - 1] * cum[-1], side="right")))
        D2 = np.minimum(D2, ((g - g[picks[-1]]) ** 2).sum(1))
    return np.array(picks)


# --- BD1 -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 7, 60, 100])
def test_BD1_never_repeats_an_index_and_returns_min_k_n(k):
    a, h = _factors()
    a[10:20], h[10:20] = a[0], h[0]  # duplicates
    for seed in range(20):
        picks = kmeanspp(a, h, k, np.random.default_rng(seed))
        assert len(picks) == min(k, 60) == len(set(picks.tolist()))
        assert picks.min() >= 0 and picks.max() < 60


def test_BD1_strategy_selection_distinct_in_pool_and_clamped():
    state = _state(n_pool=25)
    sel = strategies.get("badge").select(state, 40, np.random.default_rng(0))
    assert sorted(sel.indices.tolist()) == sorted(state.pool_idx.tolist())
    assert sel.diagnostics["clamped"] is True
    assert sel.fallback_reason is None
    sel = strategies.get("badge").select(state, 10, np.random.default_rng(0))
    assert len(set(sel.indices.tolist())) == 10 and np.isin(sel.indices, state.pool_idx).all()
    assert not np.isin(sel.indices, state.labeled_idx).any()
    chosen = np.isin(state.pool_idx, sel.indices)
    assert np.isfinite(sel.utilities[chosen]).all() and np.isnan(sel.utilities[~chosen]).all()


def test_kmeanspp_with_nothing_to_choose():
    a, h = _factors(n=5)
    assert len(kmeanspp(a, h, 0, np.random.default_rng(0))) == 0
    assert len(kmeanspp(a[:0], h[:0], 3, np.random.default_rng(0))) == 0


# --- BD2 -----------------------------------------------------------------------------------------------------------
def test_BD2_k1_returns_the_largest_gradient_norm_for_every_seed():
    a, h = _factors(n=80, seed=3)
    best = np.argmax(np.linalg.norm(a, axis=1) * np.linalg.norm(h, axis=1))
    for seed in range(30):
        assert kmeanspp(a, h, 1, np.random.default_rng(seed))[0] == best


def test_first_centre_ties_are_broken_at_random():
    a = np.ones((4, 2))
    h = np.ones((4, 3))
    firsts = {int(kmeanspp(a, h, 1, np.random.default_rng(s))[0]) for s in range(40)}
    assert firsts == {0, 1, 2, 3}


# --- BD3 / D1 --------------------------------------------------------------------------------------------------------
def test_BD3_D1_deterministic_for_a_seed_and_varies_with_the_seed():
    a, h = _factors(n=200, seed=4)
    first = kmeanspp(a, h, 10, np.random.default_rng(7))
    assert np.array_equal(first, kmeanspp(a, h, 10, np.random.default_rng(7)))
    others = {tuple(kmeanspp(a, h, 10, np.random.default_rng(s))) for s in range(10)}
    assert len(others) > 1


def test_D1_strategy_is_deterministic_for_a_seed():
    state = _state()
    s1 = strategies.get("badge").select(state, 8, np.random.default_rng(3))
    s2 = strategies.get("badge").select(_state(), 8, np.random.default_rng(3))
    assert np.array_equal(s1.indices, s2.indices)
    assert np.array_equal(s1.utilities, s2.utilities, equal_nan=True)


# --- BD4 -----------------------------------------------------------------------------------------------------------
def test_BD4_d2_sampling_law_on_the_three_point_toy():
    a = np.ones((3, 2))
    h = np.array([[0.0], [1.0], [3.0]])
    second = np.zeros(3)
    for seed in range(20_000):
        first, nxt = kmeanspp(a, h, 2, np.random.default_rng(seed))
        assert first == 2
        second[nxt] += 1
    expected = 20_000 * np.array([9 / 13, 4 / 13])
    chi2 = (((second[:2] - expected) ** 2) / expected).sum()
    assert second[2] == 0
    assert chi2 < 10.83  # chi-square, 1 degree of freedom: p > 1e-3


# --- BD5 -----------------------------------------------------------------------------------------------------------
def test_BD5_selection_equals_a_run_on_materialised_embeddings():
    a, h = _factors(n=150, C=5, d=8, seed=5)
    for seed in range(50):
        fast = kmeanspp(a, h, 12, np.random.default_rng(seed))
        slow = _materialised_kmeanspp(a, h, 12, np.random.default_rng(seed))
        assert np.array_equal(fast, slow), seed


def test_torch_path_draws_the_same_picks_as_the_numpy_path():
    a, h = _factors(n=150, C=5, d=8, seed=6)
    a[5:8], h[5:8] = a[0], h[0]
    for seed in range(10):
        ref = kmeanspp(a, h, 20, np.random.default_rng(seed), return_gains=True)
        got = _kmeanspp_torch(torch.from_numpy(a), torch.from_numpy(h), 20, np.random.default_rng(seed), True, False)
        assert np.array_equal(ref[0], got[0])
        assert np.allclose(ref[1], got[1], rtol=1e-9)
    zero = np.zeros((6, 2))
    got = _kmeanspp_torch(torch.from_numpy(zero), torch.from_numpy(zero), 6, np.random.default_rng(0), False, False)
    assert sorted(got.tolist()) == list(range(6))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_path_keeps_the_draw_rule():
    a, h = _factors(n=3000, C=10, d=32, seed=7)
    for graph in (False, True):
        ref = kmeanspp(a, h, 80, np.random.default_rng(1))
        got = kmeanspp(torch.from_numpy(a).cuda(), torch.from_numpy(h).cuda(), 80, np.random.default_rng(1),
                       cuda_graph=graph)
        assert len(set(got.tolist())) == 80
        assert np.mean(ref == got) > 0.9  # float64 on both: identical up to parallel-scan rounding


# --- BD6 -----------------------------------------------------------------------------------------------------------
def test_BD6_invariant_to_sign_of_a_and_class_order():
    a, h = _factors(n=100, C=5, seed=8)
    perm = np.array([3, 0, 4, 1, 2])
    for seed in range(10):
        ref = kmeanspp(a, h, 10, np.random.default_rng(seed))
        assert np.array_equal(ref, kmeanspp(-a, h, 10, np.random.default_rng(seed)))
        assert np.array_equal(ref, kmeanspp(a[:, perm], h, 10, np.random.default_rng(seed)))


# --- BD7 -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_BD7_duplicates_are_chosen_only_when_every_unchosen_point_has_zero_distance(dtype):
    a, h = _factors(n=6, C=3, d=4, seed=9, dtype=dtype)
    a, h = np.repeat(a, 3, axis=0), np.repeat(h, 3, axis=0)  # 6 distinct points, 3 copies each
    for seed in range(50):
        picks = kmeanspp(a, h, 18, np.random.default_rng(seed))
        assert len(set((picks[:6] // 3).tolist())) == 6  # one of each before any duplicate
        assert sorted(picks.tolist()) == list(range(18))


# --- BD8 -----------------------------------------------------------------------------------------------------------
def test_BD8_pseudo_label_gradient_is_the_smallest_over_labels():
    rng = np.random.default_rng(10)
    logits = rng.standard_normal((200, 6)) * 3
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    h = rng.standard_normal((200, 5))
    a_hat, _ = G.gradient_factors(p, h)
    norm_hat = distances.sq_norms(a_hat, h)
    for y in range(6):
        a_y, _ = G.gradient_factors(p, h, np.full(200, y))
        assert (norm_hat <= distances.sq_norms(a_y, h) + 1e-12).all()


# --- BD9 -----------------------------------------------------------------------------------------------------------
def test_BD9_no_ghost_centre_at_the_origin():
    # A point near the origin is far from the first centre: with a ghost origin its weight would be ~0.
    a = np.ones((4, 1))
    h = np.array([[5.0], [0.01], [2.0], [2.5]])
    g = G.outer_embeddings(a, h)
    hits = np.zeros(4)
    for seed in range(400):
        picks, gains = kmeanspp(a, h, 2, np.random.default_rng(seed), return_gains=True)
        assert picks[0] == 0 and gains[0] == pytest.approx(25.0)
        assert gains[1] == pytest.approx(((g[picks[1]] - g[0]) ** 2).sum(), rel=1e-12)
        hits[picks[1]] += 1
    assert hits[1] / 400 > 0.5  # weight (5 - 0.01)^2 / (24.9 + 9 + 6.25) = 0.62; a ghost origin gives ~0


# --- docs/methods.md#badge-edge-cases edge cases through the strategy -------------------------------------------------
def test_all_zero_embeddings_select_uniformly_and_say_so():
    state = _state(n_pool=40, zero_pool=True)
    picks = []
    for seed in range(30):
        sel = strategies.get("badge").select(state, 5, np.random.default_rng(seed))
        assert sel.fallback_reason == "all_zero_embeddings"
        assert len(set(sel.indices.tolist())) == 5
        picks.append(sel.indices[0])
    assert len(set(picks)) > 10  # first pick uniform, not a fixed index


def test_cold_start_falls_back_without_labels():
    state = _state()
    state.labeled_idx, state.labeled_y = np.zeros(0, int), np.zeros(0, int)
    sel = strategies.get("badge").select(state, 5, np.random.default_rng(0))
    assert sel.fallback_reason == "cold_start" and len(set(sel.indices.tolist())) == 5
    assert np.isin(sel.indices, state.pool_idx).all()


def test_bias_option_and_float32_still_select_valid_batches():
    state = _state()
    for opts in ({"bias": True}, {"float64": False}):
        sel = strategies.get("badge", **opts).select(state, 9, np.random.default_rng(0))
        assert len(set(sel.indices.tolist())) == 9 and np.isin(sel.indices, state.pool_idx).all()

