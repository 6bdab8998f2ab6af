"""Splitting a dataset into pool / target / test, and standardizing with pool statistics.

The test set is drawn first, stratified, so it does not depend on the target settings; the
target set (points whose loss a target-aware strategy tries to lower) comes from what is left;
the pool is the rest. All three are sorted int64 indices into the dataset, disjoint and covering it.

Integer labels are classes and stratify the draws directly. A float y is a regression target:
each draw is stratified on `N_QUANTILE_BINS` equal-count bins of y among the rows drawn from
(ranks, ties broken by row order), so test and target sets span the range of values like the pool.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .dataset import DatasetError, check_int

_STANDARDIZE_CHUNK_ROWS = 65_536  # bounds temporary memory on pools of 10^6 rows
N_QUANTILE_BINS = 10
"""Strata of a regression draw: deciles of y (fewer when the draw is too small to fill each one twice)."""


@dataclass(frozen=True, eq=False)
class Split:
    """Sorted int64 indices of the pool, the target set (may be empty) and the test set."""

    pool: np.ndarray
    target: np.ndarray
    test: np.ndarray


def make_splits(
    y,
    *,
    test_size: float | int = 0.2,
    target_size: int = 0,
    target_classes: Sequence[int] | None = None,
    random_state: int = 0,
) -> Split:
    """Split indices 0..n-1 into pool, target and test, stratified by `y` and seeded.

    test_size: a fraction in (0, 1) or a count in 1..n-1 of points held out for evaluation.
    target_size: how many points to draw for the target set, from the non-test points whose
    class is in `target_classes` (all classes if None; classification only). Each draw is
    stratified (by class, or by quantile bins of a float regression target), falling back to a
    plain seeded draw only when a stratum has too few points.
    """
    y = _check_labels(y)
    n = len(y)
    n_test = _test_count(test_size, n)
    random_state = check_int(random_state, "random_state", minimum=0, maximum=2**32 - 1)
    rest, test = _draw(np.arange(n, dtype=np.int64), y, n_test, random_state)

    candidates = rest
    if target_classes is not None and y.dtype.kind == "f":
        raise DatasetError(
            f"target_classes={_shown(target_classes)} selects classes, but y is a continuous (regression) target; "
            "leave target_classes unset (None) to draw the target set from all non-test points."
        )
    if target_classes is not None:
        chosen = _check_target_classes(target_classes, y)
        candidates = rest[np.isin(y[rest], chosen)]
    target_size = check_int(target_size, "target_size", minimum=0)
    if target_size > len(candidates):
        where = "" if target_classes is None else f" of classes {sorted(set(chosen.tolist()))}"
        raise DatasetError(
            f"target_size={target_size} is larger than the {len(candidates)} non-test points{where}; "
            f"choose target_size <= {len(candidates)} or a smaller test_size."
        )
    _, target = _draw(candidates, y, target_size, random_state)

    pool = np.setdiff1d(rest, target, assume_unique=True)
    if len(pool) == 0:
        raise DatasetError(
            f"the pool would be empty: {n} points, {len(test)} for test and {len(target)} for the target; "
            "reduce test_size or target_size."
        )
    return Split(pool=_sorted(pool), target=_sorted(target), test=_sorted(test))


def standardize(X, fit_idx) -> np.ndarray:
    """Return float32 (X - mean) / std, with mean and std computed over the rows `fit_idx` only.

    Fitting on the pool keeps test statistics out of the model's inputs. Columns constant over
    `fit_idx` (std zero, up to rounding) get std 1, so they become zeros instead of NaN.
    Works in row chunks, so memory stays near the size of the float32 output.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise DatasetError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}.")
    if X.shape[1] == 0:
        raise DatasetError(
            "X has no feature columns: a text dataset needs featurize(dataset, pool) first "
            "(docs/datasets.md#text-features)."
        )
    fit_idx = check_rows(fit_idx, len(X))

    mean = _chunked_sum(X, fit_idx, lambda rows: rows) / len(fit_idx)
    variance = _chunked_sum(X, fit_idx, lambda rows: (rows - mean) ** 2) / len(fit_idx)
    std = np.sqrt(variance)
    # Relative threshold: a constant float32 column shows rounding-level std, not exactly 0.
    std[std <= np.finfo(np.float32).eps * np.maximum(1.0, np.abs(mean))] = 1.0

    out = np.empty(X.shape, dtype=np.float32)
    for start in range(0, len(X), _STANDARDIZE_CHUNK_ROWS):
        stop = start + _STANDARDIZE_CHUNK_ROWS
        out[start:stop] = (X[start:stop] - mean) / std
    return out


def check_rows(fit_idx, n: int) -> np.ndarray:
    """Return `fit_idx` (row indices, or a boolean mask) as a non-empty 1-D index array into n rows."""
    fit_idx = np.asarray(fit_idx)
    if fit_idx.dtype == bool:
        fit_idx = np.flatnonzero(fit_idx)
    if fit_idx.ndim != 1 or len(fit_idx) == 0 or fit_idx.dtype.kind not in "iu":
        raise DatasetError("fit_idx must be a non-empty 1-D array of row indices (or a boolean mask).")
    if fit_idx.min() < -n or fit_idx.max() >= n:
        raise DatasetError(f"fit_idx holds indices outside 0..{n - 1}.")
    return fit_idx


def _chunked_sum(X: np.ndarray, rows: np.ndarray, transform) -> np.ndarray:
    """Sum of transform(X[chunk]) over rows, in float64, chunk by chunk."""
    total = np.zeros(X.shape[1], dtype=np.float64)
    for start in range(0, len(rows), _STANDARDIZE_CHUNK_ROWS):
        chunk = X[rows[start:start + _STANDARDIZE_CHUNK_ROWS]].astype(np.float64)
        total += transform(chunk).sum(axis=0)
    return total


def _check_labels(y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iuf":
        raise DatasetError(
            "y must be a 1-D array of integer class labels or float regression values, "
            f"got dtype {y.dtype} and shape {y.shape}."
        )
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise DatasetError(f"y holds {int((~np.isfinite(y)).sum())} NaN or infinite values; a split needs finite y.")
    if len(y) < 3:
        raise DatasetError(f"y has {len(y)} labels; a pool and a test set need at least 3.")
    return y


def _test_count(test_size, n: int) -> int:
    """Number of test points: ceil(test_size * n) for a fraction, as scikit-learn does."""
    if isinstance(test_size, numbers.Integral) and not isinstance(test_size, bool):
        return check_int(test_size, "test_size", minimum=1, maximum=n - 1)
    if isinstance(test_size, numbers.Real) and not isinstance(test_size, bool) and 0.0 < test_size < 1.0:
        return min(n - 1, max(1, math.ceil(float(test_size) * n)))
    raise DatasetError(
        f"test_size must be a fraction in (0, 1) or a count in 1..{n - 1}, got {test_size!r}."
    )


def _check_target_classes(target_classes, y: np.ndarray) -> np.ndarray:
    classes = np.unique(y)
    chosen = np.asarray(list(target_classes))
    if chosen.size == 0:
        raise DatasetError("target_classes must name at least one class, or be None for all classes.")
    if chosen.dtype.kind not in "iu" or chosen.ndim != 1:
        raise DatasetError(f"target_classes must be integer class ids, got {list(target_classes)!r}.")
    unknown = sorted(set(chosen.tolist()) - set(classes.tolist()))
    if unknown:
        raise DatasetError(
            f"unknown target class(es) {unknown}; the labels hold classes {classes.tolist()}."
        )
    return chosen


def _draw(index: np.ndarray, y: np.ndarray, k: int, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """Split `index` into (kept, drawn) with `k` drawn, stratified by y when every class allows it."""
    if k == 0:
        return index, index[:0]
    if k == len(index):
        return index[:0], index
    labels = y[index] if y.dtype.kind != "f" else quantile_bins(y[index], min(N_QUANTILE_BINS, k, len(index) - k))
    _, counts = np.unique(labels, return_counts=True)
    stratify = labels if (counts.min() >= 2 and k >= len(counts) and len(index) - k >= len(counts)) else None
    from sklearn.model_selection import train_test_split  # here: the app's first render skips scikit-learn

    kept, drawn = train_test_split(index, test_size=k, stratify=stratify, random_state=random_state)
    return kept, drawn


def strata(y) -> np.ndarray:
    """What a draw from all rows is stratified by: the class codes, or `N_QUANTILE_BINS` equal-count bins of a float
    regression target (the display subset of a map, `alcore.projection.display_subset`)."""
    y = np.asarray(y)
    return quantile_bins(y, min(N_QUANTILE_BINS, len(y))) if y.dtype.kind == "f" else y


def quantile_bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin codes 0..n_bins-1 of equal counts (within one) by rank of `values`; ties broken by position."""
    order = np.argsort(values, kind="stable")
    codes = np.empty(len(values), dtype=np.int64)
    codes[order] = np.arange(len(values)) * max(1, n_bins) // len(values)
    return codes


def _shown(values) -> str:
    try:
        return repr(list(values))
    except TypeError:
        return repr(values)


def _sorted(index: np.ndarray) -> np.ndarray:
    return np.sort(np.asarray(index, dtype=np.int64))
