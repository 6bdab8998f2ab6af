"""ProbCover (docs/methods.md#probcover): properties PC1-PC5, the engine fixes (tail block, coverage_complete)."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from alcore.spaces import l2_normalize
from alcore.strategies import get
from alcore.strategies import probcover as pc
from conftest import pool_state as make_state


def dense_adjacency(Z: np.ndarray, delta: float) -> np.ndarray:
    return np.linalg.norm(Z[:, None] - Z[None], axis=-1) < delta


def data(seed=0, n=90, d=3):
    return np.random.default_rng(seed).normal(size=(n, d))


@pytest.mark.parametrize("labeled", [(), (0, 1, 2), tuple(range(0, 90, 2))])
def test_probcover_returns_distinct_pool_indices_and_never_a_labeled_one(labeled):
    state = make_state(data(), labeled=labeled)
    sel = get("probcover", delta=0.6).select(state, 30, np.random.default_rng(0))
    assert len(sel.indices) == 30 and len(np.unique(sel.indices)) == 30
    assert np.isin(sel.indices, state.pool_idx).all() and not np.isin(sel.indices, state.labeled_idx).any()


def test_probcover_falls_back_uniformly_once_coverage_is_complete():
    # δ = 2.5 exceeds the sphere's diameter: the labelled point covers everything, every degree is 0
    state = make_state(data(), labeled=[0])
    firsts = set()
    for seed in range(10):
        sel = get("probcover", delta=2.5).select(state, 5, np.random.default_rng(seed))
        assert sel.fallback_reason == "coverage_complete"
        assert sel.diagnostics["n_coverage_complete_picks"] == 5
        assert 0 not in sel.indices and len(np.unique(sel.indices)) == 5
        firsts.add(int(sel.indices[0]))
    assert len(firsts) > 3  # not "argmax of all-zero degrees", which returns row 0 (a labelled point)


def test_probcover_coverage_never_decreases_over_picks_or_cycles():
    X = data(1)
    state = make_state(X, labeled=[3, 4])
    strategy = get("probcover", delta=0.7)
    first = strategy.select(state, 8, np.random.default_rng(0))
    trace = np.concatenate([[first.diagnostics["coverage_before"]], first.diagnostics["coverage_after"]])
    assert np.all(np.diff(trace) >= 0)
    nxt = make_state(X, labeled=np.concatenate([[3, 4], first.indices]))
    second = strategy.select(nxt, 8, np.random.default_rng(1))
    assert second.diagnostics["coverage_before"] == pytest.approx(trace[-1])
    assert second.diagnostics["coverage_after"][-1] >= trace[-1]


def test_probcover_gain_is_the_max_uncovered_degree_at_each_step_and_non_increasing():
    Z = l2_normalize(data(2, n=60))
    A = dense_adjacency(Z, 0.5)
    covered = A[[0, 1]].any(axis=0)
    is_candidate = np.ones(60, bool)
    is_candidate[[0, 1]] = False
    picks, gains, trace, n_fallback = pc.greedy_max_coverage(pc.coverage_graph(Z, 0.5), covered, is_candidate, 15,
                                                              np.random.default_rng(0))
    uncovered, open_ = ~covered, is_candidate.copy()
    for pick, gain in zip(picks, gains):
        degree = (A & uncovered[None, :]).sum(axis=1)
        assert gain == degree[open_].max() == degree[pick]
        uncovered &= ~A[pick]
        open_[pick] = False
    assert np.all(np.diff(gains) <= 0)
    assert trace[-1] == pytest.approx(1 - uncovered.mean())
    assert n_fallback == 0


@pytest.mark.parametrize("seed", range(5))
def test_probcover_greedy_reaches_1_minus_1_over_e_of_the_optimal_coverage(seed):
    Z = l2_normalize(np.random.default_rng(seed).normal(size=(12, 2)))
    A = dense_adjacency(Z, 0.8)
    picks, *_ = pc.greedy_max_coverage(pc.coverage_graph(Z, 0.8), np.zeros(12, bool), np.ones(12, bool), 3,
                                       np.random.default_rng(seed))
    best = max(A[list(c)].any(axis=0).sum() for c in itertools.combinations(range(12), 3))
    assert A[picks].any(axis=0).sum() >= (1 - 1 / math.e) * best


def test_probcover_delta_is_the_largest_grid_value_with_purity_at_least_alpha():
    rng = np.random.default_rng(3)
    Z = l2_normalize(rng.normal(size=(80, 3)))
    pseudo = (Z[:, 0] > 0).astype(int)  # two half-spheres
    grid = np.round(np.arange(0.1, 2.01, 0.1), 10)
    D = np.linalg.norm(Z[:, None] - Z[None], axis=-1)
    impure = pseudo[:, None] != pseudo[None, :]
    brute = np.array([1 - ((D < d) & impure).any(axis=1).mean() for d in grid])
    purity, edges = pc.purity_and_edges(Z, pseudo, grid)
    np.testing.assert_allclose(purity, brute)
    np.testing.assert_array_equal(edges, [(D < d).sum() for d in grid])
    for alpha in (0.5, 0.8, 0.95):
        delta, _ = pc.choose_delta(purity, grid, alpha)
        assert delta == grid[brute >= alpha].max()
    delta, notes = pc.choose_delta(np.zeros(len(grid)), grid, 0.95)  # nothing pure enough: smallest δ, warned
    assert delta == grid.min() and "warning" in notes


def test_probcover_keeps_the_last_partial_block_of_the_graph(monkeypatch):
    monkeypatch.setattr(pc, "CHUNK_ENTRIES", 7 * 25)  # 25 rows -> blocks of 7, last block of 4
    Z = l2_normalize(data(4, n=25))
    np.testing.assert_array_equal(pc.coverage_graph(Z, 0.9).toarray(), dense_adjacency(Z, 0.9))


def test_probcover_graph_refuses_to_exceed_max_edges():
    with pytest.raises(ValueError, match="smaller delta"):
        pc.coverage_graph(l2_normalize(data(n=30)), 1.9, max_edges=100)


def test_probcover_automatic_delta_is_the_same_every_cycle_and_deterministic():
    X = data(5, n=120)
    a = get("probcover").select(make_state(X, labeled=[0, 1]), 6, np.random.default_rng(0))
    b = get("probcover").select(make_state(X, labeled=[0, 1]), 6, np.random.default_rng(0))
    c = get("probcover").select(make_state(X, labeled=[0, 1, 2, 3]), 6, np.random.default_rng(9))
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.diagnostics["delta"] == b.diagnostics["delta"] == c.diagnostics["delta"]
    assert a.diagnostics["delta"] in pc.DEFAULT_DELTAS


def test_probcover_rejects_a_non_positive_delta():
    with pytest.raises(ValueError, match="delta"):
        get("probcover", delta=0.0)
    with pytest.raises(ValueError, match="alpha"):
        get("probcover", alpha=1.5)
