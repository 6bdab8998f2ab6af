"""BALD with MC dropout (docs/methods.md#bald): properties B1-B4, dropout-only switch-on, fallbacks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from alcore.models import MLP, ALModel, LogReg
from alcore.strategies import PoolState, get
from alcore.strategies.bald import dropout_only, mc_dropout_bald


class BNDropNet(ALModel):
    """Linear -> BatchNorm -> ReLU -> Dropout -> head: BALD must leave the BatchNorm statistics alone."""

    def __init__(self, d: int, c: int, p: float = 0.5) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(p))
        self.head = nn.Linear(16, c)

    def features(self, x):
        return self.body(x)


def seeded(model_cls, *args, seed=0, **kwargs):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model_cls(*args, **kwargs)


def make_state(model, n=60, d=4, n_classes=3, labeled=(0, 1, 2, 3, 4, 5)) -> PoolState:
    X = torch.as_tensor(np.random.default_rng(0).normal(size=(n, d)), dtype=torch.float32)
    labeled = np.asarray(labeled, dtype=np.int64)
    y = np.arange(n) % n_classes
    return PoolState(X=X, pool_idx=np.setdiff1d(np.arange(n), labeled), labeled_idx=labeled, labeled_y=y[labeled],
                     target_idx=np.zeros(0, np.int64), target_y=np.zeros(0, np.int64), n_classes=n_classes,
                     model=model)


def test_bald_mutual_information_is_non_negative():
    state = make_state(seeded(MLP, 4, 3, hidden=(32,), dropout=0.5))
    sel = get("bald", n_passes=10).select(state, 5, np.random.default_rng(0))
    assert sel.fallback_reason is None
    assert np.all(sel.utilities >= -1e-7)
    assert sel.utilities.max() > 0


def test_bald_is_zero_when_all_passes_agree():
    model = seeded(BNDropNet, 4, 3, p=0.0)  # dropout modules present but p = 0: every pass is the same
    state = make_state(model)
    sel = get("bald", n_passes=5).select(state, 4, np.random.default_rng(0))
    assert np.all(sel.utilities == 0.0)
    assert sel.fallback_reason == "degenerate_scores"
    assert len(np.unique(sel.indices)) == 4


def test_bald_leaves_batchnorm_running_stats_unchanged():
    model = seeded(BNDropNet, 4, 3)
    bn = model.body[1]
    with torch.no_grad():  # non-trivial running statistics, as after training
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    model.train()  # BALD must restore the caller's flags too
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    get("bald", n_passes=8).select(make_state(model), 5, np.random.default_rng(0))
    for key, value in bn.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(m.training for m in model.modules())


def test_dropout_only_switches_on_dropout_and_nothing_else():
    model = seeded(BNDropNet, 4, 3)
    model.train()
    with dropout_only(model):
        for m in model.modules():
            assert m.training == isinstance(m, nn.Dropout)
    assert all(m.training for m in model.modules())


def test_bald_is_deterministic_for_a_seed_and_varies_with_it():
    state = make_state(seeded(MLP, 4, 3, hidden=(32,), dropout=0.5))
    a = get("bald", n_passes=6).select(state, 5, np.random.default_rng(3))
    b = get("bald", n_passes=6).select(state, 5, np.random.default_rng(3))
    c = get("bald", n_passes=6).select(state, 5, np.random.default_rng(4))
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.utilities, b.utilities)
    assert not np.array_equal(a.utilities, c.utilities)


def test_bald_leaves_the_global_rng_untouched():
    state = make_state(seeded(MLP, 4, 3, hidden=(32,), dropout=0.5))
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    get("bald", n_passes=3).select(state, 5, np.random.default_rng(0))
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)


def test_bald_online_accumulation_equals_the_explicit_formula():
    model = seeded(MLP, 4, 3, hidden=(32,), dropout=0.5)
    X = torch.as_tensor(np.random.default_rng(1).normal(size=(30, 4)), dtype=torch.float32)
    u = mc_dropout_bald(model, X, n_passes=7, seed=123, batch_size=1000)
    with torch.random.fork_rng(devices=[]), dropout_only(model), torch.no_grad():
        torch.manual_seed(123)
        P = torch.stack([torch.softmax(model(X).double(), dim=1) for _ in range(7)])  # (T, n, C)
    H = lambda p: -(p * torch.log(p)).sum(-1)  # noqa: E731 - no p is exactly 0 here
    explicit = (H(P.mean(0)) - H(P).mean(0)).numpy()
    np.testing.assert_allclose(u, np.where(explicit < 1e-12, 0, explicit), rtol=1e-10, atol=1e-12)


def test_bald_without_dropout_falls_back_clearly():
    state = make_state(seeded(LogReg, 4, 3))
    sel = get("bald").select(state, 6, np.random.default_rng(0))
    assert sel.fallback_reason == "degenerate_scores"
    assert sel.diagnostics["no_dropout"] is True
    assert "dropout" in sel.diagnostics["message"]
    assert len(np.unique(sel.indices)) == 6 and np.isin(sel.indices, state.pool_idx).all()


@pytest.mark.parametrize("labeled, reason", [((), "cold_start"), ((0, 3, 6), "single_class")])
def test_bald_falls_back_before_the_model_can_be_trusted(labeled, reason):
    state = make_state(seeded(MLP, 4, 3, dropout=0.5), labeled=labeled)
    sel = get("bald").select(state, 5, np.random.default_rng(0))
    assert sel.fallback_reason == reason
    assert len(np.unique(sel.indices)) == 5 and not np.isin(sel.indices, state.labeled_idx).any()


def test_bald_rejects_invalid_pass_counts():
    with pytest.raises(ValueError, match="n_passes"):
        get("bald", n_passes=0)
