"""Predictive variance (docs/methods.md#uncertainty, docs/tasks.md#regression): the uncertainty strategy of a regression
model, whose single output has no class probabilities for entropy, margin or BALD to read.

``u(x) = σ²(x)``, from one of two estimates:

- ``"mc_dropout"``: the variance of the prediction over ``T`` stochastic forward passes with only the dropout modules
  switched on (Gal and Ghahramani 2016), masks drawn from a seed taken from the strategy's stream;
- ``"last_layer"``: the posterior variance of the last layer read as a Bayesian linear regression on the features,
  ``h~^T (λI + H~_L^T H~_L)^{-1} h~`` (``alcore.uncertainty``): no randomness, and defined for a model without dropout.

``"auto"`` takes MC dropout when the model has a dropout module, else the last layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from alcore import seeding
from alcore.models import ALModel
from alcore.strategies.alignment import _choice, _typed
from alcore.strategies.bald import dropout_passes
from alcore.strategies.base import PoolState, Selection, Strategy, top_k

METHODS = ("auto", "mc_dropout", "last_layer")


@torch.no_grad()
def mc_dropout_variance(model: ALModel, X: torch.Tensor, n_passes: int, seed: int,
                        device: torch.device | str = "cpu", batch_size: int = 8192) -> np.ndarray:
    """Variance of the first output over ``n_passes`` dropout passes per row of ``X`` (float64, running sums, so
    memory stays ``O(n)``); masks come from a generator seeded with ``seed`` (``bald.dropout_passes``). Values below
    1e-12 (every pass agrees up to rounding) are exactly 0."""
    n = len(X)
    total = torch.zeros(n, dtype=torch.float64)
    total_sq = torch.zeros(n, dtype=torch.float64)
    for rows, outputs in dropout_passes(model, X, n_passes, seed, device, batch_size):
        f = outputs[:, 0].double().cpu()
        total[rows] += f
        total_sq[rows] += f * f
    mean = total / n_passes
    var = (total_sq / n_passes - mean * mean).clamp(min=0.0).numpy()
    var[var < 1e-12] = 0.0
    return var


class Variance(Strategy):
    name = "variance"
    description = "Largest predictive variance of a regression model (MC dropout, or the last layer's posterior)."
    tasks = ("regression",)  # classification: entropy, margin, least_confidence or bald

    @dataclass
    class Options:
        method: str = "auto"     # "auto" (MC dropout if the model has dropout), "mc_dropout" or "last_layer"
        n_passes: int = 20       # T stochastic forward passes of MC dropout
        batch_size: int = 8192   # rows per forward pass (memory, not results)

    def validate_options(self) -> None:
        _choice("method", self.options.method, METHODS)
        _typed("n_passes", self.options.n_passes, int, minimum=1)
        _typed("batch_size", self.options.batch_size, int, minimum=1)

    def method(self, model: ALModel) -> str:
        if self.options.method != "auto":
            return self.options.method
        return "mc_dropout" if model.has_dropout else "last_layer"

    def _select(self, state: PoolState, k: int, rng: np.random.Generator) -> Selection:
        method = self.method(state.model)
        diagnostics = {"method": method}
        if method == "mc_dropout":
            X = state.X[torch.as_tensor(np.asarray(state.pool_idx, dtype=np.int64))]
            u = mc_dropout_variance(state.model, X, self.options.n_passes, seeding.child_seed(rng), state.device,
                                    self.options.batch_size)
            diagnostics["n_passes"] = self.options.n_passes
            if not state.model.has_dropout:
                diagnostics["message"] = ("the model has no dropout module, so every pass agrees and the variance is "
                                          "0: the batch is a random pick (use method='last_layer', or set a dropout)")
        else:
            u = state.pool_spread ** 2
        diagnostics["mean_variance"] = float(u.mean())
        chosen = top_k(u, k, rng)
        reason = "degenerate_scores" if np.all(u == u[0]) else None
        return Selection(state.pool_idx[chosen], u, diagnostics, reason)
