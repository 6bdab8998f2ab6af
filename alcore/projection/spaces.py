"""What a frame needs from the high-dimensional points: nearest neighbours, distances on a sample, a PCA.

Three kinds of input become one of two spaces: factor pairs ``(a, h)`` of gradient embeddings ``g = a ⊗ h``
(distances from the factors, docs/methods.md#last-layer-embeddings, never the n × C·d matrix), plain coordinates
(the case ``a = 1``), or a precomputed Euclidean distance matrix.
"""
from __future__ import annotations

import numpy as np

from alcore import distances
from alcore.projection.settings import MAX_PCA_DIMS, ProjectionSettings

#: Rows of the distance matrix held at once.
BLOCK_ROWS = 1024


class FactorSpace:
    """Points ``g_i = a_i ⊗ h_i`` known by their factors; Euclidean coordinates are the case a = 1."""

    def __init__(self, a: np.ndarray, h: np.ndarray):
        a, h = distances.as_floats(a, h)
        self.a = np.ascontiguousarray(a).reshape(len(a), -1)
        self.h = np.ascontiguousarray(h).reshape(len(h), -1)
        if len(self.a) != len(self.h):
            raise ValueError(f"a and h must have the same number of rows, got {len(self.a)} and {len(self.h)}")
        self.sq_norms = distances.sq_norms(self.a, self.h)

    @classmethod
    def euclidean(cls, X: np.ndarray) -> "FactorSpace":
        (X,) = distances.as_floats(X)
        X = X.reshape(len(X), -1)
        return cls(np.ones((len(X), 1), dtype=X.dtype), X)

    def __len__(self) -> int:
        return len(self.a)

    def sq_distances(self, rows: np.ndarray | slice, cols: np.ndarray | slice = slice(None)) -> np.ndarray:
        return distances.gradient_sq_distances(self.a[rows], self.h[rows], self.a[cols], self.h[cols],
                                               norms=(self.sq_norms[rows], self.sq_norms[cols]))

    def sq_distances_to(self, a: np.ndarray, h: np.ndarray) -> np.ndarray:
        """Squared distances from other points (given by their factors) to every point of this space."""
        a = np.asarray(a, self.a.dtype).reshape(len(a), -1)
        h = np.asarray(h, self.h.dtype).reshape(len(h), -1)
        return distances.gradient_sq_distances(a, h, self.a, self.h, norms=(distances.sq_norms(a, h), self.sq_norms))

    def centred_gram_matmul(self, V: np.ndarray) -> np.ndarray:
        """``J G J V`` block by block (J the centring matrix), without holding G."""
        V = V - V.mean(axis=0)
        out = np.empty((len(self), V.shape[1]), dtype=np.float64)
        for s in range(0, len(self), BLOCK_ROWS):
            G = distances.gram(self.a[s:s + BLOCK_ROWS], self.h[s:s + BLOCK_ROWS], self.a, self.h)
            out[s:s + BLOCK_ROWS] = G @ V
        return out - out.mean(axis=0)

    def pca(self, k: int, random_state: int) -> np.ndarray:
        return top_components(self.centred_gram_matmul, len(self), k, random_state)

    def knn(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        return block_knn(lambda s, e: self.sq_distances(slice(s, e)), len(self), k)

    def sample_distances(self, sample: np.ndarray) -> np.ndarray:
        D2 = self.sq_distances(sample, sample)
        np.fill_diagonal(D2, 0)
        return np.sqrt(D2)


class PrecomputedSpace:
    """Points known by their (m, m) Euclidean distance matrix."""

    def __init__(self, D: np.ndarray):
        D = np.asarray(D)
        if D.ndim != 2 or D.shape[0] != D.shape[1]:
            raise ValueError(f"metric='precomputed' needs square distance matrices, got shape {D.shape}")
        self.D = D

    def __len__(self) -> int:
        return len(self.D)

    def centred_gram_matmul(self, V: np.ndarray) -> np.ndarray:
        # Classical scaling: B = -1/2 J D² J is the centred Gram matrix of any Euclidean realisation.
        V = V - V.mean(axis=0)
        out = np.empty((len(self), V.shape[1]), dtype=np.float64)
        for s in range(0, len(self), BLOCK_ROWS):
            out[s:s + BLOCK_ROWS] = -0.5 * (np.square(self.D[s:s + BLOCK_ROWS], dtype=np.float64) @ V)
        return out - out.mean(axis=0)

    def pca(self, k: int, random_state: int) -> np.ndarray:
        return top_components(self.centred_gram_matmul, len(self), k, random_state)

    def knn(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        return block_knn(lambda s, e: np.square(self.D[s:e], dtype=np.float32), len(self), k)

    def sample_distances(self, sample: np.ndarray) -> np.ndarray:
        return np.asarray(self.D[np.ix_(sample, sample)], dtype=np.float64)


def top_components(matmul, n: int, k: int, random_state: int, n_oversamples: int = 10, n_iter: int = 4) -> np.ndarray:
    """Top-k eigenpairs of a PSD operator (randomised subspace iteration, Halko et al. 2011), as V sqrt(λ)."""
    k = max(1, min(k, n - 1))
    rng = np.random.default_rng(random_state)
    Q = rng.standard_normal((n, min(n, k + n_oversamples)))
    for _ in range(n_iter):
        Q, _ = np.linalg.qr(matmul(Q))
    Q, _ = np.linalg.qr(matmul(Q))
    B = Q.T @ matmul(Q)
    vals, vecs = np.linalg.eigh((B + B.T) / 2)
    order = np.argsort(vals)[::-1][:k]
    coords = (Q @ vecs[:, order]) * np.sqrt(np.maximum(vals[order], 0))
    # Deterministic signs: the largest-magnitude coordinate of each component is positive.
    signs = np.sign(coords[np.argmax(np.abs(coords), axis=0), np.arange(coords.shape[1])])
    return coords * np.where(signs == 0, 1, signs)


def block_knn(sq_block, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours (self excluded) from blocks of squared distances; returns (indices, distances)."""
    import torch  # topk is several times faster than np.argpartition on a 5k x 5k block

    indices = np.empty((n, k), dtype=np.int64)
    dists = np.empty((n, k), dtype=np.float64)
    for s in range(0, n, BLOCK_ROWS):
        e = min(n, s + BLOCK_ROWS)
        block = torch.from_numpy(np.ascontiguousarray(sq_block(s, e), dtype=np.float32))
        block[torch.arange(e - s), torch.arange(s, e)] = float("inf")
        values, idx = torch.topk(block, k, dim=1, largest=False, sorted=True)
        indices[s:e] = idx.numpy()
        dists[s:e] = np.sqrt(np.maximum(values.numpy().astype(np.float64), 0))
    return indices, dists


def as_space(item, metric: str):
    """The space of one cycle's input (see ``project_cycles`` for what each ``metric`` expects)."""
    if metric == "precomputed":
        return PrecomputedSpace(item)
    if metric == "euclidean":
        return FactorSpace.euclidean(item)
    a, h = item
    return FactorSpace(a, h)


def reduce(space, settings: ProjectionSettings):
    """The space itself, or its top ``settings.pca_dims`` principal components as Euclidean coordinates."""
    if settings.pca_dims == 0:
        return space
    return FactorSpace.euclidean(space.pca(settings.pca_dims, settings.random_state))


def gradient_pca(a: np.ndarray, h: np.ndarray, n_components: int = MAX_PCA_DIMS, random_state: int = 0) -> np.ndarray:
    """PCA coordinates of the gradient embeddings from an eigendecomposition of the centred Gram matrix.

    Returns ``(n, k)`` with ``k = min(n_components, 50, n - 1)``; pairwise distances of the rows approach
    the gradient distances as k grows (exact when k reaches the rank). Never materialises ``a ⊗ h``.
    """
    return FactorSpace(a, h).pca(min(n_components, MAX_PCA_DIMS), random_state)
