"""``python -m alcore run``: one run, a progress line per cycle. ``--resume`` continues the run stored in ``--out``;
without it, ``--out`` must not hold a run yet (the message names the settings that differ from the stored run's). A
run whose training diverged says so and exits 1."""
from __future__ import annotations

import argparse
import sys

from alcore.cli.args import add_config_args, config_from_args, config_values_from_args, progress_line
from alcore.config import ConfigError, config_differences


def add_args(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    p.add_argument("--out", required=True, help="run folder: a new run is created there (it must not hold one)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run stored in --out from its last complete cycle (its stored config is kept)")


def main(args: argparse.Namespace) -> int:
    from alcore.loop import Experiment
    from alcore.store import RunStore

    if args.resume:
        store = RunStore(args.out)
        if not store.exists():
            raise FileNotFoundError(f"--resume: no run at {args.out} to continue; drop --resume to start one there")
        given = config_values_from_args(args)
        exp = Experiment.resume(args.out)
        differences = config_differences(exp.config.to_dict(), {**exp.config.to_dict(), **given})
        if differences:
            exp.close()
            raise ConfigError(f"--resume keeps the stored run's config, and the flags given differ from it "
                              f"({'; '.join(differences)}): drop those flags, or start a new run in another folder",
                              field=differences[0].split(":")[0])
        if exp.repaired is not None:
            print(f"{args.out}: {exp.repaired}; it and the cycles after it are computed again "
                  "(the damaged files are kept under damaged/)")
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

    with exp:
        exp.run(on_cycle=report)
    print(f"run stored in {args.out}")
    if exp.records and exp.records[-1].diverged:
        print(f"error: {exp.records[-1].diagnostics['diverged']}", file=sys.stderr)
        return 1
    return 0
