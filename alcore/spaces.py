"""Fixed embeddings that do not change across cycles (cold-start strategies, coverage metrics)."""
from __future__ import annotations

import numpy as np

from alcore.constants import DEGENERATE_NORM


def fixed_embedding(X: np.ndarray, max_dims: int = 64, random_state: int = 0) -> np.ndarray:
    """Standardised inputs, reduced by PCA to at most ``max_dims`` dimensions (docs/methods.md#cold-start-strategies).

    The engine's inputs are already standardised with pool statistics; PCA keeps distance computations cheap
    on wide inputs (MNIST's 784 pixels) while preserving most of the variance.
    """
    X = np.asarray(X, dtype=np.float32)
    if X.shape[1] <= max_dims:
        return X.copy()
    from sklearn.decomposition import PCA

    fit_rows = X
    if len(X) > 20_000:  # fit on a seeded subsample: same components, a fraction of the time
        rng = np.random.default_rng(random_state)
        fit_rows = X[rng.choice(len(X), 20_000, replace=False)]
    # fewer rows than dimensions (a small upload of wide rows): as many components as the rows allow
    n_components = min(max_dims, len(fit_rows), X.shape[1])
    pca = PCA(n_components=n_components, svd_solver="randomized", random_state=random_state).fit(fit_rows)
    return pca.transform(X).astype(np.float32)


def l2_normalize(Z: np.ndarray, eps: float = DEGENERATE_NORM) -> np.ndarray:
    """Rows scaled to unit length; zero rows stay zero."""
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    return Z / np.maximum(norms, eps)
