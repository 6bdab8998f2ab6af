"""A run's map from its cycle records: one frame per record that carries display data.

The display points of a cycle are read from the record's ``display_*`` fields in the chosen space; selected points
outside the display set are drawn at their nearest display point in the same space.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from alcore.projection.cycles import project_cycles
from alcore.projection.display import display_subset
from alcore.projection.settings import ProjectionResult, ProjectionSettings
from alcore.projection.spaces import FactorSpace


def _has_display(record) -> bool:
    """The record carries display data, all of it finite (a model that diverged leaves NaN factors)."""
    factors = [np.asarray(record.display_a), np.asarray(record.display_h)]
    return (len(record.display_idx) > 0 and factors[1].size > 0
            and all(np.isfinite(f).all() for f in factors if f.size))


def map_records(records: Sequence) -> list:
    """The records that get a frame: every one carrying finite display data, the final (evaluation-only) record
    included when the engine stored its factors (it shows the last model's map with every label); a record whose
    training diverged has none, so the map draws every finite frame before it."""
    return [r for r in records if _has_display(r)]


def _record_space_item(record, rows: np.ndarray, settings: ProjectionSettings, X_inputs):
    if settings.space == "gradient":
        return np.asarray(record.display_a)[rows], np.asarray(record.display_h)[rows]
    if settings.space == "features":
        h = np.asarray(record.display_h)[rows]
        return np.ones((len(h), 1), h.dtype), h
    if X_inputs is None:
        raise ValueError("space='inputs' needs X_inputs (the dataset's inputs, indexed by global index)")
    X = np.asarray(X_inputs)[np.asarray(record.display_idx)[rows]]
    X = X.reshape(len(X), -1).astype(np.float32)
    return np.ones((len(X), 1), X.dtype), X


def _map_rows(records: Sequence, settings: ProjectionSettings, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Global indices of the mapped points and their rows in the records' display arrays."""
    idx = np.asarray(records[0].display_idx, dtype=np.int64)
    for r in records[1:]:
        if not np.array_equal(r.display_idx, idx):
            raise ValueError(f"cycle {r.cycle}: display_idx differs from cycle {records[0].cycle}'s; "
                             "the map needs the same display set in every cycle")
    if len(idx) <= settings.max_points:
        return idx, np.arange(len(idx))
    must = np.concatenate([np.asarray(r.labeled_idx, np.int64) for r in records]
                          + [np.asarray(r.selected, np.int64) for r in records])
    keep = display_subset(y, idx, settings.max_points, np.intersect1d(must, idx), settings.random_state)
    return keep, np.searchsorted(idx, keep)


def _place_extras(record, rows_idx: np.ndarray, Y: np.ndarray, settings: ProjectionSettings, X_inputs, space_item):
    """Selected points outside the display set, drawn at their nearest display point in the same space
    (from ``selected_a``/``selected_h``; none when a record lacks them)."""
    selected = np.asarray(record.selected, dtype=np.int64)
    outside = ~np.isin(selected, rows_idx)
    if not outside.any():
        return np.zeros(0, np.int64), np.zeros((0, 2), np.float32)
    pos = np.flatnonzero(outside)
    space = FactorSpace(*space_item)
    if settings.space == "inputs":
        X = np.asarray(X_inputs)[selected[pos]].reshape(len(pos), -1)
        D2 = space.sq_distances_to(np.ones((len(X), 1)), X)
    else:
        h = np.asarray(record.selected_h)
        a = np.asarray(record.selected_a) if settings.space == "gradient" else np.ones((len(h), 1))
        if h.ndim != 2 or len(h) != len(selected) or len(a) != len(selected):
            return np.zeros(0, np.int64), np.zeros((0, 2), np.float32)  # the record lacks the batch's factors
        D2 = space.sq_distances_to(a[pos], h[pos])
    return selected[pos], Y[np.argmin(D2, axis=1)].astype(np.float32)


def project_records(
    records: Sequence,
    X_inputs: np.ndarray | None = None,
    settings: ProjectionSettings = ProjectionSettings(),
    *,
    y: np.ndarray | None = None,
    previous_frame: np.ndarray | None = None,
    previous_trust: float | None = None,
    reference_trust: float | None = None,
    previous_method: str | None = None,
) -> ProjectionResult:
    """One frame per record that carries display data (see ``map_records``), from its ``display_*`` fields.

    ``X_inputs`` (global-indexed inputs) is needed for ``space='inputs'``, which does not change across
    cycles and is therefore laid out once and reused (method 'reused'). ``y`` (global-indexed labels)
    stratifies the subsample when the display set exceeds ``settings.max_points``. Selected points outside
    the display set are placed at their nearest display point (``extra_idx``/``extra_xy``).
    """
    records = map_records(records)
    if not records:
        raise ValueError("no record carries display data (display_idx/display_h are empty)")
    idx, rows = _map_rows(records, settings, y)
    cycles = [int(r.cycle) for r in records]
    n = len(records)
    if settings.space == "inputs":  # the same space every cycle: one layout, reused
        items = [_record_space_item(records[0], rows, settings, X_inputs)] * n
        if previous_frame is None:
            first = project_cycles(items[:1], settings, "gradient", cycles=cycles[:1], idx=idx)
            frame, trust, secs, method = first.frames[0], first.trustworthiness[0], first.seconds[0], "independent"
        else:
            frame, method, secs = np.asarray(previous_frame, np.float32), "reused", 0.0
            trust = float("nan") if reference_trust is None else float(reference_trust)
        result = ProjectionResult(
            idx=idx, cycles=cycles, frames=[frame] * n,
            displacement=[float("nan") if method == "independent" else 0.0] + [0.0] * (n - 1),
            trustworthiness=[trust] * n, seconds=[secs] + [0.0] * (n - 1),
            method=[method] + ["reused"] * (n - 1), settings=settings,
        )
    else:
        items = [_record_space_item(r, rows, settings, X_inputs) for r in records]
        result = project_cycles(items, settings, "gradient", previous_frame=previous_frame,
                                previous_trust=previous_trust, reference_trust=reference_trust,
                                previous_method=previous_method, cycles=cycles, idx=idx)
    result.extra_idx, result.extra_xy = [], []
    for r, Y, item in zip(records, result.frames, items):
        e_idx, e_xy = _place_extras(r, idx, Y, settings, X_inputs, item)
        result.extra_idx.append(e_idx)
        result.extra_xy.append(e_xy)
    return result
