"""The per-run lock: a lock file claimed with an exclusive create, so that two processes never write one run folder
at once (two sweeps into one root, a sweep and a rerun) and a read-modify-write of a shared file stays whole.

A lock file holds its holder's PID, host, process start time and a random token. A lock whose process is gone
(same host; its PID dead, or reused by a process started at another time) is stale and is broken once, under a
second exclusive ``.break`` file, so that two breakers cannot delete each other's new lock. A lock of another host is
always respected: its process cannot be checked from here.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

# A lock file still empty or unreadable after this long was left by a process killed while writing it.
_LOCK_WRITE_GRACE_S = 10.0
_BREAKER_STALE_S = 60.0
_HELD: dict[str, str] = {}  # lock path -> the token this process wrote into it


def try_lock(path: str | Path) -> dict[str, Any] | None:
    """Claim ``path`` with an exclusive create. None when this process now holds it, else the holder's info.

    A stale lock (see the module docstring) is broken once and claimed.
    """
    path = Path(path)
    for attempt in range(2):
        info = {"pid": os.getpid(), "host": socket.gethostname(), "start": _process_start(os.getpid()),
                "token": uuid.uuid4().hex, "time": time.time()}
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = read_lock(path)
            if attempt == 0 and _is_stale(path, holder) and _break_lock(path):
                continue
            return holder or {"pid": None, "host": None}
        with os.fdopen(fd, "w") as fh:
            json.dump(info, fh)
            fh.flush()
            os.fsync(fh.fileno())
        _HELD[str(path)] = info["token"]
        return None
    return read_lock(path) or {"pid": None, "host": None}


def release_lock(path: str | Path) -> None:
    """Remove the lock if this process holds it (never someone else's)."""
    path = Path(path)
    token = _HELD.pop(str(path), None)
    if token is not None and (read_lock(path) or {}).get("token") == token:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def held_lock(path: str | Path, wait_s: float = 30.0, poll_s: float = 0.05):
    """Hold the lock for a short critical section, waiting for it up to ``wait_s`` (TimeoutError after that)."""
    deadline = time.monotonic() + wait_s
    while (holder := try_lock(path)) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} is held by pid {holder.get('pid')} on {holder.get('host')}")
        time.sleep(poll_s)
    try:
        yield
    finally:
        release_lock(path)


def read_lock(path: str | Path) -> dict[str, Any] | None:
    """The holder's info written in the lock file; None when there is none or it cannot be read."""
    try:
        info = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _is_stale(path: Path, info: dict[str, Any] | None) -> bool:
    if info is None:  # empty or garbled: stale only once its writer has had time to finish writing it
        try:
            return time.time() - path.stat().st_mtime > _LOCK_WRITE_GRACE_S
        except OSError:
            return False
    if info.get("host") != socket.gethostname():
        return False  # another machine's process cannot be checked from here
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return True
    if not _pid_alive(pid):
        return True
    start = info.get("start")
    now = _process_start(pid)
    return start is not None and now is not None and now != start  # the PID was reused by a newer process


def _break_lock(path: Path) -> bool:
    breaker = path.with_name(path.name + ".break")
    try:
        fd = os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        with contextlib.suppress(OSError):
            if time.time() - breaker.stat().st_mtime > _BREAKER_STALE_S:
                breaker.unlink()  # its owner died between creating and removing it
        return False
    try:
        if _is_stale(path, read_lock(path)):  # look again: another breaker may have replaced it meanwhile
            path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)
        breaker.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux /proc), to tell a reused PID; None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None
