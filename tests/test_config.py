"""ExperimentConfig validates every knob once, names the bad field and the valid choices, and round-trips JSON."""
from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alcore import data, strategies
from alcore.config import MODELS, ConfigError, ExperimentConfig
from alcore.loop import Experiment


def test_defaults_are_the_apps_first_screen():
    cfg = ExperimentConfig()
    assert (cfg.dataset, cfg.model, cfg.strategy, cfg.batch_size, cfg.initial_labels) == ("digits", "mlp", "badge",
                                                                                         20, 0)


@pytest.mark.parametrize("value", [0, -1, -20, 2.5, True, "20", None])
def test_batch_size_must_be_a_positive_integer(value):
    with pytest.raises(ConfigError, match="batch_size"):
        ExperimentConfig(batch_size=value)


@pytest.mark.parametrize("field_name", ["cycles", "epochs", "train_batch_size", "n_checkpoints", "display_size"])
def test_other_counts_must_be_positive(field_name):
    with pytest.raises(ConfigError, match=field_name):
        ExperimentConfig(**{field_name: 0})


@pytest.mark.parametrize("field_name", ["initial_labels", "target_size", "seed"])
def test_non_negative_fields_reject_negatives(field_name):
    with pytest.raises(ConfigError, match=field_name):
        ExperimentConfig(**{field_name: -1})


@pytest.mark.parametrize("field_name, value", [("lr", 0), ("lr", -1e-3), ("weight_decay", -0.1), ("test_size", 0),
                                               ("test_size", 1.0), ("optimizer", "rmsprop"), ("device", "tpu")])
def test_out_of_range_numbers_and_choices_are_rejected(field_name, value):
    with pytest.raises(ConfigError, match=field_name):
        ExperimentConfig(**{field_name: value})


def _listed_choices(message: str) -> list[str]:
    return re.findall(r"'([^']+)'", message.split("choose one of", 1)[1])


def test_unknown_dataset_lists_every_valid_dataset():
    with pytest.raises(ConfigError, match="dataset='nope'") as err:
        ExperimentConfig(dataset="nope")
    assert sorted(_listed_choices(str(err.value))) == sorted(data.available())


def test_unknown_model_lists_every_valid_model():
    with pytest.raises(ConfigError, match="model='resnet'") as err:
        ExperimentConfig(model="resnet")
    assert _listed_choices(str(err.value)) == list(MODELS)


def test_unknown_strategy_lists_every_registered_strategy():
    with pytest.raises(ConfigError, match="strategy='oracle'") as err:
        ExperimentConfig(strategy="oracle")
    assert sorted(_listed_choices(str(err.value))) == sorted(strategies.available())


def test_unknown_cold_start_strategy_lists_auto_and_the_strategies():
    with pytest.raises(ConfigError, match="cold_start_strategy") as err:
        ExperimentConfig(strategy="random", cold_start_strategy="oracle")
    assert "auto" in _listed_choices(str(err.value))


def test_unknown_strategy_option_names_the_valid_options():
    with pytest.raises(ConfigError, match="strategy_options.temperature=2 is not valid; strategy 'entropy' has no "
                                          "such option; its options: \\[\\]"):
        ExperimentConfig(strategy="entropy", strategy_options={"temperature": 2})


def test_unknown_config_field_is_rejected_with_the_valid_fields():
    with pytest.raises(ConfigError, match=r"unknown config field\(s\) \['bacth_size'\]") as err:
        ExperimentConfig.from_dict({"bacth_size": 10})
    assert "batch_size" in str(err.value)


def test_from_json_rejects_invalid_json():
    with pytest.raises(ConfigError, match="not valid JSON"):
        ExperimentConfig.from_json("{dataset: digits")


def test_from_json_rejects_a_json_array_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="object"):
        ExperimentConfig.from_json(path)


def test_json_round_trip_keeps_every_field(tmp_path):
    cfg = ExperimentConfig(dataset="blobs", dataset_options={"n_samples": 300, "n_classes": 4}, model="logreg",
                           strategy="margin", batch_size=7, cycles=4, initial_labels=3, target_size=12,
                           target_classes=[0, 2], test_size=0.25, epochs=9, lr=0.01, optimizer="sgd",
                           weight_decay=1e-4, train_batch_size=16, warm_start=True, n_checkpoints=2,
                           display_size=100, seed=7, device="cpu", name="round trip")
    text = cfg.to_json()
    assert json.loads(text) == cfg.to_dict()
    assert ExperimentConfig.from_json(text) == cfg
    path = tmp_path / "config.json"
    cfg.to_json(path)
    assert ExperimentConfig.from_json(path) == cfg
    assert ExperimentConfig.from_json(str(path)) == cfg


# --- the budget against the pool ---------------------------------------------------------------

def test_budget_larger_than_the_pool_is_a_config_error(fast_config):
    cfg = fast_config(batch_size=50, cycles=10)  # moons 200 -> pool 160, budget 500
    with pytest.raises(ConfigError, match="budget") as err:
        Experiment(cfg)
    assert "160" in str(err.value)


def test_budget_error_is_raised_before_a_run_folder_is_created(fast_config, tmp_path):
    with pytest.raises(ConfigError):
        Experiment(fast_config(batch_size=50, cycles=10), run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_initial_labels_larger_than_the_pool_is_a_config_error():
    cfg = ExperimentConfig(strategy="random", initial_labels=200)
    with pytest.raises(ConfigError, match="initial_labels"):
        cfg.check_budget(150)


def test_initial_labels_equal_to_the_pool_is_refused_for_what_it_is():
    cfg = ExperimentConfig(strategy="random", initial_labels=150, batch_size=10, cycles=1)
    with pytest.raises(ConfigError, match="initial_labels"):
        cfg.check_budget(150)


@settings(max_examples=300, deadline=None)
@given(pool=st.integers(1, 500), initial=st.integers(0, 500), batch=st.integers(1, 200), cycles=st.integers(1, 50))
def test_budget_check_allows_exactly_the_runs_whose_last_batch_starts_inside_the_pool(pool, initial, batch, cycles):
    """Only the last cycle may be clamped: cycles-1 full batches plus the initial labels must leave a pool."""
    cfg = ExperimentConfig(strategy="random", initial_labels=initial, batch_size=batch, cycles=cycles)
    fits = initial + batch * (cycles - 1) < pool
    if fits:
        cfg.check_budget(pool)
        return
    with pytest.raises(ConfigError):
        cfg.check_budget(pool)


def _advised(message: str, initial: int, batch: int, cycles: int) -> list[ExperimentConfig]:
    """The configs a budget error's advice describes: each 'set cycles/batch_size/initial_labels to (at most) N'."""
    advised = []
    for advice in message.split(": ", 1)[1].split(" or "):
        values = {"initial_labels": initial, "batch_size": batch, "cycles": cycles}
        for field, value in re.findall(r"(initial_labels|batch_size|cycles) to (?:at most )?(\d+)", advice):
            values[field] = int(value)
        advised.append(ExperimentConfig(strategy="random", **values))
    return advised


@settings(max_examples=500, deadline=None)
@given(pool=st.integers(1, 2000), initial=st.integers(0, 2000), batch=st.integers(1, 500),
       cycles=st.integers(1, 100))
def test_every_advice_of_a_budget_error_fits_the_pool_with_every_batch_full(pool, initial, batch, cycles):
    """The advice given must itself pass the check, and its budget (initial + batch * cycles, as the message counts
    it) must fit in the pool: no advice that still does not fit."""
    cfg = ExperimentConfig(strategy="random", initial_labels=initial, batch_size=batch, cycles=cycles)
    try:
        cfg.check_budget(pool)
        return
    except ConfigError as err:
        message = str(err)
    advised = _advised(message, initial, batch, cycles)
    assert advised, f"no advice in {message}"
    for fix in advised:
        fix.check_budget(pool)
        assert fix.initial_labels + fix.batch_size * fix.cycles <= pool, f"{fix} from {message}"


def test_a_budget_error_names_the_budget_the_pool_and_both_ways_to_fit():
    cfg = ExperimentConfig(strategy="random", initial_labels=10, batch_size=20, cycles=10)
    with pytest.raises(ConfigError) as err:
        cfg.check_budget(150)
    text = str(err.value)
    assert "10 + 20 * 10 = 210 labels" in text and "150 points" in text
    assert "set cycles to at most 7 (7 batches of 20 = 140 labels)" in text
    assert "set batch_size to at most 14 (10 batches of 14 = 140 labels)" in text
