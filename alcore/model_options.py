"""The keyword options each model accepts, with their defaults, read from its class in ``alcore.models`` and
memoised on disk (``alcore.source_cache``): the setup form and the config's checks read them without importing
torch while the cache is fresh."""
from __future__ import annotations

import inspect
from typing import Any

from alcore.constants import MODELS
from alcore.source_cache import SourceCache


def describe_models() -> dict[str, dict[str, Any]]:
    """Model name -> the keyword options of its class in ``alcore.models`` with their defaults, read from the
    constructor (imports torch). The class of a model is the one of that name, case-insensitive."""
    from alcore import models

    classes = {name.lower(): cls for name, cls in vars(models).items() if isinstance(cls, type)}
    return {model: {p.name: p.default for p in inspect.signature(classes[model]).parameters.values()
                    if p.default is not inspect.Parameter.empty} for model in MODELS}


MODEL_CACHE = SourceCache("models", describe_models)


def model_defaults(model: str) -> dict[str, Any]:
    """The keyword options of model ``model`` with their defaults; ValueError naming the valid models."""
    found = MODEL_CACHE.get()
    if model not in found:
        raise ValueError(f"model={model!r} is not valid; choose one of {list(found)}")
    return dict(found[model])
