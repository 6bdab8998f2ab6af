"""``python -m alcore gif``: a stored run's map, cycle by cycle, as an animated GIF."""
from __future__ import annotations

import argparse

from alcore.constants import COLOR_BY, SPACES, color_by_labels


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("--out", required=True)
    p.add_argument("--fps", type=float, default=2.0)
    p.add_argument("--width", type=int, default=720)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--color-by", default="label", dest="color_by",
                   choices=list(dict.fromkeys([*COLOR_BY, *color_by_labels("regression")])),
                   help="residual: a regression run's predicted minus true value")
    p.add_argument("--space", default="gradient", choices=list(SPACES))
    p.add_argument("--max-points", type=int, default=None, dest="max_points")
    p.add_argument("--no-curve", action="store_true", dest="no_curve")
    p.add_argument("--curve-metric", default=None, dest="curve_metric",
                   help="the curve beside the map: target_loss (the default when the run has a target set) or the "
                        "task's metric (test_accuracy, test_r2)")


def main(args: argparse.Namespace) -> int:
    from alcore import atomic_files
    from alcore.export import run_gif_bytes

    data = run_gif_bytes(args.run_dir, space=args.space, size=(args.width, args.height), fps=args.fps,
                         color_by=args.color_by, max_points=args.max_points, show_curve=not args.no_curve,
                         curve_metric=args.curve_metric)
    atomic_files.write_bytes(args.out, data)
    print(f"wrote {args.out} ({len(data) / 1e6:.2f} MB)")
    return 0
