"""The predictive spread σ(x) of a regression model from its last layer
(docs/tasks.md#hallucinated-labels-in-regression).

Read the last layer as a Bayesian linear regression on the features ``h~ = [h; 1]`` with prior precision ``λ`` and
unit noise variance (the standardised target's): after the labelled rows ``H~_L`` its output at ``x`` has posterior
variance ``σ²(x) = h~(x)^T (λ I + H~_L^T H~_L)^{-1} h~(x)``. It needs no label values and no random numbers, works
for every model (a linear model too) and from zero labels (then ``σ = ||h~|| / sqrt(λ)``), and it grows as ``x``
moves away from what the labelled features span. The ``variance`` strategy can use MC dropout instead
(``alcore.strategies.variance``).
"""
from __future__ import annotations

import numpy as np

from alcore.gradients.factors import with_bias
from alcore.task import SPREAD_RIDGE


def last_layer_spread(h, h_labeled, ridge: float = SPREAD_RIDGE) -> np.ndarray:
    """``σ(x)`` for each row of ``h`` (n, d) given the labelled rows' features ``h_labeled`` (m, d), float64."""
    from scipy.linalg import cho_factor, cho_solve

    H = with_bias(np.asarray(h, dtype=np.float64))
    H_L = with_bias(np.asarray(h_labeled, dtype=np.float64).reshape(-1, H.shape[1] - 1))
    precision = H_L.T @ H_L
    precision[np.diag_indices_from(precision)] += float(ridge)
    solved = cho_solve(cho_factor(precision, lower=True), H.T)  # (d+1, n)
    return np.sqrt(np.clip(np.einsum("ij,ji->i", H, solved), 0.0, None))
