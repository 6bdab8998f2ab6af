"""Comparisons: a group of runs (``alcore.run_group``) started from the app, with a manifest that finds it again.

A comparison is one group: several strategies x seeds on one dataset and model, seeds paired across strategies. On
disk, under the runs folder::

    <group-id>/compare.json               the group manifest: base config, strategies, seeds, run ids
    <group-id>.<strategy>.s<seed>/        one ordinary run per (strategy, seed), next to every other run

The runs sit beside the other runs (not inside the group folder) so each one can be opened on its own page by its
id; the group folder has no ``manifest.json`` and is therefore not listed as a run. Everything a page needs after a
reload or a server restart is on disk: the manifest names the runs, the runs hold their cycles. Their cycles and
summary are ``run_group.cycle_frame`` and ``run_group.summarize``.
"""
from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from alcore import run_group
from alcore.config import ExperimentConfig
from alcore.run_group import DEFAULT_TARGET_SIZE, GroupRun, RunGroup
from alcore.store import RunStore, atomic_write_json, new_run_id
from alcore.validation import show

if TYPE_CHECKING:
    import pandas as pd

GROUP_MANIFEST = "compare.json"
_GROUP_ID = re.compile(r"[A-Za-z0-9._-]{1,200}")

__all__ = ["DEFAULT_TARGET_SIZE", "GROUP_MANIFEST", "Comparison", "comparison_configs", "comparison_group",
           "create_comparison", "job_arguments", "list_comparisons", "load_comparison"]


@dataclass
class Comparison:
    """The manifest of a comparison: its group of runs, one per (strategy, seed), all from the same base config."""

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

    def group(self) -> RunGroup:
        return RunGroup(self.base, tuple(self.strategies), tuple(self.seeds), self.strategy_options,
                        group_id=self.group_id)

    def runs(self) -> list[GroupRun]:
        return self.group().runs(self.root)

    @property
    def run_dirs(self) -> list[Path]:
        return [run.run_dir for run in self.runs()]

    def configs(self) -> list[ExperimentConfig]:
        """The run configs, rebuilt from the manifest (validated)."""
        return self.group().configs()

    def progress(self) -> pd.DataFrame:
        """One row per run: status on disk, complete cycles and cycles planned (``run_group.progress``)."""
        return run_group.progress(self.runs())

    def is_finished(self) -> bool:
        """Every run complete on disk."""
        return run_group.is_finished(self.runs())

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("path")
        return d


def comparison_group(base: ExperimentConfig, strategies: Iterable[str], seeds: Iterable[int],
                     strategy_options: dict[str, dict[str, Any]] | None = None, group_id: str = "") -> RunGroup:
    """The group of a comparison. ``strategy_options`` maps a strategy name to its options; ``base.strategy_options``
    apply to ``base.strategy`` only. Raises ConfigError naming the bad strategy, seed or option."""
    names = list(strategies)
    options = dict(strategy_options or {})
    if base.strategy in names and base.strategy_options and base.strategy not in options:
        options[base.strategy] = dict(base.strategy_options)
    return RunGroup(base.to_dict(), tuple(names), tuple(seeds), options, group_id=group_id)


def comparison_configs(base: ExperimentConfig, strategies: Iterable[str], seeds: Iterable[int],
                       strategy_options: dict[str, dict[str, Any]] | None = None,
                       group_id: str = "") -> list[ExperimentConfig]:
    """One validated config per (strategy, seed), strategy-major, everything else taken from ``base``."""
    return comparison_group(base, strategies, seeds, strategy_options, group_id).configs()


def new_group_id() -> str:
    return new_run_id(prefix="cmp")


def create_comparison(root: str | Path, base: ExperimentConfig, strategies: Iterable[str], seeds: Iterable[int],
                      strategy_options: dict[str, dict[str, Any]] | None = None, title: str = "",
                      preset: str | None = None, group_id: str | None = None) -> Comparison:
    """Validate the configs and write the group manifest; the runs are created when they start."""
    group_id = group_id or new_group_id()
    group = comparison_group(base, strategies, seeds, strategy_options, group_id=group_id)
    configs = group.configs()
    root = Path(root)
    names, seed_list = list(group.strategies), list(group.seeds)
    options = {c.strategy: c.strategy_options for c in configs if c.strategy_options}
    base_values = {**base.to_dict(), "strategy": names[0], "seed": seed_list[0], "target_size": configs[0].target_size,
                   "strategy_options": dict(options.get(names[0], {})), "name": ""}
    comparison = Comparison(group_id=group_id, path=root / group_id, base=base_values, strategies=names,
                            seeds=seed_list, run_ids=[run.run_id for run in group.runs(root)],
                            title=title or default_title(configs), preset=preset, strategy_options=options)
    atomic_write_json(comparison.path / GROUP_MANIFEST, comparison.to_dict())
    return comparison


def default_title(configs: list[ExperimentConfig]) -> str:
    c = configs[0]
    names = list(dict.fromkeys(x.strategy for x in configs))
    seeds = sorted({x.seed for x in configs})
    return f"{' vs '.join(names)} on {c.dataset} ({c.model}), {len(seeds)} seed{'s' * (len(seeds) > 1)}"


def load_comparison(root: str | Path, group_id: str) -> Comparison:
    """The group ``group_id`` under ``root``: FileNotFoundError if there is none (any id that is not a plain folder
    name, a long one included), ValueError naming the group when its manifest cannot be read."""
    if not isinstance(group_id, str) or not _GROUP_ID.fullmatch(group_id) or group_id in (".", ".."):
        raise FileNotFoundError(f"no comparison {show(group_id)} under {root}")
    path = Path(root) / group_id
    manifest = path / GROUP_MANIFEST
    try:
        values = json.loads(manifest.read_bytes())
    except FileNotFoundError:
        raise FileNotFoundError(f"no comparison {group_id!r} under {root} ({GROUP_MANIFEST} missing)") from None
    except (OSError, ValueError) as err:
        raise ValueError(f"comparison {group_id}: {GROUP_MANIFEST} cannot be read ({type(err).__name__}: "
                         f"{str(err)[:200]})") from None
    known = {f.name for f in dataclasses.fields(Comparison)} - {"path"}
    try:
        comparison = Comparison(path=path, **{k: v for k, v in values.items() if k in known})
        comparison.group()  # checks the strategies and seeds it names
        if not isinstance(comparison.title, str) or not isinstance(comparison.created, (int, float)) \
                or not isinstance(comparison.base, dict) or not isinstance(comparison.run_ids, list):
            raise TypeError("title, created, base or run_ids has the wrong type")
    except (TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"comparison {group_id}: {GROUP_MANIFEST} is not a comparison's manifest ({err})"[:400]) \
            from None
    return comparison


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
