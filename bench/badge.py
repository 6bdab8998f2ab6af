"""Benchmark: factorised BADGE k-means++ (``alcore.strategies.badge.kmeanspp``) against k-means++ over the
materialised ``n x C·d`` gradient embeddings, both measured in this run.

    python bench/badge.py                 # CPU sizes (about five minutes on 2 cores, most of it the baselines)
    python bench/badge.py --quick         # small sizes only (smoke run)
    python bench/badge.py --cuda          # adds n=1,000,000, C=10, d=128, k=1,000 on the GPU when there is one

Targets (docs/methods.md#badge-computation, issue): n=50,000 C=10 d=128 k=500: >= 8x faster than the materialised
baseline; n=20,000 C=100 d=512 k=100: < 5 s and peak memory above the inputs >= 20x below the baseline's; CUDA n=1e6
k=1,000: < 0.3 s on an H200. Each line prints seconds, peak MB above the inputs and the ratio.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alcore.strategies.badge import _next_centre, kmeanspp  # noqa: E402
from alcore.strategies.base import argmax_random_tie  # noqa: E402


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


def materialised_kmeanspp(a: np.ndarray, h: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """The straightforward version: build ``G = [vec(a_i h_i^T)]`` (n x C·d), keep a running min-distance vector,
    ``||G - g_c||^2 = ||G||^2 + ||g_c||^2 - 2 G g_c`` per step. Same first-centre and draw rules as ``kmeanspp``
    (so the selections can be compared, BD5)."""
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


def measure(fn, *args, repeat: int = 1) -> tuple[float, float, object]:
    """(best seconds, peak MB allocated during the call as seen by tracemalloc, result)."""
    best, peak, out = float("inf"), 0.0, None
    for _ in range(repeat):
        tracemalloc.start()
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
        peak = max(peak, tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
    return best, peak, out


def blas_threads(n: int | None):
    if n is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits
    return threadpool_limits(n, user_api="blas")


def available_gb() -> float:
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: line.split()[1] for line in f}
        return int(info["MemAvailable"]) / 2**20
    except (OSError, KeyError):
        return float("nan")


def line(label: str, seconds: float, peak_mb: float, extra: str = "") -> None:
    print(f"{label:<58s} {seconds:9.3f} s  peak {peak_mb:9.1f} MB  {extra}", flush=True)


def sanity_bd5(seeds: int = 20) -> None:
    """BD5: in float64 the factorised and materialised runs pick the same points for the same rng stream."""
    a, h = synthetic_factors(1500, 6, 24, seed=1, dtype=np.float64)
    same = sum(np.array_equal(kmeanspp(a, h, 40, np.random.default_rng(s)),
                              materialised_kmeanspp(a, h, 40, np.random.default_rng(s))) for s in range(seeds))
    print(f"BD5 sanity (n=1500, C=6, d=24, k=40, float64): identical selections for {same}/{seeds} seeds", flush=True)
    if same != seeds:
        raise SystemExit("BD5 sanity check failed")


def compare(n: int, C: int, d: int, k: int, run_baseline: bool = True) -> tuple[float, float, float, float]:
    a, h = synthetic_factors(n, C, d)
    inputs_mb = (a.nbytes + h.nbytes) / 2**20
    tag = f"n={n:,} C={C} d={d} k={k} float32"
    t_fast, m_fast, picks = measure(kmeanspp, a, h, k, np.random.default_rng(0), repeat=2)
    line(f"kmeanspp (factorised)       {tag}", t_fast, m_fast, f"inputs {inputs_mb:.1f} MB")
    baseline_bytes = n * C * d * 4
    if not run_baseline:
        line(f"materialised baseline (not run) {tag}", float("nan"), baseline_bytes / 2**20,
             f"matrix alone; memory ratio >= {baseline_bytes / 2**20 / max(m_fast, 1e-9):.0f}x")
        return t_fast, m_fast, float("nan"), baseline_bytes / 2**20
    results = []
    for threads in (None, 1):  # the baseline gets its better BLAS setting
        with blas_threads(threads):
            t_base, m_base, picks_base = measure(materialised_kmeanspp, a, h, k, np.random.default_rng(0))
        label = "default BLAS threads" if threads is None else "1 BLAS thread"
        line(f"materialised baseline ({label}) {tag}", t_base, m_base)
        results.append((t_base, m_base))
    t_base = min(r[0] for r in results)
    m_base = max(r[1] for r in results)
    agree = np.mean(np.asarray(picks_base) == picks)
    print(f"  -> speed-up {t_base / t_fast:6.1f}x (vs the faster baseline), peak memory ratio "
          f"{m_base / max(m_fast, 1e-9):6.1f}x; same picks as the baseline at {agree:.0%} of positions (float32 draws "
          "part ways at the first rounding-level difference; the BD5 check above is float64)", flush=True)
    return t_fast, m_fast, t_base, m_base


def skactiveml(n: int, C: int, d: int, k: int) -> None:
    try:
        from skactiveml.pool import Badge  # noqa: F401
    except ImportError:
        print("scikit-activeml not installed: its Badge is skipped", flush=True)
        return
    print("scikit-activeml is installed, but its Badge needs a fitted classifier wrapper; not timed here", flush=True)


def cuda_bench(n: int = 1_000_000, C: int = 10, d: int = 128, k: int = 1000) -> None:
    import torch

    if not torch.cuda.is_available():
        print("--cuda: no CUDA device, skipped", flush=True)
        return
    a, h = synthetic_factors(n, C, d)
    A, H = torch.from_numpy(a).cuda(), torch.from_numpy(h).cuda()
    torch.cuda.synchronize()
    tag = f"n={n:,} C={C} d={d} k={k} float32 {torch.cuda.get_device_name()}"
    for graph in (False, True):
        best = float("inf")
        for rep in range(3):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            t = time.perf_counter()
            picks = kmeanspp(A, H, k, np.random.default_rng(0), cuda_graph=graph)
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
            peak = (torch.cuda.max_memory_allocated() - base) / 2**20
        line(f"kmeanspp CUDA ({'graph' if graph else 'eager'}) {tag}", best, peak,
             f"distinct {len(set(picks.tolist()))}/{k}, target < 0.3 s")
    # CPU reference of the same selection at a smaller k: the device path draws the same way
    ref = kmeanspp(a[:200_000], h[:200_000], 50, np.random.default_rng(3))
    dev = kmeanspp(A[:200_000], H[:200_000], 50, np.random.default_rng(3))
    print(f"  CUDA vs CPU picks (n=200,000, k=50): {np.mean(ref == dev):.0%} identical positions", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cuda", action="store_true", help="also run the CUDA size when a GPU exists")
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--skip-big-baseline", action="store_true",
                        help="do not run the 4 GB materialised baseline at C=100, d=512 (report its size only)")
    args = parser.parse_args()
    try:
        import torch
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    except ImportError:
        pass
    print(f"cores {os.cpu_count()}, available memory {available_gb():.1f} GB", flush=True)
    sanity_bd5()
    if args.quick:
        compare(5000, 10, 64, 100)
    else:
        t_fast, _, t_base, _ = compare(50_000, 10, 128, 500)
        print(f"TARGET speed-up >= 8x at n=50,000 C=10 d=128 k=500: {t_base / t_fast:.1f}x "
              f"({'met' if t_base / t_fast >= 8 else 'MISSED'})", flush=True)
        big_bytes = 20_000 * 100 * 512 * 4
        run_big = not args.skip_big_baseline and available_gb() > 3 * big_bytes / 2**30
        if not run_big and not args.skip_big_baseline:
            print(f"not enough free memory for the {big_bytes / 2**30:.1f} GB baseline: size only", flush=True)
        t_fast, m_fast, t_base, m_base = compare(20_000, 100, 512, 100, run_baseline=run_big)
        print(f"TARGET < 5 s at n=20,000 C=100 d=512 k=100: {t_fast:.2f} s ({'met' if t_fast < 5 else 'MISSED'}); "
              f"memory ratio >= 20x: {m_base / m_fast:.0f}x ({'met' if m_base / m_fast >= 20 else 'MISSED'})",
              flush=True)
        skactiveml(20_000, 100, 512, 100)
    if args.cuda:
        cuda_bench()


if __name__ == "__main__":
    main()
