"""One writer per run: an OS lock on ``<run>/.writer.lock`` (docs/run-format.md#the-writer-lock).

Every process or thread that writes a run (the command line's run and resume, a sweep's job, the app's Step and Run
and the Compare page's group job) holds the run's ``RunLock`` for as long as it writes. The lock is
``fcntl.flock`` on a file of its own in the run folder: the operating system releases it when the holder's file is
closed or its process dies (``SIGKILL`` included), so there is never a stale lock to break. Two opens of the file
are two locks even in one process, so two threads of the app exclude each other too.

A second writer gets ``RunBusy``: "run X is being written by process N". Readers never take the lock and never
wait: the run's files are written atomically (``alcore.store``), so a reader sees whole cycles only.
``exclusive(path)`` is the same lock taken with waiting, for the short read-modify-write of a file several
writers share (a sweep root's ``failures.json``).

POSIX only (Linux, macOS): ``fcntl`` is not on Windows.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from pathlib import Path
from typing import IO, Iterator

LOCK_FILE = ".writer.lock"
_PID_READS = 40            # a loser reads the winner's PID this many times at most (it is written right after
_PID_READ_PAUSE_S = 0.005  # the winner's flock), pausing between reads
_LOCK_TRIES = 4            # a writer tries the lock this many times before it is busy (see _flock_exclusive)
_HELD: dict[str, int] = {}  # resolved run folder -> locks this process holds on it (at most 1)
_HELD_LOCK = threading.Lock()


class RunBusy(RuntimeError):
    """Another writer holds the run: the message names the run and the holder's process."""

    def __init__(self, run_dir: str | Path, pid: int | None) -> None:
        self.run_id, self.pid = Path(run_dir).name, pid
        who = f"process {pid}" if pid else "another process"
        if pid == os.getpid():
            who += " (this one: another of its workers)"
        super().__init__(f"run {self.run_id} is being written by {who}; wait for it to finish or stop it, "
                         "then try again")


class RunLock:
    """The writer lock of one run folder; ``acquire`` (or ``with``) raises ``RunBusy`` when another writer has it.

    Held until ``release``, the end of the ``with`` block, or the holder's death.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._file: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> "RunLock":
        if self._file is not None:
            return self
        self.run_dir.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+b")  # never truncated before the flock: the holder's PID stays readable
        try:
            _flock_exclusive(f)
        except BlockingIOError:
            f.close()
            raise RunBusy(self.run_dir, holder(self.run_dir)) from None
        except BaseException:
            f.close()
            raise
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()).encode())
        f.flush()
        self._file = f
        with _HELD_LOCK:
            key = _key(self.run_dir)
            _HELD[key] = _HELD.get(key, 0) + 1
        return self

    def release(self) -> None:
        """Give the lock up (the file stays: removing it would let two writers lock two different files)."""
        f, self._file = self._file, None
        if f is None:
            return
        with _HELD_LOCK:
            key = _key(self.run_dir)
            _HELD[key] -= 1
            if not _HELD[key]:
                del _HELD[key]
        f.close()  # closing the last descriptor releases the flock

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self) -> None:  # a writer dropped without release: the OS would free it with the file anyway
        with contextlib.suppress(Exception):
            self.release()


def holder(run_dir: str | Path) -> int | None:
    """The PID of the process writing ``run_dir`` now, or None when nobody writes it. Never waits for the lock."""
    path = Path(run_dir) / LOCK_FILE
    try:
        f = open(path, "rb")
    except OSError:
        return None
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(path)
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return None


def held_here(run_dir: str | Path) -> bool:
    """Whether this process holds the writer lock of ``run_dir`` (``alcore.store`` refuses writes otherwise)."""
    with _HELD_LOCK:
        return _key(Path(run_dir)) in _HELD


@contextlib.contextmanager
def exclusive(path: str | Path) -> Iterator[None]:
    """Hold the lock file ``path`` for a short critical section, waiting for it (processes and threads alike)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _flock_exclusive(f: IO[bytes]) -> None:
    """``LOCK_EX | LOCK_NB``, tried a few times: a reader's ``holder`` takes a shared lock for a few microseconds,
    which must not make a writer give up."""
    for attempt in range(_LOCK_TRIES):
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if attempt == _LOCK_TRIES - 1:
                raise
            time.sleep(_PID_READ_PAUSE_S)


def _read_pid(path: Path) -> int | None:
    """The PID the holder wrote into the lock file (right after taking it: a loser may look a moment too early)."""
    for _ in range(_PID_READS):
        try:
            text = path.read_bytes().decode("ascii", "replace").strip()
        except OSError:
            return None
        if text.isdigit():
            return int(text)
        time.sleep(_PID_READ_PAUSE_S)
    return None


def _key(run_dir: Path) -> str:
    return str(run_dir.resolve())
