"""Margin sampling (docs/methods.md#uncertainty): the smallest gap between the two most likely classes."""
from __future__ import annotations

import numpy as np
import torch

from alcore.strategies.base import PoolState, ScoreStrategy


def margin(probs: torch.Tensor) -> np.ndarray:
    """-(p_(1) - p_(2)): higher means a closer call between the top two classes."""
    top2 = torch.topk(probs, k=2, dim=1).values
    return -(top2[:, 0] - top2[:, 1]).double().numpy()


class MarginSampling(ScoreStrategy):
    name = "margin"
    description = "Smallest margin between the top two classes: points near a decision boundary."
    tasks = ("classification",)  # class probabilities; for regression: variance

    def scores(self, state: PoolState, rng: np.random.Generator) -> np.ndarray:
        return margin(state.pool_probs)
