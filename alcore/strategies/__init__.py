"""The strategy registry: one module per strategy, all sharing ``select(state, k, rng) -> Selection``.

``REGISTRY`` names each strategy's module and class; adding a strategy is one module and one line here. What a
strategy says about itself (``spec``: description, needs_target, options with defaults and help) is read from its
class and memoised on disk (``alcore.source_cache``), so listing the strategies imports neither them nor torch
while the cache is fresh; a module is imported when its class is asked for.
"""
from __future__ import annotations

import importlib
from typing import Any

from alcore.source_cache import SourceCache
from alcore.strategies.spec import OptionSpec, StrategySpec, spec_from_class

#: Strategy name -> (its module under alcore.strategies, its class), in display order.
REGISTRY: dict[str, tuple[str, str]] = {
    "random": ("random", "RandomSampling"),
    "entropy": ("entropy", "EntropySampling"),
    "margin": ("margin", "MarginSampling"),
    "least_confidence": ("least_confidence", "LeastConfidence"),
    "variance": ("variance", "Variance"),
    "badge": ("badge", "Badge"),
    "alignment": ("alignment", "GradientAlignment"),
    "less": ("less", "Less"),
    "coreset": ("coreset", "Coreset"),
    "bald": ("bald", "BALD"),
    "typiclust": ("typiclust", "TypiClust"),
    "probcover": ("probcover", "ProbCover"),
}
_BASE_NAMES = ("PoolState", "Selection", "Strategy", "strategy_rng", "top_k")


def get_class(name: str):
    """The Strategy subclass registered as ``name`` (imports its module)."""
    if name not in REGISTRY:
        raise ValueError(f"strategy={name!r} is not valid; choose one of {list(REGISTRY)}")
    module, class_name = REGISTRY[name]
    return getattr(importlib.import_module(f"alcore.strategies.{module}"), class_name)


def describe_classes() -> list[dict[str, Any]]:
    """Every registered class's spec as plain data, in registry order (imports every strategy, and torch)."""
    out = []
    for name in REGISTRY:
        spec = spec_from_class(get_class(name))
        if spec.name != name:
            raise RuntimeError(f"alcore.strategies.REGISTRY lists {name!r}, but its class is named {spec.name!r}")
        out.append(spec.to_data())
    return out


SPEC_CACHE = SourceCache("strategies", describe_classes,
                         convert=lambda rows: {row["name"]: StrategySpec.from_data(row) for row in rows})


def specs() -> dict[str, StrategySpec]:
    """Strategy name -> its spec (description, needs_target, options with defaults and help), in a stable order."""
    return SPEC_CACHE.get()


def available() -> dict[str, str]:
    """Strategy name -> one-line description, in a stable order."""
    return {name: spec.description for name, spec in specs().items()}


def spec(name: str) -> StrategySpec:
    found = specs()
    if name not in found:
        raise ValueError(f"strategy={name!r} is not valid; choose one of {list(found)}")
    return found[name]


def get(name: str, **options: Any):
    """An instance of strategy ``name`` with ``options`` validated."""
    return get_class(name)(**options)


def __getattr__(attr: str):  # PoolState & co. from the base module, imported on first use
    if attr in _BASE_NAMES:
        from alcore.strategies import base

        return getattr(base, attr)
    raise AttributeError(f"module 'alcore.strategies' has no attribute {attr!r}")


__all__ = ["REGISTRY", "SPEC_CACHE", "OptionSpec", "PoolState", "Selection", "Strategy", "StrategySpec", "available",
           "describe_classes", "get", "get_class", "spec", "specs", "strategy_rng", "top_k"]
