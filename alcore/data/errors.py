"""The one exception the data layer raises, so callers catch a single type and show its message, and the small
formatters its messages share."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset could not be loaded or is unusable; the message says why and what to do."""


def megabytes(n: int) -> str:
    """A byte count as people read it: '3.2 MB', or 'n bytes' under a megabyte."""
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n} bytes"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (pandas and zipfile messages run long)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def listed(items: list[str], limit: int = 20) -> str:
    """Quoted, comma-separated items, cut after `limit` with the total count."""
    shown = ", ".join(repr(i) for i in items[:limit])
    return shown if len(items) <= limit else f"{shown}, ... ({len(items)} columns)"
