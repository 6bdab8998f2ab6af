"""BALD with MC dropout (docs/methods.md#bald; Houlsby et al. 2011, Gal et al. 2017).

``u(x) = H[mean_t p_t(x)] - mean_t H[p_t(x)]``: the mutual information between the prediction and the weights,
estimated from ``T`` stochastic forward passes with only the dropout modules switched on.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch import nn

from alcore import seeding
from alcore.models import ALModel, dropout_generator
from alcore.strategies.base import PoolState, Selection, Strategy, top_k

NO_DROPOUT_MESSAGE = ("the model has no nn.Dropout module, so MC-dropout BALD scores are all 0; "
                      "the batch is a uniformly random pick (set a dropout rate in the model options)")


@contextlib.contextmanager
def dropout_only(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode everywhere except the ``nn.Dropout*`` modules (docs/methods.md#bald): BatchNorm keeps its running
    statistics.

    The references call ``model.train()`` on the whole net, which also switches BatchNorm to batch statistics and
    updates its running averages; the original train/eval flags are restored on exit.
    """
    flags = {m: m.training for m in model.modules()}
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.train()
    try:
        yield model
    finally:
        for m, flag in flags.items():
            m.train(flag)


def _entropy(log_p: torch.Tensor) -> torch.Tensor:
    """Row entropies from log-probabilities, 0·log 0 = 0 (docs/methods.md#class-set)."""
    return -(log_p.exp() * torch.nan_to_num(log_p, neginf=0.0)).sum(dim=1)


@torch.no_grad()
def dropout_passes(model: ALModel, X: torch.Tensor, n_passes: int, seed: int, device: torch.device | str = "cpu",
                   batch_size: int = 8192) -> Iterator[tuple[slice, torch.Tensor]]:
    """``(rows, outputs)`` batch by batch over ``n_passes`` stochastic passes of ``X`` with only the dropout modules
    on; masks come from a generator seeded with ``seed`` (``seeding.dropout_generator``), never torch's global one
    (BALD; a regression model's MC-dropout variance, ``alcore.strategies.variance``)."""
    device = torch.device(device)
    with dropout_only(model), dropout_generator(model, seeding.dropout_generator(seed, device)):
        for _ in range(n_passes):
            for start in range(0, len(X), batch_size):
                xb = X[start:start + batch_size].to(device)
                yield slice(start, start + len(xb)), model(xb)


@torch.no_grad()
def mc_dropout_bald(model: ALModel, X: torch.Tensor, n_passes: int, seed: int, device: torch.device | str = "cpu",
                    batch_size: int = 8192) -> np.ndarray:
    """Mutual information per row of ``X`` from ``n_passes`` dropout passes, accumulated online.

    Memory ``O(n C)``: only running sums of ``p_t`` and of ``H[p_t]`` are kept. Dropout masks come from a generator
    seeded with ``seed`` (``seeding.dropout_generator``), never torch's global one. Float64 throughout;
    values below 1e-12 nats (rounding noise when all passes agree) are set to exactly 0.
    """
    n = len(X)
    sum_p: torch.Tensor | None = None
    sum_h = torch.zeros(n, dtype=torch.float64)
    for rows, outputs in dropout_passes(model, X, n_passes, seed, device, batch_size):
        log_p = torch.log_softmax(outputs.double(), dim=1).cpu()
        if sum_p is None:
            sum_p = torch.zeros(n, log_p.shape[1], dtype=torch.float64)
        sum_p[rows] += log_p.exp()
        sum_h[rows] += _entropy(log_p)
    if sum_p is None:
        return np.zeros(n)
    p_bar = sum_p / n_passes
    u = (_entropy(torch.log(p_bar)) - sum_h / n_passes).numpy()
    u[u < 1e-12] = 0.0
    return u


class BALD(Strategy):
    name = "bald"
    description = "BALD with MC dropout: points where dropout samples of the model disagree most."
    tasks = ("classification",)  # class probabilities; for regression: variance

    @dataclass
    class Options:
        n_passes: int = 20       # T stochastic forward passes (references: 10)
        batch_size: int = 8192   # rows per forward pass

    def validate_options(self) -> None:
        for name in ("n_passes", "batch_size"):
            value = getattr(self.options, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}={value!r} is not valid; it must be an integer >= 1")

    def _select(self, state: PoolState, k: int, rng: np.random.Generator) -> Selection:
        if not state.model.has_dropout:
            # docs/methods.md#bald: without dropout every pass agrees and u = 0; fall back clearly to T1 ties, never
            # crash.
            u = np.zeros(state.n_pool)
            chosen = top_k(u, k, rng)
            return Selection(state.pool_idx[chosen], u, {"no_dropout": True, "message": NO_DROPOUT_MESSAGE},
                             "degenerate_scores")
        seed = seeding.child_seed(rng)
        X = state.X[torch.as_tensor(np.asarray(state.pool_idx, dtype=np.int64))]
        u = mc_dropout_bald(state.model, X, self.options.n_passes, seed, state.device, self.options.batch_size)
        chosen = top_k(u, k, rng)
        reason = "degenerate_scores" if np.all(u == u[0]) else None
        return Selection(state.pool_idx[chosen], u, {"n_passes": self.options.n_passes,
                                                     "mean_mutual_information": float(u.mean())}, reason)
