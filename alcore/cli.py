"""Command line: ``python -m alcore run | gif`` (sweep and report register themselves in alcore.sweep)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Sequence

from alcore.config import ConfigError, ExperimentConfig

COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def command(name: str, add_args: Callable[[argparse.ArgumentParser], None]):
    """Register a sub-command: ``add_args`` fills its parser, the decorated function runs it."""
    def wrap(fn: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = (add_args, fn)
        return fn
    return wrap


def progress_line(done: int, total: int, text: str, width: int = 24) -> str:
    filled = int(width * done / max(total, 1))
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {text}"


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="JSON file with an ExperimentConfig; flags given override it")
    p.add_argument("--dataset")
    p.add_argument("--model")
    p.add_argument("--strategy")
    p.add_argument("--cycles", type=int)
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--initial-labels", type=int, dest="initial_labels")
    p.add_argument("--target-size", type=int, dest="target_size")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--device")
    p.add_argument("--cold-start-strategy", dest="cold_start_strategy",
                   help="auto (default), self (the strategy on the untrained model from cycle 0) or a strategy name")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=JSON",
                   help="any other config field, e.g. --set strategy_options='{\"n_mc\": 10}'")


def config_values_from_args(args: argparse.Namespace) -> dict:
    """Config values from --config, then the flags, then --set; not yet validated."""
    try:
        values = json.loads(Path(args.config).read_text()) if args.config else {}
    except json.JSONDecodeError as err:
        raise ConfigError(f"{args.config} is not valid JSON: {err}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{args.config} must hold a JSON object of field: value")
    for key in ("dataset", "model", "strategy", "cycles", "batch_size", "initial_labels", "target_size", "epochs",
                "seed", "device", "cold_start_strategy"):
        if getattr(args, key, None) is not None:
            values[key] = getattr(args, key)
    for item in args.set:
        key, _, raw = item.partition("=")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    return ExperimentConfig.from_dict(config_values_from_args(args))


def _run_args(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    p.add_argument("--out", required=True, help="run folder (created; an existing run there is resumed)")


@command("run", _run_args)
def cmd_run(args: argparse.Namespace) -> int:
    from alcore.loop import Experiment
    from alcore.store import RunStore

    if RunStore(args.out).exists():
        exp = Experiment.resume(args.out)
        print(f"resuming {args.out} at cycle {exp.cycle}")
    else:
        exp = Experiment(config_from_args(args), run_dir=args.out)
    total = exp.config.cycles + 1

    def report(r) -> None:
        note = f" (fallback: {r.fallback_reason})" if r.fallback_reason else ""
        print(progress_line(r.cycle + 1, total, f"cycle {r.cycle}: labels={r.n_labeled} "
                            f"test_acc={r.test_accuracy:.4f} test_loss={r.test_loss:.4f}{note}"), flush=True)

    exp.run(on_cycle=report)
    print(f"run stored in {args.out}")
    return 0


def _gif_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("--out", required=True)
    p.add_argument("--fps", type=float, default=2.0)
    p.add_argument("--width", type=int, default=720)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--color-by", default="label", dest="color_by")
    p.add_argument("--space", default="gradient", choices=["gradient", "features", "inputs"])
    p.add_argument("--max-points", type=int, default=None, dest="max_points")
    p.add_argument("--no-curve", action="store_true", dest="no_curve")


@command("gif", _gif_args)
def cmd_gif(args: argparse.Namespace) -> int:
    from alcore.export import run_gif_bytes

    data = run_gif_bytes(args.run_dir, space=args.space, size=(args.width, args.height), fps=args.fps,
                         color_by=args.color_by, max_points=args.max_points, show_curve=not args.no_curve)
    Path(args.out).write_bytes(data)
    print(f"wrote {args.out} ({len(data) / 1e6:.2f} MB)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        import alcore.sweep  # noqa: F401  registers sweep/report
    except ImportError:
        pass
    parser = argparse.ArgumentParser(prog="python -m alcore", description="Active-learning explorer engine")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name))
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except (ConfigError, ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
