"""Every knob of a map (``ProjectionSettings``) and what a projection returns (``ProjectionResult``)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from alcore.constants import SPACES

#: What ``project_cycles`` accepts per cycle: a distance matrix, coordinates, or gradient factors (a, h).
METRICS = ("precomputed", "euclidean", "gradient")
GRADIENT_METHODS = ("auto", "bh", "fft")
MAX_PCA_DIMS = 50


@dataclass(frozen=True)
class ProjectionSettings:
    """Every knob of the map; ``key()`` names a cache entry.

    space: 'gradient' (a ⊗ h via its Gram matrix), 'features' (h) or 'inputs' (the raw inputs).
    perplexity: openTSNE perplexity, clamped to (m - 1) / 3 for small display sets.
    n_iter: iterations of a frame laid out from scratch (the first, the guard's relayouts, every frame with
        ``relayout``): min(250, n_iter // 3) with early exaggeration 12, then the rest (openTSNE's own
        schedule is 750 = 250 + 500; 250 keeps the trustworthiness at a third of the time, see
        ``alcore.projection.initialization``).
    warm_iter: iterations of a warm-started frame.
    relayout: recompute every frame from scratch (then only aligned to the previous one).
    stiffness: anchor of warm frames to their previous positions, as the fraction of a point's offset pulled
        back per iteration (0 disables it).
    max_trust_drop: a warm frame whose trustworthiness falls further than this below the last freely
        laid-out frame's is redone without the anchor, then with moved points placed among their new
        neighbours, then from openTSNE's rescaled initialisation.
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
        'placed', 'rescaled' or 'relayout' (the guard's later tiers, see ``alcore.projection.initialization``),
        'relayout (new space)' (laid out afresh at once: the previous frame did not fit the new space), or
        'reused' (the inputs space, identical in every cycle, is laid out once).
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
