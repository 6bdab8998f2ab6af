"""Coreset / k-center greedy (docs/methods.md#coreset): properties C1-C6, cold start, duplicates, D1."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from alcore.distances import min_sq_distances
from alcore.strategies import get
from alcore.strategies.coreset import k_center_greedy
from conftest import pool_state as make_state


def radius(Z: np.ndarray, centres) -> float:
    return float(np.sqrt(min_sq_distances(Z, Z[list(centres)]).max()))


@pytest.mark.parametrize("n_labeled", [0, 1, 7])
@pytest.mark.parametrize("k", [1, 5, 200])
def test_coreset_returns_distinct_pool_indices_and_never_a_labeled_one(n_labeled, k):
    X = np.random.default_rng(0).normal(size=(60, 4))
    state = make_state(X, labeled=np.arange(0, 3 * n_labeled, 3))
    sel = get("coreset").select(state, k, np.random.default_rng(1))
    assert len(sel.indices) == min(k, state.n_pool)
    assert len(np.unique(sel.indices)) == len(sel.indices)
    assert np.isin(sel.indices, state.pool_idx).all()
    assert not np.isin(sel.indices, state.labeled_idx).any()
    assert sel.diagnostics.get("clamped", False) == (k > state.n_pool)


@pytest.mark.parametrize("seed", range(5))
def test_coreset_gains_are_non_increasing(seed):
    rng = np.random.default_rng(seed)
    state = make_state(rng.normal(size=(80, 3)), labeled=[0, 1, 2])
    sel = get("coreset").select(state, 25, rng)
    gains = np.asarray(sel.diagnostics["gains"])
    assert np.all(np.diff(gains) <= 1e-12)
    # the utility of each pick is its gain at pick time, NaN elsewhere
    pos = np.searchsorted(state.pool_idx, sel.indices)
    np.testing.assert_allclose(sel.utilities[pos], gains)
    assert np.isnan(np.delete(sel.utilities, pos)).all()


@pytest.mark.parametrize("seed", range(6))
def test_coreset_covering_radius_is_within_twice_the_optimum(seed):
    Z = np.random.default_rng(seed).normal(size=(12, 2))
    picks, _, nearest = k_center_greedy(Z, np.zeros((0, 2)), 3, np.random.default_rng(seed))
    optimum = min(radius(Z, c) for c in itertools.combinations(range(12), 3))
    assert radius(Z, picks) <= 2 * optimum + 1e-12
    assert nearest.max() == pytest.approx(radius(Z, picks))


def test_coreset_first_pick_is_farthest_from_a_single_labeled_point():
    Z = np.random.default_rng(3).normal(size=(40, 3))
    state = make_state(Z, labeled=[5])
    sel = get("coreset").select(state, 1, np.random.default_rng(0))
    d = np.linalg.norm(Z - Z[5], axis=1)
    d[5] = -1
    assert sel.indices[0] == np.argmax(d)


@pytest.mark.parametrize("seed", range(3))
def test_coreset_is_invariant_to_translating_and_rotating_the_embedding(seed):
    rng = np.random.default_rng(seed)
    Z, L = rng.normal(size=(50, 4)), rng.normal(size=(3, 4))
    Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    shift = rng.normal(size=4) * 10
    for labeled in (L, np.zeros((0, 4))):
        plain = k_center_greedy(Z, labeled, 10, np.random.default_rng(7))[0]
        moved = k_center_greedy(Z @ Q + shift, labeled @ Q + shift, 10, np.random.default_rng(7))[0]
        np.testing.assert_array_equal(plain, moved)


def test_coreset_cold_start_uses_the_fixed_embedding_and_a_random_first_centre():
    state = make_state(np.random.default_rng(0).normal(size=(30, 3)))
    firsts = set()
    for seed in range(20):
        sel = get("coreset").select(state, 3, np.random.default_rng(seed))
        assert sel.fallback_reason is None
        assert sel.diagnostics["embedding"] == "fixed"
        assert np.isnan(sel.diagnostics["gains"][0])
        firsts.add(int(sel.indices[0]))
    assert len(firsts) > 5  # not "always index 0" (JordanAsh/badge core_set.py with #L = 0)


def test_coreset_picks_duplicates_of_chosen_points_uniformly_and_never_twice():
    X = np.zeros((10, 2))
    X[5:] = 1.0  # two groups of exact duplicates
    state = make_state(X, labeled=[0])
    counts = np.zeros(10)
    for seed in range(400):
        sel = get("coreset").select(state, 3, np.random.default_rng(seed))
        assert len(np.unique(sel.indices)) == 3 and 0 not in sel.indices
        assert 5 <= sel.indices[0]  # the far group first
        counts[sel.indices[1:]] += 1  # after that every remaining distance is 0: uniform among the unchosen
    assert counts[0] == 0
    assert counts[1:].min() > 0.5 * counts[1:].mean()


def test_min_sq_distances_in_chunks_equals_brute_force():
    rng = np.random.default_rng(0)
    P, Q = rng.normal(size=(37, 5)), rng.normal(size=(23, 5))
    brute = ((P[:, None, :] - Q[None, :, :]) ** 2).sum(-1).min(1)
    np.testing.assert_allclose(min_sq_distances(P, Q, chunk_entries=7), brute, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(min_sq_distances(P, Q), brute, rtol=1e-10, atol=1e-12)
    assert np.isinf(min_sq_distances(P, Q[:0])).all()


def test_coreset_uses_the_model_features_once_labeled():
    # logistic regression: h(x) = x, so the selection equals k-center greedy on the inputs
    X = np.random.default_rng(2).normal(size=(50, 3)).astype(np.float32)
    state = make_state(X, labeled=[0, 1, 2, 3])
    sel = get("coreset").select(state, 6, np.random.default_rng(5))
    assert sel.diagnostics["embedding"] == "model"
    picks = k_center_greedy(X[state.pool_idx], X[state.labeled_idx], 6, np.random.default_rng(5))[0]
    np.testing.assert_array_equal(sel.indices, state.pool_idx[picks])


def test_coreset_is_deterministic_for_a_seed():
    state = make_state(np.random.default_rng(0).normal(size=(60, 3)))
    a = get("coreset").select(state, 8, np.random.default_rng(11))
    b = get("coreset").select(state, 8, np.random.default_rng(11))
    np.testing.assert_array_equal(a.indices, b.indices)


def test_coreset_medoid_first_centre_is_the_medoid():
    Z = np.random.default_rng(4).normal(size=(25, 2))
    picks = k_center_greedy(Z, np.zeros((0, 2)), 1, np.random.default_rng(0), first="medoid")[0]
    totals = np.sqrt(((Z[:, None] - Z[None]) ** 2).sum(-1)).sum(1)
    assert picks[0] == np.argmin(totals)


def test_coreset_rejects_unknown_options():
    with pytest.raises(ValueError, match="embedding"):
        get("coreset", embedding="pixels")
