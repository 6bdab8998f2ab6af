"""Aligned t-SNE maps of the pool across cycles (DESIGN.md "The animated map").

Each cycle's map places the same display points (``display_subset``) from that cycle's embedding space:
the last-layer gradient embeddings ``g = a ⊗ h`` (distances from the factors, STRATEGIES.md §1.1, never the
n × C·d matrix), the penultimate features ``h``, or the raw inputs.

How a frame is made (``project_cycles``):

* Affinities: exact k nearest neighbours (k = 3 · perplexity) computed block by block from the factors
  and handed to openTSNE as ``PrecomputedNeighbors``; no approximate index is built.
* Frame 0, and every frame with ``relayout=True``: an independent openTSNE run (PCA / classical-MDS
  initialisation rescaled to std 1e-4 as openTSNE does, ``n_iter`` = 250 iterations, a third of them with
  early exaggeration; openTSNE's own schedule is 250 + 500). Measured at 1.4k-5k points (digits gradient and
  feature spaces, bench/projection.py's factors): trustworthiness within 0.004 of the 750-iteration layout's,
  KL divergence 4-12% higher (the clusters are still spreading), in a third of the time: ~1.1 s instead of
  3.3 s for the app's 1,437 digits, which keeps a cycle's map within the app's 3 s.
* Frame t+1 otherwise ("warm"): starts from frame t's coordinates *at their own scale* with fresh
  affinities and ``warm_iter`` iterations, plus an anchor ``stiffness · (y - y_prev)`` added to the
  t-SNE gradient (dynamic t-SNE, Rauber et al. 2016), which stops points drifting where the data did not
  change. Measured on slightly drifting synthetic factors (bench/projection.py, tests/test_projection.py):
  openTSNE's recommended rescaling of a custom initialisation to std 1e-4 lets the map re-expand and
  reshuffle, so points moved only 1.5-3x less than in independent runs; keeping the scale without an anchor,
  5-15x less (less at small m); with the anchor (0.005) 7-40x less, at a trustworthiness cost of 0.005-0.02.
* Guard, because a stale layout must not pass for a map of the new embedding: a warm frame whose
  trustworthiness falls more than ``max_trust_drop`` below that of the last freely laid-out frame is redone
  without the anchor ("unanchored"); if that is still too low (the embedding changed too much for the
  previous layout to be a good start, as when a model is retrained from scratch), the frame is recomputed the
  way openTSNE recommends: previous coordinates rescaled to std 1e-4, no anchor, ``warm_iter`` iterations
  ("rescaled"), which keeps the quality while moving about half as much as a re-layout; if even that falls
  short (a completely reshuffled embedding), the frame is laid out afresh ("relayout"). Each tier
  costs ``warm_iter`` more iterations, so the guard only costs time when it fires; the next frame starts one
  tier below the one that stood.
* New space: a frame that would start with a warm tier first measures the previous frame against the new
  space. If it keeps less than ``new_space_retention`` (1/2) of its better-than-chance trustworthiness there
  (a random layout scores about 1/2), the space was replaced rather than moved, as from a cold start's
  untrained model (cycle 0) to the first trained one: the warm tiers are doomed, and the reference
  trustworthiness belongs to the old space, so even a good rescaled frame can miss it and fall through to a
  relayout after all. Such a frame is laid out afresh at once ("relayout (new space)"), which also sets the
  reference for the frames after it. Measured on the app's default digits runs (4 seeds x 4 strategies,
  gradient space): the untrained -> trained step kept 0.29-0.51 of it, trained -> trained steps 0.48-0.69
  (later cycles more); feature spaces and slightly drifting factors >= 0.9; a shuffle ~0.
* A relayout (either kind) is laid out like frame 0, from the new space's PCA, then aligned.
* Every frame is rigidly Procrustes-aligned (rotation/reflection + translation, no scaling) to the previous
  one, and reports its mean displacement from it (in map widths) and its trustworthiness (scikit-learn)
  against the high-dimensional distances on a fixed seeded sample of ``quality_points`` points.

Everything here is a function over numpy arrays; ``cached_projection`` adds an on-disk cache by prefix.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

SPACES = ("gradient", "features", "inputs")
METRICS = ("precomputed", "euclidean", "gradient")
GRADIENT_METHODS = ("auto", "bh", "fft")
MAX_PCA_DIMS = 50
_KNN_BLOCK = 1024  # rows of the distance matrix held at once
#: How a frame after the first is made, cheapest and most stable first; the guard moves down this list
#: while a frame's trustworthiness falls short (module docstring).
TIERS = ("warm", "unanchored", "rescaled", "relayout")
#: The method of a frame laid out afresh before any tier was tried, because its space was replaced.
NEW_SPACE = "relayout (new space)"
#: Trustworthiness of a layout that knows nothing of the data (random positions), about 1/2.
_CHANCE_TRUST = 0.5
#: Frames started from the previous layout at its scale; the others are laid out freely and set the
#: reference trustworthiness of the guard.
_WARM_METHODS = ("warm", "unanchored")


# --------------------------------------------------------------------------------------------
# Display subset
# --------------------------------------------------------------------------------------------
def display_subset(
    y: np.ndarray | None,
    candidates: np.ndarray,
    n_max: int = 5000,
    must_include: np.ndarray | None = None,
    random_state: int = 0,
) -> np.ndarray:
    """The fixed set of points drawn on every map of a run.

    Parameters
    ----------
    y: labels indexed by global index (``y[candidates]`` are the candidates' classes), or None for no
        stratification.
    candidates: global indices that may be shown (the engine passes pool ∪ initially labelled).
    n_max: at most this many points, unless ``must_include`` alone is larger.
    must_include: global indices always shown (the initially labelled points); kept even when outside
        ``candidates``.
    random_state: seed of the stratified draw.

    Returns
    -------
    Sorted unique int64 global indices: all candidates when there are at most ``n_max``; otherwise
    ``must_include`` plus a class-stratified draw (largest-remainder allocation) of the rest.
    """
    candidates = np.unique(np.asarray(candidates, dtype=np.int64))
    must = np.unique(np.asarray(must_include if must_include is not None else [], dtype=np.int64))
    if n_max < 1:
        raise ValueError(f"n_max must be a positive int, got {n_max!r}")
    if len(np.union1d(candidates, must)) <= n_max:
        return np.union1d(candidates, must)
    rest = np.setdiff1d(candidates, must, assume_unique=True)
    quota = n_max - len(must)
    if quota <= 0:
        return must
    rng = np.random.default_rng(random_state)
    if y is None:
        return np.union1d(must, rng.choice(rest, quota, replace=False))
    classes, inverse, counts = np.unique(np.asarray(y)[rest], return_inverse=True, return_counts=True)
    exact = counts * quota / len(rest)
    alloc = np.floor(exact).astype(np.int64)
    short = quota - alloc.sum()
    if short > 0:  # largest remainders first; ties broken by class order (stable sort)
        order = np.argsort(-(exact - alloc), kind="stable")
        alloc[order[:short]] += 1
    chosen = [rng.choice(rest[inverse == c], alloc[c], replace=False) for c in range(len(classes)) if alloc[c]]
    return np.union1d(must, np.concatenate(chosen)) if chosen else must


# --------------------------------------------------------------------------------------------
# Distances in gradient space from the factors (STRATEGIES.md §1.1)
# --------------------------------------------------------------------------------------------
def _float_dtype(*arrays: np.ndarray) -> np.dtype:
    return np.result_type(*[np.asarray(x).dtype for x in arrays], np.float32)


def gradient_gram(
    a: np.ndarray, h: np.ndarray, a2: np.ndarray | None = None, h2: np.ndarray | None = None
) -> np.ndarray:
    """Gram matrix of ``g = a ⊗ h``: ``<g_i, g_j> = <a_i, a_j><h_i, h_j>`` (rows of the second set: a2, h2)."""
    dtype = _float_dtype(a, h)
    a, h = np.asarray(a, dtype), np.asarray(h, dtype)
    a2 = a if a2 is None else np.asarray(a2, dtype)
    h2 = h if h2 is None else np.asarray(h2, dtype)
    G = a @ a2.T
    G *= h @ h2.T
    return G


def gradient_sq_norms(a: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``||g_i||^2 = ||a_i||^2 ||h_i||^2``."""
    dtype = _float_dtype(a, h)
    a, h = np.asarray(a, dtype), np.asarray(h, dtype)
    return np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", h, h)


def gradient_sq_distances(
    a: np.ndarray, h: np.ndarray, a2: np.ndarray | None = None, h2: np.ndarray | None = None
) -> np.ndarray:
    """Squared Euclidean distances between gradient embeddings, from the factors only.

    ``D2 = diag(G) + diag(G)^T - 2G`` with ``G = (a a^T) * (h h^T)``, clipped at 0. With ``a2, h2`` the
    distances run from rows of (a, h) to rows of (a2, h2). float64 inputs give float64 results (exact to
    rounding), float32 inputs float32. For the self case the diagonal is exactly 0.
    """
    same = a2 is None and h2 is None
    a2 = a if a2 is None else a2
    h2 = h if h2 is None else h2
    D2 = gradient_gram(a, h, a2, h2)
    D2 *= -2
    D2 += gradient_sq_norms(a, h)[:, None]
    D2 += gradient_sq_norms(a2, h2)[None, :]
    np.maximum(D2, 0, out=D2)
    if same:
        np.fill_diagonal(D2, 0)
    return D2


def gradient_pca(a: np.ndarray, h: np.ndarray, n_components: int = MAX_PCA_DIMS, random_state: int = 0) -> np.ndarray:
    """PCA coordinates of the gradient embeddings from an eigendecomposition of the centred Gram matrix.

    Returns ``(n, k)`` with ``k = min(n_components, 50, n - 1)``; pairwise distances of the rows approach
    the gradient distances as k grows (exact when k reaches the rank). Never materialises ``a ⊗ h``.
    """
    return _FactorSpace(a, h).pca(min(n_components, MAX_PCA_DIMS), random_state)


# --------------------------------------------------------------------------------------------
# Spaces: what a frame needs from the high-dimensional data
# --------------------------------------------------------------------------------------------
class _FactorSpace:
    """Points ``g_i = a_i ⊗ h_i`` known by their factors; Euclidean coordinates are the case a = 1."""

    def __init__(self, a: np.ndarray, h: np.ndarray):
        dtype = _float_dtype(a, h)
        self.a = np.ascontiguousarray(a, dtype=dtype).reshape(len(a), -1)
        self.h = np.ascontiguousarray(h, dtype=dtype).reshape(len(h), -1)
        if len(self.a) != len(self.h):
            raise ValueError(f"a and h must have the same number of rows, got {len(self.a)} and {len(self.h)}")
        self.sq_norms = gradient_sq_norms(self.a, self.h)

    @classmethod
    def euclidean(cls, X: np.ndarray) -> "_FactorSpace":
        X = np.asarray(X)
        X = X.reshape(len(X), -1)
        return cls(np.ones((len(X), 1), dtype=_float_dtype(X)), X)

    def __len__(self) -> int:
        return len(self.a)

    def sq_distances(self, rows: np.ndarray | slice, cols: np.ndarray | slice = slice(None)) -> np.ndarray:
        D2 = gradient_gram(self.a[rows], self.h[rows], self.a[cols], self.h[cols])
        D2 *= -2
        D2 += self.sq_norms[rows][:, None]
        D2 += self.sq_norms[cols][None, :]
        return np.maximum(D2, 0, out=D2)

    def sq_distances_to(self, a: np.ndarray, h: np.ndarray) -> np.ndarray:
        """Squared distances from other points (given by their factors) to every point of this space."""
        a = np.asarray(a, self.a.dtype).reshape(len(a), -1)
        h = np.asarray(h, self.h.dtype).reshape(len(h), -1)
        D2 = gradient_gram(a, h, self.a, self.h)
        D2 *= -2
        D2 += gradient_sq_norms(a, h)[:, None]
        D2 += self.sq_norms[None, :]
        return np.maximum(D2, 0, out=D2)

    def centred_gram_matmul(self, V: np.ndarray) -> np.ndarray:
        """``J G J V`` block by block (J the centring matrix), without holding G."""
        V = V - V.mean(axis=0)
        out = np.empty((len(self), V.shape[1]), dtype=np.float64)
        for s in range(0, len(self), _KNN_BLOCK):
            G = gradient_gram(self.a[s:s + _KNN_BLOCK], self.h[s:s + _KNN_BLOCK], self.a, self.h)
            out[s:s + _KNN_BLOCK] = G @ V
        return out - out.mean(axis=0)

    def pca(self, k: int, random_state: int) -> np.ndarray:
        return _top_components(self.centred_gram_matmul, len(self), k, random_state)

    def knn(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        return _block_knn(lambda s, e: self.sq_distances(slice(s, e)), len(self), k)

    def sample_distances(self, sample: np.ndarray) -> np.ndarray:
        D2 = self.sq_distances(sample, sample)
        np.fill_diagonal(D2, 0)
        return np.sqrt(D2)


class _PrecomputedSpace:
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
        for s in range(0, len(self), _KNN_BLOCK):
            out[s:s + _KNN_BLOCK] = -0.5 * (np.square(self.D[s:s + _KNN_BLOCK], dtype=np.float64) @ V)
        return out - out.mean(axis=0)

    def pca(self, k: int, random_state: int) -> np.ndarray:
        return _top_components(self.centred_gram_matmul, len(self), k, random_state)

    def knn(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        return _block_knn(lambda s, e: np.square(self.D[s:e], dtype=np.float32), len(self), k)

    def sample_distances(self, sample: np.ndarray) -> np.ndarray:
        return np.asarray(self.D[np.ix_(sample, sample)], dtype=np.float64)


def _top_components(matmul, n: int, k: int, random_state: int, n_oversamples: int = 10, n_iter: int = 4) -> np.ndarray:
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


def _block_knn(sq_block, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours (self excluded) from blocks of squared distances; returns (indices, distances)."""
    import torch  # topk is several times faster than np.argpartition on a 5k x 5k block

    indices = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float64)
    for s in range(0, n, _KNN_BLOCK):
        e = min(n, s + _KNN_BLOCK)
        block = torch.from_numpy(np.ascontiguousarray(sq_block(s, e), dtype=np.float32))
        block[torch.arange(e - s), torch.arange(s, e)] = float("inf")
        values, idx = torch.topk(block, k, dim=1, largest=False, sorted=True)
        indices[s:e] = idx.numpy()
        distances[s:e] = np.sqrt(np.maximum(values.numpy().astype(np.float64), 0))
    return indices, distances


def _as_space(item, metric: str):
    if metric == "precomputed":
        return _PrecomputedSpace(item)
    if metric == "euclidean":
        return _FactorSpace.euclidean(item)
    a, h = item
    return _FactorSpace(a, h)


# --------------------------------------------------------------------------------------------
# Settings and results
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProjectionSettings:
    """Every knob of the map; ``key()`` names a cache entry.

    space: 'gradient' (a ⊗ h via its Gram matrix), 'features' (h) or 'inputs' (the raw inputs).
    perplexity: openTSNE perplexity, clamped to (m - 1) / 3 for small display sets.
    n_iter: iterations of a frame laid out from scratch (the first, the guard's relayouts, every frame with
        ``relayout``): min(250, n_iter // 3) with early exaggeration 12, then the rest (openTSNE's own
        schedule is 750 = 250 + 500; 250 keeps the trustworthiness at a third of the time, module docstring).
    warm_iter: iterations of a warm-started frame.
    relayout: recompute every frame from scratch (then only aligned to the previous one).
    stiffness: anchor of warm frames to their previous positions, as the fraction of a point's offset pulled
        back per iteration (0 disables it).
    max_trust_drop: a warm frame whose trustworthiness falls further than this below the last freely
        laid-out frame's is redone without the anchor, then from openTSNE's rescaled initialisation.
    new_space_retention: a previous frame that keeps less than this share of its better-than-chance
        trustworthiness when measured against the new space marks a replaced embedding: the frame is laid out
        afresh without trying the warm tiers ('relayout (new space)'); 0 disables the check.
    random_state: seed of openTSNE, of the initialisation and of the quality sample.
    max_points: at most this many display points per map (the engine's display set is already this size;
        larger sets are subsampled by ``display_subset`` keeping every labelled and selected point).
    pca_dims: 0 = exact distances in the chosen space; k > 0 = Euclidean distances between the top-k
        (at most 50) principal components (of the Gram matrix, for the gradient space).
    quality_points: size of the seeded sample on which trustworthiness is measured.
    trust_neighbors: the k of trustworthiness.
    negative_gradient_method: openTSNE's 'auto' (Barnes-Hut below 10k points, FFT above), 'bh' or 'fft'.
    n_jobs: openTSNE threads; results do not depend on it, so it is not part of ``key()``.
    """

    space: str = "gradient"
    perplexity: float = 30.0
    n_iter: int = 250
    warm_iter: int = 100
    relayout: bool = False
    stiffness: float = 0.005
    max_trust_drop: float = 0.02
    new_space_retention: float = 0.5
    random_state: int = 0
    max_points: int = 5000
    pca_dims: int = 0
    quality_points: int = 1000
    trust_neighbors: int = 10
    negative_gradient_method: str = "auto"
    n_jobs: int = 1

    def __post_init__(self) -> None:
        def bad(name, allowed):
            raise ValueError(f"ProjectionSettings.{name}={getattr(self, name)!r} is not valid; {allowed}")

        if self.space not in SPACES:
            bad("space", f"choose one of {list(SPACES)}")
        if self.negative_gradient_method not in GRADIENT_METHODS:
            bad("negative_gradient_method", f"choose one of {list(GRADIENT_METHODS)}")
        if not self.perplexity > 0:
            bad("perplexity", "it must be > 0")
        for name in ("n_iter", "warm_iter", "max_points", "quality_points", "trust_neighbors", "n_jobs"):
            if not (isinstance(getattr(self, name), (int, np.integer)) and getattr(self, name) >= 1):
                bad(name, "it must be an int >= 1")
        if not (isinstance(self.pca_dims, (int, np.integer)) and 0 <= self.pca_dims <= MAX_PCA_DIMS):
            bad("pca_dims", f"it must be an int in [0, {MAX_PCA_DIMS}]")
        if not self.stiffness >= 0:
            bad("stiffness", "it must be >= 0")
        if not self.max_trust_drop >= 0:
            bad("max_trust_drop", "it must be >= 0 (float('inf') disables the guard)")
        if not 0 <= self.new_space_retention <= 1:
            bad("new_space_retention", "it must be in [0, 1] (0 disables the new-space check)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ProjectionSettings":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def key(self) -> str:
        """A filesystem-safe name for these settings: readable prefix + hash of every result-relevant field."""
        d = self.to_dict()
        d.pop("n_jobs")
        digest = hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]
        return f"{self.space}-{'relayout' if self.relayout else 'warm'}-{digest}"


@dataclass
class ProjectionResult:
    """Aligned 2-D frames of the same points, one per cycle, with how each was measured.

    frames: (m, 2) float32 coordinates, row i is point ``idx[i]`` in every frame.
    displacement: mean distance moved since the previous frame, in widths of the previous frame (the larger
        side of its bounding box); NaN for a first frame.
    trustworthiness: scikit-learn's trustworthiness of the frame against the high-dimensional distances,
        on the fixed quality sample.
    seconds: wall time of the frame: affinities, optimisation, alignment and its quality measurement.
    method: 'independent' (first frame, or every frame with relayout), 'warm' (anchored), 'unanchored',
        'rescaled' or 'relayout' (the guard's later tiers, see the module docstring), 'relayout (new space)'
        (laid out afresh at once: the previous frame did not fit the new space), or 'reused' (the inputs
        space, identical in every cycle, is laid out once).
    extra_idx, extra_xy: per frame, selected points outside the display set and where they are drawn (at
        their nearest display point in the same space); empty arrays when there are none.
    """

    idx: np.ndarray
    cycles: list[int]
    frames: list[np.ndarray]
    displacement: list[float]
    trustworthiness: list[float]
    seconds: list[float]
    method: list[str]
    settings: ProjectionSettings
    extra_idx: list[np.ndarray] = field(default_factory=list)
    extra_xy: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frames)

    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, xmax, ymin, ymax) over every frame, for fixed axis ranges."""
        xy = np.concatenate(self.frames + [e for e in self.extra_xy if len(e)])
        return float(xy[:, 0].min()), float(xy[:, 0].max()), float(xy[:, 1].min()), float(xy[:, 1].max())


# --------------------------------------------------------------------------------------------
# Frame mechanics
# --------------------------------------------------------------------------------------------
def procrustes_align(Y: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Rotate/reflect and translate ``Y`` onto ``reference`` (least squares, no scaling)."""
    Y = np.asarray(Y, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    mu, mu_ref = Y.mean(axis=0), reference.mean(axis=0)
    U, _, Vt = np.linalg.svd((Y - mu).T @ (reference - mu_ref))
    return (Y - mu) @ (U @ Vt) + mu_ref


def mean_displacement(Y: np.ndarray, previous: np.ndarray) -> float:
    """Mean distance each point moved, in widths (larger bounding-box side) of ``previous``."""
    width = float(np.ptp(previous, axis=0).max())
    return float(np.linalg.norm(np.asarray(Y, np.float64) - previous, axis=1).mean() / max(width, 1e-12))


def _effective_perplexity(perplexity: float, m: int) -> tuple[float, int]:
    perplexity = float(min(perplexity, max((m - 1) / 3, 1.0)))
    return perplexity, int(min(m - 1, max(1, int(3 * perplexity))))


def _affinities(space, perplexity: float, n_jobs: int):
    from openTSNE import affinity
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    perplexity, k = _effective_perplexity(perplexity, len(space))
    neighbors, distances = space.knn(k)
    return affinity.PerplexityBasedNN(
        knn_index=PrecomputedNeighbors(neighbors, distances), perplexity=perplexity, n_jobs=n_jobs
    )


def _objective(settings: ProjectionSettings, m: int, anchor: np.ndarray | None):
    """openTSNE's KL gradient, plus the dynamic-t-SNE anchor ``(stiffness / m) (y - anchor)`` when given.

    openTSNE's gradient is O(1/m) per point and its automatic learning rate is m, so ``stiffness`` is the
    fraction of a point's offset from its anchor pulled back per iteration (before momentum and gains).
    """
    from openTSNE.tsne import kl_divergence_bh, kl_divergence_fft

    method = settings.negative_gradient_method
    if method == "auto":
        method = "bh" if m < 10_000 else "fft"
    kl = kl_divergence_bh if method == "bh" else kl_divergence_fft
    if anchor is None or settings.stiffness == 0:
        return kl
    lam = settings.stiffness / m

    def anchored_kl(embedding, P, **params):
        error, gradient = kl(embedding, P, **params)
        gradient += lam * (np.asarray(embedding) - anchor)
        return error, gradient

    return anchored_kl


def _optimize(init: np.ndarray, affinities, objective, schedule, settings: ProjectionSettings) -> np.ndarray:
    from openTSNE import TSNEEmbedding

    embedding = TSNEEmbedding(
        np.ascontiguousarray(init, dtype=np.float64), affinities, negative_gradient_method=objective,
        random_state=settings.random_state, n_jobs=settings.n_jobs,
    )
    for n_iter, exaggeration in schedule:
        if n_iter > 0:
            embedding = embedding.optimize(n_iter, exaggeration=exaggeration, momentum=0.8, inplace=True)
    return np.asarray(embedding, dtype=np.float64)


def _independent_frame(space, affinities, settings: ProjectionSettings) -> np.ndarray:
    """A layout from scratch: the space's PCA rescaled to std 1e-4, min(250, n_iter // 3) exaggerated
    iterations, then the rest."""
    from openTSNE import initialization

    init = initialization.rescale(space.pca(2, settings.random_state))
    early = min(250, settings.n_iter // 3)
    return _optimize(init, affinities, _objective(settings, len(space), None),
                     [(early, 12.0), (settings.n_iter - early, 1.0)], settings)


def _tier_frame(tier: str, space, affinities, prev: np.ndarray, settings: ProjectionSettings) -> np.ndarray:
    """One frame after the first, made the way ``tier`` (one of TIERS) says."""
    from openTSNE import initialization

    m = len(space)
    if tier == "relayout":
        return _independent_frame(space, affinities, settings)
    init = initialization.rescale(prev) if tier == "rescaled" else prev
    anchor = prev if tier == "warm" else None
    return _optimize(init, affinities, _objective(settings, m, anchor), [(settings.warm_iter, 1.0)], settings)


def _sample_ranks(space, sample: np.ndarray) -> np.ndarray:
    """``ranks[i, j]``: place (1 = nearest) of sample point j among sample point i's neighbours in the space.

    scikit-learn's ``trustworthiness`` builds this inverted index on every call; a frame measures several
    layouts against one space (the previous frame, then each tier tried), so it is built once per frame.
    """
    D = space.sample_distances(sample)
    D = np.array(D, dtype=np.result_type(D.dtype, np.float32))  # a copy, in the dtype scikit-learn would use
    np.fill_diagonal(D, np.inf)
    n = len(D)
    ranks = np.zeros((n, n), dtype=np.int64)
    ranks[np.arange(n)[:, None], np.argsort(D, axis=1)] = np.arange(1, n + 1)
    return ranks


def _trust_from_ranks(ranks: np.ndarray, Y_sample: np.ndarray, k: int) -> float:
    """Trustworthiness of the layout ``Y_sample`` of the sample (scikit-learn's formula, identical result)."""
    from sklearn.neighbors import NearestNeighbors

    n = len(ranks)
    k = min(k, (n - 1) // 2)
    if k < 1:
        return float("nan")
    neighbours = NearestNeighbors(n_neighbors=k).fit(Y_sample).kneighbors(return_distance=False)
    excess = ranks[np.arange(n)[:, None], neighbours] - k
    return float(1.0 - np.sum(excess[excess > 0]) * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))))


def retained_trust(trust_in_new: float, trust_own: float) -> float:
    """Share of a layout's better-than-chance trustworthiness it keeps when measured against another space.

    ~1 when the neighbourhoods did not change, ~0 for an unrelated space (a random layout scores about 1/2);
    NaN when the layout was no better than chance in its own space (nothing to keep).
    """
    above = trust_own - _CHANCE_TRUST
    return (trust_in_new - _CHANCE_TRUST) / above if above > 0 else float("nan")


def _start_level(tiers: Sequence[str], previous_method: str | None) -> int:
    """Index of the first tier to try: one below the tier the previous frame stood at (a new-space relayout
    counts as a relayout), the first tier after a frame that was not made by the guard."""
    tier = "relayout" if previous_method == NEW_SPACE else previous_method
    return max(0, tiers.index(tier) - 1) if tier in tiers else 0


def _guarded_frame(space, affinities, prev: np.ndarray, previous_trust: float | None, reference_trust: float | None,
                   previous_method: str | None, settings: ProjectionSettings,
                   quality: Callable[[np.ndarray], float]) -> tuple[np.ndarray, str, float]:
    """A frame after the first, aligned to ``prev``, with its method and trustworthiness (``quality(Y)``).

    Down the tiers until one keeps the trustworthiness within ``max_trust_drop`` of ``reference_trust`` (the
    last freely laid-out frame's), the last tier regardless; but laid out afresh at once, instead of trying
    the warm tiers (which start from ``prev`` at its scale), when ``prev`` does not fit the new space
    (``retained_trust`` below ``settings.new_space_retention``).
    """
    # Start one tier below where the previous frame stood: a run whose embedding keeps changing a lot does not
    # pay for the doomed cheaper tiers every cycle, and returns to anchoring as it settles.
    tiers = [tier for tier in TIERS if tier != "unanchored" or settings.stiffness > 0]
    level = _start_level(tiers, previous_method)
    if tiers[level] in _WARM_METHODS and previous_trust is not None and settings.new_space_retention > 0:
        if retained_trust(quality(prev), previous_trust) < settings.new_space_retention:
            Y = procrustes_align(_tier_frame("relayout", space, affinities, prev, settings), prev)
            return Y, NEW_SPACE, quality(Y)
    floor = -np.inf if reference_trust is None else reference_trust - settings.max_trust_drop
    for method in tiers[level:]:
        Y = procrustes_align(_tier_frame(method, space, affinities, prev, settings), prev)
        t = quality(Y)
        if t >= floor:
            break
    return Y, method, t


def _reduce(space, settings: ProjectionSettings):
    if settings.pca_dims == 0:
        return space
    return _FactorSpace.euclidean(space.pca(settings.pca_dims, settings.random_state))


def quality_sample(m: int, settings: ProjectionSettings) -> np.ndarray:
    """The fixed seeded positions (into the display set) on which trustworthiness is measured."""
    if m <= settings.quality_points:
        return np.arange(m)
    return np.sort(np.random.default_rng(settings.random_state).choice(m, settings.quality_points, replace=False))


def project_cycles(
    spaces: Iterable,
    settings: ProjectionSettings = ProjectionSettings(),
    metric: str = "precomputed",
    *,
    previous_frame: np.ndarray | None = None,
    previous_trust: float | None = None,
    reference_trust: float | None = None,
    previous_method: str | None = None,
    cycles: Sequence[int] | None = None,
    idx: np.ndarray | None = None,
) -> ProjectionResult:
    """Aligned t-SNE frames of the same m points seen in a sequence of spaces (one per cycle).

    Parameters
    ----------
    spaces: consumed one at a time (a generator keeps one space in memory). Per ``metric``:
        'precomputed' — (m, m) Euclidean (not squared) distance matrices, e.g.
        ``np.sqrt(gradient_sq_distances(a, h))``; 'euclidean' — (m, D) coordinates; 'gradient' — (a, h)
        factor pairs, distances computed block by block, never the full matrix.
    settings: see ``ProjectionSettings``.
    previous_frame: continue an existing sequence: the first frame is then warm-started from (and aligned
        to) this (m, 2) frame, unless ``settings.relayout``.
    previous_trust, reference_trust, previous_method: the trustworthiness of that frame and of the sequence's
        last freely laid-out frame, and the method of that frame, so that the guard carries on where it was
        (without ``previous_trust`` the first frame skips the new-space check).
    cycles, idx: labels carried into the result (default 0..T-1 and 0..m-1).
    """
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is not valid; choose one of {list(METRICS)}")
    frames: list[np.ndarray] = []
    disp: list[float] = []
    trust: list[float] = []
    secs: list[float] = []
    methods: list[str] = []
    prev = None if previous_frame is None else np.asarray(previous_frame, dtype=np.float64)
    prev_trust, ref_trust, prev_method = previous_trust, reference_trust, previous_method
    sample = None
    for item in spaces:
        start = time.perf_counter()
        original = _as_space(item, metric)
        space = _reduce(original, settings)
        m = len(space)
        if m < 4:
            raise ValueError(f"a map needs at least 4 points, got {m}")
        if prev is not None and len(prev) != m:
            raise ValueError(f"every space must hold the same {len(prev)} points, got {m}")
        if sample is None:
            sample = quality_sample(m, settings)
        affinities = _affinities(space, settings.perplexity, settings.n_jobs)
        ranks = _sample_ranks(original, sample)

        def quality(Y: np.ndarray) -> float:
            return _trust_from_ranks(ranks, Y[sample], settings.trust_neighbors)

        if prev is None or settings.relayout:
            Y, method = _independent_frame(space, affinities, settings), "independent"
            if prev is not None:
                Y = procrustes_align(Y, prev)
            t = quality(Y)
        else:
            Y, method, t = _guarded_frame(space, affinities, prev, prev_trust, ref_trust, prev_method, settings,
                                          quality)
        prev_method, prev_trust = method, t
        if method not in _WARM_METHODS:
            ref_trust = t
        disp.append(float("nan") if prev is None else mean_displacement(Y, prev))
        trust.append(t)
        frames.append(Y.astype(np.float32))
        methods.append(method)
        secs.append(time.perf_counter() - start)
        prev = Y
    n = len(frames)
    m = len(frames[0]) if frames else 0
    return ProjectionResult(
        idx=np.arange(m, dtype=np.int64) if idx is None else np.asarray(idx, dtype=np.int64),
        cycles=list(range(n)) if cycles is None else [int(c) for c in cycles],
        frames=frames, displacement=disp, trustworthiness=trust, seconds=secs, method=methods,
        settings=settings,
        extra_idx=[np.zeros(0, np.int64) for _ in range(n)],
        extra_xy=[np.zeros((0, 2), np.float32) for _ in range(n)],
    )


# --------------------------------------------------------------------------------------------
# From cycle records
# --------------------------------------------------------------------------------------------
def _has_display(record) -> bool:
    return len(record.display_idx) > 0 and np.asarray(record.display_h).size > 0


def map_records(records: Sequence) -> list:
    """The records that get a frame: every one carrying display data, the final (evaluation-only) record
    included when the engine stored its factors (it shows the last model's map with every label)."""
    return [r for r in records if _has_display(r)]


def _record_space_item(record, rows: np.ndarray, settings: ProjectionSettings, X_inputs):
    if settings.space == "gradient":
        return np.asarray(record.display_a)[rows], np.asarray(record.display_h)[rows]
    if settings.space == "features":
        h = np.asarray(record.display_h)[rows]
        return np.ones((len(h), 1), h.dtype), h
    if X_inputs is None:
        raise ValueError("space='inputs' needs X_inputs (the dataset's inputs, indexed by global index)")
    X = np.asarray(X_inputs)[np.asarray(record.display_idx)[rows]]
    X = X.reshape(len(X), -1).astype(np.float32)
    return np.ones((len(X), 1), X.dtype), X


def _map_rows(records: Sequence, settings: ProjectionSettings, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Global indices of the mapped points and their rows in the records' display arrays."""
    idx = np.asarray(records[0].display_idx, dtype=np.int64)
    for r in records[1:]:
        if not np.array_equal(r.display_idx, idx):
            raise ValueError(f"cycle {r.cycle}: display_idx differs from cycle {records[0].cycle}'s; "
                             "the map needs the same display set in every cycle")
    if len(idx) <= settings.max_points:
        return idx, np.arange(len(idx))
    must = np.concatenate([np.asarray(r.labeled_idx, np.int64) for r in records]
                          + [np.asarray(r.selected, np.int64) for r in records])
    keep = display_subset(y, idx, settings.max_points, np.intersect1d(must, idx), settings.random_state)
    return keep, np.searchsorted(idx, keep)


def _place_extras(record, rows_idx: np.ndarray, Y: np.ndarray, settings: ProjectionSettings, X_inputs, space_item):
    """Selected points outside the display set, drawn at their nearest display point in the same space
    (from ``selected_a``/``selected_h``; none when a record lacks them)."""
    selected = np.asarray(record.selected, dtype=np.int64)
    outside = ~np.isin(selected, rows_idx)
    if not outside.any():
        return np.zeros(0, np.int64), np.zeros((0, 2), np.float32)
    pos = np.flatnonzero(outside)
    space = _FactorSpace(*space_item)
    if settings.space == "inputs":
        X = np.asarray(X_inputs)[selected[pos]].reshape(len(pos), -1)
        D2 = space.sq_distances_to(np.ones((len(X), 1)), X)
    else:
        h = np.asarray(record.selected_h)
        a = np.asarray(record.selected_a) if settings.space == "gradient" else np.ones((len(h), 1))
        if h.ndim != 2 or len(h) != len(selected) or len(a) != len(selected):
            return np.zeros(0, np.int64), np.zeros((0, 2), np.float32)  # the record lacks the batch's factors
        D2 = space.sq_distances_to(a[pos], h[pos])
    return selected[pos], Y[np.argmin(D2, axis=1)].astype(np.float32)


def project_records(
    records: Sequence,
    X_inputs: np.ndarray | None = None,
    settings: ProjectionSettings = ProjectionSettings(),
    *,
    y: np.ndarray | None = None,
    previous_frame: np.ndarray | None = None,
    previous_trust: float | None = None,
    reference_trust: float | None = None,
    previous_method: str | None = None,
) -> ProjectionResult:
    """One frame per record that carries display data (see ``map_records``), from its ``display_*`` fields.

    ``X_inputs`` (global-indexed inputs) is needed for ``space='inputs'``, which does not change across
    cycles and is therefore laid out once and reused (method 'reused'). ``y`` (global-indexed labels)
    stratifies the subsample when the display set exceeds ``settings.max_points``. Selected points outside
    the display set are placed at their nearest display point (``extra_idx``/``extra_xy``).
    """
    records = map_records(records)
    if not records:
        raise ValueError("no record carries display data (display_idx/display_h are empty)")
    idx, rows = _map_rows(records, settings, y)
    cycles = [int(r.cycle) for r in records]
    n = len(records)
    if settings.space == "inputs":  # the same space every cycle: one layout, reused
        items = [_record_space_item(records[0], rows, settings, X_inputs)] * n
        if previous_frame is None:
            first = project_cycles(items[:1], settings, "gradient", cycles=cycles[:1], idx=idx)
            frame, trust, secs, method = first.frames[0], first.trustworthiness[0], first.seconds[0], "independent"
        else:
            frame, method, secs = np.asarray(previous_frame, np.float32), "reused", 0.0
            trust = float("nan") if reference_trust is None else float(reference_trust)
        result = ProjectionResult(
            idx=idx, cycles=cycles, frames=[frame] * n,
            displacement=[float("nan") if method == "independent" else 0.0] + [0.0] * (n - 1),
            trustworthiness=[trust] * n, seconds=[secs] + [0.0] * (n - 1),
            method=[method] + ["reused"] * (n - 1), settings=settings,
        )
    else:
        items = [_record_space_item(r, rows, settings, X_inputs) for r in records]
        result = project_cycles(items, settings, "gradient", previous_frame=previous_frame,
                                previous_trust=previous_trust, reference_trust=reference_trust,
                                previous_method=previous_method, cycles=cycles, idx=idx)
    result.extra_idx, result.extra_xy = [], []
    for r, Y, item in zip(records, result.frames, items):
        e_idx, e_xy = _place_extras(r, idx, Y, settings, X_inputs, item)
        result.extra_idx.append(e_idx)
        result.extra_xy.append(e_xy)
    return result


# --------------------------------------------------------------------------------------------
# On-disk cache, by prefix
# --------------------------------------------------------------------------------------------
def _record_fingerprint(record, settings: ProjectionSettings) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str(int(record.cycle)).encode())
    names = ["display_idx", "selected", "labeled_idx"]
    if settings.space != "inputs":
        names += ["display_a", "display_h", "selected_a", "selected_h"]
    for name in names:
        arr = np.ascontiguousarray(getattr(record, name))
        digest.update(f"{name}{arr.dtype}{arr.shape}".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def _atomic_save_npz(path: Path, arrays: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp.npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def cached_projection(
    cache_dir: str | os.PathLike,
    run_id: str,
    settings: ProjectionSettings,
    records: Sequence,
    X_inputs: np.ndarray | None = None,
    *,
    y: np.ndarray | None = None,
) -> ProjectionResult:
    """``project_records`` with each frame stored as ``cache_dir/projection/<settings.key()>/cycle_XXXX.npz``.

    ``cache_dir`` is the run's own directory. Frame t depends on frames 0..t-1, so each file carries a
    chained fingerprint of ``run_id``, the settings and the display data of every record up to its own; the
    longest matching prefix is loaded and only the rest is computed (from the last cached frame). Revisiting
    or extending a run therefore costs only the new cycles. Files are NPZ, ``allow_pickle=False``, written
    atomically.
    """
    records = map_records(records)
    if not records:
        raise ValueError("no record carries display data (display_idx/display_h are empty)")
    folder = Path(cache_dir) / "projection" / settings.key()
    chain = hashlib.blake2b(f"{run_id}|{settings.key()}".encode(), digest_size=16).hexdigest()
    chains = []
    for r in records:
        chain = hashlib.blake2b(f"{chain}|{_record_fingerprint(r, settings)}".encode(), digest_size=16).hexdigest()
        chains.append(chain)
    cached: list[dict] = []
    for r, expected in zip(records, chains):
        path = folder / f"cycle_{int(r.cycle):04d}.npz"
        if not path.exists():
            break
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["chain"]) != expected:
                    break
                cached.append({k: z[k] for k in z.files})
        except (OSError, ValueError, KeyError):
            break
    n_cached = len(cached)
    if n_cached < len(records):
        prev = cached[-1] if cached else None
        ref = None
        for c in reversed(cached):
            if str(c["method"]) not in _WARM_METHODS:
                ref = float(c["trustworthiness"])
                break
        fresh = project_records(
            records[n_cached:], X_inputs, settings, y=y,
            previous_frame=None if prev is None else prev["frame"],
            previous_trust=None if prev is None else float(prev["trustworthiness"]), reference_trust=ref,
            previous_method=None if prev is None else str(prev["method"]),
        )
        for j, r in enumerate(records[n_cached:]):
            entry = {
                "chain": np.array(chains[n_cached + j]), "cycle": np.int64(r.cycle), "idx": fresh.idx,
                "frame": fresh.frames[j], "displacement": np.float64(fresh.displacement[j]),
                "trustworthiness": np.float64(fresh.trustworthiness[j]), "seconds": np.float64(fresh.seconds[j]),
                "method": np.array(fresh.method[j]), "extra_idx": fresh.extra_idx[j], "extra_xy": fresh.extra_xy[j],
            }
            _atomic_save_npz(folder / f"cycle_{int(r.cycle):04d}.npz", entry)
            cached.append(entry)
    return ProjectionResult(
        idx=np.asarray(cached[0]["idx"], np.int64), cycles=[int(c["cycle"]) for c in cached],
        frames=[np.asarray(c["frame"], np.float32) for c in cached],
        displacement=[float(c["displacement"]) for c in cached],
        trustworthiness=[float(c["trustworthiness"]) for c in cached],
        seconds=[float(c["seconds"]) for c in cached], method=[str(c["method"]) for c in cached],
        settings=settings,
        extra_idx=[np.asarray(c["extra_idx"], np.int64) for c in cached],
        extra_xy=[np.asarray(c["extra_xy"], np.float32).reshape(-1, 2) for c in cached],
    )
