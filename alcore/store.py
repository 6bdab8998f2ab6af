"""Runs on disk: ``<root>/<run-id>/manifest.json`` plus one JSON + NPZ pair per cycle, written atomically
(docs/run-format.md).

A cycle counts as stored once its JSON exists: the NPZ is written first, the JSON last, each through
``alcore.atomic_files``. A killed process therefore leaves either a complete cycle or none. Only the holder of the
run's writer lock (``alcore.run_lock``) may write; readers never wait. Nothing is unpickled.

Damage from outside (a disk error, a copy cut short, a hand edit) is found on reading: ``load_records`` returns the
cycles before the first damaged one and says which (``RunStore.damage``, logged once per file), and a writer that
resumes moves that cycle and the later ones aside (``set_aside``) and computes them again
(docs/run-format.md#damaged-files).
"""
from __future__ import annotations

import json
import logging
import math
import os
import platform
import threading
import time
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alcore import atomic_files, run_lock
from alcore.records import CycleRecord

MANIFEST = "manifest.json"
CONFIG = "config.json"        # the config alone, written once: rebuilds a damaged manifest
CYCLES = "cycles"
#: Manifest statuses of a run that takes no more cycles: it stored its final record, or its training diverged.
FINISHED = ("complete", "diverged")
DAMAGED = "damaged"           # where damaged cycles are moved before they are computed again
WARM_STATE = "model_state"    # with warm_start: the weights after each cycle, part of that cycle
UNREADABLE = "unreadable"     # the status list_runs gives a folder whose manifest cannot be read
#: What reading a damaged JSON or NPZ raises (a cut zip: BadZipFile, EOFError; a bad member: zlib.error).
READ_ERRORS = (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile, zlib.error)
_REQUIRED = ("cycle", "n_labeled", "strategy", "is_final")

_log = logging.getLogger("alcore.store")
_reported: set[tuple[str, int, int]] = set()   # damaged files logged already: (path, size, mtime)
_reported_lock = threading.Lock()


def new_run_id(prefix: str = "run") -> str:
    """Sortable, unique: timestamp plus a random suffix."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_files.write_bytes(path, data)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_files.write_bytes(path, json.dumps(_jsonable(obj), indent=1, sort_keys=True).encode())


def atomic_write_npz(path: Path, arrays: dict[str, np.ndarray], compressed: bool = False) -> None:
    atomic_files.write_with(path, lambda f: (np.savez_compressed if compressed else np.savez)(f, **arrays))


def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def versions() -> dict[str, str]:
    """Versions of the packages that decide a run's numbers."""
    import sklearn
    import torch

    return {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "scikit-learn": sklearn.__version__}


@dataclass(frozen=True)
class Damage:
    """The first damaged cycle of a run: which, the file, and what reading it raised."""

    cycle: int
    file: str
    reason: str

    def __str__(self) -> str:
        return f"cycle {self.cycle} is damaged ({self.file}: {self.reason})"


class ManifestError(ValueError):
    """A run's manifest.json cannot be read (and its config.json could not rebuild it)."""


class RunStore:
    """One run's folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.damage: Damage | None = None   # set by load_records: the first damaged cycle, if any

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def exists(self) -> bool:
        return self.manifest_path.exists()

    # --- writing (the writer lock's holder only) ------------------------------------------------
    def _writer(self) -> None:
        if not run_lock.held_here(self.path):
            raise RuntimeError(f"run {self.run_id}: only the holder of its writer lock writes it "
                               "(alcore.run_lock.RunLock)")

    def create(self, config: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        """Start a run folder; an existing run is left as it is (resume it instead)."""
        self._writer()
        if self.exists():
            raise FileExistsError(f"{self.path} already holds a run; resume it with Experiment.resume")
        manifest = {"run_id": self.run_id, "config": config, "versions": versions(), "status": "created",
                    "created": time.time(), "updated": time.time(), "n_cycles": 0, "error": None}
        manifest.update(extra or {})
        atomic_write_json(self.path / CONFIG, {"config": config, **(extra or {})})
        atomic_write_json(self.manifest_path, manifest)

    def update(self, **fields: Any) -> None:
        self._writer()
        manifest = self.manifest()
        manifest.update(fields, updated=time.time())
        atomic_write_json(self.manifest_path, manifest)

    def write_array(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        self._writer()
        atomic_write_npz(self.path / f"{name}.npz", arrays)

    def append(self, record: CycleRecord, **manifest: Any) -> None:
        """Store one cycle: arrays, then the JSON that marks it complete, then the manifest's count and status
        (``diverged``, ``complete`` after the final record, else ``running``) and any other ``manifest`` fields."""
        self._writer()
        stem = self.path / CYCLES / f"cycle_{record.cycle:05d}"
        atomic_write_npz(stem.with_suffix(".npz"), record.arrays())
        atomic_write_json(stem.with_suffix(".json"), record.scalars())
        status = "diverged" if record.diverged else "complete" if record.is_final else "running"
        self.update(n_cycles=self.n_cycles(), status=status, **manifest)

    def is_finished(self) -> bool:
        """Whether the run takes no more cycles (``FINISHED``), by its manifest."""
        return self.manifest().get("status") in FINISHED

    def set_aside(self, damage: Damage) -> Path:
        """Move the damaged cycle and every later one (with their weights) to ``damaged/<time>/``, so a resume
        computes them again; nothing is deleted. Returns that folder."""
        self._writer()
        aside = self.path / DAMAGED / time.strftime("%Y%m%d-%H%M%S")
        aside.mkdir(parents=True, exist_ok=True)
        n = len(self._cycle_jsons())
        for cycle in range(damage.cycle, n):
            for path in (self._stem(cycle).with_suffix(".json"), self._stem(cycle).with_suffix(".npz"),
                         self.path / f"{WARM_STATE}_{cycle:05d}.npz"):
                if path.exists():
                    os.replace(path, aside / path.name)
        atomic_files.write_bytes(aside / "reason.txt", f"{damage}\n".encode())
        atomic_files.fsync_dir(self.path / CYCLES)
        self.update(n_cycles=damage.cycle, repairs=[*self.manifest().get("repairs", []),
                                                    {"time": time.time(), "damage": str(damage),
                                                     "set_aside": str(aside.relative_to(self.path))}])
        return aside

    def recover_manifest(self) -> None:
        """Rebuild a damaged manifest from ``config.json`` (written once at creation) and the cycles on disk."""
        self._writer()
        try:
            saved = json.loads((self.path / CONFIG).read_text())
            config = saved["config"]
        except (*READ_ERRORS, UnicodeDecodeError) as err:
            raise ManifestError(f"run {self.run_id}: manifest.json is damaged and config.json cannot rebuild it "
                                f"({type(err).__name__}: {err})") from None
        _report(self.manifest_path, "manifest.json is damaged: rebuilt from config.json")
        manifest = {"run_id": self.run_id, "config": config, "versions": versions(), "status": "running",
                    "created": self.path.stat().st_mtime, "updated": time.time(), "n_cycles": self.n_cycles(),
                    "error": None, **{k: v for k, v in saved.items() if k != "config"},
                    "repairs": [{"time": time.time(), "damage": "manifest.json was damaged: rebuilt from config.json"}]}
        atomic_write_json(self.manifest_path, manifest)

    def remove_temp_files(self) -> None:
        """Delete the temporary files of writes a killed writer left behind (only a writer may: a live writer's
        temporary file is its own)."""
        self._writer()
        for folder in (self.path, self.path / CYCLES):
            for path in folder.glob(f".*{atomic_files.TEMP_SUFFIX}"):
                if atomic_files.is_temp(path):
                    path.unlink(missing_ok=True)

    # --- reading (anyone, never waits) ----------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """The manifest; ManifestError naming the run when it is not a readable JSON object with a config."""
        try:
            manifest = json.loads(self.manifest_path.read_bytes())
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as err:
            raise ManifestError(f"run {self.run_id}: manifest.json cannot be read ({type(err).__name__}: "
                                f"{str(err)[:200]})") from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
            raise ManifestError(f"run {self.run_id}: manifest.json is not a run's manifest (no config object)")
        return manifest

    def read_array(self, name: str) -> dict[str, np.ndarray] | None:
        path = self.path / f"{name}.npz"
        return read_npz(path) if path.exists() else None

    def n_cycles(self) -> int:
        return len(self._cycle_jsons())

    def _stem(self, cycle: int) -> Path:
        return self.path / CYCLES / f"cycle_{cycle:05d}"

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

    def load_records(self, arrays: bool = True, warm_start: bool = False) -> list[CycleRecord]:
        """Every complete cycle, in order, up to the first damaged one (then ``self.damage`` says which; the file is
        logged once). ``arrays=False`` reads only the scalars (fast, for tables); ``warm_start`` also checks that
        each cycle's weights can be read (a resume needs them)."""
        records, self.damage = [], None
        for cycle, path in enumerate(self._cycle_jsons()):
            current = path
            try:
                values = json.loads(path.read_bytes())
                if not isinstance(values, dict) or any(k not in values for k in _REQUIRED) \
                        or values["cycle"] != cycle:
                    raise ValueError("not the record of this cycle")
                if arrays:
                    current = path.with_suffix(".npz")
                    values.update(read_npz(current))
                if warm_start:
                    current = self.path / f"{WARM_STATE}_{cycle:05d}.npz"
                    read_npz(current)
                record = CycleRecord(**{k: _unjson(k, v) for k, v in values.items()})
            except READ_ERRORS as err:
                self.damage = Damage(cycle, str(current.relative_to(self.path)), f"{type(err).__name__}: {err}"[:300])
                _report(current, str(self.damage))
                break
            records.append(record)
        return records

    def summary_rows(self) -> list[dict[str, Any]]:
        return [r.summary() for r in self.load_records(arrays=False)]


def list_runs(root: str | Path) -> list[dict[str, Any]]:
    """Manifests of every run under ``root`` (newest first), with their folder as ``path``.

    A folder whose manifest cannot be read is listed too, as a row with ``status`` ``UNREADABLE`` and the reason
    in ``error``: a listing never fails on one bad folder, and says which one it is.
    """
    root = Path(root)
    runs = []
    if not root.exists():
        return runs
    for manifest in root.glob(f"*/{MANIFEST}"):
        folder = manifest.parent
        try:
            info = RunStore(folder).manifest()
            info["created"] = _number(info.get("created"), folder)
            info["n_cycles"] = int(_number(info.get("n_cycles"), folder, 0))
            info["status"] = info["status"] if isinstance(info.get("status"), str) else "?"
        except (OSError, ValueError) as err:
            info = {"run_id": folder.name, "config": {}, "status": UNREADABLE, "n_cycles": 0,
                    "created": _number(None, folder), "error": str(err)}
        info["run_id"] = folder.name
        info["path"] = str(folder)
        runs.append(info)
    return sorted(runs, key=lambda m: m["created"], reverse=True)


def _number(value: Any, folder: Path, default: float | None = None) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    if default is not None:
        return default
    try:
        return folder.stat().st_mtime
    except OSError:
        return 0.0


def _report(path: Path, message: str) -> None:
    """Log a damaged file once per process (per size and time: damaged again later, it is logged again)."""
    try:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
    except OSError:
        key = (str(path), -1, -1)
    with _reported_lock:
        if key in _reported:
            return
        _reported.add(key)
    _log.warning("%s: %s", path.parent.parent if path.parent.name == CYCLES else path.parent, message)


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
_NON_FINITE = {None: float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def _unjson(key: str, value: Any) -> Any:
    """Back from JSON: NaN was stored as null and infinities as the strings "inf" / "-inf" (standard JSON has
    neither) in the metrics and in the float dicts ``timings`` and ``diversity``."""
    if key in _FLOAT_FIELDS:
        return _float(value)
    if key in ("timings", "diversity"):
        return {k: _float(v) for k, v in value.items()}
    return value


def _float(value: Any) -> float:
    return _NON_FINITE[value] if value is None or value in ("inf", "-inf") else float(value)
