"""``python -m alcore html``: a stored run's animated map as one self-contained HTML page (plays offline)."""
from __future__ import annotations

import argparse
from pathlib import Path

from alcore.constants import COLOR_BY, SPACES


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("--out", required=True, help="the HTML file to write, e.g. map.html")
    p.add_argument("--color-by", default="label", dest="color_by", choices=list(COLOR_BY))
    p.add_argument("--space", default="gradient", choices=list(SPACES))


def main(args: argparse.Namespace) -> int:
    from alcore.export import run_map_html

    page = run_map_html(args.run_dir, color_by=args.color_by, space=args.space)
    Path(args.out).write_text(page, encoding="utf-8")
    print(f"wrote {args.out} ({len(page.encode()) / 1e6:.2f} MB; open it in a browser, no network needed)")
    return 0
