"""Study: does target-aware selection lower the target loss faster than random sampling? (digits, target 0-4)

    python bench/study_targeted.py                  # seeds 0-4: the study table, ~10 CPU minutes (bench/README.md)
    python bench/study_targeted.py --seeds 5-9      # the same on seeds the defaults were not chosen on
    python bench/study_targeted.py --smoke          # 1 seed, 2 cycles, 4 rows: what tests/test_targeted.py runs

The task: digits (10 classes), an MLP (the engine's defaults: 128 hidden units, Adam, 100 epochs), the target set 50
labelled points of classes 0-4 only, the test set all ten classes. Each run starts from 20 random labels (the same
for every strategy of a seed) and buys 5 batches of 20 through ``alcore.loop.Experiment``, so these are the
engine's own runs. A second block starts from zero labels (6 batches of 20) and compares the two cold starts,
``cold_start_strategy="self"`` (the strategy on the untrained network) and ``"auto"`` (random on images).

Columns, each the mean over seeds: ``share`` of picks from the target classes; ``final`` target loss (cross-entropy
on the target set after the last batch); ``area``, the mean target loss after each batch (the area under the
target-loss curve per cycle); ``below`` on how many seeds ``final`` / ``area`` is lower than random's in the same
block and seed; ``acc`` the final test accuracy (all ten classes); ``s/cycle`` the mean selection time.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alcore import strategies  # noqa: E402
from alcore.config import ExperimentConfig  # noqa: E402
from alcore.loop import Experiment  # noqa: E402

TARGET_CLASSES = [0, 1, 2, 3, 4]
TASK = dict(dataset="digits", model="mlp", batch_size=20, target_size=50, target_classes=TARGET_CLASSES,
            display_size=200, device="cpu")
BLOCKS = {"warm": dict(initial_labels=20, cycles=5), "cold": dict(initial_labels=0, cycles=6)}
SMOKE_BLOCKS = {"warm": dict(initial_labels=20, cycles=2, epochs=10),
                "cold": dict(initial_labels=0, cycles=2, epochs=10)}
# The old default, spelled out: the hallucinated (argmax) label's inner product on all parameters, top k.
OLD_DEFAULT = {"params": "all", "label_mode": "argmax", "normalize_candidates": False, "diverse": False,
               "mode": "signed"}
LAST_LAYER = {**OLD_DEFAULT, "params": "last_layer"}
BEST_LABEL_COSINE = {**LAST_LAYER, "label_mode": "max", "normalize_candidates": True}

# (row label, strategy, options, cold start, block); "alignment default" is whatever the engine's default is
ROWS = [
    ("random", "random", {}, "auto", "warm"),
    ("badge", "badge", {}, "auto", "warm"),
    ("alignment default", "alignment", {}, "auto", "warm"),
    ("alignment old default (all, argmax, top k)", "alignment", OLD_DEFAULT, "auto", "warm"),
    ("alignment seed's rule: mode=norm", "alignment", {**OLD_DEFAULT, "mode": "norm"}, "auto", "warm"),
    ("alignment seed's rule read as mode=magnitude", "alignment", {**OLD_DEFAULT, "mode": "magnitude"}, "auto",
     "warm"),
    ("alignment label_mode=max", "alignment", {**OLD_DEFAULT, "label_mode": "max"}, "auto", "warm"),
    ("alignment old default, diverse", "alignment", {**OLD_DEFAULT, "diverse": True}, "auto", "warm"),
    ("alignment last_layer", "alignment", LAST_LAYER, "auto", "warm"),
    ("alignment last_layer, normalize", "alignment", {**LAST_LAYER, "normalize_candidates": True}, "auto", "warm"),
    ("alignment last_layer, greedy", "alignment", {**LAST_LAYER, "greedy": True}, "auto", "warm"),
    ("alignment last_layer, max, normalize", "alignment", BEST_LABEL_COSINE, "auto", "warm"),
    ("alignment all, max, normalize", "alignment", {**BEST_LABEL_COSINE, "params": "all"}, "auto", "warm"),
    ("alignment last_layer, max, normalize, diverse", "alignment", {**BEST_LABEL_COSINE, "diverse": True},
     "auto", "warm"),
    ("ablation: default with its alignment weights set to 1", "alignment", {"_ablation": "flat_weights"}, "auto",
     "warm"),
    ("alignment all, max, normalize, diverse", "alignment", {**BEST_LABEL_COSINE, "params": "all", "diverse": True},
     "auto", "warm"),
    ("less default", "less", {}, "auto", "warm"),
    ("less reference code (mean_cosine, argmax)", "less", {"target_agg": "mean_cosine", "label_mode": "argmax"},
     "auto", "warm"),
    ("random", "random", {}, "auto", "cold"),
    ("badge, cold start self", "badge", {}, "self", "cold"),
    ("badge, cold start auto", "badge", {}, "auto", "cold"),
    ("alignment default (runs itself at cycle 0)", "alignment", {}, "auto", "cold"),
    ("alignment old default (all, argmax, top k)", "alignment", OLD_DEFAULT, "auto", "cold"),
    ("less default, cold start self", "less", {}, "self", "cold"),
    ("less default, cold start auto", "less", {}, "auto", "cold"),
]
WIDTH = max(len(r[0]) for r in ROWS)
SMOKE_ROWS = [r for r in ROWS if (r[0], r[4]) in {("random", "warm"), ("alignment default", "warm"),
                                                   ("random", "cold"), ("badge, cold start self", "cold")}]


def parse_seeds(text: str) -> list[int]:
    """'0-4' or '0,3,5'."""
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


@contextlib.contextmanager
def ablation(name: str | None):
    """``"flat_weights"``: alignment's diverse draw with every weight 1, i.e. k-means++ over the same gradient
    directions with the target ignored; shows how much of the default's effect the alignment weights carry."""
    if name is None:
        yield
        return
    if name != "flat_weights":
        raise ValueError(f"unknown ablation {name!r}")
    from alcore.strategies import alignment

    kept = alignment.ranking_utility
    alignment.ranking_utility = lambda scores, grad_norms, mode: np.ones_like(scores)
    try:
        yield
    finally:
        alignment.ranking_utility = kept


def run_one(strategy: str, options: dict, cold_start: str, start: dict, seed: int) -> dict:
    """One engine run from ``start`` (initial labels, cycles, ...); the per-run numbers the table averages."""
    options = dict(options)
    with ablation(options.pop("_ablation", None)):
        config = ExperimentConfig(**{**TASK, **start, "strategy": strategy, "strategy_options": options,
                                     "cold_start_strategy": cold_start, "seed": seed})
        records = Experiment(config).run()
    picks = np.concatenate([r.selected_labels for r in records[:-1]])
    losses = [r.target_loss for r in records]
    return {"share": float(np.isin(picks, TARGET_CLASSES).mean()), "final": losses[-1],
            "area": float(np.mean(losses[1:])), "acc": records[-1].test_accuracy,
            "select_s": float(np.mean([r.timings["select"] for r in records[:-1]])), "curve": losses,
            "fallback_cycles": int(sum(r.fallback_reason is not None for r in records[:-1]))}


def resolved(strategy: str, options: dict) -> dict:
    """Every option of the strategy with its value in this run (the defaults filled in): what the cache keys on."""
    plain = {k: v for k, v in options.items() if not k.startswith("_")}
    return {**dataclasses.asdict(strategies.get(strategy, **plain).options),
            **{k: v for k, v in options.items() if k.startswith("_")}}


def study(rows, seeds: list[int], blocks: dict, cache: Path | None = None, progress=None) -> list[dict]:
    """Every (row, seed) run, with a JSON cache keyed by the full run description when ``cache`` is given."""
    stored = json.loads(cache.read_text()) if cache is not None and cache.exists() else {}
    out = []
    for label, strategy, options, cold_start, block in rows:
        runs = []
        for seed in seeds:
            key = json.dumps([strategy, resolved(strategy, options), cold_start, blocks[block], seed],
                             sort_keys=True)
            if key not in stored:
                stored[key] = run_one(strategy, options, cold_start, blocks[block], seed)
                if cache is not None:
                    cache.write_text(json.dumps(stored))
            runs.append(stored[key])
        out.append({"label": label, "block": block, "runs": runs})
        if progress is not None:
            progress(label)
    return out


def table(results: list[dict], blocks: dict) -> str:
    """The study table, one block per starting point; below-random counts are paired by seed within a block."""
    lines = []
    for block, start in blocks.items():
        rows = [r for r in results if r["block"] == block]
        if not rows:
            continue
        base = next((r for r in rows if r["label"] == "random"), None)
        n = len(rows[0]["runs"])
        lines.append(f"\n{block} start: {start['initial_labels']} initial labels, {start['cycles']} batches of "
                     f"{TASK['batch_size']}, {n} seed(s)")
        lines.append(f"  {'strategy and options':{WIDTH}s} {'share':>5s} {'final':>6s} {'area':>6s} {'below':>7s} "
                     f"{'acc':>5s} {'s/cycle':>7s}")
        for r in rows:
            get = {k: np.array([run[k] for run in r["runs"]]) for k in ("share", "final", "area", "acc", "select_s")}
            if base is None or r is base:
                below = "-"
            else:
                bf = np.array([run["final"] for run in base["runs"]])
                ba = np.array([run["area"] for run in base["runs"]])
                below = f"{int(np.sum(get['final'] < bf))}/{n},{int(np.sum(get['area'] < ba))}/{n}"
            lines.append(f"  {r['label']:{WIDTH}s} {get['share'].mean():5.2f} {get['final'].mean():6.3f} "
                         f"{get['area'].mean():6.3f} {below:>7s} {get['acc'].mean():5.3f} "
                         f"{get['select_s'].mean():7.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--smoke", action="store_true", help="1 seed, 2 cycles, 10 epochs, 4 rows")
    parser.add_argument("--only", default=None, help="comma-separated row numbers (0-based) to run")
    parser.add_argument("--cache", type=Path, default=None, help="JSON file of finished runs, reused and extended")
    parser.add_argument("--per-seed", action="store_true", help="also print the final target loss per seed")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows, seeds, blocks = ROWS, parse_seeds(args.seeds), BLOCKS
    if args.smoke:
        rows, seeds, blocks = SMOKE_ROWS, seeds[:1], SMOKE_BLOCKS
    if args.only:
        rows = [ROWS[int(i)] for i in args.only.split(",")]
    t0 = time.perf_counter()
    results = study(rows, seeds, blocks, args.cache,
                    progress=lambda label: print(f"  ... {label} ({time.perf_counter() - t0:.0f} s)",
                                                 file=sys.stderr, flush=True))
    print(f"digits, MLP, target set 50 points of classes {TARGET_CLASSES}, seeds {args.seeds}"
          + (" (smoke)" if args.smoke else ""))
    print(table(results, blocks))
    if args.per_seed:
        for r in results:
            print(f"  {r['block']:4s} {r['label']:{WIDTH}s} final per seed {[round(x['final'], 3) for x in r['runs']]}")
    print(f"\n{len(results) * len(seeds)} runs in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
