"""The acquisition cycle: cold start from zero labels, cycles + 1 records, an exhausted pool, determinism."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import BASELINE_STRATEGIES

from alcore import strategies
from alcore.loop import Experiment

MODEL_BASED = [s for s in BASELINE_STRATEGIES if strategies.get_class(s).needs_model]


def _check_selection(exp: Experiment, record) -> None:
    """The invariants of one selecting record."""
    k = len(record.selected)
    assert len(np.unique(record.selected)) == k, "duplicate indices"
    assert np.isin(record.selected, record.pool_idx).all(), "selected outside the pool"
    assert not np.isin(record.selected, record.labeled_idx).any(), "selected an already labelled point"
    assert not np.isin(record.selected, exp.split.test).any() and not np.isin(record.selected, exp.split.target).any()
    assert record.utilities.shape == record.pool_idx.shape
    np.testing.assert_array_equal(record.selected_labels, exp.y[record.selected])
    assert record.selected_a.shape[0] == record.selected_h.shape[0] == k


@pytest.mark.parametrize("strategy", BASELINE_STRATEGIES)
def test_cold_start_selects_a_full_batch_without_labels(fast_config, strategy):
    exp = Experiment(fast_config(strategy=strategy, batch_size=12))
    record = exp.step()
    assert record.cycle == 0 and record.n_labeled == 0 and len(record.labeled_idx) == 0
    assert len(record.train_loss) == 0, "cycle 0 of a cold start trains nothing"
    assert len(record.selected) == 12
    _check_selection(exp, record)
    if strategy in MODEL_BASED:
        assert record.fallback_reason == "cold_start"
        assert record.diagnostics["fallback_strategy"] in strategies.available()
    else:
        assert record.fallback_reason is None
    assert np.isfinite(record.test_loss) and 0 <= record.test_accuracy <= 1
    second = exp.step()
    assert second.n_labeled == 12 and len(second.train_loss) == exp.config.epochs


@pytest.mark.parametrize("strategy", ["random", "entropy"])
def test_cold_start_on_images_falls_back_and_fills_the_batch(digits_config, strategy):
    exp = Experiment(digits_config(strategy=strategy, cycles=1))
    record = exp.step()
    assert len(record.selected) == 20 and len(record.train_loss) == 0
    _check_selection(exp, record)
    assert record.fallback_reason == (None if strategy == "random" else "cold_start")


def test_a_run_of_n_cycles_yields_n_plus_one_records_the_last_only_evaluating(fast_config):
    cfg = fast_config(strategy="margin", cycles=4, batch_size=10, initial_labels=6)
    exp = Experiment(cfg)
    records = exp.run()
    assert len(records) == 5 and exp.done and exp.records == records
    assert [r.cycle for r in records] == list(range(5))
    assert [r.n_labeled for r in records] == [6, 16, 26, 36, 46]
    assert [r.is_final for r in records] == [False] * 4 + [True]
    for before, after in zip(records, records[1:]):
        _check_selection(exp, before)
        assert len(before.selected) == 10
        np.testing.assert_array_equal(after.labeled_idx, np.concatenate([before.labeled_idx, before.selected]))
    final = records[-1]
    assert len(final.selected) == 0 and final.fallback_reason is None and "select" not in final.timings
    assert np.isfinite(final.test_accuracy) and len(final.train_loss) == cfg.epochs
    with pytest.raises(RuntimeError, match="complete"):
        exp.step()
    assert exp.run() == []


def test_every_record_carries_timings_and_the_same_display_subset(fast_config):
    records = Experiment(fast_config(strategy="entropy", cycles=2)).run()
    for r in records[:-1]:
        assert {"train", "evaluate", "select", "diversity", "display", "store"} <= set(r.timings)
        assert all(v >= 0 for v in r.timings.values())
        assert r.diversity and r.diversity["batch_size"] == 10
    for r in records:
        np.testing.assert_array_equal(r.display_idx, records[0].display_idx)
        assert r.display_probs.shape == (len(r.display_idx), 2)
        np.testing.assert_allclose(r.display_probs.sum(1), 1, rtol=1e-5)


def test_run_calls_on_cycle_after_each_cycle_and_stops_when_asked(fast_config):
    exp = Experiment(fast_config(cycles=5))
    seen = []
    first = exp.run(2, on_cycle=lambda r: seen.append(r.cycle))
    assert seen == [0, 1] and [r.cycle for r in first] == [0, 1] and exp.cycle == 2
    rest = exp.run(on_cycle=lambda r: seen.append(r.cycle), should_stop=lambda: len(seen) >= 4)
    assert seen == [0, 1, 2, 3] and len(rest) == 2 and not exp.done


def test_the_last_cycle_is_clamped_to_what_the_pool_holds_and_the_run_ends(fast_config):
    """iris: 150 points, 30 for test, a pool of 120; batches of 50 leave 20 for the third cycle."""
    cfg = fast_config(dataset="iris", dataset_options={}, strategy="least_confidence", batch_size=50, cycles=3)
    exp = Experiment(cfg)
    assert len(exp.split.pool) == 120
    records = exp.run()
    assert [len(r.selected) for r in records] == [50, 50, 20, 0]
    assert records[2].diagnostics.get("clamped") is True
    assert records[-1].is_final and len(records[-1].pool_idx) == 0 and records[-1].n_labeled == 120
    np.testing.assert_array_equal(np.sort(records[-1].labeled_idx), exp.split.pool)
    for r in records[:-1]:
        _check_selection(exp, r)


@pytest.mark.parametrize("strategy", BASELINE_STRATEGIES)
def test_an_exactly_exhausted_pool_ends_the_run_cleanly(fast_config, strategy):
    cfg = fast_config(dataset="iris", dataset_options={}, strategy=strategy, batch_size=40, cycles=3)
    records = Experiment(cfg).run()
    assert [len(r.selected) for r in records] == [40, 40, 40, 0]
    assert records[-1].is_final and records[-1].n_labeled == 120 and len(records[-1].pool_idx) == 0
    assert "clamped" not in records[2].diagnostics


def test_same_config_and_seed_give_identical_runs_in_one_process(fast_config, same_records):
    cfg = fast_config(strategy="entropy", cycles=3, initial_labels=4)
    first = Experiment(cfg).run()
    second = Experiment(fast_config(strategy="entropy", cycles=3, initial_labels=4)).run()
    same_records(second, first)
    other = Experiment(fast_config(strategy="entropy", cycles=3, initial_labels=4, seed=1)).run()
    assert not all(np.array_equal(a.selected, b.selected) for a, b in zip(first, other))


@pytest.mark.parametrize("strategy", sorted(strategies.available()))
def test_every_registered_strategy_runs_two_cycles_from_a_cold_start(fast_config, strategy):
    cls = strategies.get_class(strategy)
    data = {} if "classification" in cls.tasks else {"dataset": "friedman1", "dataset_options": {"n_samples": 200}}
    cfg = fast_config(strategy=strategy, cycles=2, target_size=20 if cls.needs_target else 0, **data)
    exp = Experiment(cfg)
    records = exp.run()
    assert [len(r.selected) for r in records] == [10, 10, 0]
    for r in records[:-1]:
        _check_selection(exp, r)


def test_the_default_config_cold_start_selects_twenty_distinct_digits():
    """The app's first screen (digits, MLP, BADGE, zero labels), with few epochs."""
    from alcore.config import ExperimentConfig

    exp = Experiment(ExperimentConfig(cycles=1, epochs=5, display_size=200, device="cpu"))
    record = exp.step()
    assert len(record.selected) == 20 and len(record.train_loss) == 0
    _check_selection(exp, record)
    assert record.fallback_reason == "cold_start"
