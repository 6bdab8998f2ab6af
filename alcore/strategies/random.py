"""Random sampling (docs/methods.md#random): the baseline every other strategy is measured against."""
from __future__ import annotations

import numpy as np

from alcore.strategies.base import PoolState, Selection, Strategy


class RandomSampling(Strategy):
    name = "random"
    description = "Uniformly random points: the baseline."
    needs_model = False

    def _select(self, state: PoolState, k: int, rng: np.random.Generator) -> Selection:
        chosen = rng.permutation(state.n_pool)[:k]
        return Selection(state.pool_idx[chosen], np.full(state.n_pool, np.nan))
