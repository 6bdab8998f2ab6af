"""Caps on a CSV's shape, checked on its raw bytes before any parser sees them (docs/datasets.md#files).

A parser given a header of a million columns, or ten million rows, spends minutes and gigabytes
before it could complain. These checks read the bytes once in fixed-size chunks (numpy
comparisons, no Python loop per byte) and stop at the first cap exceeded:

- columns: delimiters in the header line, plus one (a quoted header name holding the delimiter
  counts twice, so the count is an upper bound); checked on the first `max_line_bytes` bytes,
  so a giant header fails at once;
- rows: line breaks after the header (a quoted cell with line breaks counts each line);
- cell size: no line longer than `max_line_bytes`, so no cell is either (a quoted cell spanning
  several lines is capped line by line, and in total by the file size limit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from .errors import DatasetError, megabytes

_CHUNK_BYTES = 4 * 2**20


@dataclass(frozen=True)
class CsvLimits:
    """The largest CSV shape accepted: header columns, data rows, bytes in one line (and so in one cell)."""

    max_columns: int = 10_000
    max_rows: int = 2_000_000
    max_line_bytes: int = 2**20


LIMITS = CsvLimits()
"""The caps `load_file` and `load_bytes` apply (tests inject smaller ones)."""


def check_csv_limits(stream: BinaryIO, name: str, delimiter: str, limits: CsvLimits) -> None:
    """Raise `DatasetError` if the CSV in `stream` exceeds `limits`; leave the stream at its start."""
    try:
        head = stream.read(limits.max_line_bytes + 1)
        newline = b"\n" if b"\n" in head or b"\r" not in head else b"\r"
        header = head.split(newline, 1)[0]
        n_columns = header.count(delimiter.encode()) + 1
        if n_columns > limits.max_columns:
            more = "" if len(header) < len(head) else " or more"
            raise DatasetError(
                f"{name}: the header has {n_columns}{more} columns, over the limit of {limits.max_columns}; "
                "keep only the columns you need (the features and the label, or a text column and ratings)."
            )
        stream.seek(0)
        _check_lines(stream, name, newline[0], limits)
    finally:
        stream.seek(0)


def _check_lines(stream: BinaryIO, name: str, newline: int, limits: CsvLimits) -> None:
    """Count line breaks and measure the longest line, chunk by chunk."""
    n_breaks = 0
    line_start = 0  # offset in the file where the current line begins
    offset = 0
    while True:
        chunk = stream.read(_CHUNK_BYTES)
        if not chunk:
            break
        breaks = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == newline) + offset
        if len(breaks):
            starts = np.concatenate(([line_start], breaks[:-1] + 1))
            lengths = breaks - starts
            too_long = np.flatnonzero(lengths > limits.max_line_bytes)
            if len(too_long):
                _line_too_long(name, n_breaks + int(too_long[0]) + 1, limits)
            line_start = int(breaks[-1]) + 1
            n_breaks += len(breaks)
        offset += len(chunk)
        if offset - line_start > limits.max_line_bytes:
            _line_too_long(name, n_breaks + 1, limits)
        if n_breaks - 1 > limits.max_rows:
            _too_many_rows(name, f"at least {n_breaks - 1}", limits)
    data_rows = n_breaks - 1 + (offset > line_start)  # a last line without a line break is a row too
    if data_rows > limits.max_rows:
        _too_many_rows(name, str(data_rows), limits)


def _too_many_rows(name: str, count: str, limits: CsvLimits) -> None:
    raise DatasetError(f"{name}: {count} data rows, over the limit of {limits.max_rows}; subsample the rows.")


def _line_too_long(name: str, line: int, limits: CsvLimits) -> None:
    raise DatasetError(
        f"{name}: line {line} is longer than {megabytes(limits.max_line_bytes)}, the limit for one line (and so "
        "for one cell); shorten or remove its long values, or check that the file has line breaks."
    )
