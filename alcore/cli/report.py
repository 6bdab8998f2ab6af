"""``python -m alcore report``: a sweep root's summary files (``alcore.report``), and its win/loss lines."""
from __future__ import annotations

import argparse


def add_args(p: argparse.ArgumentParser) -> None:
    p.description = ("Summarise every run under a sweep root: tables, learning curves, penalty matrix; with a target "
                     "set, the seed's experiment's target-loss curves, batch diversity, animated map and win/loss "
                     "table against the baseline.")
    p.add_argument("root", help="sweep root (the --out of a sweep)")
    p.add_argument("--out", help="folder for the report (default: <root>/report)")
    p.add_argument("--metric", default=None,
                   help="per-cycle column to summarise, e.g. target_loss (default: each dataset's task's primary "
                        "metric, test_accuracy or test_r2)")
    p.add_argument("--x-percent", type=float, default=90.0, dest="x_percent",
                   help="labels-to-X%%: X as a percentage of the baseline's final value of the metric")
    p.add_argument("--baseline", default="random", help="strategy the label savings and wins are measured against")
    p.add_argument("--no-gif", action="store_false", dest="gif", help="skip the animated map (its slowest part)")


def main(args: argparse.Namespace) -> int:
    import pandas as pd

    from alcore import win_loss
    from alcore.report import write_report

    paths = write_report(args.root, args.out, metric=args.metric, x_percent=args.x_percent, baseline=args.baseline,
                         gif=args.gif)
    for name, path in paths.items():
        print(f"{name}: {path}")
    if "winloss.csv" in paths:
        print(f"win/loss against {args.baseline}, seed by seed:")
        for line in win_loss.describe(pd.read_csv(paths["winloss.csv"]), args.baseline):
            print(f"  {line}")
    return 0
