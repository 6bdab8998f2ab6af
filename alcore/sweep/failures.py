"""``<root>/failures.json``: the failed jobs of every sweep into a root, with their errors, in one file."""
from __future__ import annotations

import json
import time
from pathlib import Path

from alcore.run_lock import exclusive
from alcore.store import atomic_write_json

FAILURES = "failures.json"


def write_failures(root: str | Path, results: list[dict]) -> Path:
    """Merge this sweep's failures into ``<root>/failures.json``: its failed jobs added, its finished ones removed.

    Entries of jobs that belong to another sweep into the same root are kept; the read-modify-write holds a lock.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / FAILURES
    with exclusive(root / ".failures.lock"):
        current = read_failures(root)
        for r in results:
            if r["status"] == "failed":
                current[r["run_id"]] = {k: r[k] for k in ("dataset", "strategy", "seed", "run_dir", "error",
                                                          "traceback")}
                current[r["run_id"]]["time"] = time.time()
            elif r["status"] in ("complete", "skipped"):
                current.pop(r["run_id"], None)
        atomic_write_json(path, {"updated": time.time(), "n_failed": len(current), "failures": current})
    return path


def read_failures(root: str | Path) -> dict[str, dict]:
    """Run id -> failure of ``<root>/failures.json``; empty when there is none or it cannot be read."""
    try:
        failures = json.loads((Path(root) / FAILURES).read_text()).get("failures", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return failures if isinstance(failures, dict) else {}
