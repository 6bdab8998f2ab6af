"""Random, entropy, least confidence and margin (docs/methods.md#random, docs/methods.md#uncertainty): U1-U5, T1, D1,
the select contract."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from alcore.models import LogReg
from alcore.strategies import PoolState, get
from alcore.strategies.entropy import entropy
from alcore.strategies.least_confidence import least_confidence
from alcore.strategies.margin import margin

UNCERTAINTY = ("entropy", "least_confidence", "margin")
ALL = ("random", *UNCERTAINTY)


def logits_model(n_classes: int) -> LogReg:
    """A model whose logits are its inputs (identity head), so a test chooses the pool's predictions exactly."""
    model = LogReg(n_classes, n_classes)
    with torch.no_grad():
        model.head.weight.copy_(torch.eye(n_classes))
        model.head.bias.zero_()
    return model


def make_state(logits, labeled=(0, 1, 2), y=None) -> PoolState:
    X = torch.as_tensor(np.asarray(logits), dtype=torch.float32)
    n, c = X.shape
    labeled = np.asarray(labeled, dtype=np.int64)
    y = np.arange(n) % c if y is None else np.asarray(y)
    return PoolState(X=X, pool_idx=np.setdiff1d(np.arange(n), labeled), labeled_idx=labeled, labeled_y=y[labeled],
                     target_idx=np.zeros(0, np.int64), target_y=np.zeros(0, np.int64), n_classes=c,
                     model=logits_model(c))


def scores(log_p: torch.Tensor) -> dict[str, np.ndarray]:
    p = log_p.exp()
    return {"entropy": entropy(log_p), "least_confidence": least_confidence(p), "margin": margin(p)}


def log_probs(logits) -> torch.Tensor:
    return torch.log_softmax(torch.as_tensor(np.asarray(logits), dtype=torch.float64), dim=1)


def test_uncertainty_rankings_coincide_for_two_classes():
    logits = np.random.default_rng(0).normal(size=(200, 2)) * 3
    ranks = {name: stats.rankdata(u) for name, u in scores(log_probs(logits)).items()}
    np.testing.assert_array_equal(ranks["entropy"], ranks["least_confidence"])
    np.testing.assert_array_equal(ranks["entropy"], ranks["margin"])


@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_uniform_prediction_maximises_every_uncertainty(n_classes):
    logits = np.random.default_rng(1).normal(size=(100, n_classes)) * 2
    logits[17] = 0.5  # a uniform row
    for name, u in scores(log_probs(logits)).items():
        assert u[17] == pytest.approx(u.max(), abs=1e-12), name
        assert np.argmax(u) == 17 or u[np.argmax(u)] - u[17] < 1e-12


def test_uncertainty_is_invariant_to_permuting_classes():
    logits = np.random.default_rng(2).normal(size=(50, 5))
    perm = np.random.default_rng(3).permutation(5)
    for (name, u), v in zip(scores(log_probs(logits)).items(), scores(log_probs(logits[:, perm])).values()):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14, err_msg=name)


def test_uncertainty_is_invariant_to_adding_a_constant_to_a_row_of_logits():
    logits = np.random.default_rng(4).normal(size=(50, 4))
    shifted = logits + np.random.default_rng(5).normal(size=(50, 1)) * 100
    for (name, u), v in zip(scores(log_probs(logits)).items(), scores(log_probs(shifted)).values()):
        np.testing.assert_allclose(u, v, rtol=1e-9, atol=1e-11, err_msg=name)


def test_uncertainty_has_no_nan_when_probabilities_underflow():
    logits = np.array([[1e4, 0.0, 0.0], [0.0, 1e4, -1e4], [0.0, 0.0, 0.0]])
    for name, u in scores(log_probs(logits)).items():
        assert np.isfinite(u).all(), name
        assert u[0] == pytest.approx({"margin": -1.0}.get(name, 0.0), abs=1e-12), name  # certain: least uncertain
    state = make_state(np.vstack([np.eye(3), logits]))
    for name in UNCERTAINTY:
        assert np.isfinite(get(name).select(state, 2, np.random.default_rng(0)).utilities).all()


@pytest.mark.parametrize("name", ALL)
def test_ties_give_a_uniform_random_subset(name):
    # identical logits on every pool row: every utility ties, so the k-subset must be uniform over seeds (T1)
    state = make_state(np.zeros((11, 3)))  # 3 labelled rows, a pool of 8
    k, runs = 3, 400
    counts = np.zeros(11)
    subsets = set()
    for seed in range(runs):
        sel = get(name).select(state, k, np.random.default_rng(seed))
        counts[sel.indices] += 1
        subsets.add(tuple(sorted(sel.indices)))
    pool_counts = counts[state.pool_idx]
    assert counts[state.labeled_idx].sum() == 0
    assert stats.chisquare(pool_counts).pvalue > 1e-3
    assert len(subsets) > 30  # changes with the seed (56 possible subsets)


@pytest.mark.parametrize("name", UNCERTAINTY)
def test_ties_are_flagged_as_degenerate_scores(name):
    sel = get(name).select(make_state(np.zeros((11, 3))), 3, np.random.default_rng(0))
    assert sel.fallback_reason == "degenerate_scores"


@pytest.mark.parametrize("name", ALL)
def test_selection_is_deterministic_for_a_seed(name):
    state = make_state(np.random.default_rng(6).normal(size=(40, 3)))
    a = get(name).select(state, 7, np.random.default_rng(9))
    b = get(name).select(state, 7, np.random.default_rng(9))
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.utilities, b.utilities)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("k", [1, 10, 37])
def test_selection_is_distinct_and_in_the_pool(name, k):
    state = make_state(np.random.default_rng(7).normal(size=(40, 3)))
    sel = get(name).select(state, k, np.random.default_rng(0))
    assert len(sel.indices) == k and len(np.unique(sel.indices)) == k
    assert np.isin(sel.indices, state.pool_idx).all() and not np.isin(sel.indices, state.labeled_idx).any()
    assert sel.indices.dtype == np.int64 and sel.utilities.shape == (state.n_pool,)


@pytest.mark.parametrize("name", UNCERTAINTY)
def test_uncertainty_picks_the_top_k(name):
    logits = np.random.default_rng(8).normal(size=(40, 3)) * 2
    state = make_state(logits)
    sel = get(name).select(state, 5, np.random.default_rng(0))
    u = scores(log_probs(logits[state.pool_idx]))[name]
    np.testing.assert_allclose(sel.utilities, u, rtol=1e-6, atol=1e-7)
    assert set(sel.indices) == set(state.pool_idx[np.argsort(-u)[:5]])


@pytest.mark.parametrize("name", ALL)
def test_k_larger_than_the_pool_returns_the_whole_pool_and_says_clamped(name):
    state = make_state(np.random.default_rng(9).normal(size=(12, 3)))
    sel = get(name).select(state, 50, np.random.default_rng(0))
    assert sorted(sel.indices) == sorted(state.pool_idx)
    assert sel.diagnostics["clamped"] is True
    assert "clamped" not in get(name).select(state, 5, np.random.default_rng(0)).diagnostics


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("k", [0, -3])
def test_non_positive_k_returns_an_empty_selection(name, k):
    sel = get(name).select(make_state(np.zeros((8, 3))), k, np.random.default_rng(0))
    assert len(sel.indices) == 0 and sel.indices.dtype == np.int64


@pytest.mark.parametrize("name", UNCERTAINTY)
def test_uncertainty_falls_back_at_zero_labels_with_reason_cold_start(name):
    state = make_state(np.random.default_rng(10).normal(size=(30, 3)), labeled=())
    sel = get(name).select(state, 4, np.random.default_rng(0))
    assert sel.fallback_reason == "cold_start"
    assert sel.diagnostics["fallback_strategy"] == "typiclust"
    assert len(np.unique(sel.indices)) == 4 and np.isin(sel.indices, state.pool_idx).all()


@pytest.mark.parametrize("name", UNCERTAINTY)
def test_uncertainty_falls_back_with_one_labeled_class(name):
    state = make_state(np.random.default_rng(11).normal(size=(30, 3)), labeled=(0, 3, 6, 9))  # all class 0
    sel = get(name).select(state, 4, np.random.default_rng(0))
    assert sel.fallback_reason == "single_class"
    assert not np.isin(sel.indices, state.labeled_idx).any()


def test_random_runs_at_zero_labels_without_a_fallback():
    state = make_state(np.zeros((10, 3)), labeled=())
    sel = get("random").select(state, 4, np.random.default_rng(0))
    assert sel.fallback_reason is None and np.isnan(sel.utilities).all()
