"""The plan of a sweep: a group of runs (``alcore.run_group``) per dataset, over the same strategies and seeds."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable

from alcore import limits
from alcore import validation as v
from alcore.run_group import DEFAULT_TARGET_SIZE, GroupRun, RunGroup


def parse_list(text: str | None) -> list[str]:
    """``"digits, wine"`` -> ``["digits", "wine"]`` (empty items dropped, order and first occurrence kept)."""
    items = [t.strip() for t in (text or "").split(",")]
    return list(dict.fromkeys(t for t in items if t))


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> 0..4 inclusive; ``"0,2,7-8"`` -> [0, 2, 7, 8]. Raises ConfigError naming the bad item."""
    seeds: list[int] = []
    for item in parse_list(str(text)):
        m = re.fullmatch(r"(\d{1,12})(?:\s*-\s*(\d{1,12}))?", item)
        if not m:
            v.fail("seeds", item, "give seeds or ranges, e.g. '0-4' or '0,1,5'")
        lo, hi = int(m.group(1)), int(m.group(2) if m.group(2) is not None else m.group(1))
        if hi < lo:
            v.fail("seeds", item, f"a range runs upwards: write it as '{hi}-{lo}'")
        if hi > limits.MAX_SEED or len(seeds) + hi - lo + 1 > limits.MAX_GROUP_RUNS:
            v.fail("seeds", text, f"give at most {limits.MAX_GROUP_RUNS} seeds, each in 0..{limits.MAX_SEED}")
        seeds.extend(range(lo, hi + 1))
    if not seeds:
        v.fail("seeds", text, "give at least one seed, e.g. '0-4'")
    return list(dict.fromkeys(seeds))


def plan_groups(base: dict[str, Any], datasets: Iterable[str], strategies: Iterable[str], seeds: Iterable[int],
                default_target_size: int = DEFAULT_TARGET_SIZE,
                strategy_options: dict[str, Any] | None = None) -> tuple[list[RunGroup], list[str]]:
    """One group per dataset over the ``base`` config values, and notes for the user.

    Unknown dataset or strategy names raise ConfigError before anything runs. ``base``'s ``strategy_options`` go to
    every strategy of the grid; without them, ``strategy_options`` gives each strategy its own (a preset's). When a
    strategy scores the pool against a target set and ``base`` has no ``target_size``, every job gets
    ``default_target_size`` (the notes say so), so that seeds pair fairly.
    """
    datasets, strategies = list(datasets), list(strategies)
    if not datasets:
        v.fail("datasets", datasets, "a sweep needs at least one dataset")
    if not strategies:
        v.fail("strategies", strategies, "a sweep needs at least one strategy")
    options = {s: base["strategy_options"] for s in strategies} if "strategy_options" in base \
        else {s: o for s, o in (strategy_options or {}).items() if s in strategies}
    groups = [RunGroup({**base, "dataset": d}, tuple(strategies), tuple(seeds), options,
                       default_target_size=default_target_size) for d in datasets]
    notes = []
    targeted = groups[0].targeted
    if targeted and not base.get("target_size"):
        notes.append(f"target_size set to {default_target_size} for every job: {', '.join(targeted)} "
                     "score(s) the pool against a labelled target set, and every strategy gets the same split "
                     "(pass --target-size to choose another size)")
    return groups, notes


def expand_grid(base: dict[str, Any], datasets: Iterable[str], strategies: Iterable[str], seeds: Iterable[int],
                root: str | Path, default_target_size: int = DEFAULT_TARGET_SIZE) -> tuple[list[GroupRun], list[str]]:
    """Every (dataset, strategy, seed) job of the grid with its folder under ``root``, and notes for the user
    (``plan_groups``)."""
    groups, notes = plan_groups(base, datasets, strategies, seeds, default_target_size)
    return [job for group in groups for job in group.runs(root)], notes


def fit_budget(groups: list[RunGroup]) -> tuple[list[RunGroup], list[str]]:
    """Lower ``cycles`` per dataset to what its pool holds (``ExperimentConfig.check_budget``), with a note for each.

    Loads each dataset once to measure its pool; the lowered configs get their own hash and so their own folders.
    """
    notes, out = [], []
    for group in groups:
        cfg = group.run_configs()[0]
        pool = _pool_size(cfg)
        batch, initial = cfg.get("batch_size"), cfg.get("initial_labels")
        if pool is None or not all(isinstance(v, int) and not isinstance(v, bool) for v in (batch, initial)) \
                or batch <= 0 or initial >= pool:
            out.append(group)
            continue
        most = max(1, -(-(pool - initial) // batch))
        if cfg["cycles"] > most:
            notes.append(f"{cfg['dataset']}: cycles lowered from {cfg['cycles']} to {most} (pool of {pool} points)")
            group = replace(group, base={**group.base, "cycles": most})
        out.append(group)
    return out, notes


def _pool_size(cfg: dict[str, Any]) -> int | None:
    """The pool size of a config's split; None when the dataset cannot be split (the job itself will say why)."""
    from alcore import data

    try:
        ds = data.load(cfg["dataset"], **cfg.get("dataset_options", {}))
        split = data.make_splits(ds.y, test_size=cfg["test_size"], target_size=cfg["target_size"],
                                 target_classes=cfg["target_classes"], random_state=0)
    except (ValueError, TypeError):
        return None
    return len(split.pool)
