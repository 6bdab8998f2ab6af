"""User files: CSV (a header row, one label column) and NPZ (arrays `X` and `y`).

`load_file` reads from disk, `load_bytes` parses an upload in memory without writing anything;
both share the parsers below, and every failure becomes a `DatasetError` saying what to fix,
never a pandas or numpy exception. Nothing is unpickled: NPZ is read with allow_pickle=False.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from .dataset import Dataset, DatasetError, validate_arrays

if TYPE_CHECKING:
    import pandas as pd

MAX_FILE_BYTES = 200 * 1024 * 1024
"""Largest file accepted by default: Streamlit's default upload limit (200 MB)."""

SUFFIXES = (".csv", ".npz")
NPZ_MAX_EXPANSION = 10
"""An NPZ may hold at most this many times `max_bytes` once decompressed (guards against zip bombs)."""

# What zipfile and zlib raise on damaged or unsupported archives (NotImplementedError is a RuntimeError).
_ZIP_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError)
_SNIFF_BYTES = 8192
_MAX_LISTED = 5


def load_file(*, path: str | os.PathLike, label_column: str | None = None,
              max_bytes: int = MAX_FILE_BYTES) -> Dataset:
    """Load a `.csv` or `.npz` file from disk.

    CSV: `label_column` names the label column (default: the last column); all other columns are
    features and must be numeric. NPZ: arrays `X` (2-D, or 3-D images (n, h, w)) and `y`
    (`label_column` names the label array instead of `y`); an optional `class_names` array names
    integer labels.
    """
    path = Path(path)
    suffix = _check_suffix(path.name)
    max_bytes = _check_max_bytes(max_bytes)
    if not path.is_file():
        raise DatasetError(f"file not found: {str(path)!r}; check the path, or upload the file again.")
    _check_size(path.stat().st_size, path.name, max_bytes)
    try:
        with path.open("rb") as stream:
            return _parse(stream, path.name, suffix, label_column, max_bytes)
    except OSError as exc:
        raise DatasetError(f"{path.name}: could not be read ({exc}); check the file's permissions.") from exc


def load_bytes(data: bytes, filename: str, *, label_column: str | None = None,
               max_bytes: int = MAX_FILE_BYTES) -> Dataset:
    """Parse an uploaded file's bytes in memory (nothing is written); `filename` picks the format.

    Takes the same options and gives the same result as `load_file` on a file with these bytes.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DatasetError(f"data must be bytes, got {type(data).__name__}.")
    suffix = _check_suffix(str(filename))
    max_bytes = _check_max_bytes(max_bytes)
    name = Path(str(filename)).name
    _check_size(len(data), name, max_bytes)
    return _parse(io.BytesIO(bytes(data)), name, suffix, label_column, max_bytes)


def _parse(stream: BinaryIO, name: str, suffix: str, label_column: str | None, max_bytes: int) -> Dataset:
    if label_column is not None and not isinstance(label_column, str):
        raise DatasetError(f"option label_column must be a column name (str) or None, got {label_column!r}.")
    if suffix == ".csv":
        return parse_csv(stream, name, label_column)
    return parse_npz(stream, name, label_column or "y", max_bytes)


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
            f"{name}: {_megabytes(size)} is over the limit of {_megabytes(max_bytes)}; "
            "subsample the rows or reduce the number of features."
        )


def _megabytes(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n} bytes"


# CSV


def parse_csv(stream: BinaryIO, name: str, label_column: str | None = None) -> Dataset:
    """Parse CSV bytes with a header row; `label_column` defaults to the last column."""
    frame = _read_csv(stream, name)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if label_column is None:
        label_column = columns[-1]
    elif label_column not in columns:
        raise DatasetError(
            f"{name}: no column named {label_column!r}; the columns are {_list(columns)}. "
            "Pass one of them as label_column (default: the last column)."
        )
    features = [c for c in columns if c != label_column]
    _check_numeric(frame, features, name)
    try:
        X = frame[features].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:  # e.g. values too large for a float
        raise DatasetError(f"{name}: feature values could not be read as numbers ({exc}).") from exc
    return validate_arrays(
        X,
        frame[label_column].to_numpy(),
        name,
        feature_names=features,
        description=(
            f"{name}: {len(frame)} rows, {len(features)} features, label column {label_column!r} (file)"
        ),
    )


def _read_csv(stream: BinaryIO, name: str) -> pd.DataFrame:
    """Read a DataFrame, turning every way a file can fail to be a table into a `DatasetError`."""
    import pandas as pd  # here: the app's first render does not need pandas

    head = stream.read(_SNIFF_BYTES)
    stream.seek(0)
    if not head.strip():
        raise DatasetError(f"{name}: the file is empty; upload a CSV with a header row and data rows.")
    if b"\x00" in head:
        raise DatasetError(
            f"{name}: this looks like a binary file, not CSV text; export the data as CSV "
            "(comma-separated, UTF-8) or save it as an .npz with arrays X and y."
        )
    try:
        frame = pd.read_csv(
            stream, sep=_delimiter(head), encoding="utf-8-sig", skipinitialspace=True, low_memory=False
        )
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{name}: the file is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as "
            "'CSV UTF-8', or check that it is really a CSV file."
        ) from exc
    except (ValueError, csv.Error, OverflowError, MemoryError) as exc:  # pandas' ParserError is a ValueError
        raise DatasetError(
            f"{name}: could not be parsed as CSV ({_first_line(exc)}); check that every row has the "
            "same number of comma-separated fields as the header."
        ) from exc
    if frame.shape[1] < 2:
        raise DatasetError(
            f"{name}: found {frame.shape[1]} column; a dataset needs feature columns and a label "
            "column, separated by commas, with a header row naming them."
        )
    if len(frame) == 0:
        raise DatasetError(f"{name}: the file has a header but no data rows; add the data rows.")
    if all(_is_number(c) for c in frame.columns):
        raise DatasetError(
            f"{name}: the first row holds only numbers ({_list([str(c) for c in frame.columns])}), so it "
            "looks like data, not a header; add a header row naming the columns."
        )
    return frame


def _delimiter(head: bytes) -> str:
    """The most frequent of ',', ';' and tab in the first line (European spreadsheets use ';')."""
    first_line = head.split(b"\n", 1)[0]
    counts = {sep: first_line.count(sep.encode()) for sep in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def _check_numeric(frame: pd.DataFrame, features: list[str], name: str) -> None:
    """Name the feature columns that are not numeric, with an example value of each."""
    import pandas as pd

    bad = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c].dtype)]
    if not bad:
        return
    described = []
    for column in bad[:_MAX_LISTED]:
        values = frame[column].dropna()
        parsed = pd.to_numeric(values, errors="coerce")
        example = values[parsed.isna()]
        described.append(f"{column!r} (e.g. {str(example.iloc[0])!r})" if len(example) else repr(column))
    more = "" if len(bad) <= _MAX_LISTED else f" and {len(bad) - _MAX_LISTED} more"
    raise DatasetError(
        f"{name}: non-numeric feature columns: {', '.join(described)}{more}. Encode them as numbers "
        "or remove them; if one of them holds the labels, pass it as label_column."
    )


def _is_number(text) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True


def _list(items: list[str], limit: int = 20) -> str:
    shown = ", ".join(repr(i) for i in items[:limit])
    return shown if len(items) <= limit else f"{shown}, ... ({len(items)} columns)"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# NPZ


def parse_npz(stream: BinaryIO, name: str, label_key: str = "y", max_bytes: int = MAX_FILE_BYTES) -> Dataset:
    """Parse an NPZ archive with arrays `X` and `label_key`; 3-D X is a stack of (h, w) images.

    uint8 images are scaled to [0, 1] (pixel intensities), like the downloaded image datasets.
    """
    try:
        archive = np.load(stream, allow_pickle=False)
    except (ValueError, *_ZIP_ERRORS) as exc:
        raise DatasetError(
            f"{name}: not a valid .npz archive ({_first_line(exc)}); save it with "
            "numpy.savez(path, X=X, y=y) using plain numeric or string arrays."
        ) from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetError(
            f"{name}: holds a single array, not an .npz archive; save it with numpy.savez(path, X=X, y=y)."
        )
    with archive:
        X, y, class_names = _read_npz_arrays(archive, name, label_key, max_bytes)
    X, sample_shape = _flatten_images(X, name)
    return validate_arrays(
        X,
        y,
        name,
        class_names=class_names,
        sample_shape=sample_shape,
        description=f"{name}: {X.shape[0]} samples, {X.shape[1]} features"
        + (f", images {sample_shape[0]}x{sample_shape[1]}" if len(sample_shape) == 2 else "")
        + " (file)",
    )


def _read_npz_arrays(archive, name: str, label_key: str, max_bytes: int):
    keys = list(archive.files)
    expanded = sum(info.file_size for info in archive.zip.infolist())
    if expanded > NPZ_MAX_EXPANSION * max_bytes:
        raise DatasetError(
            f"{name}: decompresses to {_megabytes(expanded)}, more than {NPZ_MAX_EXPANSION} x the "
            f"{_megabytes(max_bytes)} limit; subsample the data."
        )
    missing = [k for k in ("X", label_key) if k not in keys]
    if missing:
        raise DatasetError(
            f"{name}: missing array(s) {', '.join(map(repr, missing))}; found {keys or 'no arrays'}. "
            f"Save features as X and labels as {label_key}: numpy.savez(path, X=X, {label_key}=y)."
        )
    try:
        X = archive["X"]
        y = archive[label_key]
        class_names = archive["class_names"] if "class_names" in keys else None
    except ValueError as exc:
        if "pickle" in str(exc) or "Object arrays" in str(exc):  # object arrays need unpickling
            raise DatasetError(
                f"{name}: contains object arrays (pickled Python objects), which are not loaded for safety; "
                "save X as a numeric array and labels as integers or fixed-width strings (e.g. y.astype(str))."
            ) from exc
        raise _damaged(name, exc) from exc
    except _ZIP_ERRORS as exc:
        raise _damaged(name, exc) from exc
    if class_names is not None:
        if class_names.ndim != 1 or class_names.dtype.kind not in "US":
            raise DatasetError(
                f"{name}: class_names must be a 1-D array of strings, got dtype {class_names.dtype} "
                f"and shape {class_names.shape}."
            )
        class_names = [c.decode("utf-8", errors="replace") if isinstance(c, bytes) else str(c)
                       for c in class_names.tolist()]
    return X, y, class_names


def _damaged(name: str, exc: BaseException) -> DatasetError:
    return DatasetError(f"{name}: the archive is damaged ({_first_line(exc)}); save it again with numpy.savez.")


def _flatten_images(X: np.ndarray, name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """Return X as 2-D and the shape of one sample: (h, w) for image stacks, (d,) otherwise."""
    if X.ndim == 4 and X.shape[-1] == 1:  # (n, h, w, 1): single-channel images
        X = X[..., 0]
    if X.ndim == 3:
        n, h, w = X.shape
        flat = X.reshape(n, h * w)
        if flat.dtype == np.uint8:
            flat = flat.astype(np.float32) / np.float32(255.0)
        return flat, (h, w)
    if X.ndim == 2:
        return X, (X.shape[1],)
    raise DatasetError(
        f"{name}: X must be 2-D (n_samples, n_features) or 3-D grey-scale images (n, height, width), "
        f"got shape {X.shape}."
    )
