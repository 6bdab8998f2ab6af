"""Fixed embeddings that do not change across cycles (cold-start strategies, coverage metrics)."""
from __future__ import annotations

import numpy as np


def fixed_embedding(X: np.ndarray, max_dims: int = 64, random_state: int = 0) -> np.ndarray:
    """Standardised inputs, reduced by PCA to at most ``max_dims`` dimensions (STRATEGIES.md §5).

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
    pca = PCA(n_components=max_dims, svd_solver="randomized", random_state=random_state).fit(fit_rows)
    return pca.transform(X).astype(np.float32)


def l2_normalize(Z: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length; zero rows stay zero."""
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    return Z / np.maximum(norms, eps)


CHUNK_ENTRIES = 2**22  # entries of one block of the distance matrix (32 MB in float64)


def sq_distances(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(len(P), len(Q))`` in float64, clipped at 0.

    Uses ``|p|² + |q|² - 2 p·q``; values below the rounding error of that expansion are set to exactly 0, so
    exact duplicates are at distance 0 (the k-center duplicate rule and the ProbCover graph rely on it).
    """
    P = np.asarray(P, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    pn = np.einsum("ij,ij->i", P, P)
    qn = np.einsum("ij,ij->i", Q, Q)
    scale = pn[:, None] + qn[None, :]
    d2 = scale - 2.0 * (P @ Q.T)
    d2[d2 <= 1e-12 * scale] = 0.0
    return d2


def min_sq_distances(P: np.ndarray, Q: np.ndarray, chunk_entries: int = CHUNK_ENTRIES) -> np.ndarray:
    """For each row of ``P``, the squared distance to its nearest row of ``Q`` (``inf`` when ``Q`` is empty).

    Blocks of at most ``chunk_entries`` distances at a time: time ``O(|P| |Q| d)``, memory ``O(chunk_entries)``.
    """
    out = np.full(len(P), np.inf)
    if len(Q) == 0 or len(P) == 0:
        return out
    q_step = max(1, min(len(Q), chunk_entries))
    p_step = max(1, chunk_entries // q_step)
    for p0 in range(0, len(P), p_step):
        rows = P[p0:p0 + p_step]
        best = out[p0:p0 + p_step]
        for q0 in range(0, len(Q), q_step):
            np.minimum(best, sq_distances(rows, Q[q0:q0 + q_step]).min(axis=1), out=best)
    return out
