"""``python -m alcore run``: one run, a progress line per cycle; an existing run folder is resumed. A run whose
training diverged says so and exits 1."""
from __future__ import annotations

import argparse
import sys

from alcore.cli.args import add_config_args, config_from_args, progress_line


def add_args(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    p.add_argument("--out", required=True, help="run folder (created; an existing run there is resumed)")


def main(args: argparse.Namespace) -> int:
    from alcore.loop import Experiment
    from alcore.store import RunStore

    if RunStore(args.out).exists():
        exp = Experiment.resume(args.out)
        print(f"resuming {args.out} at cycle {exp.cycle}")
    else:
        exp = Experiment(config_from_args(args), run_dir=args.out)
    total = exp.config.cycles + 1

    metric = exp.task.primary_metric
    short = {"test_accuracy": "test_acc"}.get(metric, metric)

    def report(r) -> None:
        if r.diverged:
            return
        note = f" (fallback: {r.fallback_reason})" if r.fallback_reason else ""
        target = f" target_loss={r.target_loss:.4f}" if len(exp.split.target) else ""
        print(progress_line(r.cycle + 1, total, f"cycle {r.cycle}: labels={r.n_labeled} "
                            f"{short}={getattr(r, metric):.4f} test_loss={r.test_loss:.4f}{target}{note}"), flush=True)

    exp.run(on_cycle=report)
    print(f"run stored in {args.out}")
    if exp.records and exp.records[-1].diverged:
        print(f"error: {exp.records[-1].diagnostics['diverged']}", file=sys.stderr)
        return 1
    return 0
