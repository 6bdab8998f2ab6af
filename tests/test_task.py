"""The task concept (``alcore.task``): encoding on pool statistics, losses and their output gradients, the hallucinated
label of each task, the metrics and what the config refuses for a task (docs/tasks.md)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from alcore import data
from alcore.config import ConfigError, ExperimentConfig
from alcore.data import DatasetError
from alcore.task import (METRICS, Classification, Regression, foreign_metrics, primary_metric, task_for,
                         task_from_info)

finite = st.floats(-5, 5, allow_nan=False, width=32)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=20))
def test_the_regression_output_gradient_is_the_residual_of_its_half_squared_loss(pairs) -> None:
    outputs = torch.tensor([[f] for f, _ in pairs], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([t for _, t in pairs], dtype=torch.float64)
    task = Regression(0.0, 1.0)
    task.loss(outputs, y, reduction="sum").backward()
    assert torch.allclose(outputs.grad, task.output_gradient(outputs.detach(), y))
    assert torch.allclose(outputs.grad[:, 0], outputs.detach()[:, 0] - y)


def test_the_classification_output_gradient_is_p_minus_the_label() -> None:
    outputs = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3, 1, 0])
    task = Classification(4)
    task.loss(outputs, y, reduction="sum").backward()
    assert torch.allclose(outputs.grad, task.output_gradient(outputs.detach(), y))


def test_the_target_is_standardised_with_the_pool_and_decoded_back() -> None:
    ds = data.load("diabetes")
    pool = np.arange(0, 300)
    task = task_for(ds, pool)
    z = task.encode(ds.y[pool])
    assert abs(z.mean()) < 1e-9 and abs(z.std() - 1) < 1e-9
    assert np.allclose(task.decode(task.encode(ds.y)), ds.y)
    assert task_from_info({"task": task.info()}) == task


def test_regression_scores_agree_with_scikit_learn() -> None:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    rng = np.random.default_rng(0)
    y = rng.normal(50, 10, 40)
    task = Regression(45.0, 8.0)
    pred = y + rng.normal(0, 3, 40)
    scores = task.scores(torch.as_tensor(task.encode(pred))[:, None].float(), y)
    assert scores["mse"] == pytest.approx(mean_squared_error(y, pred), rel=1e-5)
    assert scores["mae"] == pytest.approx(mean_absolute_error(y, pred), rel=1e-5)
    assert scores["r2"] == pytest.approx(r2_score(y, pred), rel=1e-5)
    assert scores["loss"] == pytest.approx(mean_squared_error(y, pred) / 64.0, rel=1e-5)  # standardised units


def test_the_hallucinated_residual_is_the_spread_and_both_candidates_are_tried() -> None:
    task = Regression(0.0, 1.0)
    outputs = torch.zeros(3, 1)
    sigma = np.array([0.5, 1.0, 2.0])
    assert torch.equal(task.hallucinated_factor(outputs, sigma)[:, 0], torch.as_tensor(sigma))
    candidates = task.candidate_factors(outputs, sigma)
    assert candidates.shape == (3, 2, 1) and torch.equal(candidates[:, 0], -candidates[:, 1])
    scores = torch.tensor([[1.0, -1.0], [-2.0, 2.0], [0.0, 0.0]])
    assert torch.equal(task.pick_label(scores, outputs, "argmax"), torch.tensor([1.0, 2.0, 0.0]))  # the better sign
    with pytest.raises(ValueError, match="regression model's hallucinated residual needs"):
        task.hallucinated_factor(outputs)


def test_a_constant_target_over_the_pool_is_a_clear_error() -> None:
    y = np.r_[np.full(20, 3.0), np.linspace(0, 1, 10)]
    ds = data.validate_arrays(np.random.default_rng(0).normal(size=(30, 2)), y, "flat", task="regression")
    with pytest.raises(DatasetError, match="constant over the pool"):
        task_for(ds, np.arange(20))


def test_each_metric_belongs_to_one_task_and_the_primary_metric_is_first() -> None:
    assert primary_metric("classification") == "test_accuracy" and primary_metric("regression") == "test_r2"
    assert "test_accuracy" in foreign_metrics("regression") and "test_r2" in foreign_metrics("classification")
    shared = set(METRICS["classification"]) & set(METRICS["regression"])
    assert shared == {"test_loss", "target_loss"}


@pytest.mark.parametrize("values, option", [
    ({"strategy": "entropy"}, "strategy='entropy'"),
    ({"strategy": "margin"}, "strategy='margin'"),
    ({"strategy": "least_confidence"}, "strategy='least_confidence'"),
    ({"strategy": "bald"}, "strategy='bald'"),
    ({"cold_start_strategy": "entropy"}, "cold_start_strategy='entropy'"),
    ({"target_classes": [0], "target_size": 20}, "target_classes"),
    ({"task": "classification"}, "task='classification'"),
    ({"strategy": "less", "target_size": 20, "strategy_options": {"groups": "class"}}, "groups='class'"),
    ({"strategy": "less", "target_size": 20, "strategy_options": {"label_mode": "argmax"}}, "label_mode='argmax'"),
    ({"strategy": "alignment", "target_size": 20, "strategy_options": {"greedy": True, "params": "last_layer",
                                                                    "label_mode": "argmax", "diverse": False,
                                                                    "normalize_candidates": False}},
     "greedy=True"),
])
def test_options_only_classification_has_are_refused_for_regression_naming_them(values, option) -> None:
    with pytest.raises(ConfigError, match="regression") as err:
        ExperimentConfig(dataset="diabetes", **values)
    assert option in str(err.value)


def test_variance_is_refused_for_classification_and_the_other_way_round() -> None:
    with pytest.raises(ConfigError, match="strategy='variance' is not valid; it works for regression only"):
        ExperimentConfig(dataset="digits", strategy="variance")
    assert ExperimentConfig(dataset="diabetes", strategy="variance").known_task() == "regression"


def test_target_classes_with_no_target_set_are_refused_when_the_config_is_built() -> None:
    with pytest.raises(ConfigError, match="target_size=0 draws none"):
        ExperimentConfig(dataset="digits", target_classes=[3])


def test_a_file_of_whole_star_ratings_runs_as_regression_when_the_config_says_so(tmp_path) -> None:
    from alcore.loop import Experiment

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    stars = np.clip(np.round(2 * X[:, 0] + 3), 1, 5).astype(int)
    path = tmp_path / "stars.csv"
    np.savetxt(path, np.c_[X, stars], delimiter=",", header="a,b,c,stars", comments="", fmt="%g")
    config = ExperimentConfig(dataset="file", dataset_options={"path": str(path)}, task="regression",
                              strategy="random", cycles=1, epochs=2, device="cpu")
    exp = Experiment(config)
    assert exp.task.name == "regression" and exp.task.n_outputs == 1
    auto = Experiment(ExperimentConfig(dataset="file", dataset_options={"path": str(path)}, strategy="random",
                                       cycles=1, epochs=2, device="cpu"))
    assert auto.task.name == "classification"  # whole numbers, 5 values: classes unless told otherwise


def test_an_empty_text_column_is_a_dataset_error_before_anything_runs(tmp_path) -> None:
    from alcore.loop import Experiment

    path = tmp_path / "empty.csv"
    path.write_text("story,rating\n" + "".join(f",{i % 7 + 0.5}\n" for i in range(40)))
    config = ExperimentConfig(dataset="file", dataset_options={"path": str(path), "text_column": "story"},
                              strategy="random", device="cpu")
    with pytest.raises(DatasetError, match="story"):
        Experiment(config)
