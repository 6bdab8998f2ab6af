"""Properties of the gradient kernels (docs/methods.md#gradient-kernels): K1-K4, A1-A3."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from alcore import gradients as G
from alcore.models import CNN, MLP, LogReg


def _factors(n=30, C=4, d=7, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, C)) * 2
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return G.gradient_factors(p, rng.standard_normal((n, d)))


def _loop_gradients(model, X, y):
    """Reference: one backward pass per sample."""
    model.eval()
    rows = []
    for i in range(len(X)):
        model.zero_grad()
        F.cross_entropy(model(X[i:i + 1]), y[i:i + 1]).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    return torch.stack(rows)


# --- K1: factorised forms equal the materialised embeddings (norms and distances: tests/test_distances.py) ---------
@pytest.mark.parametrize("bias", [False, True])
def test_K1_bilinear_scores_equal_explicit(bias):
    a, h = _factors()
    if bias:
        h = G.with_bias(h)
    g = G.outer_embeddings(a, h)
    M = np.random.default_rng(2).standard_normal((a.shape[1], h.shape[1]))
    assert np.abs(G.bilinear_scores(a, h, M) - g @ M.reshape(-1)).max() < 1e-10
    at, ht, Mt = torch.from_numpy(a), torch.from_numpy(h), torch.from_numpy(M)
    assert torch.allclose(G.bilinear_scores(at, ht, Mt), torch.from_numpy(G.bilinear_scores(a, h, M)), atol=1e-12)


def test_gradient_factors_use_lowest_index_on_argmax_ties():
    p = np.array([[0.5, 0.5], [0.2, 0.8]])
    a, _ = G.gradient_factors(p, np.ones((2, 1)))
    assert np.allclose(a, [[-0.5, 0.5], [0.2, -0.2]])


# --- K2: vmap(grad) equals a loop of backward passes ---------------------------------------------------------------
@pytest.mark.parametrize("kind", ["logreg", "mlp", "cnn"])
def test_K2_vmap_rows_equal_per_sample_backward(kind):
    torch.manual_seed(0)
    model = {"logreg": lambda: LogReg(64, 5), "mlp": lambda: MLP(64, 5, hidden=(16, 8), dropout=0.5),
             "cnn": lambda: CNN((8, 8), 5, channels=(2, 3), hidden=6, dropout=0.5)}[kind]()
    X, y = torch.randn(9, 64), torch.randint(0, 5, (9,))
    ref = _loop_gradients(model, X, y)
    got = G.per_sample_gradients(model, X, y, method="vmap")
    assert torch.allclose(got, ref, rtol=1e-5, atol=1e-7)


def test_K2_rows_do_not_depend_on_chunk_size_or_batching():
    torch.manual_seed(1)
    model = MLP(10, 3, hidden=(12,))
    X, y = torch.randn(23, 10), torch.randint(0, 3, (23,))
    full = G.per_sample_gradients(model, X, y, chunk_size=512)
    for cs in (1, 4, 7):
        assert torch.allclose(G.per_sample_gradients(model, X, y, chunk_size=cs), full, rtol=1e-5, atol=1e-7)
    part = G.per_sample_gradients(model, X[5:12], y[5:12])
    assert torch.allclose(part, full[5:12], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind, params, chunk", [("mlp", "all", None), ("cnn", "all", 3), ("mlp", "last_layer", 2)])
def test_every_labels_gradient_from_one_jacobian_equals_a_backward_pass_per_label(kind, params, chunk):
    torch.manual_seed(6)
    model = {"mlp": lambda: MLP(64, 4, hidden=(10,), dropout=0.5),
             "cnn": lambda: CNN((8, 8), 4, channels=(2, 3), hidden=5, dropout=0.5)}[kind]()
    X = torch.randn(7, 64)
    blocks = list(G.iter_label_gradients(model, X, params, chunk_size=chunk))
    probs, got = torch.cat([b[0] for b in blocks]), torch.cat([b[1] for b in blocks])
    assert got.shape == (7, 4, G.n_params(model, G.param_names(model, params)))
    assert torch.allclose(probs, torch.softmax(model.eval()(X), 1), atol=1e-6)
    for y in range(4):
        want = G.per_sample_gradients(model, X, torch.full((7,), y), params, method="vmap")
        assert torch.allclose(got[:, y], want, rtol=1e-4, atol=1e-6)


def test_last_layer_closed_form_equals_vmap_in_named_parameter_order():
    torch.manual_seed(2)
    model = MLP(10, 4, hidden=(6,))
    X, y = torch.randn(15, 10), torch.randint(0, 4, (15,))
    assert G.param_names(model, "last_layer") == ["head.weight", "head.bias"]
    closed = G.per_sample_gradients(model, X, y, "last_layer", method="closed_form")
    vmapped = G.per_sample_gradients(model, X, y, "last_layer", method="vmap")
    assert closed.shape == (15, 4 * 6 + 4)
    assert torch.allclose(closed, vmapped, atol=1e-6)


def test_param_names_follow_module_order_and_skip_frozen():
    model = MLP(5, 3, hidden=(4,))
    assert G.param_names(model) == [n for n, _ in model.named_parameters()]
    model.body[0].weight.requires_grad_(False)
    assert "body.0.weight" not in G.param_names(model)
    assert G.param_names(model, ["head.bias", "body.0.bias"]) == ["body.0.bias", "head.bias"]
    with pytest.raises(ValueError, match="params"):
        G.param_names(model, "everything")


def test_per_sample_gradients_exclude_nothing_but_regularisation_and_leave_model_mode():
    model = MLP(5, 3, hidden=(4,), dropout=0.5).train()
    X, y = torch.randn(4, 5), torch.randint(0, 3, (4,))
    a = G.per_sample_gradients(model, X, y)
    b = G.per_sample_gradients(model, X, y)
    assert torch.equal(a, b)  # eval mode inside: dropout off, so repeatable
    assert model.training


# --- K3: one JVP equals the inner products of per-sample gradients ---------------------------------------------------
def test_K3_jvp_scores_equal_vmap_inner_products_and_ignore_batch_size():
    torch.manual_seed(3)
    model = MLP(8, 4, hidden=(10, 6), dropout=0.2)
    X, XT, yT = torch.randn(40, 8), torch.randn(12, 8), torch.randint(0, 4, (12,))
    direction = G.mean_loss_gradient(model, XT, yT)
    names = G.param_names(model)
    yhat = model.eval()(X).argmax(1)
    explicit = G.per_sample_gradients(model, X, yhat) @ G.flatten(direction, names)
    for bs in (40, 7, 1):
        s = G.jvp_scores(model, X, direction, batch_size=bs)
        assert torch.allclose(s, explicit, rtol=1e-4, atol=1e-6)


def test_mean_loss_gradient_matches_autograd_and_batches():
    torch.manual_seed(4)
    model = MLP(6, 3, hidden=(5,))
    X, y = torch.randn(20, 6), torch.randint(0, 3, (20,))
    model.zero_grad()
    F.cross_entropy(model.eval()(X), y).backward()
    for bs in (20, 6):
        g = G.mean_loss_gradient(model, X, y, batch_size=bs)
        for name, p in model.named_parameters():
            assert torch.allclose(g[name], p.grad, atol=1e-6)


# --- K4: random projection ---------------------------------------------------------------------------------------
def test_K4a_same_seed_same_matrix_blockwise_and_on_every_device():
    proj = G.RademacherProjection(700, 300, seed=5, block_size=128)
    R = proj.matrix()
    assert R.shape == (700, 300)
    assert torch.equal(R, G.RademacherProjection(700, 300, seed=5, block_size=128).matrix())
    assert torch.equal(R[:, 256:], proj.block(2))  # block b is seeded alone: same columns however it is built
    assert set(torch.unique(R * np.sqrt(300)).tolist()) == {-1.0, 1.0}
    assert not torch.equal(R, G.RademacherProjection(700, 300, seed=6).matrix())
    if torch.cuda.is_available():
        R_gpu = G.RademacherProjection(700, 300, seed=5, device="cuda").matrix()
        assert torch.equal(R_gpu.cpu(), R)


def test_K4_identity_when_projection_would_not_reduce():
    proj = G.RademacherProjection(50, 64, seed=0)
    X = torch.randn(3, 50)
    assert proj.identity and proj.dim == 50
    assert torch.equal(proj(X), X)


def test_K4b_inner_products_preserved_within_jl_bounds():
    rng = np.random.default_rng(0)
    P, k, pairs = 3000, 1024, 1000
    u = rng.standard_normal((pairs, P))
    v = rng.standard_normal((pairs, P))
    rho = rng.uniform(-1, 1, pairs)[:, None]  # a spread of true inner products
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v -= (v * u).sum(1, keepdims=True) * u
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    v = rho * u + np.sqrt(1 - rho ** 2) * v
    proj = G.RademacherProjection(P, k, seed=1)
    Ru = proj(torch.from_numpy(u)).double().numpy()
    Rv = proj(torch.from_numpy(v)).double().numpy()
    err = (Ru * Rv).sum(1) - rho[:, 0]
    assert np.mean(np.abs(err) > 4 / np.sqrt(k)) < 0.01
    assert abs(err.mean()) < 4 * np.sqrt(2 / k) / np.sqrt(pairs)  # unbiased
    expected_sd = np.sqrt(np.mean(1 + rho[:, 0] ** 2) / k)
    assert 0.8 < err.std() / expected_sd < 1.2


def test_K4c_projection_is_linear():
    proj = G.RademacherProjection(500, 64, seed=2, block_size=16)
    g1, g2 = torch.randn(2, 500, dtype=torch.float64)
    lhs = proj((2.5 * g1 - 0.5 * g2)[None])
    rhs = 2.5 * proj(g1[None]) - 0.5 * proj(g2[None])
    assert torch.allclose(lhs, rhs, atol=1e-4)


def _ranks(x):
    return np.argsort(np.argsort(x))


def test_K4d_mixing_seeds_between_pool_and_target_destroys_the_scores():
    rng = np.random.default_rng(3)
    P, k = 2000, 256
    target = torch.from_numpy(rng.standard_normal((1, P)))
    # pool gradients with a spread of true cosines to the target, so the same-seed scores keep their ranking
    pool = torch.from_numpy(rng.uniform(-1, 1, (400, 1)) * target.numpy() + 0.5 * rng.standard_normal((400, P)))
    true = (pool @ target.T)[:, 0].numpy()
    same = G.RademacherProjection(P, k, seed=0)
    other = G.RademacherProjection(P, k, seed=1)
    good = (same(pool) @ same(target).T)[:, 0].double().numpy()
    mixed = (same(pool) @ other(target).T)[:, 0].double().numpy()
    assert np.corrcoef(_ranks(true), _ranks(good))[0, 1] > 0.8
    assert abs(np.corrcoef(_ranks(true), _ranks(mixed))[0, 1]) < 0.2


# --- A1-A3: Adam preconditioning ----------------------------------------------------------------------------------
def _cos(X, Y):
    return (G.normalize_rows(X) @ G.normalize_rows(Y).T).numpy()


@pytest.mark.parametrize("mode", ["less_code", "paper", "frozen"])
def test_A1_zero_momentum_and_constant_second_moment_give_sgd_cosines(mode):
    torch.manual_seed(0)
    Gp, Gt = torch.randn(20, 30, dtype=torch.float64), torch.randn(5, 30, dtype=torch.float64)
    m, v = torch.zeros(30, dtype=torch.float64), torch.full((30,), 0.37, dtype=torch.float64)
    feats = G.adam_features(Gp, m, v, mode, betas=(0.9, 1.0), eps=1e-8, step=17)
    assert np.abs(_cos(feats, Gt) - _cos(Gp, Gt)).max() < 1e-12


def test_A1_frozen_mode_needs_only_constant_second_moment():
    torch.manual_seed(1)
    Gp, Gt = torch.randn(20, 30, dtype=torch.float64), torch.randn(5, 30, dtype=torch.float64)
    m, v = torch.randn(30, dtype=torch.float64), torch.full((30,), 2.0, dtype=torch.float64)
    feats = G.adam_features(Gp, m, v, "frozen", betas=(0.9, 0.999), step=40)
    assert np.abs(_cos(feats, Gt) - _cos(Gp, Gt)).max() < 1e-12


def test_A2_paper_mode_at_first_step_is_the_sign_gradient():
    g = torch.tensor([[0.5, -2.0, 1e-2, -3e-1]], dtype=torch.float64)
    zero = torch.zeros(4, dtype=torch.float64)
    feats = G.adam_features(g, zero, zero, "paper", step=0)
    assert torch.allclose(feats, torch.sign(g), rtol=1e-6)


def test_A2_less_code_cold_start_regimes():
    zero = torch.zeros(2, dtype=torch.float64)
    g = torch.tensor([[1.0, 1e-6]], dtype=torch.float64)
    feats = G.adam_features(g, zero, zero, "less_code")
    assert abs(feats[0, 0] - 3.162) < 1e-3  # 0.1 / sqrt(0.001) for |g| >> 3e-3
    assert abs(feats[0, 1] / 1e-6 - 1000) < 1  # ~1000 g for |g| << 3e-3: eps inside the root dominates


def test_A3_paper_mode_without_eps_is_scale_invariant():
    torch.manual_seed(2)
    g, m = torch.randn(6, 9, dtype=torch.float64), torch.randn(9, dtype=torch.float64)
    v = torch.rand(9, dtype=torch.float64) + 0.1
    f1 = G.adam_features(g, m, v, "paper", eps=0.0, step=3)
    f2 = G.adam_features(3.0 * g, 3.0 * m, 9.0 * v, "paper", eps=0.0, step=3)
    assert torch.allclose(f1, f2, rtol=1e-12)


def test_adam_mode_is_validated():
    with pytest.raises(ValueError, match="adam_mode"):
        G.adam_features(torch.zeros(1, 2), torch.zeros(2), torch.zeros(2), "nadam")
