"""A run's map frames on disk, by prefix: revisiting or extending a run lays out only its new cycles."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from alcore.projection.initialization import WARM_METHODS
from alcore.projection.runs import map_records, project_records
from alcore.projection.settings import ProjectionResult, ProjectionSettings
from alcore.store import READ_ERRORS, atomic_write_npz, read_npz


def _record_fingerprint(record, settings: ProjectionSettings) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str(int(record.cycle)).encode())
    names = ["display_idx", "selected", "labeled_idx"]
    if settings.space != "inputs":
        names += ["display_a", "display_h", "selected_a", "selected_h"]
    for name in names:
        arr = np.ascontiguousarray(getattr(record, name))
        digest.update(f"{name}{arr.dtype}{arr.shape}".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


_FRAME_KEYS = ("chain", "cycle", "idx", "frame", "displacement", "trustworthiness", "seconds", "method", "extra_idx",
               "extra_xy")


def _load_prefix(folder: Path, records: Sequence, chains: list[str]) -> list[dict]:
    """The cached frames whose chained fingerprints match, from the first cycle up to the first miss. A file that
    cannot be read whole (cut short, damaged) is a miss: that frame and the later ones are computed again."""
    cached: list[dict] = []
    for r, expected in zip(records, chains):
        path = folder / f"cycle_{int(r.cycle):04d}.npz"
        if not path.exists():
            break
        try:
            entry = read_npz(path)
            if str(entry["chain"]) != expected or not all(k in entry for k in _FRAME_KEYS):
                break
        except READ_ERRORS:
            break
        cached.append(entry)
    return cached


def cached_projection(
    cache_dir: str | os.PathLike,
    run_id: str,
    settings: ProjectionSettings,
    records: Sequence,
    X_inputs: np.ndarray | None = None,
    *,
    y: np.ndarray | None = None,
) -> ProjectionResult:
    """``project_records`` with each frame stored as ``cache_dir/projection/<settings.key()>/cycle_XXXX.npz``.

    ``cache_dir`` is the run's own directory. Frame t depends on frames 0..t-1, so each file carries a
    chained fingerprint of ``run_id``, the settings and the display data of every record up to its own; the
    longest matching prefix is loaded and only the rest is computed (from the last cached frame). Revisiting
    or extending a run therefore costs only the new cycles. Files are NPZ, ``allow_pickle=False``, written
    atomically.
    """
    records = map_records(records)
    if not records:
        raise ValueError("no record carries display data (display_idx/display_h are empty)")
    folder = Path(cache_dir) / "projection" / settings.key()
    chain = hashlib.blake2b(f"{run_id}|{settings.key()}".encode(), digest_size=16).hexdigest()
    chains = []
    for r in records:
        chain = hashlib.blake2b(f"{chain}|{_record_fingerprint(r, settings)}".encode(), digest_size=16).hexdigest()
        chains.append(chain)
    cached = _load_prefix(folder, records, chains)
    n_cached = len(cached)
    if n_cached < len(records):
        prev = cached[-1] if cached else None
        ref = next((float(c["trustworthiness"]) for c in reversed(cached) if str(c["method"]) not in WARM_METHODS),
                   None)
        fresh = project_records(
            records[n_cached:], X_inputs, settings, y=y,
            previous_frame=None if prev is None else prev["frame"],
            previous_trust=None if prev is None else float(prev["trustworthiness"]), reference_trust=ref,
            previous_method=None if prev is None else str(prev["method"]),
        )
        for j, r in enumerate(records[n_cached:]):
            entry = {
                "chain": np.array(chains[n_cached + j]), "cycle": np.int64(r.cycle), "idx": fresh.idx,
                "frame": fresh.frames[j], "displacement": np.float64(fresh.displacement[j]),
                "trustworthiness": np.float64(fresh.trustworthiness[j]), "seconds": np.float64(fresh.seconds[j]),
                "method": np.array(fresh.method[j]), "extra_idx": fresh.extra_idx[j], "extra_xy": fresh.extra_xy[j],
            }
            atomic_write_npz(folder / f"cycle_{int(r.cycle):04d}.npz", entry, compressed=True)
            cached.append(entry)
    return ProjectionResult(
        idx=np.asarray(cached[0]["idx"], np.int64), cycles=[int(c["cycle"]) for c in cached],
        frames=[np.asarray(c["frame"], np.float32) for c in cached],
        displacement=[float(c["displacement"]) for c in cached],
        trustworthiness=[float(c["trustworthiness"]) for c in cached],
        seconds=[float(c["seconds"]) for c in cached], method=[str(c["method"]) for c in cached],
        settings=settings,
        extra_idx=[np.asarray(c["extra_idx"], np.int64) for c in cached],
        extra_xy=[np.asarray(c["extra_xy"], np.float32).reshape(-1, 2) for c in cached],
    )
