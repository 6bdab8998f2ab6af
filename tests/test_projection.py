"""alcore.projection: the aligned t-SNE frames behind the animated map (docs/methods.md#the-animated-map).

Small exact cases (a few hundred points, a few cycles); the 5k-point timings live in bench/projection.py.
"""
from __future__ import annotations

import numpy as np
import pytest

from alcore import projection
from alcore.projection import (
    ProjectionSettings,
    cached_projection,
    display_subset,
    gradient_pca,
    gradient_sq_distances,
    project_cycles,
    project_records,
)
from alcore.projection.quality import sample_ranks, trust_from_ranks
from alcore.projection.spaces import FactorSpace
from alcore.records import CycleRecord

FAST = ProjectionSettings(n_iter=300, warm_iter=50)
#: FAST with the new-space check off: the guard's tiers on their own.
LADDER = ProjectionSettings(n_iter=300, warm_iter=50, new_space_retention=0.0)


def drifting_factors(m=300, n_classes=5, d=16, cycles=4, drift=0.01, seed=0):
    """Gradient factors (a, h, p) of m points in class clusters; h and the head drift slightly every cycle (also the
    data of bench/projection.py). The head is scaled by sqrt(16 / d), so logits keep their spread at any d."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, m)
    h = (3 * rng.normal(size=(n_classes, d)))[y] + rng.normal(size=(m, d))
    W = 0.3 * rng.normal(size=(d, n_classes)) / np.sqrt(d / 16)
    out = []
    for _ in range(cycles):
        logits = h @ W
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        a = p.copy()
        a[np.arange(m), p.argmax(axis=1)] -= 1.0
        out.append((a.astype(np.float32), h.astype(np.float32), p.astype(np.float32)))
        h = h + drift * rng.normal(size=h.shape)
        W = W + 0.3 * drift * rng.normal(size=W.shape)
    return y, out


def make_records(n_points=260, display=None, cycles=3, batch=8, seed=0, drift=0.01):
    """CycleRecords of a fake run: top-utility batches, labels growing, the same display set every cycle."""
    y, factors = drifting_factors(m=n_points, cycles=cycles, drift=drift, seed=seed)
    display = np.arange(n_points) if display is None else np.asarray(display)
    rng = np.random.default_rng(seed)
    labeled = sorted(rng.choice(n_points, batch, replace=False).tolist())
    records = []
    for t, (a, h, p) in enumerate(factors):
        pool = np.setdiff1d(np.arange(n_points), labeled)
        utilities = np.linalg.norm(a[pool], axis=1) * np.linalg.norm(h[pool], axis=1)
        selected = pool[np.argsort(-utilities, kind="stable")[:batch]]
        records.append(CycleRecord(
            cycle=t, n_labeled=len(labeled), strategy="badge", test_accuracy=0.5 + 0.1 * t, test_loss=1.0 - 0.1 * t,
            labeled_idx=np.array(labeled, dtype=np.int64), selected=selected, pool_idx=pool, utilities=utilities,
            display_idx=display, display_probs=p[display], display_a=a[display], display_h=h[display],
            selected_a=a[selected], selected_h=h[selected],
        ))
        labeled = sorted(labeled + selected.tolist())
    return y, records


# --- distances from the factors (docs/methods.md#last-layer-embeddings, K1) -------------------------------------------
def test_gradient_sq_distances_equal_explicit_distances_on_materialised_embeddings():
    rng = np.random.default_rng(0)
    a, h = rng.normal(size=(30, 4)), rng.normal(size=(30, 7))
    g = np.einsum("ic,id->icd", a, h).reshape(30, -1)  # a ⊗ h, only to check against
    explicit = ((g[:, None, :] - g[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(gradient_sq_distances(a, h), explicit, rtol=1e-6, atol=1e-6)
    a2, h2 = rng.normal(size=(5, 4)), rng.normal(size=(5, 7))
    g2 = np.einsum("ic,id->icd", a2, h2).reshape(5, -1)
    np.testing.assert_allclose(gradient_sq_distances(a, h, a2, h2), ((g[:, None] - g2[None]) ** 2).sum(-1),
                               rtol=1e-6, atol=1e-6)
    assert np.all(np.diag(gradient_sq_distances(a, h)) == 0)


def test_gradient_pca_at_full_rank_reproduces_the_gradient_distances():
    rng = np.random.default_rng(1)
    a, h = rng.normal(size=(40, 3)), rng.normal(size=(40, 4))  # rank of g is at most 12
    Z = gradient_pca(a, h, n_components=12)
    assert Z.shape == (40, 12)
    D2 = ((Z[:, None] - Z[None]) ** 2).sum(-1)
    np.testing.assert_allclose(D2, gradient_sq_distances(a, h), rtol=1e-6, atol=1e-6)


# --- the display subset ----------------------------------------------------------------------------------------------
def test_display_subset_shows_every_candidate_when_they_fit():
    candidates = np.array([9, 3, 5, 3])
    out = display_subset(np.zeros(10, int), candidates, n_max=5)
    assert out.dtype == np.int64 and out.tolist() == [3, 5, 9]


def test_display_subset_is_stratified_seeded_and_keeps_the_labelled_points():
    y = np.repeat([0, 1, 2], [600, 300, 100])
    candidates = np.arange(1000)
    must = np.array([950, 990, 999])  # three points of the rare class
    out = display_subset(y, candidates, n_max=103, must_include=must, random_state=3)
    assert len(out) == 103 and np.all(np.diff(out) > 0) and np.isin(must, out).all()
    rest = np.setdiff1d(out, must)
    counts = np.bincount(y[rest], minlength=3)
    expected = 100 * np.bincount(y[np.setdiff1d(candidates, must)], minlength=3) / 997
    assert np.all(np.abs(counts - expected) <= 1)
    assert np.array_equal(out, display_subset(y, candidates, 103, must, random_state=3))
    assert not np.array_equal(out, display_subset(y, candidates, 103, must, random_state=4))


# --- frames ----------------------------------------------------------------------------------------------------------
def test_project_cycles_gives_one_aligned_frame_per_space_with_its_measurements():
    _, factors = drifting_factors(m=120, cycles=3)
    result = project_cycles([(a, h) for a, h, _ in factors], FAST, metric="gradient")
    assert len(result) == 3 and result.cycles == [0, 1, 2]
    assert all(f.shape == (120, 2) and f.dtype == np.float32 for f in result.frames)
    assert np.isnan(result.displacement[0]) and all(np.isfinite(result.displacement[1:]))
    assert all(0.5 < t <= 1.0 for t in result.trustworthiness)
    assert result.method[0] == "independent"
    assert all(m in ("warm", "unanchored", "rescaled") for m in result.method[1:])
    assert all(s > 0 for s in result.seconds)


def test_every_metric_accepts_its_own_kind_of_space():
    _, factors = drifting_factors(m=80, cycles=2)
    a, h, _ = factors[0]
    D = np.sqrt(gradient_sq_distances(a.astype(np.float64), h.astype(np.float64)))
    pre = project_cycles([D, D], FAST, metric="precomputed")
    euc = project_cycles([h, h], FAST, metric="euclidean")
    assert [f.shape for f in pre.frames + euc.frames] == [(80, 2)] * 4
    with pytest.raises(ValueError, match="metric"):
        project_cycles([h], FAST, metric="cosine")


def test_projections_are_deterministic_for_a_seed():
    _, factors = drifting_factors(m=150, cycles=3)
    spaces = [(a, h) for a, h, _ in factors]
    first = project_cycles(spaces, FAST, metric="gradient")
    second = project_cycles(spaces, FAST, metric="gradient")
    assert all(np.array_equal(f, g) for f, g in zip(first.frames, second.frames))
    assert first.trustworthiness == second.trustworthiness and first.method == second.method
    threads = project_cycles(spaces, ProjectionSettings(n_iter=300, warm_iter=50, n_jobs=2), metric="gradient")
    assert all(np.array_equal(f, g) for f, g in zip(first.frames, threads.frames))  # why n_jobs is not in key()


def test_warm_started_frames_move_5x_less_than_independent_runs_at_the_same_quality():
    """The issue's stability/quality check: factors drift slightly over 4 cycles of 300 points."""
    _, factors = drifting_factors(m=300, cycles=4, drift=0.01, seed=0)
    spaces = [(a, h) for a, h, _ in factors]
    warm = project_cycles(spaces, ProjectionSettings(), metric="gradient")
    independent = project_cycles(spaces, ProjectionSettings(relayout=True), metric="gradient")
    assert warm.method == ["independent", "warm", "warm", "warm"]
    assert independent.method == ["independent"] * 4
    moved_warm, moved_independent = np.mean(warm.displacement[1:]), np.mean(independent.displacement[1:])
    assert moved_independent >= 5 * moved_warm, (moved_warm, moved_independent)
    for t_warm, t_independent in zip(warm.trustworthiness, independent.trustworthiness):
        assert t_warm >= t_independent - 0.02, (warm.trustworthiness, independent.trustworthiness)


def test_a_warm_frame_that_loses_quality_is_redone_by_a_later_tier():
    """When the embedding changes completely, the previous layout is stale (anchored or not); the guard catches it
    and a tier that re-places the points (placed among their new neighbours, or rescaled) keeps the quality."""
    _, factors = drifting_factors(m=200, cycles=1)
    a, h, _ = factors[0]
    shuffled = np.random.default_rng(5).permutation(len(a))
    result = project_cycles([(a, h), (a[shuffled], h[shuffled])], LADDER, metric="gradient")
    assert result.method[0] == "independent" and result.method[1] in ("placed", "rescaled")
    assert result.trustworthiness[1] >= result.trustworthiness[0] - LADDER.max_trust_drop


def test_after_a_fallback_the_next_frames_step_back_down_to_the_anchored_warm_start():
    _, factors = drifting_factors(m=200, cycles=1)
    a, h, _ = factors[0]
    shuffled = np.random.default_rng(5).permutation(len(a))
    spaces = [(a, h)] + [(a[shuffled], h[shuffled])] * 3  # one upheaval, then nothing changes
    result = project_cycles(spaces, LADDER, metric="gradient")
    assert result.method[0] == "independent" and result.method[1] in ("placed", "rescaled")
    assert result.method[2:] == ["unanchored", "warm"]
    assert result.displacement[3] < result.displacement[2] < result.displacement[1]


def test_placed_start_moves_the_points_whose_new_neighbours_lie_elsewhere_to_them_and_keeps_the_rest():
    from alcore.projection.initialization import placed_start
    from alcore.projection.spaces import FactorSpace

    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    blob = np.repeat(np.arange(3), 40)
    prev = centres[blob] + 0.3 * rng.normal(size=(120, 2))
    switched = np.array([3, 17, 45, 90])  # in the new space they sit in the next blob
    new = prev.copy()
    new[switched] = centres[(blob[switched] + 1) % 3] + 0.3 * rng.normal(size=(4, 2))
    neighbours, _ = FactorSpace.euclidean(new).knn(15)
    init, moved = placed_start(prev, neighbours)
    assert moved[switched].all()
    assert np.all(np.linalg.norm(init[switched] - centres[(blob[switched] + 1) % 3], axis=1) < 1.0)
    kept = np.setdiff1d(np.arange(120), switched)
    assert np.array_equal(init[kept][~moved[kept]], prev[kept][~moved[kept]]) and (~moved[kept]).mean() > 0.7
    assert np.linalg.norm(init[kept] - prev[kept], axis=1).max() < 1.0  # the others stay within their blob


def test_points_that_change_cluster_are_placed_among_their_new_neighbours_and_the_others_stay():
    """The retrained model's case in small: a fifth of the points move to another cluster of the space. The
    anchored and unanchored warm starts leave them among their old neighbours and lose quality; the placed tier
    moves them (and little else) and keeps it."""
    rng = np.random.default_rng(0)
    m, k = 300, 5
    y = rng.integers(0, k, m)
    centres = 4 * rng.normal(size=(k, 16))
    h0 = centres[y] + rng.normal(size=(m, 16))
    flip = rng.random(m) < 0.2
    y1 = np.where(flip, (y + rng.integers(1, k, m)) % k, y)
    h1 = np.where(flip[:, None], centres[y1] + rng.normal(size=(m, 16)), h0)
    result = project_cycles([h0, h1], FAST, metric="euclidean")
    assert result.method == ["independent", "placed"]
    assert result.trustworthiness[1] >= result.trustworthiness[0] - FAST.max_trust_drop
    Y0, Y1 = result.frames
    moved = np.linalg.norm(Y1 - Y0, axis=1)
    assert moved[~flip].mean() < 0.25 * moved[flip].mean(), (moved[~flip].mean(), moved[flip].mean())


def test_an_anchor_that_costs_quality_is_dropped_before_falling_back_to_a_rescaled_start():
    _, factors = drifting_factors(m=200, cycles=2, drift=0.05)
    spaces = [(a, h) for a, h, _ in factors]
    stiff = ProjectionSettings(n_iter=300, warm_iter=50, stiffness=1.0)
    unguarded = project_cycles(spaces, ProjectionSettings(**{**stiff.to_dict(), "max_trust_drop": float("inf")}),
                               metric="gradient")
    guarded = project_cycles(spaces, stiff, metric="gradient")
    assert unguarded.method == ["independent", "warm"]
    assert unguarded.trustworthiness[1] < unguarded.trustworthiness[0] - stiff.max_trust_drop
    assert guarded.method == ["independent", "unanchored"]
    assert guarded.trustworthiness[1] >= guarded.trustworthiness[0] - stiff.max_trust_drop


def test_procrustes_alignment_undoes_rotation_reflection_and_shift():
    Y = np.random.default_rng(0).normal(size=(50, 2))
    angle = 0.7
    R = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ np.diag([1, -1])
    np.testing.assert_allclose(projection.procrustes_align(Y @ R + 3.0, Y), Y, atol=1e-10)
    assert projection.mean_displacement(Y, Y) == 0.0


# --- settings --------------------------------------------------------------------------------------------------------
def test_settings_key_names_every_result_relevant_field_and_only_those():
    base = ProjectionSettings()
    assert base.key() == ProjectionSettings().key() and base.key().startswith("gradient-warm-")
    assert ProjectionSettings(n_jobs=2).key() == base.key()  # threads do not change the frames
    for change in (dict(perplexity=20), dict(relayout=True), dict(random_state=1), dict(space="features"),
                   dict(warm_iter=50), dict(stiffness=0.0), dict(n_iter=100),
                   dict(new_space_retention=0.0)):
        assert ProjectionSettings(**change).key() != base.key(), change
    assert ProjectionSettings.from_dict(base.to_dict()) == base
    with pytest.raises(ValueError, match="space"):
        ProjectionSettings(space="logits")
    with pytest.raises(ValueError, match="pca_dims"):
        ProjectionSettings(pca_dims=64)
    with pytest.raises(ValueError, match="new_space_retention"):
        ProjectionSettings(new_space_retention=1.5)


# --- from records, and the cache -------------------------------------------------------------------------------------
def test_project_records_keeps_the_display_points_and_places_outside_batch_points_on_the_map():
    display = np.arange(0, 260, 2)  # half the points; batches also come from the other half
    _, records = make_records(display=display, cycles=3)
    result = project_records(records, settings=FAST)
    assert np.array_equal(result.idx, display) and result.cycles == [0, 1, 2]
    for r, frame, e_idx, e_xy in zip(records, result.frames, result.extra_idx, result.extra_xy):
        assert np.array_equal(np.sort(e_idx), np.setdiff1d(r.selected, display))
        assert e_xy.shape == (len(e_idx), 2)
        # each outside point sits exactly on a display point of the same frame
        assert all((np.abs(frame - xy).sum(axis=1) < 1e-6).any() for xy in e_xy)


def test_the_inputs_space_is_laid_out_once():
    y, records = make_records(n_points=120, cycles=3)
    X = np.random.default_rng(0).normal(size=(120, 6))
    result = project_records(records, X, ProjectionSettings(space="inputs", n_iter=300))
    assert result.method == ["independent", "reused", "reused"]
    assert all(np.array_equal(f, result.frames[0]) for f in result.frames)
    with pytest.raises(ValueError, match="X_inputs"):
        project_records(records, None, ProjectionSettings(space="inputs"))


def test_cached_projection_reuses_frames_and_computes_only_new_cycles(tmp_path, monkeypatch):
    _, records = make_records(n_points=150, cycles=4)
    calls = []
    real = projection.project_records

    def counting(recs, *args, **kwargs):
        calls.append([r.cycle for r in recs])
        return real(recs, *args, **kwargs)

    monkeypatch.setattr(projection.cache, "project_records", counting)
    first = cached_projection(tmp_path, "run-a", FAST, records[:3])
    folder = tmp_path / "projection" / FAST.key()
    assert sorted(p.name for p in folder.iterdir()) == ["cycle_0000.npz", "cycle_0001.npz", "cycle_0002.npz"]
    again = cached_projection(tmp_path, "run-a", FAST, records[:3])
    assert calls == [[0, 1, 2]]  # the revisit computed nothing
    assert all(np.array_equal(f, g) for f, g in zip(first.frames, again.frames))
    assert first.method == again.method and first.trustworthiness == again.trustworthiness
    longer = cached_projection(tmp_path, "run-a", FAST, records)
    assert calls[-1] == [3] and len(longer) == 4  # only the new cycle, warm-started from the cached frame 2
    assert longer.method[3] in ("warm", "rescaled") and np.isfinite(longer.displacement[3])
    records[1].display_h = records[1].display_h + 1.0  # a changed cycle invalidates it and everything after
    cached_projection(tmp_path, "run-a", FAST, records)
    assert calls[-1] == [1, 2, 3]
    cached_projection(tmp_path, "run-b", FAST, records)
    assert calls[-1] == [0, 1, 2, 3]


# --- a replaced space ------------------------------------------------------------------------------------------------
def test_a_replaced_space_is_laid_out_afresh_at_once_and_a_slightly_moved_one_is_warm_started():
    """The property behind the cold start's first trained cycle: when the space is replaced by an unrelated one
    the warm tiers are skipped (the frame says why) and the frame is as good as an independent layout; when it
    moves a little the anchored warm start stands."""
    _, factors = drifting_factors(m=200, cycles=2, drift=0.01)
    (a, h, _), (a1, h1, _) = factors
    shuffled = np.random.default_rng(5).permutation(len(a))
    replaced = (a[shuffled], h[shuffled])
    result = project_cycles([(a, h), replaced, replaced], FAST, metric="gradient")
    assert result.method == ["independent", projection.NEW_SPACE, "rescaled"]  # then back down the tiers
    again = project_cycles([(a, h), replaced, replaced], FAST, metric="gradient")
    assert all(np.array_equal(f, g) for f, g in zip(result.frames, again.frames))
    alone = project_cycles([replaced], FAST, metric="gradient")
    assert result.trustworthiness[1] >= alone.trustworthiness[0] - FAST.max_trust_drop
    assert project_cycles([(a, h), (a1, h1)], FAST, metric="gradient").method == ["independent", "warm"]


def test_the_new_space_check_carries_on_from_a_previous_frame_only_with_its_trustworthiness():
    _, factors = drifting_factors(m=200, cycles=1)
    a, h, _ = factors[0]
    shuffled = np.random.default_rng(5).permutation(len(a))
    first = project_cycles([(a, h)], FAST, metric="gradient")
    carry = dict(previous_frame=first.frames[0], reference_trust=first.trustworthiness[0],
                 previous_method=first.method[0])
    replaced = [(a[shuffled], h[shuffled])]
    checked = project_cycles(replaced, FAST, "gradient", previous_trust=first.trustworthiness[0], **carry)
    assert checked.method == [projection.NEW_SPACE]
    unchecked = project_cycles(replaced, FAST, "gradient", **carry).method  # no trust, no check: down the tiers
    assert unchecked[0] in ("placed", "rescaled")


def test_retained_trust_is_one_for_an_unchanged_layout_and_zero_at_chance():
    assert projection.retained_trust(0.97, 0.97) == 1.0
    assert projection.retained_trust(0.5, 0.97) == 0.0
    assert projection.retained_trust(0.735, 0.97) == pytest.approx(0.5)
    assert np.isnan(projection.retained_trust(0.6, 0.5))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trustworthiness_from_shared_ranks_equals_scikit_learns(dtype):
    from sklearn.manifold import trustworthiness

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5)).astype(dtype)
    X[7] = X[3]  # a tie
    Y = X[:, :2] + 0.3 * rng.normal(size=(120, 2))
    space = FactorSpace.euclidean(X)
    sample = np.arange(0, 120, 2)
    expected = trustworthiness(space.sample_distances(sample), Y[sample], n_neighbors=10, metric="precomputed")
    assert trust_from_ranks(sample_ranks(space, sample), Y[sample], 10) == expected
