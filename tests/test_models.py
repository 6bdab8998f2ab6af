"""Models expose features h(x) and a linear head, on 8x8 digits and 28x28 images alike."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from alcore.config import ConfigError
from alcore.loop import Experiment
from alcore.models import ALModel, build_model, predict

SHAPES = {"digits": (8, 8), "mnist": (28, 28)}


def _expected_feature_dim(name: str, n_features: int) -> int:
    return {"logreg": n_features, "mlp": 128, "cnn": 128}[name]  # the defaults: hidden=(128,), hidden=128


@pytest.mark.parametrize("image", sorted(SHAPES))
@pytest.mark.parametrize("name", ["logreg", "mlp", "cnn"])
def test_features_and_head_shapes_on_flattened_images(name, image):
    shape = SHAPES[image]
    n_features, n_classes, n = int(np.prod(shape)), 10, 5
    model = build_model(name, n_features, n_classes, sample_shape=shape, seed=0).eval()  # eval: dropout off
    assert isinstance(model, ALModel) and isinstance(model.head, torch.nn.Linear)
    x = torch.rand(n, n_features)
    h = model.features(x)
    d = _expected_feature_dim(name, n_features)
    assert h.shape == (n, d)
    assert (model.head.in_features, model.head.out_features) == (d, n_classes)
    logits = model(x)
    assert logits.shape == (n, n_classes)
    torch.testing.assert_close(logits, model.head(h))


@pytest.mark.parametrize("name", ["logreg", "mlp", "cnn"])
def test_predict_returns_logits_and_features_in_batches_and_restores_the_mode(name):
    model = build_model(name, 64, 10, sample_shape=(8, 8), seed=0).train()
    x = torch.rand(37, 64)
    logits, h = predict(model, x, batch_size=8)
    assert logits.shape == (37, 10) and h.shape[0] == 37
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(logits, model(x))
    model.train()
    predict(model, x)
    assert model.training


def test_predict_on_no_rows_gives_empty_arrays_of_the_right_width():
    model = build_model("mlp", 4, 3, seed=0)
    logits, h = predict(model, torch.zeros(0, 4))
    assert logits.shape == (0, 3) and h.shape == (0, 128)


def test_model_options_set_the_feature_width():
    model = build_model("mlp", 2, 2, hidden=[32, 8], dropout=0.0)
    assert model.features(torch.zeros(3, 2)).shape == (3, 8)
    assert not model.has_dropout
    assert build_model("mlp", 2, 2, dropout=0.5).has_dropout


def test_same_seed_same_weights_and_the_global_rng_is_untouched():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = build_model("cnn", 64, 10, sample_shape=(8, 8), seed=5)
    b = build_model("cnn", 64, 10, sample_shape=(8, 8), seed=5)
    c = build_model("cnn", 64, 10, sample_shape=(8, 8), seed=6)
    assert torch.equal(torch.random.get_rng_state(), before)
    for (name, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_cnn_on_tabular_data_says_it_needs_images():
    with pytest.raises(ValueError, match="cnn.*image-shaped"):
        build_model("cnn", 2, 2, sample_shape=(2,))


def test_cnn_on_a_tabular_dataset_fails_when_the_experiment_is_built(fast_config, tmp_path):
    """The error comes at once, before a run folder is made, not at the first Step."""
    cfg = fast_config(model="cnn", model_options={})
    with pytest.raises(ValueError, match="cnn.*image-shaped"):
        Experiment(cfg, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_bad_model_options_fail_when_the_experiment_is_built(fast_config):
    with pytest.raises(ValueError, match="model_options.width=3 is not valid; model 'mlp' has no such option"):
        Experiment(fast_config(model_options={"width": 3}))


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(ValueError, match=r"\['logreg', 'mlp', 'cnn'\]"):
        build_model("rnn", 2, 2)
    assert issubclass(ConfigError, ValueError)
