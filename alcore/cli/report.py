"""``python -m alcore report``: a sweep root's summary files (``alcore.report``)."""
from __future__ import annotations

import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.description = "Summarise every run under a sweep root: tables, learning curves, penalty matrix."
    p.add_argument("root", help="sweep root (the --out of a sweep)")
    p.add_argument("--out", help="folder for the report (default: <root>/report)")
    p.add_argument("--metric", default=None,
                   help="per-cycle column to summarise, e.g. target_loss (default: each dataset's task's primary "
                        "metric, test_accuracy or test_r2)")
    p.add_argument("--x-percent", type=float, default=90.0, dest="x_percent",
                   help="labels-to-X%%: X as a percentage of the baseline's final value of the metric")
    p.add_argument("--baseline", default="random", help="strategy the label savings are measured against")


def main(args: argparse.Namespace) -> int:
    from alcore.report import write_report

    paths = write_report(args.root, args.out, metric=args.metric, x_percent=args.x_percent, baseline=args.baseline)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
