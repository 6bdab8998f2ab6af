"""What the engine offers, asked of its registries: strategies, models, datasets and presets.

Every answer is plain data that the setup form reads without importing torch: the strategies' specs come from
their classes through an on-disk cache (``alcore.strategies``), the models' options from their constructors through
the same kind of cache (below), the datasets' options from their loaders' signatures and the presets from their
JSON files.
"""
from __future__ import annotations

import inspect
from typing import Any

from alcore import data
from alcore import strategies as strategy_registry
from alcore.config import MODELS
from alcore.source_cache import SourceCache
from alcore.strategies import StrategySpec


def strategies() -> dict[str, StrategySpec]:
    """Strategy name -> its spec (description, needs_target, options with defaults and help)."""
    return strategy_registry.specs()


def describe_models() -> dict[str, dict[str, Any]]:
    """Model name -> the keyword options of its class in ``alcore.models`` with their defaults, read from the
    constructor (imports torch). The class of a model is the one of that name, case-insensitive."""
    from alcore import models

    classes = {name.lower(): cls for name, cls in vars(models).items() if isinstance(cls, type)}
    return {model: {p.name: p.default for p in inspect.signature(classes[model]).parameters.values()
                    if p.default is not inspect.Parameter.empty} for model in MODELS}


MODEL_CACHE = SourceCache("models", describe_models)


def models() -> dict[str, dict[str, Any]]:
    """Model name -> its keyword options with their defaults (without the positional shape arguments)."""
    return {model: dict(defaults) for model, defaults in MODEL_CACHE.get().items()}


def model_defaults(model: str) -> dict[str, Any]:
    """The keyword options of model ``model`` with their defaults; ValueError naming the valid models."""
    found = MODEL_CACHE.get()
    if model not in found:
        raise ValueError(f"model={model!r} is not valid; choose one of {list(found)}")
    return dict(found[model])


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
