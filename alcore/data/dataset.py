"""The `Dataset` record every loader returns, and the checks that make one.

Every source (bundled, synthetic, user file, download) ends in `validate_arrays`, so the rest of
the engine can trust a `Dataset` without re-checking: X is finite float32 and 2-D; for
classification y is int64 with every class in 0..C-1 present, for regression y is finite float64
(raw values; see `targets.py` for how the task is inferred).

A text dataset carries `texts` and may carry an empty X of shape (n, 0) until its features are
computed: every consumer that needs numbers calls `text_features.featurize(dataset, pool)` first,
right after the split, so the features are fitted on the pool only.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .errors import DatasetError
from .targets import encode_target

MIN_SAMPLES = 10
"""Fewest rows a dataset may have: fewer cannot be split into pool and test sets."""

_MAX_LISTED = 5  # how many offending rows/columns an error message names

__all__ = ["Dataset", "DatasetError", "MIN_SAMPLES", "check_float", "check_int", "check_texts", "validate_arrays"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled dataset, validated: classification (class codes) or regression (a float target).

    Arrays are shared, not copied, by whoever receives a Dataset: treat them as read-only.
    Equality is identity (arrays make field-wise equality ambiguous), so a Dataset is hashable.
    """

    name: str
    X: np.ndarray = field(repr=False)  # float32 (n, n_features), finite; images flattened; (n, 0) for raw text
    y: np.ndarray = field(repr=False)  # classification: int64 codes 0..C-1, every class present; regression: float64
    class_names: tuple[str, ...]  # empty for regression
    sample_shape: tuple[int, ...]  # (h, w) for images, (n_features,) for tabular data
    description: str
    task: str = "classification"  # or "regression"
    target_name: str = ""  # what y is, e.g. "rating_llm"; "" for class labels
    y_target: np.ndarray | None = field(default=None, repr=False)  # the same rows by a second rater; None: y
    texts: tuple[str, ...] | None = field(default=None, repr=False)  # one text per row, for text datasets

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int:
        """Number of classes; 0 for a regression target (it has no classes)."""
        return len(self.class_names)

    @property
    def is_image(self) -> bool:
        return len(self.sample_shape) == 2

    @property
    def is_text(self) -> bool:
        return self.texts is not None

    @property
    def needs_features(self) -> bool:
        """True for raw text (X has no columns): call `featurize` before anything numerical."""
        return self.X.shape[1] == 0

    @property
    def target_y(self) -> np.ndarray:
        """The values to use for target-set rows: the second rater's `y_target` if given, else y."""
        return self.y if self.y_target is None else self.y_target


def validate_arrays(
    X,
    y,
    name: str,
    class_names: Sequence[str] | None = None,
    *,
    sample_shape: tuple[int, ...] | None = None,
    description: str = "",
    feature_names: Sequence[str] | None = None,
    task: str = "auto",
    target_name: str = "",
    y_target=None,
    y_target_name: str = "y_target",
    texts: Sequence[str] | None = None,
) -> Dataset:
    """Check X and y and return them as a `Dataset`; raise `DatasetError` saying what is wrong.

    X must be 2-D, numeric and finite with at least `MIN_SAMPLES` rows; it may have no columns (or
    be None) only when `texts` are given. `task` is "auto" (inferred from y: see `targets.py`),
    "classification" or "regression". Classification: y holds one label per row with at least 2
    classes, encoded to 0..C-1 in sorted order (strings become the class names; numbers their
    string form); if `class_names` is given, y must already be integer codes into it, and classes
    absent from y are dropped (and y re-encoded). Regression: y is a finite, non-constant number
    per row, kept as float64. `y_target` is a second value per row (another rater), encoded like y.
    `feature_names`, `target_name` (what y is) and `y_target_name` also name things in error messages.
    """
    if texts is not None:
        texts = check_texts(texts, name)
        if X is None:
            X = np.zeros((len(texts), 0), dtype=np.float32)
    X = _check_features(X, name, feature_names, allow_empty=texts is not None)
    if texts is not None and len(texts) != X.shape[0]:
        raise DatasetError(f"{name}: {len(texts)} texts for {X.shape[0]} rows of X; give one text per row.")
    target = encode_target(y, X.shape[0], name, task=task, class_names=class_names, y_target=y_target,
                           target_name=target_name, y_target_name=y_target_name)
    if sample_shape is None:
        sample_shape = (X.shape[1],)
    sample_shape = tuple(int(s) for s in sample_shape)
    if int(np.prod(sample_shape)) != X.shape[1]:
        raise DatasetError(
            f"{name}: sample_shape {sample_shape} does not match {X.shape[1]} features; "
            "pass a shape whose product is the number of columns of X."
        )
    if target.task == "regression":
        target_name = target_name or "target"
        what = f"regression target {target_name!r}"
    else:
        what = f"{len(target.class_names)} classes"
    return Dataset(
        name=name,
        X=X,
        y=target.y,
        class_names=target.class_names,
        sample_shape=sample_shape,
        description=description or f"{name}: {X.shape[0]} samples, {X.shape[1]} features, {what}",
        task=target.task,
        target_name=str(target_name),
        y_target=target.y_target,
        texts=texts,
    )


def check_texts(texts, name: str, what: str = "texts") -> tuple[str, ...]:
    """Return `texts` as a tuple of str; raise `DatasetError` naming `what` if any is missing or all are blank."""
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence) and not isinstance(texts, np.ndarray):
        raise DatasetError(f"{name}: {what} must be a sequence of strings, one per row, got {type(texts).__name__}.")
    items = list(texts)
    missing = [i for i, t in enumerate(items) if not isinstance(t, str)]
    if len(missing) == len(items):
        raise DatasetError(f"{name}: {what} is empty or all missing; choose the column that holds the texts.")
    if missing:
        raise DatasetError(
            f"{name}: {len(missing)} missing values in {what} (row indices from 0: {missing[:_MAX_LISTED]}); "
            "drop those rows or give them a text."
        )
    if not any(t.strip() for t in items):
        raise DatasetError(f"{name}: {what} holds only blank strings; choose the column that holds the texts.")
    return tuple(items)


def _check_features(X, name: str, feature_names: Sequence[str] | None, *, allow_empty: bool = False) -> np.ndarray:
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
    if d < 1 and not allow_empty:
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
