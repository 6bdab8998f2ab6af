"""Command line: ``python -m alcore run | gif | html | sweep | report``; the top of the engine, which nothing imports.

Each command is a module of this package with ``add_args(parser)`` and ``main(args) -> exit code``. Bad input exits
2 with a one-line message naming what to fix, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from alcore.cli import gif, html, report, run, sweep
from alcore.config import ConfigError

COMMANDS = {"run": run, "gif": gif, "html": html, "sweep": sweep, "report": report}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alcore", description="Active-learning explorer engine")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        command.add_args(sub.add_parser(name))
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command].main(args)
    except (ConfigError, ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
