"""A sweep's summary: every cycle of every run as a table, learning curves with bands, the AULC / labels-to-X% /
label-savings table and the pairwise penalty matrix (docs/methods.md#learning-curve-summaries), written next to the
runs.

``python -m alcore report runs/sweep1`` writes into ``runs/sweep1/report/``:

    cycles.csv, cycles.parquet   one row per cycle of every run (incomplete and failed runs included, with status)
    curves.png                   mean learning curve per strategy, 95% t-band over seeds, one panel per dataset
    curves.html                  the same as interactive plotly figures, self-contained (plotly.js inlined)
    summary.csv                  per dataset and strategy: AULC, final value, labels to X%, label savings
    penalty.csv                  per dataset, and summed over datasets: winner rows x loser columns
    target_loss.png              the target-set loss per cycle with bands (runs with a target set)
    diversity.png                the batch diversity per cycle with bands (mean pairwise gradient distance)
    winloss.csv                  per strategy, paired with the baseline seed by seed (``alcore.win_loss``)
    map.gif                      the animated map of one run, chosen reproducibly (``gif_run``)
    report.md                    what was summarised, and where each file is

The last four are the seed's experiment's plots and table (docs/methods.md#the-seeds-experiment): the target-loss
curves, the batch diversity, the animated map, and the paired win/loss table against random.

Each dataset's runs are a group (``alcore.run_group``): its ``summarize`` and ``curve_bands`` give the numbers, with
``alcore.metrics``'s formulas (``alcore.report_figures`` draws them); only complete runs enter them, so that every
curve spans the same budget. Without ``metric``, each dataset is summarised by its task's primary metric (test
accuracy, or R² for regression, docs/tasks.md#regression).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alcore import win_loss
from alcore.teaching.study import study_note
from alcore.report_figures import curve_figure, curves_html, curves_png  # curve_figure: the Compare page's too
from alcore.run_group import cycle_frame, group_metric, summarize
from alcore.store import list_runs
from alcore.sweep.failures import read_failures
from alcore.task import metric_label

REPORT_DIR = "report"
KEYS = ["dataset", "strategy", "seed", "run_id", "status"]
DIVERSITY = "div_mean_pairwise_distance"
DIVERSITY_LABEL = "batch diversity (mean pairwise gradient distance)"


# --- the table ----------------------------------------------------------------------------------------------------

def collect_cycles(root: str | Path) -> pd.DataFrame:
    """One row per stored cycle of every run under ``root`` (``run_group.cycle_frame``), sorted by dataset, strategy,
    seed and cycle; ``strategy_name`` is the run's strategy.

    When runs of one dataset differ in other settings (two sweeps with different epochs into one root), the
    ``strategy`` label carries the settings hash, ``"entropy [1a2b3c4d]"``, so that unlike runs are never averaged.
    """
    df = cycle_frame(manifest["path"] for manifest in list_runs(root))
    if df.empty:
        return pd.DataFrame(columns=KEYS + ["cycle", "n_labeled"])
    df.insert(2, "strategy_name", df["strategy"])
    variants = df.groupby("dataset")["settings_hash"].transform("nunique")
    df["strategy"] = np.where(variants > 1, df["strategy_name"] + " [" + df["settings_hash"] + "]",
                              df["strategy_name"])
    return df.sort_values(["dataset", "strategy", "seed", "cycle"], kind="stable").reset_index(drop=True)


def complete_runs(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs that reached their final cycle."""
    return df[df["status"] == "complete"] if len(df) else df


# --- numbers ------------------------------------------------------------------------------------------------------

def dataset_summaries(df: pd.DataFrame, metric: str | None = None, x_percent: float = 90.0,
                      baseline: str = "random") -> tuple[pd.DataFrame, dict[str, pd.DataFrame], list[str]]:
    """``run_group.summarize`` per dataset: the summary tables stacked with a ``dataset`` column; the penalty
    matrices by dataset plus ``"all"``, their sum over datasets (BADGE, Sec. 4, sums over experiments, so a cell of
    ``"all"`` is at most the number of datasets); and lines saying what the labels-to-X% target and the checkpoints
    were, or why a number is missing."""
    tables, matrices, summary_notes, penalty_notes = [], {}, [], []
    for dataset, runs in df.groupby("dataset", sort=True):
        used = metric or group_metric(runs)
        found = summarize(runs, x_percent=x_percent, metric=used, baseline=baseline)
        table, matrix = found["summary"], found["penalty"]
        if len(table):
            a = table.attrs
            summary_notes.append(f"{dataset}: {used} summarised; AULC over {a['n_lo']:g}..{a['n_hi']:g} labels; "
                                 f"labels-to-{x_percent:g}% target {used} = {a['target_value']:.4f} ({x_percent:g}% "
                                 f"of {a['reference']} {a['reference_value']:.4f})")
            tables.append(table.reset_index().assign(dataset=dataset, metric=used))
        summary_notes += [f"{dataset}: {note}" for note in found["notes"]]
        if len(matrix):
            matrices[str(dataset)] = matrix
            checkpoints = ", ".join(f"{c:g}" for c in matrix.attrs.get("checkpoints", []))
            penalty_notes.append(f"{dataset}: checkpoints at {checkpoints or 'none'} labels")
    if matrices:
        names = sorted({n for m in matrices.values() for n in m.index})
        total = sum(m.reindex(index=names, columns=names, fill_value=0.0) for m in matrices.values())
        total.index.name, total.columns.name = "winner", "loser"
        matrices["all"] = total
    summary = pd.DataFrame()
    if tables:
        summary = pd.concat(tables, ignore_index=True)
        summary = summary[["dataset", *[c for c in summary.columns if c != "dataset"]]]
    return summary, matrices, summary_notes + penalty_notes


def penalty_long(matrices: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The matrices as one CSV-ready table: ``dataset, winner, <loser columns>``."""
    frames = [m.reset_index().assign(dataset=name) for name, m in matrices.items()]
    if not frames:
        return pd.DataFrame(columns=["dataset", "winner"])
    out = pd.concat(frames, ignore_index=True)
    return out[["dataset", "winner", *[c for c in out.columns if c not in ("dataset", "winner")]]]


# --- the report ---------------------------------------------------------------------------------------------------

def write_report(root: str | Path, out: str | Path | None = None, metric: str | None = None,
                 x_percent: float = 90.0, baseline: str = "random", gif: bool = True) -> dict[str, Path]:
    """Write every output of the report into ``out`` (default ``<root>/report``); return ``{name: path}``.
    ``metric``: the per-cycle column summarised (default: each dataset's primary metric, accuracy or R²).
    ``gif``: also animate one run's map (``gif_run``), the slowest output."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no sweep at {root}")
    out = Path(out) if out is not None else root / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    df = collect_cycles(root)
    if len(df) and metric is not None and metric not in df.columns:
        raise ValueError(f"metric {metric!r} is not a column of the cycle table; choose one of "
                         f"{[c for c in df.columns if df[c].dtype.kind == 'f']}")
    paths = {"cycles.csv": out / "cycles.csv", "cycles.parquet": out / "cycles.parquet"}
    df.to_csv(paths["cycles.csv"], index=False)
    df.to_parquet(paths["cycles.parquet"], index=False)

    done = complete_runs(df)
    summary, penalty, notes = dataset_summaries(done, metric, x_percent, baseline) if len(done) \
        else (pd.DataFrame(), {}, [])
    paths["summary.csv"] = out / "summary.csv"
    summary.to_csv(paths["summary.csv"], index=False)
    paths["penalty.csv"] = out / "penalty.csv"
    penalty_long(penalty).to_csv(paths["penalty.csv"], index=False)
    paths["curves.png"] = curves_png(done, out / "curves.png", metric)
    paths["curves.html"] = curves_html(done, out / "curves.html", metric, summary, penalty,
                                       title=f"Sweep report: {root.name}")
    seed_paths, seed_notes, table = seed_outputs(root, out, done, metric, baseline, gif)
    paths.update(seed_paths)
    paths["report.md"] = out / "report.md"
    paths["report.md"].write_text(_markdown(root, out, df, summary, penalty, notes + seed_notes, metric, x_percent,
                                            baseline, table, seed_paths))
    return paths


def winloss_metric(df: pd.DataFrame, metric: str | None = None) -> str:
    """The metric of the win/loss table: ``target_loss`` when the runs have a target set (the seed's experiment),
    else the summarised metric."""
    if "target_loss" in df and np.isfinite(pd.to_numeric(df["target_loss"], errors="coerce")).any():
        return "target_loss"
    return metric or (group_metric(df) if len(df) else "test_accuracy")


def gif_run(df: pd.DataFrame, baseline: str = "random") -> pd.Series | None:
    """The run the report animates, the same for the same runs: of the first dataset by name, the first strategy
    by name other than ``baseline`` (the baseline when it is alone), its lowest seed. None without complete runs."""
    if df.empty:
        return None
    first = df[df["dataset"] == sorted(df["dataset"].unique())[0]]
    names = sorted(set(first["strategy"]) - {baseline}) or [baseline]
    runs = first[first["strategy"] == names[0]]
    return runs[runs["seed"] == runs["seed"].min()].iloc[0]


def seed_outputs(root: Path, out: Path, done: pd.DataFrame, metric: str | None, baseline: str,
                 gif: bool) -> tuple[dict[str, Path], list[str], pd.DataFrame]:
    """The seed's plots and table from complete runs' cycles: target-loss curves (runs with a target set), batch
    diversity per cycle, the win/loss table against ``baseline`` and one run's animated map. Returns the paths
    written, notes on what was chosen or left out, and the table."""
    paths: dict[str, Path] = {}
    notes: list[str] = []
    finite = {c: done[np.isfinite(pd.to_numeric(done[c], errors="coerce"))] if c in done else done.iloc[0:0]
              for c in ("target_loss", DIVERSITY)}
    if len(finite["target_loss"]):
        paths["target_loss.png"] = curves_png(finite["target_loss"], out / "target_loss.png", "target_loss")
    if len(finite[DIVERSITY]):
        paths["diversity.png"] = curves_png(finite[DIVERSITY], out / "diversity.png", DIVERSITY, "batch diversity")
    table = win_loss.paired_table(done, winloss_metric(done, metric), baseline) if len(done) \
        else pd.DataFrame(columns=win_loss.COLUMNS)
    if len(table):
        paths["winloss.csv"] = out / "winloss.csv"
        table.to_csv(paths["winloss.csv"], index=False)
    run = gif_run(done, baseline) if gif else None
    if run is not None:
        from alcore.export import run_gif_bytes

        try:
            data = run_gif_bytes(root / run["run_id"], size=(640, 420), fps=1.5)
        except (ValueError, KeyError, IndexError, OSError) as err:  # a run without map data: say so, keep the rest
            notes.append(f"map.gif not written: run {run['run_id']} has no map to animate ({err})")
        else:
            paths["map.gif"] = out / "map.gif"
            paths["map.gif"].write_bytes(data)
            notes.append(f"map.gif animates {run['dataset']}/{run['strategy']}/seed {run['seed']} "
                         f"(`{run['run_id']}`): the first strategy by name other than {baseline}, its lowest seed")
    return paths, notes, table


def _markdown(root: Path, out: Path, df: pd.DataFrame, summary: pd.DataFrame, penalty: dict[str, pd.DataFrame],
              notes: list[str], metric: str, x_percent: float, baseline: str, table: pd.DataFrame,
              seed_paths: dict[str, Path]) -> str:
    runs = df.drop_duplicates("run_id") if len(df) else df
    status = runs["status"].value_counts().to_dict() if len(runs) else {}
    failures = read_failures(root)
    what = (f"the metric is `{metric}`" if metric
            else "each dataset's metric is its task's primary one (column `metric`)")
    lines = [f"# Sweep report: {root.name}", "",
             f"{len(runs)} runs with stored cycles under `{root}`: "
             + (", ".join(f"{v} {k}" for k, v in sorted(status.items())) or "none") + ". "
             f"Only complete runs enter the curves and tables; {what}, labels-to-{x_percent:g}% "
             f"and label savings are measured against `{baseline}`.", ""]
    if failures:
        done_jobs = set()
        if len(runs):
            complete = runs[runs["status"] == "complete"]
            done_jobs = set(zip(complete["dataset"], complete["strategy_name"], complete["seed"]))
        superseded = {r for r, f in failures.items()
                      if (f.get("dataset"), f.get("strategy"), f.get("seed")) in done_jobs}
        lines += [f"**{len(failures)} failed job(s)** (from `failures.json`)"
                  + (f"; {len(superseded)} of them have since completed with other settings" if superseded else "")
                  + ":", ""]
        by_error: dict[str, list[str]] = {}
        for run_id, f in sorted(failures.items()):
            error = str(f.get("error") or "?").splitlines()[0]
            by_error.setdefault(error, []).append(run_id + (" (superseded)" if run_id in superseded else ""))
        for error, ids in by_error.items():
            shown = ", ".join(f"`{i}`" for i in ids[:4]) + (f" and {len(ids) - 4} more" if len(ids) > 4 else "")
            lines.append(f"- {error}: {len(ids)} job(s): {shown}")
        lines.append("")
    if len(df) and (df["strategy"] != df["strategy_name"]).any():
        lines += ["Runs of one dataset differ in settings other than strategy and seed; their strategy labels carry "
                  "the settings hash in brackets, and unlike runs are never averaged.", ""]
    lines += ["## Files", ""]
    described = {"cycles.csv": "every cycle of every run (also `cycles.parquet`)",
                 "curves.png": "learning curves, mean over seeds with 95% t-bands",
                 "curves.html": "the same curves, interactive, self-contained (open in any browser, offline)",
                 "summary.csv": "AULC, final value, labels to X%, label savings per dataset and strategy "
                                "(mean and 95% half-width over seeds)",
                 "penalty.csv": "pairwise penalty matrices per dataset and summed (`all`): rows win against columns"}
    described.update({"target_loss.png": "the target-set loss per cycle, mean over seeds with 95% t-bands",
                      "diversity.png": f"the {DIVERSITY_LABEL} of each batch, per cycle, with bands",
                      "winloss.csv": f"each strategy paired with {baseline} seed by seed: wins on the final value "
                                     "and on the area under the curve",
                      "map.gif": "the animated map of one run (see the notes for which)"})
    lines += [f"- [`{name}`]({name}): {text}" for name, text in described.items()
              if name not in ("target_loss.png", "diversity.png", "winloss.csv", "map.gif") or name in seed_paths]
    lines += ["", "![learning curves](curves.png)", ""]
    lines += [f"![{name.split('.')[0].replace('_', ' ')}]({name})" for name in
              ("target_loss.png", "diversity.png", "map.gif") if name in seed_paths]
    if len(table):
        lines += ["", f"## Win/loss against {baseline}", "",
                  f"Per strategy, over the seeds it shares with {baseline}: on how many its final "
                  f"{metric_label(table['metric'].iloc[0])} and its area under that curve are better than "
                  f"{baseline}'s for the same seed, and the mean difference (strategy minus {baseline}).", "",
                  _md_table(table), ""]
        if "target_loss" in set(table["metric"]) and runs["strategy"].astype(str).str.startswith("alignment").any():
            regression = "task" in runs and runs["task"].eq("regression").all()
            lines += [study_note(categorical=not regression), ""]  # the study's verdict beside this sweep's
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    if len(summary):
        lines += ["## Summary", "", _md_table(summary), ""]
    for name, matrix in penalty.items():
        lines += [f"## Penalty matrix: {name}", "", _md_table(matrix.reset_index()), ""]
    return "\n".join(lines)


def _md_table(frame: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if not np.isfinite(v) else f"{v:.4g}"
        return str(v).replace("|", "\\|")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])
