"""What several commands share: the config flags and the progress line."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from alcore.config import ExperimentConfig, read_json_object


def progress_line(done: int, total: int, text: str, width: int = 24) -> str:
    filled = int(width * done / max(total, 1))
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {text}"


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="JSON file with an ExperimentConfig; flags given override it")
    p.add_argument("--dataset")
    p.add_argument("--task", choices=["auto", "classification", "regression"],
                   help="auto (default): from the dataset's target; docs/tasks.md#tasks")
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


def config_values_from_args(args: argparse.Namespace, base: dict | None = None) -> dict:
    """Config values from --config (or ``base``, a preset's), then the flags, then --set; not yet validated."""
    values = read_json_object(Path(args.config), "--config") if args.config else dict(base or {})
    for key in ("dataset", "task", "model", "strategy", "cycles", "batch_size", "initial_labels", "target_size",
                "epochs", "seed", "device", "cold_start_strategy"):
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
