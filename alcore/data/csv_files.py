"""CSV files: a header row, then either numeric feature columns and a label column, or a text column and a
numeric target column (docs/datasets.md#files).

Numeric mode (no `text_column`): every column but the label (and `target_column`) is a feature.
Text mode (`text_column` given): the texts are the input, featurised later on the pool
(docs/datasets.md#text-features); the label column is the main target, `target_column` an
optional second rating of the same rows used for the target set; other columns are ignored and
named in the description. Shape caps (`csv_limits.py`) are checked on the raw bytes first.
"""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from . import csv_limits
from .dataset import Dataset, check_texts, validate_arrays
from .errors import DatasetError, first_line, listed

if TYPE_CHECKING:
    import pandas as pd

_SNIFF_BYTES = 8192
_MAX_LISTED = 5


def parse_csv(stream: BinaryIO, name: str, label_column: str | None = None, *, text_column: str | None = None,
              target_column: str | None = None, task: str = "auto",
              limits: csv_limits.CsvLimits | None = None) -> Dataset:
    """Parse CSV bytes with a header row; `label_column` defaults to the last column not otherwise named."""
    frame = _read_csv(stream, name, limits or csv_limits.LIMITS)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    named = {"text_column": text_column, "target_column": target_column}
    for option, column in named.items():
        if column is not None:
            _check_column(column, option, columns, name)
    if label_column is None:
        others = [c for c in columns if c not in (text_column, target_column)]
        label_column = others[-1] if others else columns[-1]
    else:
        _check_column(label_column, "label_column", columns, name)
    for option, column in named.items():
        if column == label_column:
            raise DatasetError(
                f"{name}: {option}={column!r} is also the label column; the label column must be a different one "
                f"(label_column, default: the last column)."
            )
    if text_column is not None and text_column == target_column:
        raise DatasetError(f"{name}: text_column and target_column are both {text_column!r}; choose two columns.")
    y_target = None if target_column is None else frame[target_column].to_numpy()
    if text_column is not None:
        return _text_dataset(frame, name, text_column, label_column, target_column, y_target, task)
    features = [c for c in columns if c not in (label_column, target_column)]
    _check_numeric(frame, features, name)
    try:
        X = frame[features].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:  # e.g. values too large for a float
        raise DatasetError(f"{name}: feature values could not be read as numbers ({exc}).") from exc
    second = "" if target_column is None else f", target-set column {target_column!r}"
    return validate_arrays(
        X,
        frame[label_column].to_numpy(),
        name,
        feature_names=features,
        task=task,
        target_name=label_column,
        y_target=y_target,
        y_target_name=f"target_column {target_column!r}",
        description=(
            f"{name}: {len(frame)} rows, {len(features)} features, label column {label_column!r}{second} (file)"
        ),
    )


def _text_dataset(frame: pd.DataFrame, name: str, text_column: str, label_column: str, target_column: str | None,
                  y_target, task: str) -> Dataset:
    import pandas as pd

    cells = frame[text_column]
    what = f"text column {text_column!r}"
    if cells.isna().all():
        raise DatasetError(f"{name}: {what} is empty or all missing; choose the column that holds the texts.")
    if pd.api.types.is_numeric_dtype(cells.dtype) or pd.api.types.is_bool_dtype(cells.dtype):
        raise DatasetError(f"{name}: {what} holds numbers, not text; choose the column that holds the texts.")
    texts = check_texts([None if pd.isna(t) else str(t) for t in cells.tolist()], name, what)
    ignored = [c for c in frame.columns if c not in (text_column, label_column, target_column)]
    second = "" if target_column is None else f", target-set column {target_column!r}"
    unused = "" if not ignored else f"; ignored columns: {listed(ignored, 10)}"
    return validate_arrays(
        None, frame[label_column].to_numpy(), name, texts=texts, task=task, target_name=label_column,
        y_target=y_target, y_target_name=f"target_column {target_column!r}",
        description=f"{name}: {len(frame)} texts from column {text_column!r}, label column {label_column!r}"
                    f"{second} (file){unused}",
    )


def _check_column(column: str, option: str, columns: list[str], name: str) -> None:
    if column not in columns:
        raise DatasetError(
            f"{name}: no column named {column!r} (option {option}); the columns are {listed(columns)}."
            + (" Pass one of them as label_column (default: the last column)." if option == "label_column" else "")
        )


def _read_csv(stream: BinaryIO, name: str, limits: csv_limits.CsvLimits) -> pd.DataFrame:
    """Read a DataFrame, turning every way a file can fail to be a table into a `DatasetError`."""
    head = stream.read(_SNIFF_BYTES)
    stream.seek(0)
    if not head.strip():
        raise DatasetError(f"{name}: the file is empty; upload a CSV with a header row and data rows.")
    if b"\x00" in head:
        raise DatasetError(
            f"{name}: this looks like a binary file, not CSV text; export the data as CSV "
            "(comma-separated, UTF-8) or save it as an .npz with arrays X and y."
        )
    delimiter = _delimiter(head)
    csv_limits.check_csv_limits(stream, name, delimiter, limits)
    try:
        frame = _read_frame(stream, delimiter)
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{name}: the file is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as "
            "'CSV UTF-8', or check that it is really a CSV file."
        ) from exc
    except (ValueError, csv.Error, OverflowError, MemoryError) as exc:  # pandas' ParserError is a ValueError
        raise DatasetError(
            f"{name}: could not be parsed as CSV ({first_line(exc)}); check that every row has the "
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
            f"{name}: the first row holds only numbers ({listed([str(c) for c in frame.columns])}), so it "
            "looks like data, not a header; add a header row naming the columns."
        )
    return frame


def _read_frame(stream: BinaryIO, delimiter: str) -> pd.DataFrame:
    """The parse itself (pandas), after the caps have been checked."""
    import pandas as pd  # here: the app's first render does not need pandas

    return pd.read_csv(stream, sep=delimiter, encoding="utf-8-sig", skipinitialspace=True, low_memory=False)


def _delimiter(head: bytes) -> str:
    """The most frequent of ',', ';' and tab in the first line (European spreadsheets use ';')."""
    first = head.split(b"\n", 1)[0]
    counts = {sep: first.count(sep.encode()) for sep in (",", ";", "\t")}
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
        "or remove them; if one of them holds the labels, pass it as label_column; if it holds text, "
        "pass it as text_column."
    )


def _is_number(text) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True
