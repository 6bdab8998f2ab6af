"""The strategy registry: one module per strategy, all sharing ``select(state, k, rng) -> Selection``.

Names, descriptions and options come from ``alcore.catalog`` (read from the modules' source), so listing the
strategies imports neither them nor torch; a module is imported when its class is asked for.
"""
from __future__ import annotations

import importlib
from typing import Any

from alcore import catalog

# Module names under alcore.strategies; each defines exactly one Strategy subclass.
_MODULES = ("random", "entropy", "margin", "least_confidence", "badge", "alignment", "less", "coreset", "bald",
            "typiclust", "probcover")
_BASE_NAMES = ("PoolState", "Selection", "Strategy", "strategy_rng", "top_k")


def specs() -> dict[str, catalog.StrategySpec]:
    """Strategy name -> its spec (description, needs_target, options with defaults and help), in a stable order."""
    return catalog.strategy_specs(tuple(f"alcore.strategies.{m}" for m in _MODULES))


def available() -> dict[str, str]:
    """Strategy name -> one-line description, in a stable order."""
    return {name: spec.description for name, spec in specs().items()}


def spec(name: str) -> catalog.StrategySpec:
    found = specs()
    if name not in found:
        raise ValueError(f"strategy={name!r} is not valid; choose one of {list(found)}")
    return found[name]


def get_class(name: str):
    """The Strategy subclass registered as ``name`` (imports its module)."""
    s = spec(name)
    return getattr(importlib.import_module(s.module), s.class_name)


def get(name: str, **options: Any):
    """An instance of strategy ``name`` with ``options`` validated."""
    return get_class(name)(**options)


def __getattr__(attr: str):  # PoolState & co. from the base module, imported on first use
    if attr in _BASE_NAMES:
        from alcore.strategies import base

        return getattr(base, attr)
    raise AttributeError(f"module 'alcore.strategies' has no attribute {attr!r}")


__all__ = ["PoolState", "Selection", "Strategy", "available", "get", "get_class", "spec", "specs", "strategy_rng",
           "top_k"]
