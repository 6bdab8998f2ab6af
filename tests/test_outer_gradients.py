"""Linear layers' per-sample gradients as outer products (alcore.gradients.outer) against the materialised ones."""
from __future__ import annotations

import pytest
import torch

from alcore.distances import normalize_rows
from alcore.gradients import adam_features, iter_label_gradients, param_names
from alcore.gradients.outer import feature_cosines, label_factors, linear_layers
from alcore.models import build_model


def _model(hidden=(7, 5), seed=0):
    return build_model("mlp", 6, 4, seed=seed, hidden=hidden, dropout=0.0)


def test_linear_layers_accepts_weights_with_or_without_biases_and_nothing_else():
    model = _model()
    assert len(linear_layers(model, param_names(model, "all"))) == 3
    assert linear_layers(model, ["head.weight"]) == [(model.head, False)]
    assert linear_layers(model, ["head.bias"]) is None
    cnn = build_model("cnn", 64, 3, sample_shape=(8, 8))
    assert linear_layers(cnn, param_names(cnn, "all")) is None


@pytest.mark.parametrize("gtype, mode", [("sgd", None), ("sign", None), ("adam", "less_code"), ("adam", "paper"),
                                         ("adam", "frozen")])
def test_feature_cosines_equal_the_materialised_features(gtype, mode):
    torch.manual_seed(0)
    model = _model().eval()
    names = param_names(model, "all")
    P = sum(p.numel() for p in model.parameters())
    X = torch.randn(9, 6)
    psi = torch.randn(2, P)
    m, v = torch.randn(P) * 0.01, torch.rand(P) * 1e-4
    layers = linear_layers(model, names)
    probs, factors = label_factors(model, layers, X)
    adam = dict(adam_mode=mode, moments=(m, v), betas=(0.9, 0.999), eps=1e-8, step=7) if gtype == "adam" else {}
    fast = feature_cosines(factors, psi, gtype, layers=layers, **adam)  # (rows, C, groups)
    (p_ref, G), = list(iter_label_gradients(model, X, names))
    G = G.reshape(-1, P)
    if gtype == "adam":
        G = adam_features(G, m, v, mode, (0.9, 0.999), 1e-8, 7)
    elif gtype == "sign":
        G = torch.sign(G)
    ref = (normalize_rows(G) @ psi.T).reshape(9, 4, 2)
    assert torch.allclose(probs, p_ref)
    assert torch.allclose(fast.float(), ref, atol=2e-5)


def test_label_factors_for_given_labels_pick_those_rows():
    model = _model().eval()
    layers = linear_layers(model, param_names(model, "all"))
    X = torch.randn(5, 6)
    labels = torch.tensor([0, 3, 1, 1, 2])
    _, every = label_factors(model, layers, X)
    _, given = label_factors(model, layers, X, labels)
    for e, g in zip(every, given):
        assert torch.allclose(g.delta[:, 0], e.delta[torch.arange(5), labels], atol=1e-6)
