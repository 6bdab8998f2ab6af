"""What the engine offers, asked of its registries: strategies, models, datasets and presets.

Every answer is plain data that the setup form reads without importing torch: the strategies' specs come from
their classes through an on-disk cache (``alcore.strategies``), the models' options from their constructors through
the same kind of cache (``alcore.model_options``), the datasets' options from their loaders' signatures and the presets from their
JSON files.
"""
from __future__ import annotations

from typing import Any

from alcore import data
from alcore import strategies as strategy_registry
from alcore.model_options import MODEL_CACHE, describe_models, model_defaults
from alcore.strategies import StrategySpec

__all__ = ["MODEL_CACHE", "dataset_options", "datasets", "describe_models", "model_defaults", "models", "presets",
           "strategies"]


def strategies() -> dict[str, StrategySpec]:
    """Strategy name -> its spec (description, needs_target, options with defaults and help)."""
    return strategy_registry.specs()


def models() -> dict[str, dict[str, Any]]:
    """Model name -> its keyword options with their defaults (without the positional shape arguments)."""
    return {model: dict(defaults) for model, defaults in MODEL_CACHE.get().items()}


def datasets() -> dict[str, str]:
    """Dataset name -> one-line description."""
    return data.available()


def dataset_options(name: str) -> dict[str, Any]:
    """The options dataset ``name`` accepts, with their defaults (required options map to None)."""
    return data.default_options(name)


def presets() -> dict[str, str]:
    """Preset name -> its one-line description (``assets/presets``)."""
    from alcore import presets as preset_files

    return preset_files.list_presets()
