"""Benchmark: the seconds of each phase of one acquisition cycle, at about 100 labels, against baselines.

    python bench/cycle.py                  # digits and a 20,000-point blobs pool; entropy and badge; 5 repeats
    python bench/cycle.py --repeats 2      # smoke run
    python bench/cycle.py --threads 1      # torch.set_num_threads(1) first (see the note printed at the end)

A cycle is one ``Experiment.step()``: train on the labelled set, score the pool and select (``select``), evaluate on
the test and target sets, batch diversity, the display factors for the map, and the write to the run folder. Each
repeat builds a fresh Experiment with ``initial_labels=100`` and times exactly one step, so every repeat does the
same work; the run's one-time fixed embedding (PCA, used by the diversity metrics) is computed before the clock
starts and printed separately. One untimed cycle first warms up the process (torch imports its compiler stack the
first time an optimizer is built, several seconds on a busy machine).

Printed per (dataset, strategy): the median seconds of each phase from ``record.timings``, ``other`` (wall
time not inside a named phase), ``total`` (wall time of ``step()``) and the process CPU time of the step (all
threads; on a machine shared with other work, CPU time with one thread is the steadier figure), then the ratios
against two baselines measured in the same run on the same 100 labels:
  sklearn LR   scikit-learn ``LogisticRegression(max_iter=1000).fit`` on the same standardised inputs: the cost of
               the cheapest reasonable model fit, with no active learning around it
  train phase  the cycle's own training phase: total / train says what the rest of the cycle adds to it
Target (issue 16): one digits cycle (train, score, select, evaluate, store) with the default settings under 0.2 s on a
2-core machine.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from alcore import strategies  # noqa: E402
from alcore.config import ExperimentConfig  # noqa: E402
from alcore.loop import Experiment  # noqa: E402
from bench.timing import load_average  # noqa: E402

TARGET_S = 0.2
PHASES = ("train", "select", "evaluate", "diversity", "display", "store")
LABELS = 100

SCENARIOS = {
    "digits": dict(dataset="digits", dataset_options={}),
    "blobs-20k": dict(dataset="blobs", dataset_options={"n_samples": 25000, "n_features": 32, "n_classes": 10}),
}


def make_config(scenario: str, strategy: str, seed: int) -> ExperimentConfig:
    """The app's defaults (MLP 128, 100 epochs, Adam, batches of 20), starting from 100 random labels."""
    return ExperimentConfig(**SCENARIOS[scenario], model="mlp", strategy=strategy, batch_size=20, cycles=1,
                            initial_labels=LABELS, seed=seed, device="cpu")


def time_cycle(scenario: str, strategy: str, seed: int, root: Path) -> dict[str, float]:
    """Phases of one step() of a fresh experiment, plus the sklearn baseline on the same labels."""
    exp = Experiment(make_config(scenario, strategy, seed), run_dir=root / f"{scenario}-{strategy}-{seed}")
    t = time.perf_counter()
    exp.fixed_space()
    fixed = time.perf_counter() - t

    t, cpu = time.perf_counter(), time.process_time()
    record = exp.step()
    total, cpu = time.perf_counter() - t, time.process_time() - cpu
    assert record.n_labeled == LABELS and len(record.selected) == 20

    row = {phase: record.timings.get(phase, 0.0) for phase in PHASES}
    row["other"] = total - sum(row.values())
    row["total"] = total
    row["cpu"] = cpu
    row["fixed_space (once per run)"] = fixed
    row["sklearn LR"] = sklearn_baseline(exp)
    return row


def sklearn_baseline(exp: Experiment) -> float:
    from sklearn.linear_model import LogisticRegression

    X = exp.X[exp.labeled].numpy()
    y = exp.y[exp.labeled]
    t = time.perf_counter()
    LogisticRegression(max_iter=1000).fit(X, y)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads before anything runs")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--smoke", action="store_true", help="one repeat on digits, a few seconds")
    args = parser.parse_args()
    if args.smoke:
        args.repeats, args.scenarios = 1, ["digits"]
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [s for s in ("entropy", "badge") if s in strategies.available()]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s); {args.repeats} repeats, "
          f"medians in seconds; {LABELS} labels, batch 20, MLP(128), 100 epochs")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        time_cycle("digits", "random", 999, root)  # warm-up: imports, first optimizer, first k-means
        print(f"warm-up cycle (untimed below): {time.perf_counter() - t:.2f} s")
        for scenario in args.scenarios:
            for strategy in names:
                rows = [time_cycle(scenario, strategy, seed, root) for seed in range(args.repeats)]
                med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
                phases = "  ".join(f"{k} {med[k]:.3f}" for k in (*PHASES, "other"))
                print(f"\n{scenario} / {strategy}: {phases}")
                print(f"  total {med['total']:.3f} s (min {min(r['total'] for r in rows):.3f}, "
                      f"max {max(r['total'] for r in rows):.3f}; process CPU {med['cpu']:.3f} s);  "
                      f"fixed_space once per run "
                      f"{med['fixed_space (once per run)']:.3f} s")
                print(f"  baseline sklearn LR fit on the same {LABELS} labels {med['sklearn LR']:.3f} s -> "
                      f"cycle / LR = {med['total'] / med['sklearn LR']:.1f}x;  "
                      f"cycle / train phase = {med['total'] / med['train']:.2f}x")
                if scenario == "digits":
                    verdict = "meets" if med["total"] < TARGET_S else "MISSES"
                    print(f"  target: one digits cycle < {TARGET_S} s -> {med['total']:.3f} s, {verdict} it "
                          f"({load_average()})")
    if torch.get_num_threads() > 1:
        print("\nnote: tiny models spend most of a multi-threaded step synchronising threads; "
              "compare with --threads 1")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
