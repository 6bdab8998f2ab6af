"""The table behind the map and the GIF: one row per (cycle, point) of a ``ProjectionResult``."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from alcore.constants import color_by_option
from alcore.task import Classification, Task

FRAME_COLUMNS = ("cycle", "idx", "x", "y", "label", "pred", "utility", "state")


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray, fill) -> np.ndarray:
    """values[keys == q] for each q in query, ``fill`` where q is not a key."""
    keys, values = np.asarray(keys, dtype=np.int64), np.asarray(values)
    out = np.full(len(query), fill, dtype=values.dtype if len(values) else np.float64)
    if len(keys) == 0 or len(values) != len(keys):  # e.g. the final record scores nothing
        return out
    order = np.argsort(keys, kind="stable")
    pos = np.searchsorted(keys[order], query)
    pos = np.minimum(pos, len(keys) - 1)
    found = keys[order][pos] == query
    out[found] = values[order][pos[found]]
    return out


def _names(codes: np.ndarray, class_names: Sequence[str] | None) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.int64)
    if class_names is None:
        names = np.array([str(c) for c in range(codes.max(initial=-1) + 1)] or ["0"], dtype=object)
    else:
        names = np.asarray([str(c) for c in class_names], dtype=object)
    out = np.full(len(codes), "?", dtype=object)
    ok = (codes >= 0) & (codes < len(names))
    out[ok] = names[codes[ok]]
    return out


def _values(values: np.ndarray) -> np.ndarray:
    return np.asarray(["?" if not np.isfinite(v) else f"{v:.4g}" for v in values], dtype=object)


def _extras(result, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``t``'s batch points outside the display set and where they are drawn (none when it has none)."""
    if not result.extra_idx or not len(result.extra_idx[t]):
        return np.zeros(0, np.int64), np.zeros((0, 2), np.float32)
    return (np.asarray(result.extra_idx[t], dtype=np.int64),
            np.asarray(result.extra_xy[t], np.float32).reshape(-1, 2))


def _last_batch_extras(result, t: int) -> tuple[np.ndarray, np.ndarray]:
    """The final frame (which selects nothing) stars the last batch: its points outside the display set, drawn at
    the display point each sat on in the frame before, where that point is now (the final model has no
    factors for them; the display points keep their identity from frame to frame)."""
    before_idx, before_xy = _extras(result, t - 1)
    if not len(before_idx):
        return before_idx, before_xy
    previous = np.asarray(result.frames[t - 1], np.float32)
    anchor = np.argmin(((previous[None, :, :] - before_xy[:, None, :]) ** 2).sum(axis=2), axis=1)
    return before_idx, np.asarray(result.frames[t], np.float32)[anchor]


def frames_table(
    records: Sequence, result, y_true: np.ndarray, class_names: Sequence[str] | None = None, task: Task | None = None
) -> pd.DataFrame:
    """One row per (cycle, point) of a ``ProjectionResult``: the data of the map and of the GIF.

    Columns: cycle, idx (global index), x, y, label (true class), pred (predicted class at that cycle),
    utility (NaN when the point was not a candidate), state ('labeled' | 'pool' | 'selected'), label_name,
    pred_name, in_display (False for selected points outside the display set, placed at their nearest
    display point), and batch (the points a frame stars: this cycle's batch, or in the final frame, which selects
    nothing, the last batch bought). ``labeled`` means labelled before this cycle's batch; the batch itself is
    'selected'. A regression run (``task``) has float label and pred in the target's units (pred NaN where unknown)
    and a ``residual`` column, pred - label.
    """
    y_true = np.asarray(y_true)
    task = task if task is not None else Classification(len(class_names or ()))
    missing = -1 if task.categorical else np.nan
    by_cycle = {int(r.cycle): r for r in records}
    parts = []
    for t, cycle in enumerate(result.cycles):
        r = by_cycle[int(cycle)]
        idx = np.asarray(result.idx, dtype=np.int64)
        display_idx = np.asarray(r.display_idx, dtype=np.int64)
        pred_display = task.predicted(r.display_probs, r.display_a)
        pred = _lookup(display_idx, pred_display, idx, missing) if len(pred_display) else np.full(len(idx), missing)
        xy = np.asarray(result.frames[t], dtype=np.float32)
        extra_idx, extra_xy = _extras(result, t)
        last_batch = r.is_final and not len(r.selected)  # the final frame stars the batch of the cycle before
        if last_batch and t > 0 and not len(extra_idx):
            extra_idx, extra_xy = _last_batch_extras(result, t)
        if len(extra_idx):
            selected = np.asarray(r.selected, dtype=np.int64)
            pred_sel = task.predicted(np.zeros((0, 0)), r.selected_a)
            extra_pred = (_lookup(selected, pred_sel, extra_idx, missing) if len(pred_sel)
                          else np.full(len(extra_idx), missing))
            idx = np.concatenate([idx, extra_idx])
            pred = np.concatenate([pred, extra_pred])
            xy = np.concatenate([xy, extra_xy])
        state = np.full(len(idx), "pool", dtype=object)
        state[np.isin(idx, np.asarray(r.labeled_idx, dtype=np.int64))] = "labeled"
        state[np.isin(idx, np.asarray(r.selected, dtype=np.int64))] = "selected"
        starred = by_cycle.get(int(cycle) - 1, r).selected if last_batch else r.selected
        utility = _lookup(np.asarray(r.pool_idx), np.asarray(r.utilities, np.float64), idx, np.nan)
        kind = np.int64 if task.categorical else np.float64
        label, pred = y_true[idx].astype(kind), pred.astype(kind)
        names = (_names(label, class_names), _names(pred, class_names)) if task.categorical else \
            (_values(label), _values(pred))
        columns = {
            "cycle": np.full(len(idx), int(cycle), dtype=np.int64), "idx": idx,
            "x": xy[:, 0], "y": xy[:, 1], "label": label, "pred": pred,
            "utility": utility.astype(np.float64), "state": state,
            "label_name": names[0], "pred_name": names[1],
            "in_display": np.arange(len(idx)) < len(result.idx),
            "batch": np.isin(idx, np.asarray(starred, dtype=np.int64)),
        }
        if not task.categorical:
            columns["residual"] = pred - label
        parts.append(pd.DataFrame(columns))
    return pd.concat(parts, ignore_index=True)


def is_continuous(df: pd.DataFrame) -> bool:
    """A regression run's table: true and predicted values on a continuous scale, not classes."""
    return "residual" in df.columns


def check_frames_df(df: pd.DataFrame, color_by: str) -> str:
    """``color_by`` resolved (``alcore.constants.color_by_option``) for a table that has every frame column."""
    missing = [c for c in FRAME_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"frames_df is missing columns {missing}; build it with frames_table()")
    return color_by_option(color_by, "regression" if is_continuous(df) else "classification")


def starred_points(part: pd.DataFrame) -> np.ndarray:
    """Which rows of a frame are drawn as the batch (stars): the ``batch`` column, or in a table without it, the
    points selected in that cycle."""
    if "batch" in part:
        return part["batch"].to_numpy(dtype=bool)
    return (part["state"] == "selected").to_numpy()
