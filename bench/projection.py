"""Benchmark: the map's frames and its GIF at 5,000 points, against baselines measured in the same process.

    python bench/projection.py                 # 5,000 points, 4 cycles, GIF of 10 frames
    python bench/projection.py --points 2000   # smoke run
    python bench/projection.py --n-jobs 2      # openTSNE threads (results do not depend on it)

Data: gradient factors (a, h) of ``--points`` points in 10 classes (C = 10, d = 64) whose features and head
drift slightly every cycle (1% of the within-class spread), as in tests/test_projection.py.

Printed:
  frames       per frame: method, seconds (affinities + optimisation + alignment + trustworthiness), mean
               displacement from the previous frame in map widths, trustworthiness (k = 10, on 1,000 points)
  ratios       the mean warm frame's seconds against three baselines, all on the same points, same process:
                 independent frame   our own frame from scratch with openTSNE's schedule (``relayout=True``,
                                     ``n_iter=750``: exact kNN from the Gram matrix, PCA init, 250 + 500
                                     iterations; the map's own first frame takes 250, see
                                     alcore/projection/initialization.py)
                 openTSNE TSNE.fit   ``openTSNE.TSNE().fit`` on the 50-dim PCA of the gradient embeddings
                                     (its default approximate kNN, PCA init, 250 + 500 iterations)
                 openTSNE warm start openTSNE's own recipe, for scale: new affinities on the PCA coordinates,
                                     the previous frame rescaled to std 1e-4, 100 iterations
               then displacement(independent) / displacement(warm) and the trustworthiness differences
  guard        one frame whose points were shuffled (the embedding changed completely): with the new-space
               check (the default) it is laid out afresh at once; without it (``new_space_retention=0``), the
               guard's tiers (anchored warm start, unanchored, placed, openTSNE's rescaled start, relayout) until one
               keeps the trustworthiness; the method that stood, its seconds against the independent frame
  digits       the app's default case, a real one: digits (1,797 points), an MLP retrained from scratch on
               20 more random labels each cycle (6 cycles), gradient and feature spaces: displacement ratio, the
               displacement of each frame, trustworthiness differences and the methods the guard chose (skip
               with --no-digits); then a
               cold start as in the app's default run (cycle 0's model untrained): per frame, method and seconds
               with and without the new-space check
  gif          ``render_gif`` of 10 frames x ``--points`` points, 720 x 480, and the plotly map figure's build time
Targets (issue): a new frame <= 30% of an independent openTSNE run; warm frames move >= 5x less than
independent runs with trustworthiness within 0.02; the 10-frame GIF of 5,000 points in < 5 s.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from alcore.projection import ProjectionSettings, gradient_pca, project_cycles  # noqa: E402


def drifting_factors(m: int, cycles: int, n_classes: int = 10, d: int = 64, drift: float = 0.01, seed: int = 0):
    """The tests' drifting factors (tests/test_projection.py) at the bench's size, as (a, h) pairs."""
    from tests.test_projection import drifting_factors as factors_with_probs

    y, out = factors_with_probs(m=m, n_classes=n_classes, d=d, cycles=cycles, drift=drift, seed=seed)
    return y, [(a, h) for a, h, _ in out]


def digits_factors(cycles: int = 5, batch: int = 20, epochs: int = 100, seed: int = 0, cold_start: bool = False):
    """(a, h) of every digit under an MLP (64-64-10) retrained from scratch on a growing random labelled set;
    with ``cold_start`` the first cycle's model is the untrained one (no labels yet, as in the app's default run)."""
    import torch
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = torch.tensor((X - X.mean(0)) / (X.std(0) + 1e-6), dtype=torch.float32)
    target = torch.tensor(y)
    rng = np.random.default_rng(seed)
    labeled = list(rng.choice(len(y), batch, replace=False))
    out = []
    for cycle in range(cycles):
        torch.manual_seed(seed)
        body, head = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU()), torch.nn.Linear(64, 10)
        optimizer = torch.optim.Adam([*body.parameters(), *head.parameters()], 1e-3)
        rows = torch.tensor(labeled)
        for _ in range(0 if cold_start and cycle == 0 else epochs):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(head(body(X[rows])), target[rows]).backward()
            optimizer.step()
        with torch.no_grad():
            h = body(X)
            p = torch.softmax(head(h), dim=1).double()
        a = p.clone()
        a[torch.arange(len(p)), p.argmax(1)] -= 1
        out.append((a.float().numpy(), h.numpy()))
        if not (cold_start and cycle == 0):
            labeled += list(rng.choice(np.setdiff1d(np.arange(len(y)), labeled), batch, replace=False))
    return out


OPENTSNE_ITER = 750  # openTSNE's default schedule, 250 exaggerated + 500: the baseline's independent run


def opentsne_full(Z: np.ndarray, n_jobs: int) -> float:
    from openTSNE import TSNE

    start = time.perf_counter()
    TSNE(n_jobs=n_jobs, random_state=0).fit(Z)
    return time.perf_counter() - start


def opentsne_warm(Z: np.ndarray, previous: np.ndarray, n_jobs: int) -> float:
    from openTSNE import TSNEEmbedding, affinity, initialization

    start = time.perf_counter()
    affinities = affinity.PerplexityBasedNN(Z, perplexity=30, n_jobs=n_jobs, random_state=0)
    embedding = TSNEEmbedding(initialization.rescale(previous), affinities, n_jobs=n_jobs, random_state=0)
    embedding.optimize(100, momentum=0.8, inplace=True)
    return time.perf_counter() - start


def gif_frames(y: np.ndarray, frames: list[np.ndarray], n_frames: int, seed: int = 0) -> pd.DataFrame:
    """A 10-cycle frames table from the projected frames (cycled, slightly jittered), 20 picks per cycle."""
    rng = np.random.default_rng(seed)
    m = len(y)
    order = rng.permutation(m)
    parts = []
    for c in range(n_frames):
        xy = frames[c % len(frames)] + 0.05 * c * rng.normal(size=(m, 2))
        state = np.full(m, "pool", dtype=object)
        state[order[: 20 * c]] = "labeled"
        state[order[20 * c: 20 * (c + 1)]] = "selected"
        parts.append(pd.DataFrame({
            "cycle": c, "idx": np.arange(m), "x": xy[:, 0], "y": xy[:, 1], "label": y, "pred": (y + (c % 3 == 0)) % 10,
            "utility": np.where(state == "labeled", np.nan, rng.random(m)), "state": state, "in_display": True,
        }))
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=5000)
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--gif-frames", type=int, default=10)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--no-digits", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="300 points, 2 cycles, 2 GIF frames, no digits")
    args = parser.parse_args()
    if args.smoke:
        args.points, args.cycles, args.gif_frames, args.no_digits = 300, 2, 2, True

    y, factors = drifting_factors(args.points, args.cycles)
    warm_settings = ProjectionSettings(n_jobs=args.n_jobs)
    independent_settings = ProjectionSettings(relayout=True, n_iter=OPENTSNE_ITER, n_jobs=args.n_jobs)
    print(f"{args.points} points, {args.cycles} cycles, openTSNE n_jobs={args.n_jobs}")

    warm = project_cycles(factors, warm_settings, metric="gradient")
    independent = project_cycles(factors, independent_settings, metric="gradient")
    for name, result in (("warm", warm), ("independent", independent)):
        print(f"\n{name} frames:   method        seconds  displacement  trustworthiness")
        for t in range(len(result)):
            print(f"  cycle {t}        {result.method[t]:<12}  {result.seconds[t]:7.2f}  {result.displacement[t]:12.4f}"
                  f"  {result.trustworthiness[t]:15.4f}")

    Z = gradient_pca(*factors[-1], n_components=50)
    full = opentsne_full(Z, args.n_jobs)
    own_warm = opentsne_warm(Z, warm.frames[-2], args.n_jobs)
    warm_seconds = statistics.mean(warm.seconds[1:])
    independent_seconds = statistics.mean(independent.seconds)
    moved_warm = float(np.mean(warm.displacement[1:]))
    moved_independent = float(np.mean(independent.displacement[1:]))
    trust_diff = np.array(warm.trustworthiness) - np.array(independent.trustworthiness)
    print("\nratios (same points, same process)")
    print(f"  warm frame {warm_seconds:.2f} s / independent frame {independent_seconds:.2f} s"
          f" = {warm_seconds / independent_seconds:.1%}")
    print(f"  warm frame {warm_seconds:.2f} s / openTSNE TSNE.fit {full:.2f} s = {warm_seconds / full:.1%}"
          "   (target <= 30%)")
    print(f"  openTSNE warm start {own_warm:.2f} s / openTSNE TSNE.fit = {own_warm / full:.1%}   (for scale)")
    print(f"  displacement independent / warm = {moved_independent:.4f} / {moved_warm:.4f}"
          f" = {moved_independent / moved_warm:.1f}x   (target >= 5x)")
    print(f"  trustworthiness warm - independent per frame = {np.round(trust_diff, 4).tolist()}"
          f"   (target >= -0.02)")

    shuffled = np.random.default_rng(1).permutation(args.points)
    a, h = factors[-1]
    tiers_only = ProjectionSettings(n_jobs=args.n_jobs, new_space_retention=0.0)
    for name, settings in (("guard", warm_settings), ("guard, tiers only", tiers_only)):
        guard = project_cycles([(a, h), (a[shuffled], h[shuffled])], settings, metric="gradient")
        print(f"\n{name}: shuffled frame -> method {guard.method[1]}, {guard.seconds[1]:.2f} s"
              f" = {guard.seconds[1] / independent_seconds:.1%} of an independent frame,"
              f" trustworthiness {guard.trustworthiness[1]:.4f} (frame 0: {guard.trustworthiness[0]:.4f})")

    if not args.no_digits:
        factors_digits = digits_factors(cycles=6)
        for space in ("gradient", "features"):
            spaces = factors_digits if space == "gradient" else [(np.ones((len(h), 1), np.float32), h)
                                                                for _, h in factors_digits]
            w = project_cycles(spaces, warm_settings, metric="gradient")
            r = project_cycles(spaces, independent_settings, metric="gradient")
            ratio = np.mean(r.displacement[1:]) / np.mean(w.displacement[1:])
            diff = np.round(np.array(w.trustworthiness) - np.array(r.trustworthiness), 4).tolist()
            print(f"\ndigits, {space} space: displacement independent / warm = {ratio:.1f}x,"
                  f" trustworthiness warm - independent = {diff}")
            print(f"  displacement per frame warm {np.round(w.displacement[1:], 3).tolist()},"
                  f" independent {np.round(r.displacement[1:], 3).tolist()}")
            print(f"  methods {w.method}; warm frame {np.mean(w.seconds[1:]):.2f} s,"
                  f" independent frame {np.mean(r.seconds):.2f} s")
        cold = digits_factors(cycles=3, cold_start=True)
        print("\ndigits, cold start (cycle 0 untrained), gradient space: method and seconds per frame")
        for name, settings in (("new-space check", warm_settings), ("tiers only", tiers_only),
                               ("independent", independent_settings)):
            c = project_cycles(cold, settings, metric="gradient")
            print(f"  {name:<16} " + " | ".join(f"{m} {sec:.2f} s" for m, sec in zip(c.method, c.seconds)))

    from alcore.viz.animated_map import map_figure
    from alcore.viz.gif import render_gif

    df = gif_frames(y, warm.frames, args.gif_frames)
    start = time.perf_counter()
    data = render_gif(df, None, size=(720, 480), fps=2, color_by="label")
    gif_seconds = time.perf_counter() - start
    start = time.perf_counter()
    render_gif(df, pd.DataFrame({"cycle": range(args.gif_frames), "n_labeled": [20 * c for c in range(args.gif_frames)],
                                 "test_accuracy": np.linspace(0.3, 0.9, args.gif_frames)}), color_by="utility")
    gif_curve_seconds = time.perf_counter() - start
    start = time.perf_counter()
    map_figure(df, "label", webgl=False)
    map_seconds = time.perf_counter() - start
    print(f"\ngif: {args.gif_frames} frames x {args.points} points, 720x480: {gif_seconds:.2f} s"
          f" ({len(data) / 1e6:.2f} MB);"
          f" with the learning-curve panel, coloured by utility: {gif_curve_seconds:.2f} s   (target < 5 s)")
    print(f"plotly map figure, {args.gif_frames} frames x {args.points} points: {map_seconds:.2f} s")


if __name__ == "__main__":
    main()
