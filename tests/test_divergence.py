"""A run whose training diverges says so on its record and in its manifest, stops cleanly, and its map draws every
finite frame (issue 14, item 3)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from alcore import export
from alcore.constants import DIVERGED_LOSS_FACTOR
from alcore.loop import Experiment
from alcore.models import build_model
from alcore.store import RunStore
from alcore.train import TrainSettings, diverged_loss, train_model


@settings(max_examples=200, deadline=None)
@given(first=st.floats(1e-4, 50.0), later=st.lists(st.floats(0.0, 1e6), min_size=0, max_size=5))
def test_a_loss_diverged_exactly_when_it_is_not_finite_or_far_above_the_first_epochs(first, later):
    losses = [first, *later]
    expected = losses[-1] > DIVERGED_LOSS_FACTOR * max(1.0, first)
    assert diverged_loss(losses) is bool(expected)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_loss_is_divergence_whatever_came_before(bad):
    assert diverged_loss([2.3, 1.0, bad])
    assert diverged_loss([bad])


def test_training_stops_at_the_epoch_whose_loss_is_nan():
    model = build_model("mlp", 4, 3, (4,), seed=0, hidden=[8], dropout=0.0)
    X = torch.full((12, 4), float("nan"))
    y = torch.arange(12) % 3
    result = train_model(model, X, y, TrainSettings(epochs=20, batch_size=4), seed=0)
    assert result.diverged and result.diverged_epoch == 1
    assert len(result.loss_history) == 1 and math.isnan(result.loss_history[0])


def test_sensible_training_never_counts_as_diverged(fast_config, digits_config):
    for config in (fast_config(initial_labels=20, cycles=2), digits_config(initial_labels=40, cycles=1)):
        records = Experiment(config).run()
        assert not any(r.diverged for r in records)
        assert records[-1].is_final and len(records) == config.cycles + 1


def test_a_diverged_run_ends_with_a_record_and_a_manifest_that_say_so(fast_config, tmp_path):
    run_dir = tmp_path / "run"
    with Experiment(fast_config(lr=10.0, cycles=3), run_dir=run_dir) as exp:  # cold start: cycle 0 trains nothing
        records = exp.run()
    assert [r.cycle for r in records] == [0, 1], "no cycle runs after the one that diverged"
    last = records[-1]
    assert last.diverged and last.is_final and not len(last.selected)
    assert math.isnan(last.test_accuracy), "a diverged model's accuracy means nothing"
    message = last.diagnostics["diverged"]
    assert message.startswith("training diverged at cycle 1: lower the learning rate (it is 10)")
    manifest = RunStore(run_dir).manifest()
    assert manifest["status"] == "diverged" and manifest["error"] == message
    assert RunStore(run_dir).is_finished()
    stored = RunStore(run_dir).load_records()
    assert stored[-1].diverged and stored[-1].diagnostics["diverged"] == message
    with Experiment.resume(run_dir) as again:
        assert again.run() == [], "resuming a diverged run runs nothing"
    assert RunStore(run_dir).manifest()["status"] == "diverged"


def test_the_map_of_a_diverged_run_draws_every_finite_frame(digits_config, tmp_path):
    run_dir = tmp_path / "run"
    with Experiment(digits_config(lr=10.0, cycles=3), run_dir=run_dir) as exp:
        exp.run()
    frames = export.run_frames_table(run_dir)
    assert sorted(frames["cycle"].unique()) == [0]
    assert np.isfinite(frames[["x", "y"]].to_numpy()).all()


def test_a_sweep_reports_a_diverged_run_and_skips_it_when_run_again(fast_config, tmp_path):
    from alcore.run_group import GroupRun
    from alcore.sweep.job import run_job

    config = fast_config(lr=10.0, cycles=3).to_dict()
    job = GroupRun(strategy=config["strategy"], seed=0, config=config, run_dir=tmp_path / "job")
    first = run_job(job)
    assert first["status"] == "diverged" and "lower the learning rate" in first["error"]
    assert run_job(job)["status"] == "skipped"
