"""The `Dataset` record every loader returns, and the checks that make one.

Every source (bundled, synthetic, user file, download) ends in `validate_arrays`, so the rest of
the engine can trust a `Dataset` without re-checking: X is finite float32 and 2-D, y is int64 with
every class in 0..C-1 present.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

MIN_SAMPLES = 10
"""Fewest rows a dataset may have: fewer cannot be split into pool and test sets."""

_MAX_LISTED = 5  # how many offending rows/columns an error message names


class DatasetError(ValueError):
    """A dataset could not be loaded or is unusable; the message says why and what to do."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled classification dataset, validated.

    Arrays are shared, not copied, by whoever receives a Dataset: treat them as read-only.
    Equality is identity (arrays make field-wise equality ambiguous), so a Dataset is hashable.
    """

    name: str
    X: np.ndarray = field(repr=False)  # float32 (n, n_features), finite; images flattened
    y: np.ndarray = field(repr=False)  # int64 (n,), values 0..C-1, every class present
    class_names: tuple[str, ...]
    sample_shape: tuple[int, ...]  # (h, w) for images, (n_features,) for tabular data
    description: str

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def is_image(self) -> bool:
        return len(self.sample_shape) == 2


def validate_arrays(
    X,
    y,
    name: str,
    class_names: Sequence[str] | None = None,
    *,
    sample_shape: tuple[int, ...] | None = None,
    description: str = "",
    feature_names: Sequence[str] | None = None,
) -> Dataset:
    """Check X and y and return them as a `Dataset`; raise `DatasetError` saying what is wrong.

    X must be 2-D, numeric and finite with at least `MIN_SAMPLES` rows; y must hold one label per
    row with at least 2 classes. Labels are encoded to 0..C-1 in sorted order: strings become the
    class names; numbers become their string form. If `class_names` is given, y must already be
    integer codes into it; classes absent from y are dropped (and y re-encoded) so that every class
    of the returned Dataset is present. `feature_names` only improves error messages.
    """
    X = _check_features(X, name, feature_names)
    y_codes, names = _encode_labels(y, X.shape[0], name, class_names)
    if sample_shape is None:
        sample_shape = (X.shape[1],)
    sample_shape = tuple(int(s) for s in sample_shape)
    if int(np.prod(sample_shape)) != X.shape[1]:
        raise DatasetError(
            f"{name}: sample_shape {sample_shape} does not match {X.shape[1]} features; "
            "pass a shape whose product is the number of columns of X."
        )
    return Dataset(
        name=name,
        X=X,
        y=y_codes,
        class_names=names,
        sample_shape=sample_shape,
        description=description or f"{name}: {X.shape[0]} samples, {X.shape[1]} features, {len(names)} classes",
    )


def _check_features(X, name: str, feature_names: Sequence[str] | None) -> np.ndarray:
    """Return X as a C-contiguous finite float32 2-D array, or raise `DatasetError`."""
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise DatasetError(
            f"{name}: features must be numeric, got dtype {X.dtype}; "
            "encode text or categorical columns as numbers, or drop them."
        )
    if X.ndim != 2:
        raise DatasetError(
            f"{name}: X must be 2-D (n_samples, n_features), got shape {X.shape}; "
            "flatten images to one row per sample."
        )
    n, d = X.shape
    if n < MIN_SAMPLES:
        raise DatasetError(f"{name}: only {n} rows; at least {MIN_SAMPLES} are needed to split off a test set.")
    if d < 1:
        raise DatasetError(f"{name}: X has no feature columns; add at least one feature.")
    with np.errstate(over="ignore", invalid="ignore"):
        X32 = np.ascontiguousarray(X, dtype=np.float32)
    # Checked after the cast, so values too large for float32 (which become inf) are caught too.
    finite = np.isfinite(X32)
    if not finite.all():
        raise DatasetError(f"{name}: {_describe_nonfinite(X32, finite, feature_names)}")
    return X32


def _describe_nonfinite(X: np.ndarray, finite: np.ndarray, feature_names: Sequence[str] | None) -> str:
    """Say how many NaN/inf values there are and in which rows and columns."""
    bad_rows = np.flatnonzero(~finite.all(axis=1))
    bad_cols = np.flatnonzero(~finite.all(axis=0))
    n_nan = int(np.isnan(X).sum())
    n_inf = int((~finite).sum()) - n_nan
    if feature_names is not None:
        cols = [repr(str(feature_names[j])) for j in bad_cols[:_MAX_LISTED]]
    else:
        cols = [str(j) for j in bad_cols[:_MAX_LISTED]]
    more_cols = "" if len(bad_cols) <= _MAX_LISTED else ", ..."
    more_rows = "" if len(bad_rows) <= _MAX_LISTED else ", ..."
    return (
        f"{n_nan} NaN/missing and {n_inf} infinite values in {len(bad_rows)} rows "
        f"(row indices from 0: {', '.join(map(str, bad_rows[:_MAX_LISTED]))}{more_rows}) "
        f"and {len(bad_cols)} columns ({', '.join(cols)}{more_cols}); "
        "fill or drop those rows or columns before loading."
    )


def _encode_labels(
    y, n: int, name: str, class_names: Sequence[str] | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Return (codes 0..C-1 as int64, class names), checking shape, missing values and class count."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != n:
        raise DatasetError(f"{name}: y must have one label per row of X ({n}), got shape {y.shape}.")
    if y.dtype.kind == "S":
        y = np.char.decode(y, "utf-8", errors="replace")
    if y.dtype.kind == "O":
        y = _object_labels(y, name)
    if y.dtype.kind not in "biufU":
        raise DatasetError(f"{name}: labels must be integers or strings, got dtype {y.dtype}.")
    if y.dtype.kind == "f":
        y = _float_labels(y, name)

    if class_names is not None:
        return _codes_with_names(y, name, tuple(str(c) for c in class_names))

    values, codes = np.unique(y, return_inverse=True)
    _check_class_count(len(values), n, name)
    return codes.astype(np.int64).reshape(-1), tuple(str(v) for v in values.tolist())


def _object_labels(y: np.ndarray, name: str) -> np.ndarray:
    """Turn an object label array (e.g. from pandas) into a string or number array."""
    missing = [i for i, v in enumerate(y.tolist()) if v is None or (isinstance(v, float) and np.isnan(v))]
    if missing:
        raise DatasetError(
            f"{name}: {len(missing)} missing labels (row indices from 0: {missing[:_MAX_LISTED]}); "
            "drop those rows or give them a label."
        )
    items = y.tolist()
    if all(isinstance(v, numbers.Integral) for v in items):
        return np.asarray(items, dtype=np.int64)
    return np.asarray([str(v) for v in items], dtype=str)


def _float_labels(y: np.ndarray, name: str) -> np.ndarray:
    """Accept float labels only when they are whole numbers (1.0, 2.0), e.g. read from a CSV."""
    bad = np.flatnonzero(~np.isfinite(y))
    if len(bad):
        raise DatasetError(
            f"{name}: {len(bad)} missing or infinite labels (row indices from 0: {bad[:_MAX_LISTED].tolist()}); "
            "drop those rows or give them a label."
        )
    if not np.all(y == np.round(y)):
        example = y[y != np.round(y)][0]
        raise DatasetError(
            f"{name}: labels contain non-integer numbers (e.g. {example}); class labels must be "
            "integers or strings. A continuous target is a regression problem, which is not supported."
        )
    return y.astype(np.int64)


def _codes_with_names(y: np.ndarray, name: str, names: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Check y indexes into `names`; drop classes that never occur so every class is present."""
    if y.dtype.kind not in "biu":
        raise DatasetError(f"{name}: with class_names given, y must hold integer codes, got dtype {y.dtype}.")
    if y.size and (y.min() < 0 or y.max() >= len(names)):
        raise DatasetError(
            f"{name}: labels must lie in 0..{len(names) - 1} to index class_names, "
            f"got values from {y.min()} to {y.max()}."
        )
    present, codes = np.unique(y, return_inverse=True)
    _check_class_count(len(present), len(y), name)
    return codes.astype(np.int64).reshape(-1), tuple(names[i] for i in present.tolist())


def _check_class_count(n_classes: int, n: int, name: str) -> None:
    if n_classes < 2:
        raise DatasetError(
            f"{name}: only {n_classes} class in the labels; classification needs at least 2. "
            "Check that the right label column was chosen."
        )
    if n_classes == n:
        raise DatasetError(
            f"{name}: every row has a different label ({n} classes for {n} rows); the label column "
            "looks like an identifier or a continuous value. Choose the column holding class labels."
        )


# Option checks shared by the loaders: scikit-learn style, naming the option and the allowed values.


def check_int(value, option: str, *, minimum: int, maximum: int | None = None, dataset: str = "") -> int:
    """Return `value` as int if it is an integer in [minimum, maximum], else raise `DatasetError`."""
    prefix = f"{dataset}: " if dataset else ""
    allowed = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DatasetError(f"{prefix}option {option} must be an integer {allowed}, got {value!r}.")
    if value < minimum or (maximum is not None and value > maximum):
        raise DatasetError(f"{prefix}option {option} must be an integer {allowed}, got {value}.")
    return int(value)


def check_float(
    value, option: str, *, minimum: float, maximum: float | None = None, dataset: str = ""
) -> float:
    """Return `value` as float if it is a finite number in [minimum, maximum], else raise `DatasetError`."""
    prefix = f"{dataset}: " if dataset else ""
    allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise DatasetError(f"{prefix}option {option} must be a number {allowed}, got {value!r}.")
    if value < minimum or (maximum is not None and value > maximum):
        raise DatasetError(f"{prefix}option {option} must be a number {allowed}, got {value}.")
    return float(value)
