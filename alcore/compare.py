"""Comparisons: several strategies x seeds on one dataset and model, and the numbers that compare them (§8.2).

A comparison is a *group* of ordinary runs that differ only in strategy and seed. Seeds are paired across
strategies: the same seed gives every strategy the same split, the same model initialisation and the same initial
labels, so per-seed differences measure the strategy alone (what the penalty matrix tests).

On disk, under the runs folder::

    <group-id>/compare.json               the group manifest: base config, strategies, seeds, run ids
    <group-id>.<strategy>.s<seed>/        one ordinary run per (strategy, seed), next to every other run

The runs sit beside the other runs (not inside the group folder) so each one can be opened on its own page by its
id; the group folder has no ``manifest.json`` and is therefore not listed as a run. Everything a page needs after a
reload or a server restart is on disk: the manifest names the runs, the runs hold their cycles.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from alcore import metrics, strategies
from alcore.config import ConfigError, ExperimentConfig
from alcore.store import RunStore, atomic_write_json, new_run_id

GROUP_MANIFEST = "compare.json"
DEFAULT_TARGET_SIZE = 50
#: Per-cycle columns a comparison plots against labels used, besides the diversity columns ``div_*``.
CURVE_METRICS = ("test_accuracy", "test_loss", "test_macro_f1", "target_loss", "target_accuracy")


@dataclass
class Comparison:
    """A group of runs: one per (strategy, seed), all from the same base config."""

    group_id: str
    path: Path                                  # the group folder holding compare.json
    base: dict[str, Any]                        # the base config (strategy and seed are overridden per run)
    strategies: list[str]
    seeds: list[int]
    run_ids: list[str]
    title: str = ""
    preset: str | None = None
    created: float = field(default_factory=time.time)
    strategy_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def run_dirs(self) -> list[Path]:
        return [self.root / run_id for run_id in self.run_ids]

    def configs(self) -> list[ExperimentConfig]:
        """The run configs, rebuilt from the manifest (validated)."""
        return comparison_configs(ExperimentConfig.from_dict(self.base), self.strategies, self.seeds,
                                  self.strategy_options, group_id=self.group_id)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("path")
        return d


# --- configs and folders ---------------------------------------------------------------------------------------

def comparison_configs(base: ExperimentConfig, strategies_: Iterable[str], seeds: Iterable[int],
                       strategy_options: dict[str, dict[str, Any]] | None = None,
                       group_id: str = "") -> list[ExperimentConfig]:
    """One config per (strategy, seed), strategy-major, everything else taken from ``base``.

    ``strategy_options`` maps a strategy name to its options; ``base.strategy_options`` apply to ``base.strategy``
    only. When any strategy scores against a target set (LESS, gradient alignment) every run gets the same
    ``target_size`` (``base.target_size``, or ``DEFAULT_TARGET_SIZE`` when it is 0): the split must be the same for all
    strategies, or the comparison would measure different pools, and the target loss is then on every curve.
    Raises ConfigError naming the bad strategy or seed.
    """
    names = _check_strategies(strategies_)
    seed_list = _check_seeds(seeds)
    options = dict(strategy_options or {})
    if base.strategy in names and base.strategy_options and base.strategy not in options:
        options[base.strategy] = dict(base.strategy_options)
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ConfigError(f"strategy_options given for {unknown}, which are not compared ({names})")
    target_size = base.target_size
    if target_size == 0 and any(strategies.get_class(s).needs_target for s in names):
        target_size = DEFAULT_TARGET_SIZE
    out = []
    for s in names:
        for seed in seed_list:
            name = f"{s} · seed {seed}" + (f" ({group_id})" if group_id else "")
            values = {**base.to_dict(), "strategy": s, "strategy_options": dict(options.get(s, {})), "seed": seed,
                      "target_size": target_size, "name": name}
            out.append(ExperimentConfig.from_dict(values))
    return out


def run_id_for(group_id: str, strategy: str, seed: int) -> str:
    """``<group-id>.<strategy>.s<seed>``: a plain run id (letters, digits, ``._-``) that names its group."""
    return f"{group_id}.{strategy}.s{int(seed)}"


def comparison_dirs(root: str | Path, group_id: str, configs: list[ExperimentConfig]) -> list[Path]:
    """The run folder of each config, in the same order (beside the other runs, see the module docstring)."""
    root = Path(root)
    return [root / run_id_for(group_id, c.strategy, c.seed) for c in configs]


def new_group_id() -> str:
    return new_run_id(prefix="cmp")


def create_comparison(root: str | Path, base: ExperimentConfig, strategies_: Iterable[str], seeds: Iterable[int],
                      strategy_options: dict[str, dict[str, Any]] | None = None, title: str = "",
                      preset: str | None = None, group_id: str | None = None) -> Comparison:
    """Validate the configs and write the group manifest; the runs are created when they start."""
    group_id = group_id or new_group_id()
    configs = comparison_configs(base, strategies_, seeds, strategy_options, group_id=group_id)
    root = Path(root)
    names = list(dict.fromkeys(c.strategy for c in configs))
    seed_list = list(dict.fromkeys(c.seed for c in configs))
    options = {c.strategy: c.strategy_options for c in configs if c.strategy_options}
    base_values = {**base.to_dict(), "strategy": names[0], "seed": seed_list[0], "target_size": configs[0].target_size,
                   "strategy_options": dict(options.get(names[0], {})), "name": ""}
    comparison = Comparison(group_id=group_id, path=root / group_id, base=base_values, strategies=names,
                            seeds=seed_list, run_ids=[d.name for d in comparison_dirs(root, group_id, configs)],
                            title=title or default_title(configs), preset=preset, strategy_options=options)
    atomic_write_json(comparison.path / GROUP_MANIFEST, comparison.to_dict())
    return comparison


def default_title(configs: list[ExperimentConfig]) -> str:
    c = configs[0]
    names = list(dict.fromkeys(x.strategy for x in configs))
    seeds = sorted({x.seed for x in configs})
    return f"{' vs '.join(names)} on {c.dataset} ({c.model}), {len(seeds)} seed{'s' * (len(seeds) > 1)}"


def load_comparison(root: str | Path, group_id: str) -> Comparison:
    """The group ``group_id`` under ``root``; FileNotFoundError if there is none."""
    path = Path(root) / group_id
    manifest = path / GROUP_MANIFEST
    if "/" in group_id or "\\" in group_id or group_id in (".", "..") or not manifest.exists():
        raise FileNotFoundError(f"no comparison {group_id!r} under {root} ({GROUP_MANIFEST} missing)")
    values = json.loads(manifest.read_text())
    known = {f.name for f in dataclasses.fields(Comparison)} - {"path"}
    return Comparison(path=path, **{k: v for k, v in values.items() if k in known})


def list_comparisons(root: str | Path) -> list[Comparison]:
    """Every comparison under ``root``, newest first; unreadable manifests are skipped."""
    out = []
    root = Path(root)
    if not root.exists():
        return out
    for manifest in root.glob(f"*/{GROUP_MANIFEST}"):
        try:
            out.append(load_comparison(root, manifest.parent.name))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(out, key=lambda c: c.created, reverse=True)


def job_arguments(comparison: Comparison) -> tuple[list[Path], list[ExperimentConfig | None]]:
    """``(run_dirs, configs)`` for ``JobRegistry.start_group``: a run already on disk gets ``None`` so the worker
    resumes it from its last complete cycle (a finished run then costs nothing)."""
    dirs = comparison.run_dirs
    configs = comparison.configs()
    return dirs, [None if RunStore(d).exists() else c for d, c in zip(dirs, configs)]


def progress(comparison: Comparison) -> pd.DataFrame:
    """One row per run: strategy, seed, run id, status on disk, complete cycles and cycles planned."""
    rows = []
    planned = comparison.configs()
    for run_dir, config in zip(comparison.run_dirs, planned):
        store = RunStore(run_dir)
        manifest = store.manifest() if store.exists() else {}
        rows.append({"strategy": config.strategy, "seed": config.seed, "run_id": run_dir.name,
                     "status": manifest.get("status", "pending"), "cycles_done": store.n_cycles() if manifest else 0,
                     "cycles_total": config.cycles + 1, "error": manifest.get("error")})
    return pd.DataFrame(rows, columns=["strategy", "seed", "run_id", "status", "cycles_done", "cycles_total",
                                       "error"])


def is_finished(comparison: Comparison) -> bool:
    """Every run complete on disk."""
    table = progress(comparison)
    return bool(len(table)) and bool((table["status"] == "complete").all())


# --- results ---------------------------------------------------------------------------------------------------

def comparison_frame(run_dirs: Iterable[str | Path]) -> pd.DataFrame:
    """Every complete cycle of every run, one row each, with ``dataset``, ``strategy``, ``seed``, ``run_id``,
    ``status`` (the run's, on disk) and ``complete`` (it has finished) beside the record's summary (labels used,
    test/target metrics, ``div_*`` diversity). The columns ``alcore.report`` and ``alcore.metrics`` read.

    Runs not yet on disk are skipped; a run in progress contributes the cycles it has stored.
    """
    frames = []
    for run_dir in run_dirs:
        store = RunStore(run_dir)
        if not store.exists():
            continue
        manifest = store.manifest()
        rows = store.summary_rows()
        if not rows:
            continue
        cfg = manifest.get("config", {})
        df = pd.DataFrame(rows)
        df["dataset"] = cfg.get("dataset", "")
        df["strategy"] = cfg.get("strategy", df.get("strategy"))
        df["seed"] = int(cfg.get("seed", 0))
        df["run_id"] = store.run_id
        df["status"] = manifest.get("status", "")
        df["complete"] = manifest.get("status") == "complete"
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["dataset", "strategy", "seed", "run_id", "status", "complete", "cycle",
                                     "n_labeled", *CURVE_METRICS])
    df = pd.concat(frames, ignore_index=True)
    for col in CURVE_METRICS:
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return df


def comparison_tables(df: pd.DataFrame, x_percent: float = 90, metric: str = "test_accuracy",
                      full_accuracy: float | None = None, baseline: str = "random",
                      complete_only: bool = True) -> dict[str, Any]:
    """The comparison's summary numbers (§8.2), from ``comparison_frame``.

    Returns ``{"summary": metrics.summary_table(...)`` (per strategy: AULC, final accuracy, labels to reach
    ``x_percent`` % of the reference accuracy, label savings against ``baseline``, each mean and 95% CI over seeds),
    ``"penalty": metrics.penalty_matrix(...)`` (rows beat columns), ``"runs"``: how many runs went in,
    ``"notes"``: plain-words reasons when a number cannot be computed yet}``. ``complete_only``: use finished runs
    only, so a run in progress does not shrink the label range every AULC is computed over.
    """
    notes: list[str] = []
    out: dict[str, Any] = {"summary": pd.DataFrame(), "penalty": pd.DataFrame(), "runs": 0, "notes": notes}
    if df.empty:
        notes.append("No cycle is finished yet: the tables fill in as runs finish.")
        return out
    use = df[df["complete"]] if complete_only and "complete" in df else df
    use = use[np.isfinite(pd.to_numeric(use[metric], errors="coerce"))] if metric in use else use.iloc[0:0]
    n_runs = use.groupby(["strategy", "seed"]).ngroups if len(use) else 0
    out["runs"] = int(n_runs)
    if n_runs == 0:
        notes.append("No run is complete yet: the tables fill in as runs finish.")
        return out
    try:
        out["summary"] = metrics.summary_table(use, full_accuracy=full_accuracy, x_percent=x_percent,
                                               metric=metric, baseline=baseline)
    except ValueError as err:
        notes.append(f"Summary not available: {err}")
    if baseline not in set(use["strategy"]):
        notes.append(f"Label savings are measured against {baseline}; add {baseline} to the comparison to see them.")
    n_strategies = use["strategy"].nunique()
    seeds_per = use.groupby("strategy")["seed"].nunique()
    if n_strategies >= 2:
        out["penalty"] = metrics.penalty_matrix(use, metric=metric, baseline=baseline)
        if seeds_per.min() < 2:
            notes.append("The penalty matrix needs at least 2 paired seeds per strategy: with one seed no "
                         "difference can be called significant.")
    else:
        notes.append("The penalty matrix needs at least 2 strategies.")
    return out


# --- validation ------------------------------------------------------------------------------------------------

def _check_strategies(names: Iterable[str]) -> list[str]:
    names = list(names)
    if not names:
        raise ConfigError("strategies: choose at least one strategy to compare")
    valid = strategies.available()
    for s in names:
        if s not in valid:
            raise ConfigError(f"strategy={s!r} is not valid; choose one of {list(valid)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"strategies: each strategy once, got {names}")
    return names


def _check_seeds(seeds: Iterable[int]) -> list[int]:
    seeds = list(seeds)
    if not seeds:
        raise ConfigError("seeds: give at least one seed, e.g. [0, 1, 2]")
    for s in seeds:
        if not (isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0):
            raise ConfigError(f"seeds must be integers >= 0, got {s!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds: each seed once, got {seeds}")
    return [int(s) for s in seeds]
