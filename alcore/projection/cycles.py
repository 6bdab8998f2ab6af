"""Aligned t-SNE frames of the same points seen in one space per cycle: affinities, layout, alignment, quality."""
from __future__ import annotations

import time
from typing import Iterable, Sequence

import numpy as np

from alcore.projection.affinities import affinities as make_affinities
from alcore.projection.affinities import neighbours_needed
from alcore.projection.frames import mean_displacement, procrustes_align
from alcore.projection.initialization import WARM_METHODS, guarded_frame, independent_frame
from alcore.projection.quality import quality_sample, sample_ranks, trust_from_ranks
from alcore.projection.settings import METRICS, ProjectionResult, ProjectionSettings
from alcore.projection.spaces import as_space, reduce


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

    Every frame is rigidly Procrustes-aligned to the previous one and reports its mean displacement from it and
    its trustworthiness on the fixed quality sample; how each frame is laid out is in
    ``alcore.projection.initialization``.

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
        original = as_space(item, metric)
        space = reduce(original, settings)
        m = len(space)
        if m < 4:
            raise ValueError(f"a map needs at least 4 points, got {m}")
        if prev is not None and len(prev) != m:
            raise ValueError(f"every space must hold the same {len(prev)} points, got {m}")
        if sample is None:
            sample = quality_sample(m, settings)
        knn = space.knn(neighbours_needed(settings.perplexity, m))
        affinities = make_affinities(space, settings.perplexity, settings.n_jobs, knn)
        ranks = sample_ranks(original, sample)

        def quality(Y: np.ndarray) -> float:
            return trust_from_ranks(ranks, Y[sample], settings.trust_neighbors)

        if prev is None or settings.relayout:
            Y, method = independent_frame(space, affinities, settings), "independent"
            if prev is not None:
                Y = procrustes_align(Y, prev)
            t = quality(Y)
        else:
            Y, method, t = guarded_frame(space, affinities, prev, prev_trust, ref_trust, prev_method, settings,
                                         quality, knn[0])
        prev_method, prev_trust = method, t
        if method not in WARM_METHODS:
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
