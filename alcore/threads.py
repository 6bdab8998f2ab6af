"""One thread for small work, safe when several runs share a process.

torch's intra-op thread count and the BLAS / OpenMP pools are settings of the whole process. A run that sets one
and puts it back races another run in another thread of the app: the second saves the first one's "1", the first
restores the old count while the second still computes, and the process may end on one thread for good. Here the
first caller sets one thread, later callers share it, and the last one to leave restores what was there before.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

_lock = threading.Lock()
_users: dict[str, int] = {}       # setting -> callers inside
_restore: dict[str, Any] = {}     # setting -> how to put it back (torch: the count; pools: threadpoolctl's limiter)


@contextlib.contextmanager
def one_thread(setting: str = "torch") -> Iterator[None]:
    """Run the block with ``setting`` on one thread: ``"torch"`` (intra-op threads), ``"blas"`` (the BLAS pools) or
    ``"pools"`` (BLAS and OpenMP, what scikit-learn's k-means uses)."""
    with _lock:
        if not _users.get(setting):
            _restore[setting] = _limit(setting)
        _users[setting] = _users.get(setting, 0) + 1
    try:
        yield
    finally:
        with _lock:
            _users[setting] -= 1
            if not _users[setting]:
                _unlimit(setting, _restore.pop(setting))


def _limit(setting: str) -> Any:
    if setting == "torch":
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(1)
        return before
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl missing: run as configured
        return None
    return threadpool_limits(limits=1, user_api="blas" if setting == "blas" else None)


def _unlimit(setting: str, restore: Any) -> None:
    if setting == "torch":
        import torch

        torch.set_num_threads(restore)
    elif restore is not None:
        restore.restore_original_limits()
