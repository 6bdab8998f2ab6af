"""Command line: ``python -m alcore run | gif | html | sweep | report``; the top of the engine, which nothing imports.

Each command is a module of this package with ``add_args(parser)`` and ``main(args) -> exit code``. Bad input exits
2 with a one-line message naming what to fix, never a traceback; a run that another process is writing exits 3
("run X is being written by process N").
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from alcore.cli import gif, html, report, run, sweep
from alcore.config import ConfigError
from alcore.run_lock import RunBusy

COMMANDS = {"run": run, "gif": gif, "html": html, "sweep": sweep, "report": report}
EXIT_BAD_INPUT = 2
EXIT_BUSY = 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alcore", description="Active-learning explorer engine")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        command.add_args(sub.add_parser(name))
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command].main(args)
    except RunBusy as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BUSY
    except (ConfigError, ValueError, OSError, MemoryError) as err:
        print(f"error: {_message(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _message(err: BaseException) -> str:
    """A file error names the file and the reason (``OSError``'s own text can be a bare errno)."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    if isinstance(err, MemoryError):
        return "not enough memory for this run; make the data, the model or the display smaller"
    return str(err)
