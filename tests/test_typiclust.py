"""TypiClust (docs/methods.md#typiclust): properties TC1-TC5, the engine fixes, robustness on any data."""
from __future__ import annotations

import numpy as np
import pytest

from alcore.spaces import l2_normalize
from alcore.strategies import get
from alcore.strategies.base import resolve_cold_start
from alcore.strategies.typiclust import typicality, typiclust_select
from conftest import pool_state as make_state


def blobs(seed: int, n_blobs: int = 4, per_blob: int = 200, dims: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated Gaussian blobs whose centres point in different directions (they stay apart after L2
    normalisation)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_blobs, dims))
    centres *= 8 / np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.repeat(np.arange(n_blobs), per_blob)
    return centres[y] + rng.normal(size=(len(y), dims)), y


@pytest.mark.parametrize("n_labeled, k", [(0, 5), (4, 10), (12, 300)])
def test_typiclust_returns_distinct_pool_indices_and_never_a_labeled_one(n_labeled, k):
    X, _ = blobs(0, per_blob=30)
    state = make_state(X, labeled=np.arange(0, 10 * n_labeled, 10))
    sel = get("typiclust").select(state, k, np.random.default_rng(0))
    assert len(sel.indices) == min(k, state.n_pool)
    assert len(np.unique(sel.indices)) == len(sel.indices)
    assert np.isin(sel.indices, state.pool_idx).all() and not np.isin(sel.indices, state.labeled_idx).any()


def test_typiclust_picks_one_per_cluster_each_the_most_typical_of_its_cluster():
    rng = np.random.default_rng(1)
    Z = l2_normalize(rng.normal(size=(120, 3)))
    labels = rng.integers(6, size=120)
    is_candidate = np.ones(120, dtype=bool)
    is_candidate[:10] = False  # labelled rows
    picks, scores, clusters, used_small = typiclust_select(Z, labels, is_candidate, 5, rng)
    assert len(set(clusters.tolist())) == 5 and not used_small
    for pick, score, c in zip(picks, scores, clusters):
        members = np.flatnonzero((labels == c) & is_candidate)  # each cluster is visited once: nothing removed yet
        typ = typicality(Z[members])
        assert labels[pick] == c and score == typ.max() and typ[members == pick][0] == typ.max()


def test_typiclust_first_pick_comes_from_the_largest_cluster_at_zero_labels():
    rng = np.random.default_rng(2)
    Z = rng.normal(size=(100, 2))
    labels = np.repeat([0, 1, 2, 3], [10, 40, 30, 20])
    picks, _, clusters, _ = typiclust_select(Z, labels, np.ones(100, bool), 4, rng)
    np.testing.assert_array_equal(clusters, [1, 2, 3, 0])  # by size, descending
    # clusters that already hold labelled points come last
    is_candidate = np.ones(100, bool)
    is_candidate[15] = False  # a labelled member of cluster 1
    assert typiclust_select(Z, labels, is_candidate, 1, rng)[2][0] == 2


def test_typiclust_is_deterministic_for_a_seed():
    X, _ = blobs(3, per_blob=40)
    state = make_state(X, labeled=[0, 50])
    a = get("typiclust").select(state, 6, np.random.default_rng(5))
    b = get("typiclust").select(state, 6, np.random.default_rng(5))
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.utilities, b.utilities)


@pytest.mark.parametrize("seed", range(3))
def test_typiclust_picks_one_central_point_per_blob(seed):
    X, y = blobs(seed)
    sel = get("typiclust").select(make_state(X, n_classes=4), 4, np.random.default_rng(seed))
    assert sorted(y[sel.indices]) == [0, 1, 2, 3]
    Z = l2_normalize(X)  # the space the strategy works in
    for i in sel.indices:
        members = np.flatnonzero(y == y[i])
        dist = np.linalg.norm(Z[members] - Z[members].mean(0), axis=1)
        assert (dist < np.linalg.norm(Z[i] - Z[members].mean(0))).mean() < 0.10


def test_typicality_drops_self_by_index_not_the_first_neighbour():
    Z = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 0.0], [10.0, 0.0]])
    typ = typicality(Z, k_nn=1)
    # the two duplicates are each other's nearest neighbour at distance 0 (dropping "the first neighbour"
    # would drop the twin instead of self and report distance 3)
    np.testing.assert_allclose(typ, 1 / (np.array([0.0, 0.0, 3.0, 7.0]) + 1e-5))


def test_typicality_handles_tiny_clusters():
    assert typicality(np.zeros((0, 2))).shape == (0,)
    np.testing.assert_array_equal(typicality(np.ones((1, 2))), [1.0])
    np.testing.assert_allclose(typicality(np.array([[0.0], [2.0]])), 1 / (2 + 1e-5))  # k = max(1, min(20, n-1))
    sq = typicality(np.array([[0.0], [2.0], [5.0]]), k_nn=2, distance="sqeuclidean")
    np.testing.assert_allclose(sq, 1 / (np.array([(4 + 25) / 2, (4 + 9) / 2, (25 + 9) / 2]) + 1e-5))


def test_typiclust_falls_back_on_all_zero_embeddings():
    state = make_state(np.zeros((20, 3)))
    sel = get("typiclust").select(state, 4, np.random.default_rng(0))
    assert sel.fallback_reason == "all_zero_embeddings"
    assert len(np.unique(sel.indices)) == 4


@pytest.mark.parametrize("X", [np.ones((7, 2)), np.arange(3.0).reshape(3, 1) + 1, np.eye(5)])
def test_typiclust_runs_on_tiny_and_duplicate_pools(X):
    state = make_state(X, labeled=[0])
    sel = get("typiclust").select(state, 10, np.random.default_rng(0))
    assert len(sel.indices) == state.n_pool and sel.diagnostics["clamped"]
    assert len(np.unique(sel.indices)) == state.n_pool


def test_typiclust_revisits_clusters_when_the_batch_exceeds_them():
    X, y = blobs(4, per_blob=30)
    state = make_state(X, labeled=np.arange(0, 120, 3))  # 40 labels + 20 picks -> 60 clusters on 120 points
    sel = get("typiclust").select(state, 20, np.random.default_rng(0))
    assert len(np.unique(sel.indices)) == 20 and np.isin(sel.indices, state.pool_idx).all()


def test_typiclust_is_the_cold_start_strategy_on_tabular_data():
    assert resolve_cold_start(make_state(np.ones((5, 2)))).name == "typiclust"
    assert get("typiclust").needs_model is False
