"""Training lowers the loss, is seeded without touching global RNG, and trains nothing on zero labels."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from alcore import data
from alcore.models import build_model
from alcore.train import (TrainSettings, checkpoint_epochs, load_state_arrays, state_arrays, train_model)


@pytest.fixture(scope="module")
def moons():
    ds = data.load("moons", n_samples=200)
    X = torch.from_numpy(data.standardize(ds.X, np.arange(len(ds.y))))
    return X, torch.as_tensor(ds.y, dtype=torch.long)


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("optimizer, lr", [("adam", 1e-2), ("sgd", 5e-2)])
@pytest.mark.parametrize("name", ["logreg", "mlp"])
def test_training_lowers_the_loss(moons, name, optimizer, lr):
    X, y = moons
    model = build_model(name, 2, 2, seed=0)
    result = train_model(model, X, y, TrainSettings(epochs=30, lr=lr, optimizer=optimizer, batch_size=32), seed=0)
    loss = result.loss_history
    assert result.trained and len(loss) == 30 and np.isfinite(loss).all()
    assert loss[-1] < 0.7 * loss[0]
    assert loss[-5:].mean() < loss[:5].mean()
    with torch.no_grad():  # the reported loss is the model's loss, not an artefact of the bookkeeping
        final = torch.nn.functional.cross_entropy(model.eval()(X), y).item()
    assert final < loss[0]


def test_training_the_cnn_on_digits_lowers_the_loss():
    ds = data.load("digits")
    idx = np.arange(200)
    X = torch.from_numpy(ds.X[idx])
    y = torch.as_tensor(ds.y[idx])
    model = build_model("cnn", 64, 10, sample_shape=(8, 8), seed=0)
    loss = train_model(model, X, y, TrainSettings(epochs=8, lr=3e-3, batch_size=64), seed=0).loss_history
    assert loss[-1] < 0.8 * loss[0]


def test_zero_labels_train_nothing(moons):
    X, _ = moons
    model = build_model("mlp", 2, 2, seed=0)
    before = _params(model)
    result = train_model(model, X[:0], torch.zeros(0, dtype=torch.long), TrainSettings(epochs=5), seed=0)
    assert not result.trained and result.loss_history.shape == (0,) and result.checkpoints == []
    for name, value in _params(model).items():
        assert torch.equal(value, before[name]), name


def test_same_seed_same_weights_and_global_rng_untouched(moons):
    X, y = moons
    settings = TrainSettings(epochs=4, batch_size=16)
    torch.manual_seed(99)
    global_state = torch.random.get_rng_state()
    a, b, c = (build_model("mlp", 2, 2, seed=0) for _ in range(3))
    ra = train_model(a, X, y, settings, seed=1)
    rb = train_model(b, X, y, settings, seed=1)
    rc = train_model(c, X, y, settings, seed=2)
    assert torch.equal(torch.random.get_rng_state(), global_state)
    np.testing.assert_array_equal(ra.loss_history, rb.loss_history)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not np.array_equal(ra.loss_history, rc.loss_history)  # the seed orders the mini-batches


def test_checkpoints_hold_params_and_adam_moments_at_the_chosen_epochs(moons):
    X, y = moons
    model = build_model("mlp", 2, 2, seed=0)
    result = train_model(model, X, y, TrainSettings(epochs=8, n_checkpoints=4, lr=2e-3), seed=0)
    assert [c.epoch for c in result.checkpoints] == checkpoint_epochs(8, 4) == [2, 4, 6, 8]
    last = result.checkpoints[-1]
    names = {k for k, _ in model.named_parameters()}
    assert set(last.params) == set(last.exp_avg) == set(last.exp_avg_sq) == names
    assert last.step == 8 * int(np.ceil(len(y) / 64)) and last.mean_lr == 2e-3
    for k, p in model.named_parameters():
        assert torch.equal(last.params[k], p.detach())
    sgd = train_model(build_model("mlp", 2, 2), X, y, TrainSettings(epochs=2, optimizer="sgd"), seed=0)
    assert sgd.checkpoints[-1].exp_avg == {} and sgd.optimizer == "sgd"


@pytest.mark.parametrize("epochs, n", [(1, 4), (3, 4), (10, 1), (100, 4), (7, 3)])
def test_checkpoint_epochs_are_distinct_and_end_at_the_last_epoch(epochs, n):
    got = checkpoint_epochs(epochs, n)
    assert got[-1] == epochs and len(got) == min(n, epochs) == len(set(got)) and got == sorted(got)
    assert all(1 <= e <= epochs for e in got)


def test_state_arrays_round_trip_through_npz_without_pickle(tmp_path):
    model = build_model("cnn", 64, 10, sample_shape=(8, 8), seed=3)
    np.savez(tmp_path / "w.npz", **state_arrays(model))
    with np.load(tmp_path / "w.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    other = build_model("cnn", 64, 10, sample_shape=(8, 8), seed=4)
    load_state_arrays(other, arrays)
    for (name, pa), pb in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(pa, pb), name
