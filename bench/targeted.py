"""Benchmark: do the target-aware strategies lower the target loss faster than random, over many seeds?

    python bench/targeted.py                       # seeds 0-17, 5 cycles of 20 (about 10 minutes on 2 cores)
    python bench/targeted.py --seeds 0-2 --cycles 3  # what tests/test_targeted.py asserts

The two-domain digits task of tests/test_targeted.py (same code): a pool half digits 0-4 as scanned (domain A),
half the same digits through a fixed pixel permutation (domain B), the target set and the held-out set from A.
Printed per strategy: the fraction of picks from A, the mean target loss after each selection (averaged over the
cycles, the area under the loss curve) per seed and overall, its ratio to random's in the same run, and on how
many seeds and triplets of seeds it is below random's. Strategies: random (the baseline), alignment, LESS with
the engine's defaults, and LESS with the released code's matching (``target_agg="mean_cosine"``,
``label_mode="argmax"``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tests.test_targeted as targeted  # noqa: E402

STRATEGIES = {
    "random": ("random", {}),
    "alignment": ("alignment", {}),
    "less": ("less", {}),
    "less (reference code)": ("less", targeted.REFERENCE),
}


def parse_seeds(text: str) -> list[int]:
    """'0-17' or '0,3,5'."""
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0-17")
    parser.add_argument("--cycles", type=int, default=5)
    args = parser.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    torch.set_num_threads(1)
    targeted.CYCLES = args.cycles
    losses, fractions = {}, {}
    for label, (name, options) in STRATEGIES.items():
        runs = [targeted._run(name, options, seed) for seed in seeds]
        fractions[label] = float(np.mean([r[0] for r in runs]))
        losses[label] = np.array([r[1][1:].mean() for r in runs])
    base = losses["random"]
    triplets = [slice(i, i + 3) for i in range(0, len(seeds) - len(seeds) % 3, 3)]
    print(f"two-domain digits, seeds {args.seeds}, {args.cycles} cycles of {targeted.BATCH} after "
          f"{targeted.INITIAL} random labels; mean target loss over the cycles after each selection")
    for label, loss in losses.items():
        wins = int(np.sum(loss < base))
        trip = sum(loss[s].mean() < base[s].mean() for s in triplets)
        print(f"  {label:22s} picks from A {fractions[label]:.2f}   target loss {loss.mean():.3f} "
              f"({loss.mean() / base.mean():.2f}x random)   below random on {wins}/{len(seeds)} seeds, "
              f"{trip}/{len(triplets)} triplets")
        print(f"  {'':22s} per seed {np.round(loss, 3).tolist()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
