"""User files: CSV (`csv_files.py`: numeric features or a text column, and a label column) and NPZ
(`npz_files.py`: arrays `X` and `y`).

`load_file` reads from disk, `load_bytes` parses an upload in memory without writing anything;
both share the parsers, and every failure becomes a `DatasetError` saying what to fix, never a
pandas or numpy exception. The file size is checked before anything is read; a CSV's shape caps
(`csv_limits.py`) before it is parsed. Nothing is unpickled: NPZ is read with allow_pickle=False.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .csv_files import parse_csv
from .dataset import Dataset
from .errors import DatasetError, megabytes
from .npz_files import parse_npz
from .targets import check_task

MAX_FILE_BYTES = 200 * 1024 * 1024
"""Largest file accepted by default: Streamlit's default upload limit (200 MB)."""

SUFFIXES = (".csv", ".npz")


def load_file(*, path: str | os.PathLike, label_column: str | None = None, text_column: str | None = None,
              target_column: str | None = None, task: str = "auto", max_bytes: int = MAX_FILE_BYTES) -> Dataset:
    """Load a `.csv` or `.npz` file from disk.

    CSV: `label_column` names the label column (default: the last column not named by another
    option); without `text_column` all other columns are features and must be numeric. With
    `text_column`, that column's texts are the input (X stays empty until `featurize`) and other
    columns are ignored. `target_column` (optional) names a second rating of the same rows, used
    for the target set (`Dataset.y_target`). NPZ: arrays `X` (2-D, or 3-D images (n, h, w)) and
    `y` (`label_column` names the label array instead of `y`); an optional `class_names` array
    names integer labels. `task`: "auto" (from the label values), "classification" or "regression".
    """
    path = Path(path)
    suffix = _check_suffix(path.name)
    max_bytes = _check_max_bytes(max_bytes)
    if not path.is_file():
        raise DatasetError(f"file not found: {str(path)!r}; check the path, or upload the file again.")
    _check_size(path.stat().st_size, path.name, max_bytes)
    try:
        with path.open("rb") as stream:
            return _parse(stream, path.name, suffix, max_bytes, label_column=label_column, text_column=text_column,
                          target_column=target_column, task=task)
    except OSError as exc:
        raise DatasetError(f"{path.name}: could not be read ({exc}); check the file's permissions.") from exc


def load_bytes(data: bytes, filename: str, *, label_column: str | None = None, text_column: str | None = None,
               target_column: str | None = None, task: str = "auto", max_bytes: int = MAX_FILE_BYTES) -> Dataset:
    """Parse an uploaded file's bytes in memory (nothing is written); `filename` picks the format.

    Takes the same options and gives the same result as `load_file` on a file with these bytes.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DatasetError(f"data must be bytes, got {type(data).__name__}.")
    suffix = _check_suffix(str(filename))
    max_bytes = _check_max_bytes(max_bytes)
    name = Path(str(filename)).name
    _check_size(len(data), name, max_bytes)
    return _parse(io.BytesIO(bytes(data)), name, suffix, max_bytes, label_column=label_column,
                  text_column=text_column, target_column=target_column, task=task)


def _parse(stream: BinaryIO, name: str, suffix: str, max_bytes: int, *, label_column: str | None,
           text_column: str | None, target_column: str | None, task: str) -> Dataset:
    for option, value in (("label_column", label_column), ("text_column", text_column),
                          ("target_column", target_column)):
        if value is not None and not isinstance(value, str):
            raise DatasetError(f"option {option} must be a column name (str) or None, got {value!r}.")
    task = check_task(task)
    if suffix == ".csv":
        return parse_csv(stream, name, label_column, text_column=text_column, target_column=target_column, task=task)
    if text_column is not None or target_column is not None:
        raise DatasetError(
            f"{name}: text_column and target_column apply to CSV files; an .npz holds arrays X and y. "
            "Save texts and ratings as a CSV instead."
        )
    return parse_npz(stream, name, label_column or "y", max_bytes, task)


def _check_suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix not in SUFFIXES:
        raise DatasetError(
            f"{filename!r}: unsupported file type {suffix or '(none)'!r}; "
            f"use one of {', '.join(SUFFIXES)} (a CSV with a header row, or an NPZ with arrays X and y)."
        )
    return suffix


def _check_max_bytes(max_bytes) -> int:
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 1:
        raise DatasetError(f"option max_bytes must be a positive integer, got {max_bytes!r}.")
    return int(max_bytes)


def _check_size(size: int, name: str, max_bytes: int) -> None:
    if size > max_bytes:
        raise DatasetError(
            f"{name}: {megabytes(size)} is over the limit of {megabytes(max_bytes)}; "
            "subsample the rows or reduce the number of features."
        )
