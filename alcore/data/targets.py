"""The target column: which task it implies, and how it is checked and encoded.

The task follows from the values unless it is given (`task="classification"` or `"regression"`):

- integer, boolean or string labels are **classification**;
- a float target with non-integer values is **regression**, unless it has at most
  `MAX_AMBIGUOUS_VALUES` distinct values (0.5, 1.5, 2.5: classes or a coarse score?), which is
  refused as ambiguous: the caller says which with `task`;
- a float target of whole numbers (1.0, 2.0, as a CSV or NPZ may hold class labels) is
  classification up to `MAX_AUTO_CLASSES` distinct values, and regression beyond.

Classification labels are encoded to int64 codes 0..C-1 (every class present); a regression target
is kept as raw float64 (not standardised: that is the task layer's job, on the pool only).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import DatasetError

TASKS = ("classification", "regression")
MAX_AUTO_CLASSES = 50
"""With `task="auto"`, whole-numbered float labels with more distinct values than this are a regression target."""
MAX_AMBIGUOUS_VALUES = 10
"""With `task="auto"`, a non-integer float target with at most this many distinct values is refused as ambiguous."""

_MAX_LISTED = 5  # how many offending rows an error message names


@dataclass(frozen=True)
class Target:
    """A checked target: the task, y (int64 codes or float64 values), class names (empty for regression)."""

    task: str
    y: np.ndarray
    class_names: tuple[str, ...]
    y_target: np.ndarray | None = None


def check_task(task) -> str:
    """Return `task` if it is "auto", "classification" or "regression", else raise `DatasetError`."""
    if not isinstance(task, str) or task not in ("auto", *TASKS):
        raise DatasetError(f"option task must be one of 'auto', 'classification', 'regression', got {task!r}.")
    return task


def infer_task(y, name: str = "y") -> str:
    """The task `y` implies under the rules of this module's docstring: "classification" or "regression".

    Raises `DatasetError` for a float target that is ambiguous. Missing (NaN) or infinite values do
    not count; the checks of the chosen task refuse them, naming their rows.
    """
    y = _plain_labels(np.asarray(y), name, "labels")
    if y.dtype.kind != "f":
        return "classification"
    y = y[np.isfinite(y)]
    n_distinct = len(np.unique(y))
    if _whole(y):
        return "classification" if n_distinct <= MAX_AUTO_CLASSES else "regression"
    if n_distinct <= MAX_AMBIGUOUS_VALUES:
        raise DatasetError(
            f"{name}: labels contain non-integer numbers (e.g. {_non_integer_example(y)}) but only {n_distinct} "
            "distinct values; class labels must be integers or strings. If this is a continuous target, "
            "pass task='regression'; if these are classes, encode them as integers or strings."
        )
    return "regression"


def encode_target(
    y,
    n: int,
    name: str,
    *,
    task: str = "auto",
    class_names: Sequence[str] | None = None,
    y_target=None,
    target_name: str = "",
    y_target_name: str = "y_target",
) -> Target:
    """Check y (and a second rater's `y_target`, same rows) for `task` and return them encoded.

    `class_names` (classification only) means y already holds integer codes into it. `y_target` is
    encoded like y: the same class codes, or float64 values. `target_name` (what y is, e.g. a
    column) and `y_target_name` name them in messages.
    """
    task = check_task(task)
    y = _one_label_per_row(y, n, name, "labels")
    if task == "auto":
        task = infer_task(y, name)
    if task == "regression":
        if class_names is not None:
            raise DatasetError(f"{name}: class_names only apply to classification; leave them out for regression.")
        values = regression_values(y, name, f"target {target_name!r}" if target_name else "target")
        second = None if y_target is None else regression_values(
            _one_label_per_row(y_target, n, name, y_target_name), name, y_target_name)
        return Target("regression", values, (), second)
    codes, names, encoder = _encode_classes(y, name, class_names)
    second = None
    if y_target is not None:
        second = encoder(_one_label_per_row(y_target, n, name, y_target_name), y_target_name)
    return Target("classification", codes, names, second)


def regression_values(y: np.ndarray, name: str, what: str) -> np.ndarray:
    """Return a numeric, finite, non-constant 1-D target as float64, or raise `DatasetError`."""
    y = _plain_labels(y, name, what, numbers_as_float=True)
    if y.dtype.kind == "U":
        raise DatasetError(
            f"{name}: the {what} holds strings (e.g. {str(y[0])!r}), which cannot be a regression target; "
            "choose a numeric column, or pass task='classification' for class labels."
        )
    if y.dtype.kind == "b":
        raise DatasetError(
            f"{name}: the {what} is boolean (two classes), not a continuous value; pass task='classification'."
        )
    with np.errstate(over="ignore", invalid="ignore"):
        values = np.ascontiguousarray(y, dtype=np.float64)
    _check_finite(values, name, what)
    if values.size and np.all(values == values[0]):
        raise DatasetError(
            f"{name}: the {what} is constant (every row is {values[0]:g}); a regression target must vary. "
            "Check that the right column was chosen."
        )
    return values


# Shared checks


def _one_label_per_row(y, n: int, name: str, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != n:
        subject = "y must have one label" if what == "labels" else f"{what} must have one value"
        raise DatasetError(f"{name}: {subject} per row of X ({n}), got shape {y.shape}.")
    return y


def _plain_labels(y: np.ndarray, name: str, what: str, *, numbers_as_float: bool = False) -> np.ndarray:
    """Bytes -> str, object (e.g. from pandas) -> str or int (or float when `numbers_as_float` and every item is a
    number); then a dtype of kind b, i, u, f or U."""
    if y.dtype.kind == "S":
        y = np.char.decode(y, "utf-8", errors="replace")
    if y.dtype.kind == "O":
        y = _object_labels(y, name, what, numbers_as_float)
    if y.dtype.kind not in "biufU":
        raise DatasetError(f"{name}: {what} must be integers, numbers or strings, got dtype {y.dtype}.")
    return y


_INT64_MIN, _INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


def _object_labels(y: np.ndarray, name: str, what: str, numbers_as_float: bool) -> np.ndarray:
    """Turn an object label array (e.g. from pandas) into a string, integer or float array."""
    items = y.tolist()
    missing = [i for i, v in enumerate(items) if v is None or (isinstance(v, float) and np.isnan(v))]
    if missing:
        raise DatasetError(
            f"{name}: {len(missing)} missing {what} (row indices from 0: {missing[:_MAX_LISTED]}); "
            "drop those rows or give them a value."
        )
    if all(isinstance(v, numbers.Integral) for v in items):
        if all(_INT64_MIN <= v <= _INT64_MAX for v in items):
            return np.asarray(items, dtype=np.int64)
        if not numbers_as_float:  # integers beyond int64 (31-digit ids): labels by their digits
            return np.asarray([str(v) for v in items], dtype=str)
    if numbers_as_float and all(isinstance(v, numbers.Real) for v in items):
        return np.asarray(items, dtype=np.float64)
    return np.asarray([str(v) for v in items], dtype=str)


def _check_finite(y: np.ndarray, name: str, what: str) -> None:
    bad = np.flatnonzero(~np.isfinite(y)) if y.dtype.kind == "f" else []
    if len(bad):
        raise DatasetError(
            f"{name}: {len(bad)} missing or infinite {what} (row indices from 0: {bad[:_MAX_LISTED].tolist()}); "
            "drop those rows or give them a value."
        )


def _whole(y: np.ndarray) -> bool:
    return bool(np.all(y == np.round(y)))


def _non_integer_example(y: np.ndarray):
    return y[y != np.round(y)][0]


# Classification


def _encode_classes(y: np.ndarray, name: str, class_names: Sequence[str] | None):
    """Return (codes 0..C-1 as int64, class names, encoder of a second label array into the same codes)."""
    y = _class_labels(y, name, "labels")
    if class_names is not None:
        return _codes_with_names(y, name, tuple(str(c) for c in class_names))
    values, codes = np.unique(y, return_inverse=True)
    _check_class_count(len(values), len(y), name)

    def encoder(other: np.ndarray, what: str) -> np.ndarray:
        return _codes_of(_class_labels(other, name, what), values, name, what)

    return codes.astype(np.int64).reshape(-1), tuple(str(v) for v in values.tolist()), encoder


def _class_labels(y: np.ndarray, name: str, what: str) -> np.ndarray:
    y = _plain_labels(y, name, what)
    if y.dtype.kind == "f":
        _check_finite(y, name, what)
        if not _whole(y):
            raise DatasetError(
                f"{name}: {what} contain non-integer numbers (e.g. {_non_integer_example(y)}; "
                f"{len(np.unique(y))} distinct values); class labels must be integers or strings. "
                "A continuous target is a regression problem: pass task='regression'."
            )
        y = y.astype(np.int64)
    return y


def _codes_with_names(y: np.ndarray, name: str, names: tuple[str, ...]):
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

    def encoder(other: np.ndarray, what: str) -> np.ndarray:
        other = _class_labels(other, name, what)
        if other.dtype.kind not in "biu":
            raise DatasetError(f"{name}: with class_names given, {what} must hold integer codes too.")
        return _codes_of(other, present, name, what)

    return codes.astype(np.int64).reshape(-1), tuple(names[i] for i in present.tolist()), encoder


def _codes_of(other: np.ndarray, classes: np.ndarray, name: str, what: str) -> np.ndarray:
    """Codes of `other` in the sorted `classes` of y; every value must be one of them."""
    if (other.dtype.kind == "U") != (classes.dtype.kind == "U"):
        raise DatasetError(f"{name}: {what} and the labels must both be strings or both be numbers.")
    unknown = np.setdiff1d(other, classes)
    if len(unknown):
        raise DatasetError(
            f"{name}: {what} holds values that are not classes of the labels: "
            f"{unknown[:_MAX_LISTED].tolist()}; the classes are {classes[:20].tolist()}."
        )
    return np.searchsorted(classes, other).astype(np.int64)


def _check_class_count(n_classes: int, n: int, name: str) -> None:
    if n_classes < 2:
        raise DatasetError(
            f"{name}: only {n_classes} class in the labels; classification needs at least 2. "
            "Check that the right label column was chosen."
        )
    if n_classes == n:
        raise DatasetError(
            f"{name}: every row has a different label ({n} classes for {n} rows); the label column "
            "looks like an identifier or a continuous value. Choose the column holding class labels, "
            "or pass task='regression' for a numeric value to predict."
        )
