"""Writing a file so that a reader, a crash or a kill never sees half of it: a temporary file in the same folder,
flushed and fsynced, renamed over the final name, and the folder fsynced so the rename survives a power cut.

Every file the engine writes goes through here: a run's files (``alcore.store``), the map's cache, the group and
sweep manifests, the source cache, downloads and GIFs. Light on purpose (no numpy): the app's first render uses it.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Callable

TEMP_SUFFIX = ".tmp"


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically."""
    write_with(path, lambda f: f.write(data))


def write_with(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> None:
    """Replace ``path`` atomically by what ``write(f)`` writes into a binary file object (e.g. ``np.savez``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename or a new file in ``folder`` durable (a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def is_temp(path: Path) -> bool:
    """A temporary file of an interrupted ``write_with`` (hidden, ``.tmp``): never a real file of the folder."""
    return path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX)
