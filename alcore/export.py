"""Exports of a stored run: its records as tables (CSV, Parquet), the config JSON that reproduces it, and the GIF.

Everything here reads the run folder only (``alcore.store``); the app and the CLI call the same functions.
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from alcore.constants import FALLBACK_WORDS, MISSING_VALUE
from alcore.store import RunStore
from alcore.task import Task, foreign_metrics, metric_label, primary_metric, task_from_info

#: openTSNE threads of a run's map: a frame is laid out while the page waits for it, and its layout does not
#: depend on the thread count (``ProjectionSettings.n_jobs``); two threads make a digits frame 15-25% faster.
MAP_THREADS = min(2, os.cpu_count() or 1)


def records_frame(run_dir: str | Path) -> pd.DataFrame:
    """One row per complete cycle: labels used, test/target metrics, fallback reason, diversity, timings,
    and the batch chosen (``selected``: dataset indices separated by spaces, so the CSV stays flat)."""
    store = _store(run_dir)
    rows = []
    hidden = foreign_metrics(run_task(run_dir).name)
    for record in store.load_records():
        row = {k: v for k, v in record.summary().items() if k not in hidden}
        row["batch_size"] = int(len(record.selected))
        row["selected"] = " ".join(map(str, np.asarray(record.selected).tolist()))
        row["selected_labels"] = " ".join(map(str, np.asarray(record.selected_labels).tolist()))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame.insert(0, "run_id", store.run_id)
    return frame


def selections_frame(run_dir: str | Path) -> pd.DataFrame:
    """One row per labelled point: the cycle it was picked in, its rank in the batch, its label and its utility."""
    store = _store(run_dir)
    rows = []
    as_label = int if run_task(run_dir).categorical else float  # a class code, or a value of the target
    for record in store.load_records():
        if not len(record.selected):
            continue
        utility = _utilities_of(record.pool_idx, record.utilities, record.selected)
        for rank, (index, label, u) in enumerate(zip(record.selected, record.selected_labels, utility)):
            rows.append({"run_id": store.run_id, "cycle": record.cycle, "rank": rank, "index": int(index),
                         "label": as_label(label), "utility": float(u), "strategy": record.strategy,
                         "fallback_reason": record.fallback_reason})
    return pd.DataFrame(rows, columns=["run_id", "cycle", "rank", "index", "label", "utility", "strategy",
                                       "fallback_reason"])


def shown_value(value, fmt: str = "{:.4g}") -> str:
    """A number as a table shows it to people: ``MISSING_VALUE`` ("—") for NaN or None, never "nan" or "None"."""
    if value is None or (isinstance(value, (float, np.floating)) and not np.isfinite(value)):
        return MISSING_VALUE
    return fmt.format(value)


def fallback_words(record) -> str:
    """Why a cycle's batch did not come from the strategy's own scores, in words (empty when it did): the reason
    and the strategy that chose instead, e.g. 'cold start: no labels yet, … → typiclust chose'."""
    reason = record.fallback_reason
    if not reason:
        return ""
    words = FALLBACK_WORDS.get(reason, reason.replace("_", " "))
    chooser = (record.diagnostics or {}).get("fallback_strategy")
    return f"{words} → {chooser} chose" if chooser else words


def batch_table(records, task: Task | None = None) -> pd.DataFrame:
    """The per-cycle batch table: labels before the cycle, the batch chosen, its classes (or the spread of its
    values), utilities, the test metrics of the task (``alcore.task``) and the fallback in words (why the strategy
    handed over, e.g. a cold start). Missing values read "—"."""
    categorical = task is None or task.categorical
    metric = primary_metric("classification" if task is None else task.name)
    rows = []
    for r in records:
        utility = _utilities_of(r.pool_idx, r.utilities, r.selected)
        labels = np.asarray(r.selected_labels)
        mean = float(np.nanmean(utility)) if len(utility) and np.isfinite(utility).any() else np.nan
        row = {
            "cycle": r.cycle, "labels": r.n_labeled, "strategy": r.strategy,
            "fallback": fallback_words(r) or ("training diverged" if r.diverged else ""),
            "batch": len(r.selected),
        }
        if categorical:
            row["classes in batch"] = int(len(np.unique(labels))) if len(labels) else 0
        else:
            row["value range in batch"] = float(np.ptp(labels)) if len(labels) else np.nan
        row.update({
            "mean utility": shown_value(mean),
            metric_label(metric): getattr(r, metric), "test loss": r.test_loss,
            "selected": " ".join(map(str, np.asarray(r.selected).tolist())),
        })
        rows.append(row)
    return pd.DataFrame(rows)


def point_table(records, indices, cycle: int, y: np.ndarray, class_names=None, task: Task | None = None,
                texts=None) -> pd.DataFrame:
    """What is known about dataset points ``indices`` at ``cycle``, as a table for people: class, the model's
    prediction and confidence (display subset), the utility the strategy gave it, and the cycle it was picked in
    (if ever). A regression run (``task``) shows the true value, the prediction and the predictive spread σ instead;
    ``texts`` adds each point's text. What is not known reads "—" (``shown_value``)."""
    indices = np.asarray(indices, dtype=np.int64)
    if task is not None and not task.categorical:
        return _value_table(records, indices, cycle, y, task, texts)
    names = list(class_names) if class_names is not None else None
    record = records[cycle]
    pred = np.full(len(indices), -1)
    conf = np.full(len(indices), np.nan)
    rows, hit = _display_rows(record, indices)
    probs = np.asarray(record.display_probs)
    if len(rows) and probs.ndim == 2:
        pred[hit], conf[hit] = probs[rows].argmax(1), probs[rows].max(1)

    def label(c: int) -> str:
        if c < 0:
            return ""
        return names[c] if names is not None and c < len(names) else str(c)

    table = pd.DataFrame({
        "index": indices,
        "class": [label(int(c)) for c in np.asarray(y)[indices]],
        "prediction": [label(int(c)) or MISSING_VALUE for c in pred],
        "confidence": [shown_value(c, "{:.2f}") for c in conf],
        "utility": [shown_value(u) for u in _utilities_of(record.pool_idx, record.utilities, indices)],
    })
    return _with_state(table, records, record, indices, texts)


def _value_table(records, indices: np.ndarray, cycle: int, y: np.ndarray, task: Task, texts) -> pd.DataFrame:
    record = records[cycle]
    pred = np.full(len(indices), np.nan)
    spread = np.full(len(indices), np.nan)
    rows, hit = _display_rows(record, indices)
    if len(rows) and np.asarray(record.display_probs).ndim == 2:
        pred[hit] = task.predicted(np.asarray(record.display_probs)[rows])
        spread[hit] = np.abs(np.asarray(record.display_a)[rows, 0])
    table = pd.DataFrame({
        "index": indices, "value": np.asarray(y, dtype=np.float64)[indices],
        "prediction": [shown_value(v) for v in pred], "spread σ": [shown_value(v) for v in spread],
        "utility": [shown_value(u) for u in _utilities_of(record.pool_idx, record.utilities, indices)],
    })
    return _with_state(table, records, record, indices, texts)


def _display_rows(record, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the record's display arrays holding ``indices``, and which indices have one."""
    display_idx, probs = np.asarray(record.display_idx), np.asarray(record.display_probs)
    if not (len(display_idx) and probs.ndim == 2 and len(probs) == len(display_idx)):
        return np.zeros(0, np.int64), np.zeros(len(indices), bool)
    order = np.argsort(display_idx)
    pos = np.clip(np.searchsorted(display_idx[order], indices), 0, len(display_idx) - 1)
    hit = display_idx[order][pos] == indices
    return order[pos[hit]], hit


def _with_state(table: pd.DataFrame, records, record, indices: np.ndarray, texts) -> pd.DataFrame:
    """Adds whether each point was labelled, chosen now or unlabelled, the cycle it was picked in, and its text."""
    picked = np.full(len(indices), -1)
    for r in records:
        found = np.isin(indices, r.selected) & (picked < 0)
        picked[found] = r.cycle
    labelled_before = np.isin(indices, record.labeled_idx)
    table["state"] = np.where(labelled_before, "labelled",
                              np.where(np.isin(indices, record.selected), "chosen now", "unlabelled"))
    table["picked in cycle"] = [str(int(c)) if c >= 0 else MISSING_VALUE for c in picked]
    if texts is not None:
        table["text"] = [texts[i] for i in indices]
    return table


def sample_images(X: np.ndarray, indices, sample_shape) -> list[np.ndarray]:
    """Rows of ``X`` as (h, w) images scaled to [0, 1] for display (standardised or raw pixels alike)."""
    images = []
    for i in np.asarray(indices, dtype=np.int64):
        img = np.asarray(X[i], dtype=np.float64).reshape(tuple(sample_shape))
        lo, hi = float(img.min()), float(img.max())
        images.append((img - lo) / (hi - lo) if hi > lo else np.zeros_like(img))
    return images


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def config_json(run_dir: str | Path) -> str:
    """The run's ExperimentConfig as JSON: ``python -m alcore run --config it.json --out DIR`` repeats the run."""
    from alcore.config import ExperimentConfig

    config = ExperimentConfig.from_dict(_store(run_dir).manifest()["config"])
    return config.to_json()


def run_dataset(run_dir: str | Path):
    """The dataset a stored run was made from (its manifest's config), as loaded: a text dataset without features."""
    from alcore import data

    config = _store(run_dir).manifest()["config"]
    return data.load_for_task(config["dataset"], config.get("dataset_options", {}), config.get("task", "auto"))


def run_task(run_dir: str | Path) -> Task:
    """The task of a stored run (its manifest's dataset description; older runs are classification)."""
    return task_from_info(_store(run_dir).manifest().get("dataset"))


def run_inputs(run_dir: str | Path, dataset) -> np.ndarray:
    """The inputs the run's model saw before standardising: the dataset's X, or a text dataset's features fitted on
    the run's pool."""
    if not dataset.needs_features:
        return dataset.X
    from alcore.config import ExperimentConfig
    from alcore.run_data import prepare_features, run_split

    config = ExperimentConfig.from_dict(_store(run_dir).manifest()["config"])
    return prepare_features(dataset, run_split(config, dataset.y).pool, config.seed).X


def run_projection(run_dir: str | Path, records=None, space: str = "gradient", dataset=None):
    """The run's aligned t-SNE frames (``alcore.projection.cached_projection``), cached in ``<run>/projection/``.

    ``records``: the cycles to map (default: every stored one); ``dataset``: the run's dataset when the caller
    has it loaded already (its labels stratify large display sets; its inputs are the 'inputs' space).
    """
    from alcore import projection

    store = _store(run_dir)
    records = store.load_records() if records is None else records
    dataset = run_dataset(run_dir) if dataset is None else dataset
    settings = projection.ProjectionSettings(space=space, n_jobs=MAP_THREADS)
    from alcore.data import strata

    return projection.cached_projection(store.path, store.run_id, settings, records,
                                        run_inputs(run_dir, dataset) if space == "inputs" else None,
                                        y=strata(dataset.y))


def projected_cycles(run_dir: str | Path, space: str = "gradient") -> int:
    """How many leading cycles already have a cached map frame (read from the cache folder, nothing computed)."""
    from alcore import projection

    folder = Path(run_dir) / "projection" / projection.ProjectionSettings(space=space).key()
    n = 0
    while (folder / f"cycle_{n:04d}.npz").exists():
        n += 1
    return n


def precompute_map(run_dir: str | Path, space: str = "gradient") -> None:
    """Compute and cache the map frames of every stored cycle (a background worker calls this after each cycle,
    so the page finds the new frame on disk instead of computing it while the user waits)."""
    run_projection(run_dir, space=space)


def frame_titles(records, task: str = "classification") -> dict[int, str]:
    """'strategy · cycle c · n labels · test accuracy a' (or the task's own metric) for each cycle, shown with its
    frame; the final record's says it is the final evaluation (its stars are the last batch bought)."""
    metric = primary_metric(task)
    return {int(r.cycle): f"{r.strategy} · cycle {r.cycle} · {'final evaluation · ' if r.is_final else ''}"
                          f"{r.n_labeled} labels · {metric_label(metric)} {getattr(r, metric):.3f}" for r in records}


def run_frames_table(run_dir: str | Path, records=None, space: str = "gradient", dataset=None) -> pd.DataFrame:
    """One row per (cycle, point) of the run's map (``alcore.viz.frames.frames_table``)."""
    from alcore.viz.frames import frames_table

    store = _store(run_dir)
    records = store.load_records() if records is None else records
    dataset = run_dataset(run_dir) if dataset is None else dataset
    result = run_projection(run_dir, records, space, dataset)
    return frames_table(records, result, dataset.y, dataset.class_names, task=run_task(run_dir))


def run_map_figure(run_dir: str | Path, color_by: str = "label", space: str = "gradient", records=None,
                   dataset=None, frames=None, height: int = 600):
    """The run's animated map (``alcore.viz.animated_map.map_figure``): one frame per cycle, each titled with its
    cycle, labels and the task's test metric. ``frames``: the run's frames table when the caller has it already."""
    from alcore.viz.animated_map import map_figure

    records = _store(run_dir).load_records() if records is None else records
    dataset = run_dataset(run_dir) if dataset is None else dataset
    frames = run_frames_table(run_dir, records, space, dataset) if frames is None else frames
    return map_figure(frames, color_by, class_names=dataset.class_names,
                      frame_titles=frame_titles(records, run_task(run_dir).name), height=height)


def run_map_html(run_dir: str | Path, color_by: str = "label", space: str = "gradient", records=None,
                 dataset=None) -> str:
    """The run's animated map as one self-contained HTML page, for slides and teaching: plotly.js inlined (no
    request to any host, so it plays offline), with its play button and cycle slider, opening on cycle 0."""
    import html

    figure = run_map_figure(run_dir, color_by, space, records, dataset, height=720)
    page = figure.to_html(include_plotlyjs=True, full_html=True, include_mathjax=False, auto_play=False,
                          config={"displaylogo": False, "responsive": True})
    title = html.escape(f"{_store(run_dir).run_id}: the animated map")
    return page.replace("<head>", f"<head><title>{title}</title>", 1)


def curve_metrics(records: list, task: str) -> list[str]:
    """The metrics a run's GIF can draw beside its map, the default first: the target loss when the run has a
    labelled target set (the variable a targeted strategy tries to lower), and the task's primary metric."""
    primary = primary_metric(task)
    targeted = any(np.isfinite(getattr(r, "target_loss", float("nan"))) for r in records)
    return ["target_loss", primary] if targeted else [primary]


def run_gif_bytes(run_dir: str | Path, space: str = "gradient", size: tuple[int, int] = (720, 480),
                  fps: float = 2.0, color_by: str = "label", max_points: int | None = None,
                  show_curve: bool = True, records=None, dataset=None, curve_metric: str | None = None) -> bytes:
    """The run's animated map (one frame per cycle, the batch drawn on top) as GIF bytes, rendered without a
    browser (``alcore.viz.gif.render_gif``) from the cached projection frames. ``curve_metric``: the learning
    curve beside the map and the number in each frame's title, one of ``curve_metrics`` (None: its default)."""
    from alcore import validation as v
    from alcore.viz.gif import check_gif_options, render_gif, run_curve

    check_gif_options(size=size, fps=fps, max_points=max_points)
    store = _store(run_dir)
    records = store.load_records() if records is None else records
    check_gif_options(size=size, fps=fps, max_points=max_points, n_frames=len(records))
    choices = curve_metrics(records, run_task(run_dir).name)
    metric = choices[0] if curve_metric is None else v.choice("curve_metric", curve_metric, choices)
    dataset = run_dataset(run_dir) if dataset is None else dataset
    frames = run_frames_table(run_dir, records, space, dataset)
    cycles = sorted(int(c) for c in frames["cycle"].unique())
    by_cycle = {int(r.cycle): r for r in records}
    title_info = [{"strategy": by_cycle[c].strategy, "cycle": c, "n_labeled": by_cycle[c].n_labeled,
                   "metric": metric, "value": getattr(by_cycle[c], metric)} for c in cycles]
    curve = run_curve([r for r in records if np.isfinite(getattr(r, metric))], metric)
    return render_gif(frames, curve if show_curve and len(curve) else None, size=size, fps=fps, color_by=color_by,
                      max_points=max_points, title_info=title_info, show_curve=show_curve and len(curve) > 0,
                      class_names=dataset.class_names, metric=metric)


def _store(run_dir: str | Path) -> RunStore:
    store = RunStore(run_dir)
    if not store.exists():
        raise FileNotFoundError(f"no run at {run_dir} (manifest.json missing)")
    return store


def _utilities_of(pool_idx: np.ndarray, utilities: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Utility of each chosen index (``utilities`` is aligned with ``pool_idx``); NaN where not scored."""
    pool_idx, utilities, chosen = np.asarray(pool_idx), np.asarray(utilities, dtype=float), np.asarray(chosen)
    out = np.full(len(chosen), np.nan)
    if len(pool_idx) and len(utilities) == len(pool_idx):
        order = np.argsort(pool_idx)
        pos = np.searchsorted(pool_idx[order], chosen)
        pos = np.clip(pos, 0, len(pool_idx) - 1)
        hit = pool_idx[order][pos] == chosen
        out[hit] = utilities[order][pos[hit]]
    return out


def config_dict(run_dir: str | Path) -> dict:
    return json.loads(config_json(run_dir))
