"""How many records a job stores: the acquisition cycles a run has left by its manifest (``alcore.jobs`` corrects
the count when a resume sets damaged cycles aside), and the final evaluation after the last one. The app's progress
bar counts them."""
from __future__ import annotations

from pathlib import Path

from alcore.config import ExperimentConfig
from alcore.store import FINISHED, RunStore


def cycles_run(n_records: int, cycles: int, status: str | None) -> int:
    """Acquisition cycles a run of ``cycles`` has done: its records, less the final one once it is finished
    (``FINISHED``: complete, the final evaluation; diverged, the cycle whose training failed)."""
    return max(0, min(cycles, n_records - (1 if status in FINISHED else 0)))


def planned_records(cycles_left: int | None, asked: int | None) -> int:
    """Records a run with ``cycles_left`` acquisition cycles to go (None: finished) stores when ``asked`` more are
    asked (None: all): the cycles run, plus the final evaluation when they reach the end."""
    if cycles_left is None:
        return 0
    run = cycles_left if asked is None else min(asked, cycles_left)
    return run + (1 if run == cycles_left else 0)


def cycles_left(run_dir: Path, config: ExperimentConfig | None) -> int | None:
    """Acquisition cycles a run has still to go: all of a new one's, the rest of a stored one's; None once it is
    finished (complete, or diverged)."""
    if config is not None:
        return config.cycles
    store = RunStore(run_dir)
    try:
        if store.is_finished():
            return None
        cycles = int(store.manifest()["config"].get("cycles", 10))
    except (OSError, ValueError, TypeError):  # a damaged manifest: resume rebuilds it (or says why it cannot)
        return 0
    return cycles - cycles_run(store.n_cycles(), cycles, None)
