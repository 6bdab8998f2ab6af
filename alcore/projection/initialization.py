"""How a frame is laid out: from scratch, or warm-started from the previous frame down a ladder of tiers.

* From scratch (frame 0, every frame with ``relayout=True``, and the guard's last tier): an independent openTSNE
  run, PCA / classical-MDS initialisation rescaled to std 1e-4 as openTSNE does, ``n_iter`` = 250 iterations, a
  third of them with early exaggeration (openTSNE's own schedule is 250 + 500). Measured at 1.4k-5k points (digits
  gradient and feature spaces, bench/projection.py's factors): trustworthiness within 0.004 of the 750-iteration
  layout's, KL divergence 4-12% higher (the clusters are still spreading), in a third of the time: ~1.1 s instead
  of 3.3 s for the app's 1,437 digits, which keeps a cycle's map within the app's 3 s.
* Warm ("warm"): frame t's coordinates *at their own scale* with fresh affinities and ``warm_iter`` iterations,
  plus an anchor ``stiffness · (y - y_prev)`` added to the t-SNE gradient (dynamic t-SNE, Rauber et al. 2016),
  which stops points drifting where the data did not change. Measured on slightly drifting synthetic factors
  (bench/projection.py, tests/test_projection.py): openTSNE's recommended rescaling of a custom initialisation to
  std 1e-4 lets the map re-expand and reshuffle, so points moved only 1.5-3x less than in independent runs;
  keeping the scale without an anchor, 5-15x less (less at small m); with the anchor (0.005) 7-40x less, at a
  trustworthiness cost of 0.005-0.02.
* Guard, because a stale layout must not pass for a map of the new embedding: a warm frame whose
  trustworthiness falls more than ``max_trust_drop`` below that of the last freely laid-out frame is redone
  without the anchor ("unanchored"); if that is still too low (the embedding changed too much for the previous
  layout to be a good start, as when a model is retrained from scratch), from the previous coordinates rescaled
  to std 1e-4, no anchor, ``warm_iter`` iterations ("rescaled"), which keeps the quality while moving about half
  as much as a re-layout; if even that falls short (a completely reshuffled embedding), from scratch
  ("relayout"). Each tier costs ``warm_iter`` more iterations, so the guard only costs time when it fires; the
  next frame starts one tier below the one that stood.
* New space: a frame that would start with a warm tier first measures the previous frame against the new space.
  If it keeps less than ``new_space_retention`` (1/2) of its better-than-chance trustworthiness there, the space
  was replaced rather than moved, as from a cold start's untrained model (cycle 0) to the first trained one: the
  warm tiers are doomed, and the reference trustworthiness belongs to the old space, so even a good rescaled frame
  can miss it and fall through to a relayout after all. Such a frame is laid out afresh at once ("relayout (new
  space)"), which also sets the reference for the frames after it. Measured on the app's default digits runs
  (4 seeds x 4 strategies, gradient space): the untrained -> trained step kept 0.29-0.51 of it, trained -> trained
  steps 0.48-0.69 (later cycles more); feature spaces and slightly drifting factors >= 0.9; a shuffle ~0.
* Placed ("placed", between "unanchored" and "rescaled"): for a space whose neighbourhoods changed a lot but did
  not vanish (an MLP retrained on more labels, where a third of the points change their predicted class), neither
  the previous layout (its points sit among their old neighbours) nor a rescaled one (every point moves) suits.
  Each point whose new nearest neighbours lie, by the median of their previous positions, further from it than a
  typical neighbourhood's radius is moved there; those points alone are then optimised with the others held
  (openTSNE's partial embedding, done here by zeroing the held points' gradient), then all points together in
  steps, stopping at the first step whose trustworthiness clears the guard's floor (or once the last step's gain,
  kept up, could not reach it). Measured on digits' gradient space (an MLP retrained each cycle, 6 cycles,
  bench/projection.py): 2.5x -> 2.7x less displacement than independent runs, trustworthiness within 0.019 of
  theirs; the first trained frame still falls to "rescaled", because its floor comes from frame 0, whose space
  (20 labels) lays out more faithfully than the next one can. When even its last step stays below the floor, the
  guard moves on.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from alcore.projection.frames import procrustes_align
from alcore.projection.quality import retained_trust
from alcore.projection.settings import ProjectionSettings

#: How a frame after the first is made, cheapest and most stable first; the guard moves down this list
#: while a frame's trustworthiness falls short.
TIERS = ("warm", "unanchored", "placed", "rescaled", "relayout")
#: The method of a frame laid out afresh before any tier was tried, because its space was replaced.
NEW_SPACE = "relayout (new space)"
#: Frames started from the previous layout at its scale; the others are laid out freely and set the
#: reference trustworthiness of the guard.
WARM_METHODS = ("warm", "unanchored", "placed")
#: Nearest neighbours whose previous positions place a moved point (tier "placed").
PLACE_NEIGHBOURS = 10


def objective(settings: ProjectionSettings, m: int, anchor: np.ndarray | None, held: np.ndarray | None = None):
    """openTSNE's KL gradient, plus the dynamic-t-SNE anchor ``(stiffness / m) (y - anchor)`` when given; the
    points of the boolean mask ``held`` get no gradient (they stay where they start).

    openTSNE's gradient is O(1/m) per point and its automatic learning rate is m, so ``stiffness`` is the
    fraction of a point's offset from its anchor pulled back per iteration (before momentum and gains).
    """
    from openTSNE.tsne import kl_divergence_bh, kl_divergence_fft

    method = settings.negative_gradient_method
    if method == "auto":
        method = "bh" if m < 10_000 else "fft"
    kl = kl_divergence_bh if method == "bh" else kl_divergence_fft
    lam = 0.0 if anchor is None else settings.stiffness / m
    if lam == 0 and held is None:
        return kl

    def anchored_kl(embedding, P, **params):
        error, gradient = kl(embedding, P, **params)
        if lam:
            gradient += lam * (np.asarray(embedding) - anchor)
        if held is not None:
            gradient[held] = 0  # with no gradient, gains and momentum never move them either
        return error, gradient

    return anchored_kl


def optimize(init: np.ndarray, affinities, objective, schedule, settings: ProjectionSettings) -> np.ndarray:
    """openTSNE's optimiser from ``init``, one ``(n_iter, exaggeration)`` phase of ``schedule`` after another."""
    from openTSNE import TSNEEmbedding

    embedding = TSNEEmbedding(
        np.ascontiguousarray(init, dtype=np.float64), affinities, negative_gradient_method=objective,
        random_state=settings.random_state, n_jobs=settings.n_jobs,
    )
    for n_iter, exaggeration in schedule:
        if n_iter > 0:
            embedding = embedding.optimize(n_iter, exaggeration=exaggeration, momentum=0.8, inplace=True)
    return np.asarray(embedding, dtype=np.float64)


def independent_frame(space, affinities, settings: ProjectionSettings) -> np.ndarray:
    """A layout from scratch: the space's PCA rescaled to std 1e-4, min(250, n_iter // 3) exaggerated
    iterations, then the rest."""
    from openTSNE import initialization

    init = initialization.rescale(space.pca(2, settings.random_state))
    early = min(250, settings.n_iter // 3)
    return optimize(init, affinities, objective(settings, len(space), None),
                    [(early, 12.0), (settings.n_iter - early, 1.0)], settings)


def tier_frame(tier: str, space, affinities, prev: np.ndarray, settings: ProjectionSettings) -> np.ndarray:
    """One frame after the first, made the way ``tier`` (one of TIERS) says."""
    from openTSNE import initialization

    if tier == "relayout":
        return independent_frame(space, affinities, settings)
    init = initialization.rescale(prev) if tier == "rescaled" else prev
    anchor = prev if tier == "warm" else None
    return optimize(init, affinities, objective(settings, len(space), anchor), [(settings.warm_iter, 1.0)], settings)


def placed_start(prev: np.ndarray, neighbours: np.ndarray, k: int = PLACE_NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """``prev`` with every point whose ``k`` new nearest neighbours (``neighbours``, nearest first) lie, by the
    median of their previous positions, further from it than the median distance from a point of ``prev`` to
    its k-th nearest neighbour there, moved to that median; and the boolean mask of the moved points."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, neighbours.shape[1], len(prev) - 1)
    target = np.median(prev[neighbours[:, :k]], axis=1)
    radius = NearestNeighbors(n_neighbors=k + 1).fit(prev).kneighbors(prev)[0][:, -1]  # itself, then k others
    moved = np.linalg.norm(prev - target, axis=1) > np.median(radius)
    init = prev.copy()
    init[moved] = target[moved]
    return init, moved


def placed_frame(affinities, prev: np.ndarray, neighbours: np.ndarray, settings: ProjectionSettings,
                 quality: Callable[[np.ndarray], float], floor: float) -> tuple[np.ndarray, float]:
    """Tier "placed": ``placed_start``, ``warm_iter`` iterations of the moved points alone, then of every point
    in steps of ``warm_iter // 4`` up to ``4 warm_iter``, stopping at the first aligned layout whose
    trustworthiness reaches ``floor``. Returns that layout (aligned to ``prev``) and its trustworthiness."""
    m = len(prev)
    init, moved = placed_start(prev, neighbours)
    Y = init
    if moved.any():
        Y = optimize(init, affinities, objective(settings, m, None, held=~moved), [(settings.warm_iter, 1.0)],
                     settings)
    step = max(1, settings.warm_iter // 4)
    steps = 4 * settings.warm_iter // step
    kl = objective(settings, m, None)
    t = -np.inf
    for done in range(1, steps + 1):
        Y = optimize(Y, affinities, kl, [(step, 1.0)], settings)
        aligned = procrustes_align(Y, prev)
        trust = quality(aligned)
        t, gain = trust, trust - t
        # Stop at the floor, or once the last step's gain, kept up, could not reach it: the tier is doomed.
        if t >= floor or (done > 1 and t + (steps - done) * max(gain, 0.0) < floor):
            break
    return aligned, t


def start_level(tiers: Sequence[str], previous_method: str | None) -> int:
    """Index of the first tier to try: one below the tier the previous frame stood at (a new-space relayout
    counts as a relayout), the first tier after a frame that was not made by the guard."""
    tier = "relayout" if previous_method == NEW_SPACE else previous_method
    return max(0, tiers.index(tier) - 1) if tier in tiers else 0


def guarded_frame(space, affinities, prev: np.ndarray, previous_trust: float | None, reference_trust: float | None,
                  previous_method: str | None, settings: ProjectionSettings,
                  quality: Callable[[np.ndarray], float],
                  neighbours: np.ndarray) -> tuple[np.ndarray, str, float]:
    """A frame after the first, aligned to ``prev``, with its method and trustworthiness (``quality(Y)``).

    Down the tiers until one keeps the trustworthiness within ``max_trust_drop`` of ``reference_trust`` (the
    last freely laid-out frame's), the last tier regardless; but laid out afresh at once, instead of trying
    the warm tiers (which start from ``prev`` at its scale), when ``prev`` does not fit the new space
    (``retained_trust`` below ``settings.new_space_retention``). ``neighbours``: each point's nearest
    neighbours in ``space``, nearest first (for the tier "placed").
    """
    # Start one tier below where the previous frame stood: a run whose embedding keeps changing a lot does not
    # pay for the doomed cheaper tiers every cycle, and returns to anchoring as it settles.
    tiers = [tier for tier in TIERS if tier != "unanchored" or settings.stiffness > 0]
    level = start_level(tiers, previous_method)
    if tiers[level] in WARM_METHODS and previous_trust is not None and settings.new_space_retention > 0:
        if retained_trust(quality(prev), previous_trust) < settings.new_space_retention:
            Y = procrustes_align(tier_frame("relayout", space, affinities, prev, settings), prev)
            return Y, NEW_SPACE, quality(Y)
    floor = -np.inf if reference_trust is None else reference_trust - settings.max_trust_drop
    for method in tiers[level:]:
        if method == "placed":
            Y, t = placed_frame(affinities, prev, neighbours, settings, quality, floor)
        else:
            Y = procrustes_align(tier_frame(method, space, affinities, prev, settings), prev)
            t = quality(Y)
        if t >= floor:
            break
    return Y, method, t
