"""Metrics (docs/methods.md#metrics): batch diversity M1-M5 and the learning-curve summaries."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alcore import metrics


def batch(seed=0, k=6, c=4, d=5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(k, c)), rng.normal(size=(k, d))


def diversity(a, h, labels=None, fixed=None, covered=None, delta=None):
    rng = np.random.default_rng(1)
    fixed = rng.normal(size=(40, 3)) if fixed is None else fixed
    labels = np.arange(len(a)) % 3 if labels is None else labels
    covered = np.arange(len(a)) if covered is None else covered
    return metrics.batch_diversity(a, h, fixed=fixed, reference_idx=np.arange(len(fixed)), covered_idx=covered,
                                   batch_labels=labels, labeled_labels=labels, n_classes=3, delta=delta)


# --- batch diversity (docs/methods.md#diversity-metrics) --------------------------------------------------------------

def test_batch_metrics_are_permutation_invariant():
    a, h = batch()
    labels = np.array([0, 1, 2, 0, 1, 1])
    perm = np.random.default_rng(5).permutation(len(a))
    one, two = diversity(a, h, labels), diversity(a[perm], h[perm], labels[perm])
    assert one.keys() == two.keys()
    for key in one:
        assert one[key] == pytest.approx(two[key], rel=1e-9, abs=1e-12), key


def test_logdet_is_bounded_by_hadamard_and_attained_by_orthonormal_rows():
    lam = 1e-6
    for seed in range(5):
        a, h = batch(seed)
        assert metrics.normalized_logdet(a, h, lam)["logdet"] <= len(a) * np.log1p(lam) + 1e-9
    k = 4
    a, h = np.eye(k), np.ones((k, 3))  # cos(a_i, a_j) = δ_ij, cos(h_i, h_j) = 1: orthonormal gradient embeddings
    out = metrics.normalized_logdet(a, h, lam)
    assert out["logdet"] == pytest.approx(k * np.log1p(lam), abs=1e-9)
    assert out["rank"] == k


def test_copies_of_one_point_have_zero_spread_and_minimal_logdet():
    k, lam = 5, 1e-6
    a, h = np.tile([[0.3, -0.3, 0.0]], (k, 1)), np.tile([[1.0, 2.0]], (k, 1))
    out = diversity(a, h)
    assert out["mean_pairwise_distance"] == 0.0
    assert out["logdet"] == pytest.approx(np.log(k + lam) + (k - 1) * np.log(lam), rel=1e-6)
    assert out["rank"] == 1


def test_zero_gradient_embeddings_are_excluded_and_counted():
    a, h = batch(k=4)
    a[1] = 0.0
    out = metrics.normalized_logdet(a, h)
    assert out["n_zero"] == 1 and np.isfinite(out["logdet"])


def test_pairwise_distance_is_nan_below_two_points_and_matches_explicit_embeddings():
    a, h = batch(k=1)
    assert np.isnan(diversity(a, h)["mean_pairwise_distance"])
    a, h = batch(k=5)
    g = np.einsum("ic,id->icd", a, h).reshape(5, -1)
    explicit = np.mean([np.linalg.norm(g[i] - g[j]) for i in range(5) for j in range(i + 1, 5)])
    assert diversity(a, h)["mean_pairwise_distance"] == pytest.approx(explicit, rel=1e-9)
    assert diversity(a, h)["mean_gradient_norm"] == pytest.approx(np.linalg.norm(g, axis=1).mean(), rel=1e-9)


def test_coverage_radius_and_mean_nearest_distance_never_grow_as_labels_are_added():
    rng = np.random.default_rng(0)
    fixed = rng.normal(size=(200, 4))
    order = rng.permutation(200)
    previous = None
    for size in (1, 5, 20, 60, 150):
        out = metrics.coverage(fixed, np.arange(200), order[:size])
        if previous is not None:
            assert out["coverage_radius"] <= previous["coverage_radius"] + 1e-12
            assert out["mean_nearest_labeled"] <= previous["mean_nearest_labeled"] + 1e-12
        previous = out
    D = np.linalg.norm(fixed[:, None] - fixed[order[:150]][None], axis=-1).min(1)
    assert previous["coverage_radius"] == pytest.approx(D.max())
    assert previous["mean_nearest_labeled"] == pytest.approx(D.mean())


def test_delta_coverage_matches_brute_force_on_the_normalised_embedding():
    rng = np.random.default_rng(2)
    fixed = rng.normal(size=(50, 3))
    Z = fixed / np.linalg.norm(fixed, axis=1, keepdims=True)
    covered = np.array([0, 7, 19])
    expected = (np.linalg.norm(Z[:, None] - Z[covered][None], axis=-1).min(1) < 0.6).mean()
    out = diversity(*batch(k=3), fixed=fixed, covered=covered, delta=0.6)
    assert out["delta_coverage"] == pytest.approx(expected)
    assert "delta_coverage" not in diversity(*batch(k=3), fixed=fixed, covered=covered)


def test_class_entropy_is_one_for_a_balanced_batch_and_zero_for_one_class():
    balanced = metrics.class_balance(np.array([0, 1, 2, 2, 1, 0]), np.array([0, 1, 2]), 3)
    assert balanced["class_entropy"] == pytest.approx(1.0) and balanced["batch_classes"] == 3
    single = metrics.class_balance(np.array([1, 1, 1]), np.array([1]), 3)
    assert single["class_entropy"] == 0.0 and single["batch_classes"] == 1
    assert single["class_coverage"] == pytest.approx(1 / 3)


# --- learning-curve summaries (docs/methods.md#learning-curve-summaries) ----------------------------------------------

@given(c=st.floats(0, 1), n=st.lists(st.integers(1, 10_000), min_size=2, max_size=12, unique=True))
@settings(max_examples=50, deadline=None)
def test_aulc_of_a_constant_curve_is_the_constant(c, n):
    acc = np.full(len(n), c)
    assert metrics.aulc(n, acc) == pytest.approx(c, abs=1e-12)
    assert metrics.aulc(n, acc, log_x=True) == pytest.approx(c, abs=1e-12)


@given(t=st.lists(st.floats(0.01, 0.99), min_size=1, max_size=5))
@settings(max_examples=50, deadline=None)
def test_aulc_is_unchanged_by_points_on_a_segment(t):
    n, acc = np.array([10.0, 30.0, 70.0, 100.0]), np.array([0.2, 0.5, 0.55, 0.9])
    extra_n = 30 + np.asarray(t) * 40
    extra_acc = np.interp(extra_n, n, acc)
    base = metrics.aulc(n, acc, n_lo=20, n_hi=90)
    more = metrics.aulc(np.concatenate([n, extra_n]), np.concatenate([acc, extra_acc]), n_lo=20, n_hi=90)
    assert more == pytest.approx(base, rel=1e-12)


def test_aulc_of_a_line_over_a_subrange_is_its_midpoint_value():
    n = np.array([0, 100, 200])
    acc = 0.1 + 0.004 * n  # linear
    assert metrics.aulc(n, acc, n_lo=50, n_hi=150) == pytest.approx(0.1 + 0.004 * 100)
    with pytest.raises(ValueError, match="extrapolate"):
        metrics.aulc(n, acc, n_hi=250)
    with pytest.raises(ValueError, match="n_lo > 0"):
        metrics.aulc(n, acc, n_lo=0, log_x=True)


def test_labels_to_reach_interpolates_between_the_bracketing_cycles():
    n, acc = [10, 20, 30, 40], [0.5, 0.7, 0.9, 0.95]
    assert metrics.labels_to_reach(n, acc, 0.8) == pytest.approx(25.0)
    assert metrics.labels_to_reach(n, acc, 0.4) == 10.0
    assert metrics.labels_to_reach(n, acc, 0.99) is None
    dip_n, dip = [10, 20, 30, 40], [0.5, 0.9, 0.6, 0.9]
    assert metrics.labels_to_reach(dip_n, dip, 0.8) == pytest.approx(17.5)
    assert metrics.labels_to_reach(dip_n, dip, 0.8, robust=True) == pytest.approx(30 + 10 * 2 / 3)
    assert metrics.labels_to_reach([10, 20], [0.9, 0.5], 0.8, robust=True) is None


def test_label_savings_against_random():
    assert metrics.label_savings(50, 100) == pytest.approx(0.5)
    assert np.isnan(metrics.label_savings(None, 100)) and np.isnan(metrics.label_savings(50, None))


def curves(gaps: dict[str, float], seeds=5, noise=0.01) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = np.array([10, 20, 30, 50, 90, 170, 330])
    rows = []
    for seed in range(seeds):
        shared = rng.normal(0, 0.02, size=len(n))  # paired seeds share their noise
        for name, gap in gaps.items():
            acc = 0.9 - 0.6 * np.exp(-n / 60) + gap * (n > 10) + shared + rng.normal(0, noise, len(n))
            rows += [{"strategy": name, "seed": seed, "n_labeled": int(m), "test_accuracy": float(a)}
                     for m, a in zip(n, acc)]
    return pd.DataFrame(rows)


def test_penalty_matrix_has_a_zero_diagonal_and_finds_the_clear_winner():
    matrix = metrics.penalty_matrix(curves({"random": 0.0, "good": 0.05, "same": 0.0}))
    assert np.all(np.diag(matrix.to_numpy()) == 0)
    assert matrix.loc["good", "random"] == pytest.approx(1.0)
    assert matrix.loc["good", "same"] == pytest.approx(1.0)
    assert matrix.loc["random", "good"] == 0 and matrix.loc["same", "good"] == 0
    assert matrix.loc["random", "same"] <= 0.5 and matrix.loc["same", "random"] <= 0.5
    assert matrix.attrs["checkpoints"] == [20, 30, 50, 90, 170, 330]  # n0 + 2^(j-1) K with K = 10


def test_penalty_matrix_needs_two_paired_seeds():
    matrix = metrics.penalty_matrix(curves({"random": 0.0, "good": 0.05}, seeds=1))
    assert (matrix.to_numpy() == 0).all()


def test_summary_table_reports_aulc_labels_to_x_and_savings_with_intervals():
    table = metrics.summary_table(curves({"random": 0.0, "good": 0.05}), full_value=0.9, x_percent=80)
    assert table.attrs["target_value"] == pytest.approx(0.72) and table.attrs["reference"] == "full_data"
    assert table.loc["good", "aulc_mean"] > table.loc["random", "aulc_mean"]
    assert np.isfinite(table.loc["good", "aulc_ci95"]) and table.loc["good", "aulc_ci95"] > 0
    assert table.loc["good", "labels_to_x_mean"] < table.loc["random", "labels_to_x_mean"]
    assert table.loc["random", "label_savings_mean"] == pytest.approx(0.0)
    assert table.loc["good", "label_savings_mean"] > 0
    assert table.loc["good", "n_seeds"] == 5
    fallback = metrics.summary_table(curves({"random": 0.0, "good": 0.05}))
    assert fallback.attrs["reference"] == "random_final"


def test_summary_table_aulc_of_constant_curves_is_the_constant():
    rows = [{"strategy": s, "seed": seed, "n_labeled": n, "test_accuracy": c}
            for s, c in (("random", 0.5), ("other", 0.7)) for seed in range(3) for n in (0, 10, 20, 40)]
    table = metrics.summary_table(pd.DataFrame(rows))
    assert table.loc["random", "aulc_mean"] == pytest.approx(0.5)
    assert table.loc["other", "aulc_mean"] == pytest.approx(0.7)
    assert table.loc["other", "aulc_ci95"] == pytest.approx(0.0)


def test_running_nearest_distances_equal_a_full_search_after_every_batch():
    rng = np.random.default_rng(0)
    fixed = rng.normal(size=(300, 5))
    reference = np.arange(300)
    batches = [rng.choice(300, 7, replace=False) for _ in range(4)]
    running, covered = None, np.zeros(0, np.int64)
    for batch in batches:
        running = metrics.nearest_covered_sq(fixed, reference, batch, running)
        covered = np.concatenate([covered, batch])
        full = metrics.coverage(fixed, reference, covered)
        assert metrics._coverage_summary(np.sqrt(running)) == pytest.approx(full, rel=1e-12)
        assert np.all(running[covered] <= 1e-9)
