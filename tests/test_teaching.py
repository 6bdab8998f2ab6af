"""The Learn page's numbers (alcore.teaching): each one checked against its formula or against the run itself."""
from __future__ import annotations

import numpy as np
import pytest

from alcore import distances, teaching
from alcore.loop import Experiment
from alcore.strategies.badge import kmeanspp

from conftest import make_fast_config


def run(**overrides):
    """A finished fast moons run, with the whole pool on the map: (config, records)."""
    config = make_fast_config(display_size=1000, **overrides)
    return config, Experiment(config).run()


@pytest.fixture(scope="module")
def badge_run():
    return run(strategy="badge", initial_labels=10, cycles=2)


# --- steps 1-2 ------------------------------------------------------------------------------------------------

def test_the_hallucinated_label_is_the_argmax_and_a_sums_to_zero(badge_run) -> None:
    config, records = badge_run
    record = records[teaching.tour_cycle(records)]
    for position in teaching.example_points(record).values():
        point = teaching.point_gradient(record, position)
        assert point["y_hat"] == int(np.argmax(point["probs"]))
        assert abs(point["a"].sum()) < 1e-6 and point["a"][point["y_hat"]] <= 0
        assert point["g_norm"] == pytest.approx(point["a_norm"] * point["h_norm"])


def test_proposition_1_the_hallucinated_label_gives_the_smallest_gradient() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = rng.dirichlet(np.full(5, 0.5))
        table = teaching.label_gradient_norms(p, h_norm=2.0)
        explicit = [np.linalg.norm(p - np.eye(5)[y]) * 2.0 for y in range(5)]
        assert np.allclose(table["g_norm"], explicit)
        assert table["g_norm"].idxmin() == int(np.argmax(p)) and table["hallucinated"].sum() == 1


def test_two_class_gradient_norm_is_sqrt2_times_one_minus_confidence(badge_run) -> None:
    _, records = badge_run
    frame = teaching.uncertainty_frame(records[1])
    assert np.allclose(frame["a_norm"], np.sqrt(2) * (1 - frame["confidence"]), atol=1e-5)
    assert frame.attrs["spearman_a_entropy"] > 0.99  # both are monotone in the confidence


# --- step 3 -----------------------------------------------------------------------------------------------------

def test_trace_picks_are_badges_and_each_step_is_a_distribution() -> None:
    rng = np.random.default_rng(1)
    a, h = rng.normal(size=(60, 3)), rng.normal(size=(60, 4))
    trace = teaching.kmeanspp_trace(a, h, 8, np.random.default_rng(7))
    assert np.array_equal(trace.picks, kmeanspp(a, h, 8, np.random.default_rng(7)))
    assert np.allclose(trace.probabilities.sum(1), 1.0)
    assert trace.picks[0] == np.argmax(distances.sq_norms(a, h)) and trace.probabilities[0].max() == 1.0
    assert (trace.pick_probability > 0).all()
    for t in range(1, 8):  # a chosen point can never be drawn again
        assert (trace.probabilities[t][trace.picks[:t]] == 0).all()


def test_trace_d2_is_the_d2_badge_drew_from_bit_for_bit() -> None:
    rng = np.random.default_rng(4)
    a, h = rng.normal(size=(80, 5)), rng.normal(size=(80, 6))
    trace = teaching.kmeanspp_trace(a, h, 10, np.random.default_rng(3))
    _, gains = kmeanspp(a, h, 10, np.random.default_rng(3), return_gains=True)
    assert np.array_equal(trace.d2[np.arange(10), trace.picks], gains)


def test_trace_d2_law_on_the_three_point_toy() -> None:
    """docs/methods.md#badge-properties (BD4): h = 0, 1, 3 and one a: the first pick is h = 3, the second h = 0 w.p.
    9/13."""
    a = np.ones((3, 1))
    h = np.array([[0.0], [1.0], [3.0]])
    trace = teaching.kmeanspp_trace(a, h, 2, np.random.default_rng(0))
    assert trace.picks[0] == 2
    assert np.allclose(trace.probabilities[1], [9 / 13, 4 / 13, 0.0])
    assert np.allclose(trace.d2[1], [9.0, 4.0, 0.0])


def test_gradient_map_keeps_distances_when_the_embedding_is_two_dimensional() -> None:
    rng = np.random.default_rng(2)
    a, h = rng.normal(size=(40, 2)), np.abs(rng.normal(size=(40, 1))) + 0.5  # g = a ⊗ h spans 2 dimensions
    coords, explained = teaching.gradient_map(a, h)
    d_map = ((coords[:, None] - coords[None]) ** 2).sum(-1)
    assert np.allclose(d_map, distances.gradient_sq_distances(a, h), atol=1e-8)
    assert explained.sum() == pytest.approx(1.0)


def test_badge_trace_replays_the_runs_own_batch(badge_run) -> None:
    config, records = badge_run
    record = records[1]
    assert record.strategy == "badge" and record.fallback_reason is None
    result = teaching.badge_trace(record, config.seed)
    assert result["matches_run"] and result["note"] is None
    frame = teaching.trace_frame(result, 2)
    assert (frame["role"] == "chosen").sum() == 2 and (frame["role"] == "this pick").sum() == 1


def test_badge_trace_on_another_strategy_says_so() -> None:
    config, records = run(strategy="entropy", initial_labels=10, cycles=1)
    result = teaching.badge_trace(records[0], config.seed)
    assert not result["matches_run"] and "entropy" in result["note"]


def test_tour_cycle_is_the_latest_batch_chosen_with_a_trained_model() -> None:
    _, records = run(strategy="badge", cycles=2)  # cold start: cycle 0 has no labels
    assert records[0].n_labeled == 0 and teaching.tour_cycle(records) == 1
    assert teaching.tour_cycle(records[:1]) == 0 and teaching.tour_cycle([]) is None


# --- steps 4-5: the rebuilt model ----------------------------------------------------------------------------------

def test_replay_rebuilds_the_cycles_model_exactly(badge_run) -> None:
    config, records = badge_run
    rep = teaching.replay(config, records[1])
    assert rep.replay_error < 1e-6 and not rep.approximate


def test_alignment_step_reproduces_an_alignment_runs_batch_and_splits_the_score() -> None:
    config, records = run(strategy="alignment", target_size=20, initial_labels=10, cycles=1)
    record = records[0]
    res = teaching.alignment_scores(teaching.replay(config, record))
    assert res["target_source"] == "target" and res["n_target"] == 20
    assert res["overlap"] == res["k"] == len(record.selected)
    frame = res["frame"]
    assert np.allclose(frame["score_last"], frame["g_norm"] * res["m_norm"] * frame["cosine"])
    assert frame["cosine"].between(-1 - 1e-9, 1 + 1e-9).all()


def test_alignment_step_uses_the_test_set_when_the_run_has_no_target(badge_run) -> None:
    config, records = badge_run
    res = teaching.alignment_scores(teaching.replay(config, records[1]))
    assert res["target_source"].startswith("test")


def test_less_step_reproduces_a_less_runs_batch() -> None:
    config, records = run(strategy="less", strategy_options={"params": "last_layer", "warmup_min": 2},
                          target_size=20, initial_labels=10, cycles=1)
    record = records[0]
    assert record.fallback_reason is None
    res = teaching.less_features(teaching.replay(config, record))
    assert res["available"] and res["params"] == "last_layer"
    assert res["overlap_run"] == res["k"] == len(record.selected)
    frame, ckpts = res["frame"], res["checkpoints"]
    assert frame["cos_adam_sgd"].between(-1 - 1e-9, 1 + 1e-9).all()
    assert ckpts["weight"].sum() == pytest.approx(1.0) and len(ckpts) >= 1


@pytest.mark.parametrize("overrides, reason", [({"optimizer": "sgd", "initial_labels": 10}, "sgd"),
                                               ({"initial_labels": 0}, "no labels")])
def test_less_step_says_why_it_is_unavailable(overrides, reason) -> None:
    config, records = run(strategy="random", cycles=1, **overrides)
    res = teaching.less_features(teaching.replay(config, records[0]))
    assert not res["available"] and reason in res["reason"]
