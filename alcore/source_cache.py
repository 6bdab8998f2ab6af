"""Answers that depend only on the engine's source, memoised on disk: a process whose cache is fresh never imports
what computes them.

The setup form lists every strategy's options and every model's defaults; the classes that define them import torch
(about 2 s), which the app's first render should not wait for. The answer is computed from the classes once and kept
in a JSON file keyed by a hash of every source file of the ``alcore`` package, the Python version and the installed
torch: any change makes a new key, and the answer is computed again (once). A missing, unreadable, corrupt or stale
file is computed again, never an error; a cache folder that cannot be written costs only the time of computing the
answer in each process.

Where: ``$ALCORE_CACHE_DIR``, else ``$XDG_CACHE_HOME/alcore``, else ``~/.cache/alcore``; never the repository (a
checkout may be read-only, or shared by several users).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

from alcore import atomic_files
from alcore.imports import IMPORT_LOCK

T = TypeVar("T")

PACKAGE_DIR = Path(__file__).resolve().parent
KEEP = 8            # files kept per answer: a few checkouts or versions side by side
_TUPLE = "__tuple__"  # JSON has no tuples; a default of (16, 32) must come back as a tuple
_UNSET = object()


def cache_dir() -> Path:
    """The folder of the cache files (see the module docstring)."""
    if os.environ.get("ALCORE_CACHE_DIR"):
        return Path(os.environ["ALCORE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "alcore"


def source_key(root: Path = PACKAGE_DIR) -> str:
    """A hash of every ``.py`` file under ``root`` (path and content), the Python version and the installed torch."""
    digest = hashlib.sha256(sys.version.encode())
    digest.update(_installed("torch").encode())
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _installed(package: str) -> str:
    """Where ``package`` is installed and when, without importing it (a new version is a new stamp)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return f"{package}: absent"
    stat = os.stat(spec.origin)
    return f"{spec.origin}:{stat.st_mtime_ns}:{stat.st_size}"


class SourceCache(Generic[T]):
    """One answer, memoised on disk and in this process.

    ``build()`` computes it as plain data (dicts, lists, tuples, strings, numbers, None); ``convert`` turns that data
    into what ``get()`` returns, and raises on data it cannot use, which then counts as a corrupt file.
    """

    def __init__(self, name: str, build: Callable[[], Any], convert: Callable[[Any], T] = lambda v: v,
                 root: Path = PACKAGE_DIR, folder: Path | None = None) -> None:
        self.name, self.build, self.convert, self.root, self.folder = name, build, convert, root, folder
        self._value: Any = _UNSET
        self._lock = threading.Lock()

    def get(self) -> T:
        if self._value is _UNSET:
            with self._lock:  # two sessions' first renders compute it once
                if self._value is _UNSET:
                    self._value = self._load_or_build()
        return self._value

    def path(self, key: str) -> Path:
        return (self.folder or cache_dir()) / f"{self.name}-{key[:16]}.json"

    def _load_or_build(self) -> T:
        key = source_key(self.root)
        path = self.path(key)
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored["key"] == key:
                return self.convert(_decode(stored["value"]))
        except Exception:  # noqa: BLE001  missing, unreadable or corrupt: computed again below
            pass
        with IMPORT_LOCK:  # building imports the classes, hence torch: never beside another thread's first import
            value = self.build()
        converted = self.convert(value)
        _store(path, {"key": key, "value": value}, keep=KEEP)
        return converted


def _store(path: Path, content: dict[str, Any], keep: int) -> None:
    """Write atomically, then drop the oldest files of the same answer beyond ``keep``; never raises."""
    try:
        text = json.dumps({**content, "value": _encode(content["value"])})
    except (TypeError, ValueError):
        return  # not plain data: answered from the classes in each process instead
    try:
        atomic_files.write_bytes(path, text.encode("utf-8"))
        prefix = path.name.rsplit("-", 1)[0]
        older = sorted(path.parent.glob(f"{prefix}-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in older[keep:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


def _encode(value: Any) -> Any:
    if isinstance(value, tuple):
        return {_TUPLE: [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("JSON keys are strings: a dict with other keys would not come back equal")
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_TUPLE}:
            return tuple(_decode(v) for v in value[_TUPLE])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value
