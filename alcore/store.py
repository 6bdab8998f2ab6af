"""Runs on disk: ``<root>/<run-id>/manifest.json`` plus one JSON + NPZ pair per cycle, written atomically.

A cycle counts as stored once its JSON exists: the NPZ is written first, the JSON last, each through a temporary
file and ``os.replace``. A killed process therefore leaves either a complete cycle or none. Nothing is unpickled.
"""
from __future__ import annotations

import json
import math
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from alcore.records import CycleRecord

MANIFEST = "manifest.json"
CYCLES = "cycles"
#: Manifest statuses of a run that takes no more cycles: it stored its final record, or its training diverged.
FINISHED = ("complete", "diverged")


def new_run_id(prefix: str = "run") -> str:
    """Sortable, unique: timestamp plus a random suffix."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(_jsonable(obj), indent=1, sort_keys=True).encode())


def atomic_write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def versions() -> dict[str, str]:
    """Versions of the packages that decide a run's numbers."""
    import sklearn
    import torch

    return {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "scikit-learn": sklearn.__version__}


class RunStore:
    """One run's folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def exists(self) -> bool:
        return self.manifest_path.exists()

    def create(self, config: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        """Start a run folder; an existing run is left as it is (resume it instead)."""
        if self.exists():
            raise FileExistsError(f"{self.path} already holds a run; resume it with Experiment.resume")
        manifest = {"run_id": self.run_id, "config": config, "versions": versions(), "status": "created",
                    "created": time.time(), "updated": time.time(), "n_cycles": 0, "error": None}
        manifest.update(extra or {})
        atomic_write_json(self.manifest_path, manifest)

    def manifest(self) -> dict[str, Any]:
        return json.loads(self.manifest_path.read_text())

    def update(self, **fields: Any) -> None:
        manifest = self.manifest()
        manifest.update(fields, updated=time.time())
        atomic_write_json(self.manifest_path, manifest)

    def write_array(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        atomic_write_npz(self.path / f"{name}.npz", arrays)

    def read_array(self, name: str) -> dict[str, np.ndarray] | None:
        path = self.path / f"{name}.npz"
        return read_npz(path) if path.exists() else None

    def append(self, record: CycleRecord, **manifest: Any) -> None:
        """Store one cycle: arrays, then the JSON that marks it complete, then the manifest's count and status
        (``diverged``, ``complete`` after the final record, else ``running``) and any other ``manifest`` fields."""
        stem = self.path / CYCLES / f"cycle_{record.cycle:05d}"
        atomic_write_npz(stem.with_suffix(".npz"), record.arrays())
        atomic_write_json(stem.with_suffix(".json"), record.scalars())
        status = "diverged" if record.diverged else "complete" if record.is_final else "running"
        self.update(n_cycles=self.n_cycles(), status=status, **manifest)

    def is_finished(self) -> bool:
        """Whether the run takes no more cycles (``FINISHED``), by its manifest."""
        return self.manifest().get("status") in FINISHED

    def n_cycles(self) -> int:
        return len(self._cycle_jsons())

    def _cycle_jsons(self) -> list[Path]:
        folder = self.path / CYCLES
        if not folder.exists():
            return []
        paths = sorted(folder.glob("cycle_*.json"))
        # only a gap-free prefix counts: cycle i is complete when cycles 0..i all are
        good = []
        for i, p in enumerate(paths):
            if p.stem != f"cycle_{i:05d}" or not p.with_suffix(".npz").exists():
                break
            good.append(p)
        return good

    def load_records(self, arrays: bool = True) -> list[CycleRecord]:
        """Every complete cycle, in order. ``arrays=False`` reads only the scalars (fast, for tables)."""
        records = []
        for path in self._cycle_jsons():
            values = json.loads(path.read_text())
            if arrays:
                values.update(read_npz(path.with_suffix(".npz")))
            records.append(CycleRecord(**{k: _unjson(k, v) for k, v in values.items()}))
        return records

    def summary_rows(self) -> list[dict[str, Any]]:
        return [r.summary() for r in self.load_records(arrays=False)]


def list_runs(root: str | Path) -> list[dict[str, Any]]:
    """Manifests of every run under ``root`` (newest first), with their folder as ``path``."""
    root = Path(root)
    runs = []
    if not root.exists():
        return runs
    for manifest in root.glob(f"*/{MANIFEST}"):
        try:
            info = json.loads(manifest.read_text())
        except (OSError, ValueError):  # JSONDecodeError, or UnicodeDecodeError on binary garbage
            continue  # a half-created folder of another process: skip, never crash the listing
        if not isinstance(info, dict):
            continue
        info["path"] = str(manifest.parent)
        runs.append(info)
    return sorted(runs, key=lambda m: m.get("created", 0), reverse=True)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return None if math.isnan(f) else (str(f) if math.isinf(f) else f)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


_FLOAT_FIELDS = {"test_loss", "test_accuracy", "test_macro_f1", "target_loss", "target_accuracy", "test_r2", "test_mse",
                 "test_mae"}


def _unjson(key: str, value: Any) -> Any:
    if key in _FLOAT_FIELDS:
        return float("nan") if value is None else float(value)
    if key in ("timings", "diversity"):
        return {k: (float("nan") if v is None else v) for k, v in value.items()}
    return value
