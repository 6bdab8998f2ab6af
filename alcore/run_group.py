"""A group of runs: one dataset and model, several strategies x seeds, and the summary that compares them.

Every run of a group shares the base config; only strategy (with its options), seed and name differ. Seeds are
paired across strategies: the same seed gives every strategy the same split, model initialisation and initial
labels, so per-seed differences measure the strategy alone (what the penalty matrix tests). When a strategy of the
group scores the pool against a target set (``needs_target``) and the base has no ``target_size``, every run gets
``DEFAULT_TARGET_SIZE``: the same pool, target and test split for every strategy.

A sweep (``alcore.sweep``) is a grid of groups, one per dataset; a comparison (``alcore.compare``) is one group with
a manifest for the app. Runs are ordinary run folders side by side under one root, named in one of two ways:

- by settings (a sweep's): ``<dataset>-<strategy>-seed<seed>-<settings hash>``; the hash covers every config field
  but the run's own, so a rerun of the same sweep finds the same folders;
- by group id (a comparison's): ``<group-id>.<strategy>.s<seed>``.

The summary (``summarize``, ``curve_bands``) turns the group's cycles into AULC, the final value of the metric
(accuracy, or a regression run's R², docs/tasks.md#regression), labels-to-X%, label savings, bands over seeds and the
pairwise penalty matrix; the formulas are ``alcore.metrics``'s (docs/methods.md#learning-curve-summaries).
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, TypedDict

import numpy as np

from alcore import data, intervals
from alcore import strategies as registry
from alcore import limits
from alcore import validation as v
from alcore.config import ExperimentConfig
from alcore.store import FINISHED, RunStore
from alcore.task import METRICS, foreign_metrics, higher_is_better, metric_label, primary_metric, task_of

if TYPE_CHECKING:  # pandas, and alcore.metrics (which imports torch), are imported where they are used: planning a
    import pandas as pd  # sweep or a comparison (the command line, a preset) needs neither

DEFAULT_TARGET_SIZE = 50
#: Fields that name a run inside its group; every other field is part of the group's settings (and its hash).
RUN_FIELDS = ("dataset", "strategy", "seed", "name")
#: Config fields added after sweeps were first stored, with their defaults (see ``settings_hash``).
LATER_DEFAULTS = {"task": "auto"}
#: Per-cycle columns a group plots against labels used, besides the diversity columns ``div_*``.
CURVE_METRICS = tuple(dict.fromkeys(m for names in METRICS.values() for m in names))
#: The columns ``cycle_frame`` puts before each record's own.
FRAME_KEYS = ["dataset", "strategy", "seed", "run_id", "status", "settings_hash", "task"]


# --- identity ---------------------------------------------------------------------------------------------------

def settings_hash(config: dict[str, Any]) -> str:
    """Eight hex digits over every config field except the run's own (dataset, strategy, seed, name). A field added
    since runs were first stored counts only when it differs from its default (``LATER_DEFAULTS``), so the folders
    of earlier sweeps keep their names."""
    settings = {k: _canonical(v) for k, v in config.items()
                if k not in RUN_FIELDS and not (k in LATER_DEFAULTS and v == LATER_DEFAULTS[k])}
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _canonical(value: Any) -> Any:
    """Whole floats as ints (``0.0`` and ``0`` run the same), tuples as lists, recursively."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def settings_run_id(config: dict[str, Any]) -> str:
    """A sweep run's folder name: ``<dataset>-<strategy>-seed<seed>-<settings hash>``."""
    safe = "-".join(re.sub(r"[^A-Za-z0-9_.]+", "_", str(config[part])) for part in ("dataset", "strategy"))
    return f"{safe}-seed{int(config['seed'])}-{settings_hash(config)}"


def group_run_id(group_id: str, strategy: str, seed: int) -> str:
    """A comparison run's folder name: a plain run id (letters, digits, ``._-``) that names its group."""
    return f"{group_id}.{strategy}.s{int(seed)}"


def complete_config(values: dict[str, Any]) -> dict[str, Any]:
    """The values with every unset field at its default, so that a hash does not depend on what was spelled out."""
    full = {}
    for f in fields(ExperimentConfig):
        if f.name in values:
            full[f.name] = values[f.name]
        elif f.default is not MISSING:
            full[f.name] = f.default
        else:
            full[f.name] = f.default_factory()  # type: ignore[misc]
    full.update({k: v for k, v in values.items() if k not in full})  # unknown keys: validation names them
    return full


# --- the group --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GroupRun:
    """One run of a group: its complete config values (validated where it runs) and its folder."""

    strategy: str
    seed: int
    config: dict[str, Any]
    run_dir: Path

    @property
    def dataset(self) -> str:
        return self.config["dataset"]

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def settings_hash(self) -> str:
        return settings_hash(self.config)

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.strategy}/seed {self.seed}"

    def manifest(self) -> dict[str, Any]:
        """The run's manifest on disk; empty when it has none yet or it cannot be read."""
        try:
            return RunStore(self.run_dir).manifest()
        except (OSError, ValueError):
            return {}

    def is_finished(self) -> bool:
        """The run takes no more cycles: it is complete, or its training diverged (``alcore.store.FINISHED``)."""
        return self.manifest().get("status") in FINISHED


@dataclass(frozen=True)
class RunGroup:
    """One base config run with several strategies x seeds (see the module docstring). Raises ConfigError naming
    the bad dataset, strategy, seed or option."""

    base: dict[str, Any]                    # config values every run shares
    strategies: tuple[str, ...]
    seeds: tuple[int, ...]
    strategy_options: dict[str, Any] = field(default_factory=dict)  # per strategy; one not named gets none
    group_id: str | None = None             # None: runs named by their settings (a sweep); else by this id
    default_target_size: int = DEFAULT_TARGET_SIZE

    def __post_init__(self) -> None:
        dataset = self.base.get("dataset", ExperimentConfig.dataset)
        v.choice("dataset", dataset, sorted(data.available()))
        object.__setattr__(self, "strategies", tuple(_check_strategies(self.strategies, registry.available())))
        object.__setattr__(self, "seeds", tuple(_check_seeds(self.seeds)))
        unknown = sorted(set(self.strategy_options) - set(self.strategies))
        if unknown:
            v.fail("strategy_options", unknown, f"options were given for strategies not in the group "
                                                f"({list(self.strategies)})")
        if len(self.strategies) * len(self.seeds) > limits.MAX_GROUP_RUNS:
            v.fail("seeds", list(self.seeds), f"a group holds at most {limits.MAX_GROUP_RUNS} runs (strategies x seeds)")

    @property
    def targeted(self) -> list[str]:
        """The strategies of the group that score the pool against a labelled target set."""
        return [s for s in self.strategies if registry.spec(s).needs_target]

    def shared_values(self) -> dict[str, Any]:
        """The base values with the group's target set: ``default_target_size`` when a strategy of the group needs
        one and the base has none."""
        shared = dict(self.base)
        if self.targeted and not shared.get("target_size"):
            shared["target_size"] = int(self.default_target_size)
        return shared

    def run_configs(self) -> list[dict[str, Any]]:
        """Complete config values of every run, strategy-major (not validated: a sweep validates in its worker)."""
        shared = self.shared_values()
        out = []
        for strategy in self.strategies:
            options = self.strategy_options.get(strategy, {})
            for seed in self.seeds:
                values = {**shared, "strategy": strategy, "seed": seed, "name": self._name(strategy, seed),
                          "strategy_options": dict(options) if isinstance(options, dict) else options}
                out.append(complete_config(values))
        return out

    def configs(self) -> list[ExperimentConfig]:
        """The run configs, validated."""
        return [ExperimentConfig.from_dict(values) for values in self.run_configs()]

    def runs(self, root: str | Path) -> list[GroupRun]:
        """Every run with its folder under ``root``, strategy-major."""
        root = Path(root)
        return [GroupRun(c["strategy"], c["seed"], c, root / self._run_id(c)) for c in self.run_configs()]

    def _name(self, strategy: str, seed: int) -> str:
        if self.group_id is None:
            return f"{self.base.get('dataset')}/{strategy}/seed {seed}"
        return f"{strategy} · seed {seed}" + (f" ({self.group_id})" if self.group_id else "")

    def _run_id(self, config: dict[str, Any]) -> str:
        if self.group_id is None:
            return settings_run_id(config)
        return group_run_id(self.group_id, config["strategy"], config["seed"])


def progress(runs: Iterable[GroupRun]) -> pd.DataFrame:
    """One row per run: strategy, seed, run id, status on disk, complete cycles and cycles planned."""
    import pandas as pd

    rows = []
    for run in runs:
        manifest = run.manifest()
        rows.append({"strategy": run.strategy, "seed": run.seed, "run_id": run.run_id,
                     "status": manifest.get("status", "pending"),
                     "cycles_done": RunStore(run.run_dir).n_cycles() if manifest else 0,
                     "cycles_total": run.config["cycles"] + 1, "error": manifest.get("error")})
    return pd.DataFrame(rows, columns=["strategy", "seed", "run_id", "status", "cycles_done", "cycles_total",
                                       "error"])


def is_finished(runs: Iterable[GroupRun]) -> bool:
    """Every run finished on disk (complete, or diverged), and there is at least one."""
    runs = list(runs)
    return bool(runs) and all(run.is_finished() for run in runs)


def _check_strategies(names: Iterable[str], valid: dict[str, str]) -> list[str]:
    names = list(names)
    if not names:
        v.fail("strategies", names, "choose at least one strategy")
    for s in names:
        v.choice("strategy", s, list(valid))
    if len(set(names)) != len(names):
        v.fail("strategies", names, "name each strategy once")
    return names


def _check_seeds(seeds: Iterable[int]) -> list[int]:
    seeds = list(seeds)
    if not seeds or len(seeds) > limits.MAX_GROUP_RUNS:
        v.fail("seeds", seeds, f"give 1 to {limits.MAX_GROUP_RUNS} seeds, e.g. [0, 1, 2]")
    for s in seeds:
        v.integer("seeds", s, 0, limits.MAX_SEED)
    if len(set(seeds)) != len(seeds):
        v.fail("seeds", seeds, "give each seed once")
    return [int(s) for s in seeds]


# --- the cycles -------------------------------------------------------------------------------------------------

def cycle_frame(run_dirs: Iterable[str | Path]) -> pd.DataFrame:
    """Every stored cycle of every run, one row each: ``FRAME_KEYS`` (the run's dataset, strategy, seed, id, status on
    disk, settings hash and task), then the record's summary (labels used, the task's test/target metrics, ``div_*``
    diversity).

    Runs not on disk are skipped; a run in progress contributes the cycles it has stored.
    """
    import pandas as pd

    frames = []
    for run_dir in run_dirs:
        store = RunStore(run_dir)
        try:
            manifest = store.manifest()
        except (OSError, ValueError):
            continue
        rows = store.summary_rows()
        if not rows:
            continue
        config = manifest.get("config") or {}
        task = task_of(manifest.get("dataset"))
        records = pd.DataFrame(rows).drop(columns=list(foreign_metrics(task)), errors="ignore")
        keys = {"dataset": (manifest.get("dataset") or {}).get("name") or config.get("dataset", ""),
                "strategy": config.get("strategy", records["strategy"].iloc[0]),
                "seed": int(config.get("seed", 0)), "run_id": manifest.get("run_id") or store.run_id,
                "status": manifest.get("status"), "settings_hash": settings_hash(config), "task": task}
        frames.append(pd.concat([pd.DataFrame(keys, index=records.index), records.drop(columns="strategy")],
                                axis=1))
    if not frames:
        return pd.DataFrame(columns=[*FRAME_KEYS, "cycle", "n_labeled", *CURVE_METRICS])
    df = pd.concat(frames, ignore_index=True)
    for col in CURVE_METRICS:
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return df


# --- the summary ------------------------------------------------------------------------------------------------

class GroupSummary(TypedDict):
    summary: pd.DataFrame   # metrics.summary_table: per strategy, mean and 95% CI over seeds
    penalty: pd.DataFrame   # metrics.penalty_matrix: rows beat columns (empty below two strategies)
    runs: int               # how many runs went in
    notes: list[str]        # plain-words reasons when a number cannot be computed (yet)
    ranking: list[str]      # which strategies the intervals are too wide to rank, per measure (alcore.intervals)


#: The summaries whose intervals are checked for ranking: column stems of ``summary_table`` (AULC, final value).
RANKED_MEASURES = ("aulc", "final")


def summarize(df: pd.DataFrame, x_percent: float = 90, metric: str | None = None,
              full_value: float | None = None, baseline: str = "random",
              complete_only: bool = True) -> GroupSummary:
    """The group's numbers from ``cycle_frame`` rows of one dataset: per strategy AULC, the final value of ``metric``
    (default: the task's primary metric, accuracy or R²), labels to reach ``x_percent`` % of the reference value and
    label savings against ``baseline`` (``summary``), and the pairwise ``penalty`` matrix. A metric where lower is
    better (a loss) is compared as it is: wins are lower values, and labels-to-X% is not computed. ``complete_only``:
    use finished runs only, so that a run in progress does not shrink the label range every AULC is computed over."""
    import pandas as pd

    from alcore import metrics

    notes: list[str] = []
    out: GroupSummary = {"summary": pd.DataFrame(), "penalty": pd.DataFrame(), "runs": 0, "notes": notes,
                         "ranking": []}
    if df.empty:
        notes.append("No cycle is finished yet: the tables fill in as runs finish.")
        return out
    metric = metric or group_metric(df)
    use = df[df["status"] == "complete"] if complete_only else df
    use = use[np.isfinite(pd.to_numeric(use[metric], errors="coerce"))] if metric in use else use.iloc[0:0]
    out["runs"] = n_runs = int(use.groupby(["strategy", "seed"]).ngroups) if len(use) else 0
    if n_runs == 0:
        notes.append("No run is complete yet: the tables fill in as runs finish.")
        return out
    sign = 1.0 if higher_is_better(metric) else -1.0
    signed = use.assign(**{metric: sign * pd.to_numeric(use[metric])})  # the formulas take higher as better
    try:
        out["summary"] = _unsigned(metrics.summary_table(signed, full_value=full_value, x_percent=x_percent,
                                                         metric=metric, baseline=baseline), sign)
    except ValueError as err:
        notes.append(f"Summary not available: {err}")
    table = out["summary"]
    for stem in RANKED_MEASURES if len(table) else ():
        measure = "AULC" if stem == "aulc" else f"final {metric_label(metric)}"
        note = intervals.ranking_note(measure, table[f"{stem}_mean"].to_dict(), table[f"{stem}_ci95"].to_dict(),
                                      table["n_seeds"].to_dict())
        if note:
            out["ranking"].append(note)
    if sign < 0:
        notes.append(f"Lower {metric_label(metric)} is better: the penalty matrix counts lower values as wins; labels "
                     "to X% and label savings need a metric where higher is better.")
    if baseline not in set(use["strategy"]):
        notes.append(f"Label savings are measured against {baseline}; add {baseline} to the strategies to see them.")
    if use["strategy"].nunique() >= 2:
        out["penalty"] = metrics.penalty_matrix(signed, metric=metric, baseline=baseline)
        if use.groupby("strategy")["seed"].nunique().min() < 2:
            notes.append("The penalty matrix needs at least 2 paired seeds per strategy: with one seed no "
                         "difference can be called significant.")
    else:
        notes.append("The penalty matrix needs at least 2 strategies.")
    return out


def group_metric(df: pd.DataFrame) -> str:
    """The primary metric of the runs' task (``alcore.task``): accuracy, or R² for regression runs."""
    tasks = set(df["task"]) if "task" in df else {"classification"}
    return primary_metric(tasks.pop() if len(tasks) == 1 else "classification")


def _unsigned(table: pd.DataFrame, sign: float) -> pd.DataFrame:
    """A summary computed on ``sign * metric`` back in the metric's own sign (labels-to-X% dropped for a loss)."""
    if sign > 0 or table.empty:
        return table
    table = table.copy()
    for col in ("aulc_mean", "final_mean"):
        table[col] = -table[col]
    for col in ("labels_to_x_mean", "labels_to_x_ci95", "label_savings_mean", "label_savings_ci95"):
        table[col] = np.nan
    table["labels_to_x_reached"] = 0
    table.attrs.update(reference_value=-table.attrs["reference_value"], target_value=float("nan"))
    return table


def curve_bands(df: pd.DataFrame, metric: str = "test_accuracy", confidence: float = 0.95) -> pd.DataFrame:
    """Per dataset, strategy and label count: the mean of ``metric`` over seeds and its t-interval ``[lo, hi]``
    (no band, NaN, below two seeds). Accuracies and F1 scores are fractions: their bands are clipped to [0, 1]
    (with two seeds the t-interval is 12.7 standard errors wide)."""
    import pandas as pd

    from alcore import metrics

    lo_bound, hi_bound = (0.0, 1.0) if any(k in metric for k in ("accuracy", "f1")) else (-np.inf, np.inf)
    rows = []
    for (dataset, strategy, n), runs in df.groupby(["dataset", "strategy", "n_labeled"], sort=True):
        mean, half = metrics.mean_ci(runs[metric].to_numpy(dtype=float), confidence)
        rows.append({"dataset": dataset, "strategy": strategy, "n_labeled": n, "mean": mean,
                     "lo": max(mean - half, lo_bound), "hi": min(mean + half, hi_bound),
                     "n_seeds": int(runs[metric].notna().sum())})
    return pd.DataFrame(rows, columns=["dataset", "strategy", "n_labeled", "mean", "lo", "hi", "n_seeds"])
