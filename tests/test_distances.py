"""alcore.distances: factorised gradient-space forms equal the materialised embeddings, Euclidean distances equal
the explicit differences, and the one duplicate rule puts exact duplicates at distance exactly 0 in every form."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from alcore import distances
from alcore import gradients as G


def _factors(n=30, C=4, d=7, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, C)) * 2
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return G.gradient_factors(p, rng.standard_normal((n, d)))


@pytest.mark.parametrize("bias", [False, True])
def test_factorised_norms_gram_distances_cosines_equal_the_materialised_embeddings(bias):
    a, h = _factors()
    a2, h2 = _factors(n=11, seed=1)
    if bias:
        h, h2 = G.with_bias(h), G.with_bias(h2)
    g, g2 = G.outer_embeddings(a, h), G.outer_embeddings(a2, h2)
    explicit = ((g[:, None, :] - g2[None, :, :]) ** 2).sum(-1)
    assert np.abs(distances.sq_norms(a, h) - (g * g).sum(1)).max() < 1e-10
    assert np.abs(distances.gram(a, h, a2, h2) - g @ g2.T).max() < 1e-10
    assert np.abs(distances.gradient_sq_distances(a, h, a2, h2) - explicit).max() < 1e-10
    assert np.all(distances.gradient_sq_distances(a, h).diagonal() == 0)
    cos = (g @ g2.T) / np.linalg.norm(g, axis=1)[:, None] / np.linalg.norm(g2, axis=1)[None, :]
    assert np.abs(distances.cosine_similarities(a, h, a2, h2) - cos).max() < 1e-10


def test_euclidean_distances_equal_the_explicit_differences_and_the_chunked_minimum_agrees():
    rng = np.random.default_rng(3)
    P, Q = rng.normal(size=(40, 5)), rng.normal(size=(23, 5))
    explicit = ((P[:, None, :] - Q[None, :, :]) ** 2).sum(-1)
    assert np.abs(distances.sq_distances(P, Q) - explicit).max() < 1e-10
    assert np.abs(distances.sq_distances_to_row(P, Q[4]) - explicit[:, 4]).max() < 1e-12
    np.testing.assert_allclose(distances.min_sq_distances(P, Q, chunk_entries=7), explicit.min(axis=1), rtol=1e-12)
    assert np.isinf(distances.min_sq_distances(P, Q[:0])).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_duplicates_are_at_distance_zero_in_every_form(dtype):
    rng = np.random.default_rng(5)
    a, h = _factors(n=50, C=10, d=64, seed=5)
    a, h = a.astype(dtype), (np.abs(h) * rng.uniform(1, 30, size=(50, 1))).astype(dtype)
    a[7], h[7] = a[3], h[3]
    D2 = distances.gradient_sq_distances(a, h)
    assert D2.dtype == dtype
    assert D2[3, 7] == 0 and D2[7, 3] == 0 and (D2 >= 0).all()
    to_centre = distances.DistancesToCentre(a, h)
    column = to_centre(3)
    assert column[7] == 0 and column[3] == 0 and (column >= 0).all()
    assert np.all(np.isclose(column, D2[:, 3], rtol=1e-4 if dtype == np.float32 else 1e-10, atol=0))
    X = h.astype(np.float64)
    E2 = distances.sq_distances(X)
    assert E2[3, 7] == 0 and np.all(np.diagonal(E2) == 0) and (E2 >= 0).all()


def test_the_rule_zeroes_only_rounding_noise():
    # two points a relative 1e-4 apart (squared: 1e-8, far above float64 noise) keep their distance
    x = np.array([[1.0, 2.0, 3.0]])
    y = x * (1 + 1e-4)
    assert distances.sq_distances(x, y)[0, 0] == pytest.approx(((y - x) ** 2).sum(), rel=1e-6)
    assert distances.noise_floor(np.float64) == 64 * np.finfo(np.float64).eps
    assert distances.noise_floor(torch.float32) == 64 * torch.finfo(torch.float32).eps


def test_cpu_tensors_give_the_numpy_results():
    a, h = _factors()
    at, ht = torch.from_numpy(a), torch.from_numpy(h)
    np.testing.assert_array_equal(distances.gradient_sq_distances(at, ht), distances.gradient_sq_distances(a, h))
    np.testing.assert_array_equal(distances.cosine_similarities(at, ht), distances.cosine_similarities(a, h))
    assert torch.allclose(distances.sq_norms(at, ht), torch.from_numpy(distances.sq_norms(a, h)), atol=1e-12)
    unit = distances.normalize_rows(torch.cat([at, torch.zeros(1, at.shape[1], dtype=at.dtype)]))
    assert torch.allclose(torch.linalg.vector_norm(unit[:-1], dim=1), torch.ones(len(at), dtype=at.dtype))
    assert torch.all(unit[-1] == 0)
