"""Entropy sampling (docs/methods.md#uncertainty): the points whose predicted class distribution is most spread."""
from __future__ import annotations

import numpy as np
import torch

from alcore.strategies.base import PoolState, ScoreStrategy


def entropy(log_probs: torch.Tensor) -> np.ndarray:
    """-sum_c p_c log p_c from log-probabilities; 0 log 0 = 0, so underflowed classes give no NaN
    (docs/methods.md#class-set)."""
    log_p = torch.where(torch.isinf(log_probs), torch.zeros_like(log_probs), log_probs)
    return -(log_probs.exp() * log_p).sum(dim=1).double().numpy()


class EntropySampling(ScoreStrategy):
    name = "entropy"
    description = "Highest predictive entropy: where the model is most unsure across all classes."
    tasks = ("classification",)  # class probabilities; for regression: variance

    def scores(self, state: PoolState, rng: np.random.Generator) -> np.ndarray:
        return entropy(state.pool_log_probs)
