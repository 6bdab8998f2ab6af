"""Benchmark: BADGE's k-means++ (``alcore.strategies.badge.kmeanspp``) against a plain-numpy factorised k-means++
written below, both measured in this run, and the memory of a 1,000,000-point selection.

    python bench/badge.py                 # both issue cases, float32 and float64, then the 1,000,000-point pool
    python bench/badge.py --smoke         # tiny sizes, a few seconds (tests/test_benches.py runs it)
    python bench/badge.py --no-big        # skip the 1,000,000-point pool (about a minute on 2 cores)
    python bench/badge.py --materialised  # also the k-means++ over the materialised n x C·d embeddings

The baseline (``plain_kmeanspp``, 20 lines) is the same arithmetic written the obvious way: ``D² = |g|² + |g_c|² -
2 (A a_c)(H h_c)``, a running minimum, a float64 cumulative sum and one binary search per pick, with the engine's
draw rule (the largest-norm first pick, ties by one ``rng.integers``, then the same uniforms, drawn up front, by
inverse CDF), so the two pick lists can be compared position by position. It runs with numpy's default BLAS
threads and with one BLAS thread, interleaved with the engine, and the engine's time is divided by the faster of
the two medians. Target (issue 16): engine / plain <= 1.15 on n=50,000 k=500 C=10 d=128 and n=10,000 k=100
C=100 d=512; at n=1,000,000 k=1,000 C=10 d=128 on the CPU, the selection's peak memory (the strategy's ``select``,
pool outputs included, by the peak resident set) at most 2x the pool's features (n x (C + d) float32, 0.55 GB).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alcore.strategies.badge import _next_centre, kmeanspp  # noqa: E402
from alcore.strategies.base import argmax_random_tie  # noqa: E402
from bench.timing import Timer, load_average, peak_rss_mb, reset_peak_rss, rss_mb  # noqa: E402

CASES = [(50_000, 500, 10, 128), (10_000, 100, 100, 512)]  # n, k, C, d
SMOKE_CASES = [(2_000, 20, 10, 16), (500, 10, 20, 32)]
TARGET_RATIO = 1.15
TARGET_MEMORY = 2.0


def synthetic_factors(n: int, C: int, d: int, seed: int = 0, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """``a = p - onehot(argmax p)`` from random logits and ReLU features, like a trained network's."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, C)) * 3.0
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    a = p
    a[np.arange(n), p.argmax(1)] -= 1.0
    h = np.maximum(rng.standard_normal((n, d)), 0.0)
    return a.astype(dtype), h.astype(dtype)


def plain_kmeanspp(a: np.ndarray, h: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Factorised k-means++ in plain numpy, the engine's draw rule (see the module doc)."""
    n = len(a)
    gn = (a * a).sum(1) * (h * h).sum(1)
    winners = np.flatnonzero(gn == gn.max())
    c = int(winners[rng.integers(len(winners))])
    u = rng.random(k - 1)
    D2 = np.full(n, np.inf, dtype=a.dtype)
    picks = [c]
    for t in range(1, k):
        d2 = gn + gn[c] - 2 * (a @ a[c]) * (h @ h[c])
        np.maximum(d2, 0, out=d2)
        np.minimum(D2, d2, out=D2)
        D2[c] = 0
        cum = np.cumsum(D2, dtype=np.float64)
        c = min(int(np.searchsorted(cum, u[t - 1] * cum[-1], side="right")), n - 1)
        picks.append(c)
    return np.asarray(picks)


def materialised_kmeanspp(a: np.ndarray, h: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ over the materialised ``G = [vec(a_i h_i^T)]`` (n x C·d), the engine's draw rule."""
    n = len(a)
    G = (a[:, :, None] * h[:, None, :]).reshape(n, -1)
    gn = np.einsum("ij,ij->i", G, G)
    c = argmax_random_tie(gn, rng)
    u = rng.random(k - 1)
    D2 = np.full(n, np.inf, dtype=G.dtype)
    chosen = np.zeros(n, dtype=bool)
    cum = np.empty(n)
    picks = [c]
    for t in range(1, k):
        dist = gn + gn[c] - 2.0 * (G @ G[c])
        np.maximum(dist, 0, out=dist)
        np.minimum(D2, dist, out=D2)
        c = _next_centre(D2, c, chosen, cum, u[t - 1])
        picks.append(c)
    return np.asarray(picks)


def blas_threads(n: int | None):
    if n is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits
    return threadpool_limits(n, user_api="blas")


def compare(n: int, k: int, C: int, d: int, dtype, repeats: int, materialised: bool) -> float:
    """Interleaved medians of the engine and the baselines on one case; returns engine / faster plain baseline."""
    a, h = synthetic_factors(n, C, d, dtype=dtype)
    runs = {"engine kmeanspp": (lambda: kmeanspp(a, h, k, np.random.default_rng(0)), None),
            "plain numpy, default BLAS threads": (lambda: plain_kmeanspp(a, h, k, np.random.default_rng(0)), None),
            "plain numpy, 1 BLAS thread": (lambda: plain_kmeanspp(a, h, k, np.random.default_rng(0)), 1)}
    if materialised:
        runs["materialised n x C·d, 1 BLAS thread"] = (
            lambda: materialised_kmeanspp(a, h, k, np.random.default_rng(0)), 1)
    timers = {name: Timer() for name in runs}
    picks = {}
    for _ in range(repeats):
        for name, (fn, threads) in runs.items():
            with blas_threads(threads):
                picks[name] = timers[name](fn)
    engine = timers["engine kmeanspp"]
    plain = min((timers[name] for name in runs if name.startswith("plain")), key=lambda t: t.wall)
    print(f"\nn={n:,} k={k} C={C} d={d} {np.dtype(dtype).name}  ({load_average()})")
    for name, timer in timers.items():
        same = np.mean(picks[name] == picks["engine kmeanspp"])
        print(f"  {name:<38s} {timer}  picks as the engine's: {same:.0%}")
    ratio, cpu_ratio = engine.wall / plain.wall, engine.cpu / plain.cpu
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    print(f"  -> engine / faster plain baseline: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU "
          f"(target <= {TARGET_RATIO}: {verdict})", flush=True)
    return ratio


# --- the 1,000,000-point selection, in a child process so that its peak is its own ---------------------------------

def big_child(n: int, k: int, C: int, d: int, D: int = 32) -> dict:
    """One BADGE ``select`` on an n-point pool (MLP D -> d -> C, 20 labels) and its peak resident memory."""
    import torch

    from alcore import strategies
    from alcore.models import build_model
    from alcore.strategies.base import PoolState

    X = torch.from_numpy(np.random.default_rng(0).standard_normal((n + 20, D), dtype=np.float32))
    labeled = np.arange(20)
    state = PoolState(X=X, pool_idx=np.arange(20, n + 20), labeled_idx=labeled, labeled_y=labeled % C,
                      target_idx=np.zeros(0, int), target_y=np.zeros(0, int), n_classes=C,
                      model=build_model("mlp", D, C, seed=0, hidden=(d,), dropout=0.0))
    features_mb = n * (C + d) * 4 / 2**20
    before = rss_mb()
    reset = reset_peak_rss()
    tracemalloc.start()
    t, cpu = time.perf_counter(), time.process_time()
    sel = strategies.get("badge").select(state, k, np.random.default_rng(0))
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    numpy_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {"n": n, "k": k, "seconds": seconds, "cpu": cpu, "features_mb": features_mb, "rss_before_mb": before,
            "peak_above_mb": peak_rss_mb() - before if reset else float("nan"), "numpy_peak_mb": numpy_peak,
            "distinct": len(set(sel.indices.tolist())), "torch_threads": torch.get_num_threads()}


def big_pool(n: int, k: int, C: int = 10, d: int = 128) -> bool:
    cmd = [sys.executable, __file__, "--big-child", str(n), str(k), str(C), str(d)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        print(f"\nn={n:,} selection FAILED:\n{proc.stderr[-2000:]}")
        return False
    r = json.loads(lines[-1])
    ratio = r["peak_above_mb"] / r["features_mb"]
    print(f"\nBADGE select, n={n:,} k={k} C={C} d={d} on the CPU ({load_average()}): {r['seconds']:.1f} s wall, "
          f"{r['cpu']:.1f} s CPU; peak resident memory above the process before it {r['peak_above_mb']:,.0f} MB "
          f"(numpy's share by tracemalloc {r['numpy_peak_mb']:,.0f} MB) = {ratio:.2f}x the pool's features "
          f"({r['features_mb']:,.0f} MB; target <= {TARGET_MEMORY}x: {'met' if ratio <= TARGET_MEMORY else 'MISSED'})"
          f"; {r['distinct']} distinct picks", flush=True)
    return r["distinct"] == k


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-big", action="store_true", help="skip the 1,000,000-point selection")
    parser.add_argument("--materialised", action="store_true", help="add the materialised baseline")
    parser.add_argument("--big-child", nargs=4, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.big_child:
        print(json.dumps(big_child(*args.big_child)))
        return 0
    print(f"BADGE k-means++ against plain numpy, interleaved, {args.repeats if not args.smoke else 2} repeats; "
          f"{load_average()}")
    cases = SMOKE_CASES if args.smoke else CASES
    for n, k, C, d in cases:
        for dtype in (np.float32, np.float64):
            compare(n, k, C, d, dtype, 2 if args.smoke else args.repeats, args.materialised or args.smoke)
    ok = True
    if args.smoke:
        ok = big_pool(20_000, 20)
    elif not args.no_big:
        ok = big_pool(1_000_000, 1000)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
