"""``cold_start_strategy="self"``: the strategy itself runs on the untrained, seeded model from cycle 0 (the seed's
experiment), instead of falling back to typiclust or random. The "auto" fallback is pinned by test_loop.py,
test_badge.py, test_less.py and test_uncertainty.py."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import make_digits_config, make_fast_config

from alcore import strategies
from alcore.cli import main
from alcore.cli.args import add_config_args, config_values_from_args
from alcore.config import ConfigError, ExperimentConfig
from alcore.loop import Experiment

SELF_RUNNERS = ("badge", "entropy", "less", "alignment")


def _first_cycle(strategy: str, cold_start: str = "self", seed: int = 0, **overrides):
    target = {"target_size": 40} if strategies.get_class(strategy).needs_target else {}
    return Experiment(make_digits_config(strategy=strategy, cold_start_strategy=cold_start, seed=seed, **target,
                                         **overrides)).step()


@pytest.mark.parametrize("strategy", SELF_RUNNERS)
def test_self_runs_the_strategy_on_the_untrained_model_at_cycle_0(strategy):
    record = _first_cycle(strategy)
    assert record.n_labeled == 0 and len(record.train_loss) == 0, "cycle 0 trains nothing"
    assert record.fallback_reason is None
    assert record.diagnostics["untrained_model"] is True
    assert "fallback_strategy" not in record.diagnostics
    assert len(np.unique(record.selected)) == 20 and np.isin(record.selected, record.pool_idx).all()


@pytest.mark.parametrize("strategy", ["badge", "entropy", "less"])
def test_self_names_the_fallback_it_skipped_and_auto_still_takes_it(strategy):
    own = _first_cycle(strategy, "self")
    fallback = _first_cycle(strategy, "auto")
    assert own.diagnostics["self_cold_start"] == "cold_start"
    assert fallback.fallback_reason == "cold_start" and fallback.diagnostics["fallback_strategy"] == "random"
    assert "untrained_model" not in fallback.diagnostics
    assert not np.array_equal(np.sort(own.selected), np.sort(fallback.selected))


@pytest.mark.parametrize("strategy", SELF_RUNNERS)
def test_self_cold_start_selections_are_deterministic(strategy):
    first, second = _first_cycle(strategy), _first_cycle(strategy)
    np.testing.assert_array_equal(first.selected, second.selected)
    np.testing.assert_array_equal(first.utilities, second.utilities)


def test_less_at_cycle_0_says_it_used_plain_gradients_of_the_untrained_weights():
    record = _first_cycle("less")
    assert record.diagnostics["gradient_type"] == "sgd" and record.diagnostics["n_checkpoints"] == 1
    assert "untrained" in record.diagnostics["optimizer_state"]
    later = Experiment(make_digits_config(strategy="less", cold_start_strategy="self", target_size=40,
                                          initial_labels=30)).step()
    assert later.diagnostics["gradient_type"] == "adam" and "Adam" in later.diagnostics["optimizer_state"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_badge_on_an_untrained_network_never_repeats_and_differs_from_random(seed):
    badge = _first_cycle("badge", seed=seed, batch_size=40)
    rand = _first_cycle("random", seed=seed, batch_size=40)
    assert len(np.unique(badge.selected)) == 40
    assert badge.diagnostics["mean_gradient_norm"] > 0, "a random network's hallucinated gradients are not zero"
    overlap = len(np.intersect1d(badge.selected, rand.selected))
    assert overlap < 20, f"BADGE shares {overlap} of 40 picks with random"


def test_self_still_falls_back_without_a_target_set():
    from alcore.strategies.base import PoolState

    exp = Experiment(make_fast_config(strategy="entropy"))
    model, _ = exp.train_cycle(0)
    state = PoolState(X=exp.X, pool_idx=exp.pool, labeled_idx=exp.labeled, labeled_y=exp.y[exp.labeled],
                      target_idx=np.zeros(0, int), target_y=np.zeros(0, int), n_classes=exp.n_classes, model=model,
                      cold_start_strategy="self")
    sel = strategies.get("less").select(state, 5, np.random.default_rng(0))
    assert sel.fallback_reason == "no_target" and sel.diagnostics["fallback_strategy"] == "typiclust"


def test_config_accepts_self_and_lists_it_among_the_choices():
    assert ExperimentConfig(strategy="badge", cold_start_strategy="self").cold_start_strategy == "self"
    with pytest.raises(ConfigError, match="cold_start_strategy") as err:
        ExperimentConfig(strategy="badge", cold_start_strategy="itself")
    assert "'self'" in str(err.value) and "'auto'" in str(err.value)


def test_cli_flag_sets_the_cold_start_strategy(tmp_path, capsys):
    import argparse

    parser = argparse.ArgumentParser()
    add_config_args(parser)
    args = parser.parse_args(["--strategy", "badge", "--cold-start-strategy", "self"])
    assert config_values_from_args(args)["cold_start_strategy"] == "self"
    out = tmp_path / "run"
    assert main(["run", "--dataset", "moons", "--strategy", "entropy", "--cycles", "1", "--epochs", "2",
                 "--cold-start-strategy", "self", "--out", str(out)]) == 0
    assert "fallback" not in capsys.readouterr().out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_less_top_k_on_an_untrained_network_piles_into_one_class_where_alignments_diverse_draw_spreads(seed):
    """docs/study.md#why-lesss-first-batch-fails: from zero labels, LESS's first batch on the untrained network (top k of a cosine
    that varies smoothly with the input) is 20 digits of one class, so the next model predicts that class for every
    input; alignment's default (the same kind of score, drawn by weighted k-means++) and random span most classes."""
    target = [0, 1, 2, 3, 4]

    def first_batch(strategy: str):
        config = ExperimentConfig(dataset="digits", model="mlp", batch_size=20, target_size=50, target_classes=target,
                                  initial_labels=0, cold_start_strategy="self", strategy=strategy, seed=seed,
                                  display_size=200, device="cpu")
        exp = Experiment(config)
        record = exp.step()
        assert record.n_labeled == 0 and record.fallback_reason is None
        return exp, record

    def first_batch_classes(strategy: str) -> int:
        exp, record = first_batch(strategy)
        return len(np.unique(exp.y[record.selected]))

    exp, less = first_batch("less")
    assert len(np.unique(exp.y[less.selected])) <= 2
    # the score does find the target's digits: its 100 best are (nearly) all of them
    best = less.pool_idx[np.argsort(-less.utilities, kind="stable")[:100]]
    assert np.isin(exp.y[best], target).mean() >= 0.9
    assert first_batch_classes("alignment") >= 7 and first_batch_classes("random") >= 6
