"""Prepared check of the engine on a CUDA GPU: one script, run once on a machine that has one.

    python bench/cuda_check.py            # everything below (a few minutes on an H200, most of it the CPU runs)
    python bench/cuda_check.py --smoke    # tiny sizes; where no GPU exists, says so and exits 0 (a test runs this)

Where torch sees no CUDA device it prints why and exits with status 0, doing nothing else. On a GPU:
  1. records   every registered strategy: a 2-cycle digits run on the CPU and the same config on CUDA; per
               strategy the first selection compared (identical picks, else the overlap), the test accuracy and
               the training loss curves compared (absolute tolerance ``ACC_TOL``, relative ``LOSS_RTOL``: float32
               kernels on the GPU sum in another order, so later cycles may part ways at near-ties)
  2. badge     ``kmeanspp`` on CUDA at n=1,000,000, C=10, d=128, k=1,000 (float32; CUDA graph and eager), against
               k-means++ over the materialised n x C·d embeddings on the same GPU in the same run (k=100 of it,
               scaled to k=1,000: the materialised matrix is 5 GB); target < 0.3 s on an H200
  3. cycle     one BADGE cycle on a 200,000-point pool (bench/scale.py's child, device cuda): seconds per phase
  4. frame     a t-SNE frame of the map (5,000 display points, gradient space) from CUDA-computed factors
Exit status 1 when a check fails (records apart beyond tolerance, repeated picks, a run that errors).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ACC_TOL = 0.02
LOSS_RTOL = 1e-2
BADGE_TARGET_S = 0.3


def no_gpu_reason() -> str | None:
    """Why this machine cannot run the check, or None."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA device (torch.cuda.is_available() is False)"
    return None


def digits_run(strategy: str, device: str, cycles: int, root: Path):
    from alcore import strategies
    from alcore.config import ExperimentConfig
    from alcore.loop import Experiment

    needs_target = strategies.spec(strategy).needs_target
    config = ExperimentConfig(dataset="digits", strategy=strategy, cycles=cycles, batch_size=20, initial_labels=40,
                              seed=0, device=device, target_size=100 if needs_target else 0)
    exp = Experiment(config, run_dir=root / f"{strategy}-{device}")
    return [exp.step() for _ in range(cycles + 1)]


def check_records(cycles: int) -> bool:
    from alcore import strategies

    ok = True
    print(f"\n1. records: digits, {cycles} cycles, CPU against CUDA, every strategy")
    with tempfile.TemporaryDirectory() as tmp:
        for name in strategies.available():
            try:
                cpu, gpu = digits_run(name, "cpu", cycles, Path(tmp)), digits_run(name, "cuda", cycles, Path(tmp))
            except Exception as err:  # report and go on: one strategy's failure must not hide the others'
                print(f"  {name:<18s} FAILED: {type(err).__name__}: {err}")
                ok = False
                continue
            first = cpu[0].selected, gpu[0].selected
            overlap = len(np.intersect1d(*first)) / max(len(first[0]), 1)
            acc = max(abs(c.test_accuracy - g.test_accuracy) for c, g in zip(cpu, gpu))
            loss = max((float(np.max(np.abs(c.train_loss - g.train_loss) / np.maximum(np.abs(c.train_loss), 1e-12)))
                        for c, g in zip(cpu, gpu) if len(c.train_loss) and len(c.train_loss) == len(g.train_loss)),
                       default=0.0)
            good = acc <= ACC_TOL and loss <= LOSS_RTOL and overlap >= 0.9
            ok &= good
            print(f"  {name:<18s} first selection {'identical' if np.array_equal(*first) else f'overlap {overlap:.0%}'}"
                  f"; test accuracy max |diff| {acc:.4f}; train loss max rel diff {loss:.2e}"
                  f"  {'ok' if good else 'APART'}", flush=True)
    return ok


def check_badge(n: int, k: int, C: int = 10, d: int = 128) -> bool:
    import torch

    from alcore.strategies.badge import kmeanspp
    from bench.badge import synthetic_factors

    a, h = synthetic_factors(n, C, d)
    A, H = torch.from_numpy(a).cuda(), torch.from_numpy(h).cuda()
    print(f"\n2. badge: kmeanspp n={n:,} C={C} d={d} k={k} float32 on {torch.cuda.get_device_name()}")
    ok, best = True, {}
    for graph in (True, False):
        times = []
        for _ in range(3):
            torch.cuda.synchronize()
            t = time.perf_counter()
            picks = kmeanspp(A, H, k, np.random.default_rng(0), cuda_graph=graph)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        best[graph] = min(times)
        distinct = len(set(picks.tolist()))
        ok &= distinct == min(k, n)
        print(f"  {'CUDA graph' if graph else 'eager':<10s} best of 3 {best[graph]:.3f} s; {distinct}/{k} distinct",
              flush=True)
    k_mat = min(k, 100)
    G = (A[:, :, None] * H[:, None, :]).reshape(n, -1)  # the materialised baseline: n x C·d on the GPU
    gn = (G * G).sum(1)
    torch.cuda.synchronize()
    t = time.perf_counter()
    D2 = torch.full((n,), float("inf"), device=G.device)
    c = int(torch.argmax(gn))
    u = torch.from_numpy(np.random.default_rng(0).random(k_mat)).to(G.device)
    for step in range(1, k_mat):
        D2 = torch.minimum(D2, (gn + gn[c] - 2 * (G @ G[c])).clamp_(min=0))
        D2[c] = 0
        cum = torch.cumsum(D2.double(), 0)
        c = int(torch.searchsorted(cum, u[step] * cum[-1:], right=True).clamp_(max=n - 1))
    torch.cuda.synchronize()
    mat = (time.perf_counter() - t) * k / k_mat
    del G
    engine = min(best.values())
    print(f"  materialised n x C·d k-means++ on the GPU: {mat:.3f} s for k={k} (measured at k={k_mat}, scaled)")
    print(f"  -> engine {engine:.3f} s = {mat / engine:.1f}x faster than the materialised baseline; target < "
          f"{BADGE_TARGET_S} s on an H200: {'met' if engine < BADGE_TARGET_S else 'MISSED'}", flush=True)
    ref = kmeanspp(a[:20_000], h[:20_000], 50, np.random.default_rng(3))
    dev = kmeanspp(A[:20_000], H[:20_000], 50, np.random.default_rng(3))
    print(f"  CUDA against CPU picks (n=20,000, k=50, float32): {np.mean(ref == dev):.0%} of positions identical")
    return ok


def check_cycle(n_pool: int) -> bool:
    from bench.scale import child

    print(f"\n3. cycle: one BADGE cycle on a {n_pool:,}-point pool on CUDA (bench/scale.py's cycle)")
    r = child("badge", n_pool, "cuda", batch_size=100, initial_labels=200, epochs=100)
    phases = "  ".join(f"{k} {v:.3f}" for k, v in r["timings"].items())
    print(f"  {phases}\n  total {sum(r['timings'].values()):.2f} s; GPU peak {r['cuda_peak_mb']:,.0f} MB; "
          f"peak RSS {r['peak_rss_mb']:,.0f} MB; batch {r['batch']}", flush=True)
    return r["batch"] == 100


def check_frame(points: int) -> bool:
    import torch

    from alcore.models import build_model, predict
    from alcore.projection import ProjectionSettings, project_cycles
    from alcore.gradients import gradient_factors

    print(f"\n4. frame: a t-SNE frame of {points:,} points from factors computed on CUDA")
    X = torch.randn(points, 32)
    model = build_model("mlp", 32, 10, seed=0).cuda()
    logits, h = predict(model, X, "cuda")
    a, h = gradient_factors(torch.softmax(logits, 1), h)
    t = time.perf_counter()
    result = project_cycles([(a.numpy(), h.numpy())], ProjectionSettings(), metric="gradient")
    print(f"  {time.perf_counter() - t:.2f} s; trustworthiness {result.trustworthiness[0]:.3f}", flush=True)
    return np.isfinite(result.frames[0]).all()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (and, without a GPU, only the message)")
    args = parser.parse_args()
    reason = no_gpu_reason()
    if reason is not None:
        print(f"No CUDA GPU here: {reason}. Nothing was checked; run this script on a machine with a CUDA GPU.")
        return 0
    if args.smoke:
        ok = [check_badge(20_000, 50), check_frame(300)]
    else:
        ok = [check_records(2), check_badge(1_000_000, 1000), check_cycle(200_000), check_frame(5000)]
    print("\nall CUDA checks passed" if all(ok) else "\nsome CUDA checks FAILED")
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
