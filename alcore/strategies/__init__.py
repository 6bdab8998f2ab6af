"""The strategy registry: one module per strategy, all sharing ``select(state, k, rng) -> Selection``."""
from __future__ import annotations

import importlib
from typing import Any

from alcore.strategies.base import PoolState, Selection, Strategy, strategy_rng, top_k

# Module names under alcore.strategies; each defines exactly one Strategy subclass.
_MODULES = ("random", "entropy", "margin", "least_confidence", "badge", "alignment", "less", "coreset", "bald",
            "typiclust", "probcover")
_REGISTRY: dict[str, type[Strategy]] = {}


def _load() -> None:
    if _REGISTRY:
        return
    for module in _MODULES:
        try:
            mod = importlib.import_module(f"alcore.strategies.{module}")
        except ModuleNotFoundError as err:
            if err.name == f"alcore.strategies.{module}":
                continue  # not written yet
            raise
        for obj in vars(mod).values():
            if isinstance(obj, type) and issubclass(obj, Strategy) and obj.name and obj.__module__ == mod.__name__:
                _REGISTRY[obj.name] = obj


def available() -> dict[str, str]:
    """Strategy name -> one-line description, in a stable order."""
    _load()
    return {name: cls.description for name, cls in _REGISTRY.items()}


def get_class(name: str) -> type[Strategy]:
    _load()
    if name not in _REGISTRY:
        raise ValueError(f"strategy={name!r} is not valid; choose one of {list(_REGISTRY)}")
    return _REGISTRY[name]


def get(name: str, **options: Any) -> Strategy:
    """An instance of strategy ``name`` with ``options`` validated."""
    return get_class(name)(**options)


__all__ = ["PoolState", "Selection", "Strategy", "available", "get", "get_class", "strategy_rng", "top_k"]
