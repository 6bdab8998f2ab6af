"""Least-confidence sampling (docs/methods.md#uncertainty): the lowest probability of the predicted class."""
from __future__ import annotations

import numpy as np
import torch

from alcore.strategies.base import PoolState, ScoreStrategy


def least_confidence(probs: torch.Tensor) -> np.ndarray:
    """1 - max_c p_c, in [0, 1 - 1/C]."""
    return (1.0 - probs.max(dim=1).values).double().numpy()


class LeastConfidence(ScoreStrategy):
    name = "least_confidence"
    description = "Lowest confidence in the predicted class."
    tasks = ("classification",)  # class probabilities; for regression: variance

    def scores(self, state: PoolState, rng: np.random.Generator) -> np.ndarray:
        return least_confidence(state.pool_probs)
