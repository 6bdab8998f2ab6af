"""Benchmark: one LESS and one alignment selection on digits with the MLP, for each setting of their options,
against the code of a baseline commit (before issue 16's work) measured in the same run, picks compared.

    python bench/selection_kernels.py                 # every option setting, 3 interleaved repeats
    python bench/selection_kernels.py --smoke         # the default setting of each, one repeat, fewer epochs
    python bench/selection_kernels.py --baseline REF  # another baseline commit (default: BASELINE_REF)

The state is a digits run's first selection: the app's model (MLP 64-128-10, 100 epochs of Adam, 4 checkpoints)
trained on 100 random labels, a target set of 100, pool of the rest; ``select(state, 20)``. Each side runs in its own
process (this tree, and the baseline's ``alcore`` extracted with ``git archive``), alternately, so that load hits
both alike; printed per setting: median wall and CPU seconds of each, their ratio, and whether the picks are
identical. Target (issue 16): at most 0.5 s per selection, picks identical to the baseline's for the same seed.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINE_REF = "fab54c2"  # main before issue 16's speed work
TARGET_S = 0.5

LESS = dict(gradient_type="auto", adam_mode="less_code", params="all", proj_dim=None, groups="one",
            target_agg="normalized_mean", label_mode="max", max_checkpoints=4)
ALIGNMENT = dict(mode="signed", params="all", normalize_candidates=False, label_mode="argmax", greedy=False)
# Options added after the baseline commit, spelt out with the value that computes what the baseline did; a tree whose
# class does not know one (the baseline's) is given the others only.
NEWER = {"alignment": {"diverse": False}}
SETTINGS = [
    ("less", {}),
    ("less", {"label_mode": "argmax", "target_agg": "mean_cosine"}),
    ("less", {"label_mode": "expected_cosine"}),
    ("less", {"gradient_type": "sgd"}),
    ("less", {"gradient_type": "sign"}),
    ("less", {"adam_mode": "paper"}),
    ("less", {"adam_mode": "frozen"}),
    ("less", {"groups": "class"}),
    ("less", {"params": "last_layer"}),
    ("less", {"gradient_type": "sgd", "params": "last_layer"}),
    ("alignment", {}),
    ("alignment", {"label_mode": "max"}),
    ("alignment", {"normalize_candidates": True}),
    ("alignment", {"params": "last_layer"}),
    ("alignment", {"params": "last_layer", "label_mode": "max", "normalize_candidates": True}),
    ("alignment", {"params": "last_layer", "greedy": True}),
    ("alignment", {"mode": "magnitude"}),
]


def label(name: str, options: dict) -> str:
    return f"{name} " + (" ".join(f"{k}={v}" for k, v in options.items()) or "(spelt-out defaults)")


def child(settings: list[tuple[str, dict]], epochs: int, pool: int | None = None) -> dict:
    """Time each setting's ``select`` once on the digits state (each strategy's first setting after an untimed
    warm-up: torch.func traces on a first call); the picks too. ``pool``: only the first rows of the pool."""
    import numpy as np
    import torch

    from alcore import strategies
    from alcore.config import ExperimentConfig
    from alcore.loop import Experiment
    from alcore.strategies.base import PoolState

    torch.set_num_threads(1)  # what a cycle of the app's small model uses (alcore.loop)
    config = ExperimentConfig(dataset="digits", strategy="random", batch_size=20, cycles=1, initial_labels=100,
                              target_size=100, epochs=epochs, seed=0, device="cpu")
    exp = Experiment(config)
    model, result = exp.train_cycle(0)
    out, warmed = {}, set()
    candidates = exp.pool[:pool] if pool else exp.pool
    for name, options in settings:
        known = {f.name for f in dataclasses.fields(strategies.get_class(name).Options)}
        newer = {k: v for k, v in NEWER.get(name, {}).items() if k in known}
        spelt = {**(LESS if name == "less" else ALIGNMENT), **newer, **options}
        strategy = strategies.get(name, **spelt)

        def state():
            return PoolState(X=exp.X, pool_idx=candidates, labeled_idx=exp.labeled, labeled_y=exp.y[exp.labeled],
                             target_idx=exp.split.target, target_y=exp.y[exp.split.target],
                             n_classes=exp.n_classes, model=model, train_result=result,
                             train_settings=exp.train_settings, seed=0)

        if name not in warmed:
            strategy.select(state(), 20, np.random.default_rng(0))
            warmed.add(name)
        s = state()
        w, c = time.perf_counter(), time.process_time()
        sel = strategy.select(s, 20, np.random.default_rng(0))
        out[label(name, options)] = {"wall": time.perf_counter() - w, "cpu": time.process_time() - c,
                                     "picks": sel.indices.tolist(), "fallback": sel.fallback_reason}
    return out


def baseline_tree(ref: str, into: Path) -> Path | None:
    """The baseline commit's ``alcore`` package extracted under ``into``; None when git cannot give it."""
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "alcore"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return into


def run_side(root: Path, settings, epochs: int, pool: int | None) -> dict:
    cmd = [sys.executable, __file__, "--child", str(root), "--epochs", str(epochs),
           "--settings", json.dumps(settings)] + (["--pool", str(pool)] if pool else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"the run in {root} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true",
                        help="each strategy's default setting, one repeat, 5 epochs, 200 pool points")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", default=BASELINE_REF)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--pool", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, args.child)
        print(json.dumps(child([tuple(s) for s in json.loads(args.settings)], args.epochs, args.pool)))
        return 0
    sys.path.insert(0, str(REPO))
    from bench.timing import load_average

    settings = [s for s in SETTINGS if not s[1]] if args.smoke else SETTINGS
    repeats, epochs, pool = (1, 5, 200) if args.smoke else (args.repeats, args.epochs, None)
    print(f"LESS and alignment on digits (MLP 64-128-10, {epochs} epochs, 100 labels, target 100, k=20); "
          f"this tree against {args.baseline}, {repeats} interleaved repeat(s); {load_average()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        base_root = baseline_tree(args.baseline, Path(tmp))
        if base_root is None:
            print(f"baseline {args.baseline} not available from git here: this tree's timings only")
        runs: dict[str, list[dict]] = {"this tree": [], "baseline": []}
        for _ in range(repeats):
            runs["this tree"].append(run_side(REPO, settings, epochs, pool))
            if base_root is not None:
                runs["baseline"].append(run_side(base_root, settings, epochs, pool))
    print(f"{'setting':<72s} {'this tree':>19s} {'baseline':>19s}  ratio  picks")
    worst = 0.0
    for name, options in settings:
        key = label(name, options)
        mine = runs["this tree"]
        wall, cpu = (statistics.median(r[key][f] for r in mine) for f in ("wall", "cpu"))
        worst = max(worst, wall)
        line = f"{key:<72s} {wall:7.3f} s ({cpu:5.3f} CPU)"
        if runs["baseline"]:
            base = runs["baseline"]
            b_wall, b_cpu = (statistics.median(r[key][f] for r in base) for f in ("wall", "cpu"))
            same = all(r[key]["picks"] == base[0][key]["picks"] for r in mine)
            line += (f" {b_wall:7.3f} s ({b_cpu:5.3f} CPU)  {b_wall / wall:4.1f}x wall {b_cpu / cpu:4.1f}x CPU  "
                     f"{'identical' if same else 'DIFFERENT'}")
        print(line, flush=True)
    print(f"slowest selection of this tree {worst:.3f} s (target <= {TARGET_S} s on an idle 2-core machine: "
          f"{'met' if worst <= TARGET_S else 'MISSED'}); {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
