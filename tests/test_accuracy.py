"""Learning actually happens: digits, an MLP, zero labels, 10 cycles of 20 reach >= 0.80 test accuracy at 200 labels.

Run as a script to measure every baseline strategy (3 seeds each) for the release notes:

    OMP_NUM_THREADS=1 python tests/test_accuracy.py [strategy ...]
"""
from __future__ import annotations

import statistics
import sys
import time

import pytest

from alcore.config import ExperimentConfig
from alcore.loop import Experiment

SEEDS = (0, 1, 2)
BASELINES = ("random", "entropy", "margin", "least_confidence")


def accuracy_at_200_labels(strategy: str, seed: int) -> float:
    """Test accuracy of the model trained on every label bought: the final record of the run."""
    cfg = ExperimentConfig(dataset="digits", model="mlp", strategy=strategy, batch_size=20, cycles=10,
                           initial_labels=0, display_size=200, seed=seed, device="cpu")
    final = Experiment(cfg).run()[-1]
    assert final.is_final and final.n_labeled == 200
    return final.test_accuracy


@pytest.mark.slow
def test_random_sampling_reaches_80_percent_on_digits_at_200_labels():
    accuracies = [accuracy_at_200_labels("random", seed) for seed in SEEDS]
    assert statistics.mean(accuracies) >= 0.80, accuracies


if __name__ == "__main__":
    names = sys.argv[1:] or BASELINES
    print(f"digits, MLP (128 hidden, 100 epochs, Adam 1e-3), cold start, 10 cycles x 20 -> 200 labels, seeds {SEEDS}")
    for name in names:
        t = time.perf_counter()
        acc = [accuracy_at_200_labels(name, seed) for seed in SEEDS]
        print(f"{name:18s} mean {statistics.mean(acc):.4f}  sd {statistics.stdev(acc):.4f}  "
              f"per seed {' '.join(f'{a:.4f}' for a in acc)}  ({time.perf_counter() - t:.0f} s)", flush=True)
