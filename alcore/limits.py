"""The ceilings a config is checked against (docs/run-format.md#validation-ceilings): counts, sizes, and an
estimate of the memory a run needs.

The memory estimate adds up what a run holds at its peak: the data (raw, float32 and standardised copies), the
model with its gradients, Adam's two moments and the checkpoints kept for LESS, the pool's logits and features,
and the display arrays every stored record keeps in memory. It is checked twice: when the config is made (the data's
shape from the dataset's options where they give it, so hidden sizes asking for tens of GB fail at once), and when
the run starts with the data loaded (exact shapes, uploads included). Light on purpose: no numpy, no torch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

GB = 2**30
#: The most memory one run may need; ``$ALCORE_MEMORY_CEILING_GB`` changes it (a number of GiB).
DEFAULT_MEMORY_CEILING_GB = 8.0

MAX_EPOCHS = 10_000
MAX_CYCLES = 10_000
MAX_ROWS = 10_000_000          # batch sizes, initial labels, target size: never more than a dataset may hold
MAX_DISPLAY = 100_000          # points on the map
MAX_CHECKPOINTS = 100
MAX_SEED = 2**32 - 1           # scikit-learn and numpy's legacy seeding take 32-bit seeds
MAX_LR = 10.0
MAX_WEIGHT_DECAY = 10.0
MAX_LAYERS = 16
MAX_UNITS = 2**20              # one hidden layer or convolution's width (the memory ceiling usually bites first)
MAX_NAME_CHARS = 200
MAX_CLASSES = 10_000
MAX_GROUP_RUNS = 10_000        # runs of one sweep or comparison (seeds x strategies x datasets)
#: Ranges of the dataset options several loaders share (each loader checks its own tighter range when it loads).
DATASET_OPTION_RANGES = {"n_samples": (1, MAX_ROWS), "n_features": (1, 10_000), "n_classes": (2, MAX_CLASSES),
                         "noise": (0.0, 1e6), "random_state": (0, MAX_SEED)}

_FLOAT = 4  # bytes of a float32


def memory_ceiling() -> int:
    """The ceiling in bytes: ``$ALCORE_MEMORY_CEILING_GB`` GiB if set to a positive number, else the default."""
    try:
        value = float(os.environ.get("ALCORE_MEMORY_CEILING_GB", DEFAULT_MEMORY_CEILING_GB))
    except ValueError:
        value = DEFAULT_MEMORY_CEILING_GB
    return int((value if value > 0 else DEFAULT_MEMORY_CEILING_GB) * GB)


@dataclass(frozen=True)
class MemoryPart:
    field: str      # the setting that drives this part (the one a message names)
    what: str
    bytes: int


def model_widths(model: str, options: dict[str, Any], n_features: int, sample_shape: Sequence[int] = ()
                 ) -> list[tuple[int, int]]:
    """(inputs, outputs) of each dense or convolution layer before the head, from the model's options."""
    if model == "mlp":
        sizes = list(options.get("hidden", (128,)))
        widths = [n_features, *sizes]
        return list(zip(widths[:-1], widths[1:]))
    if model == "cnn":
        c1, c2 = list(options.get("channels", (16, 32)))
        hidden = int(options.get("hidden", 128))
        return [(9, c1), (9 * c1, c2), (16 * c2, hidden)]
    return []


def feature_width(model: str, options: dict[str, Any], n_features: int) -> int:
    """d, the width of the features h the head reads."""
    layers = model_widths(model, options, n_features)
    return layers[-1][1] if layers else n_features


def n_parameters(model: str, options: dict[str, Any], n_features: int, n_classes: int) -> int:
    layers = model_widths(model, options, n_features)
    d = feature_width(model, options, n_features)
    return sum(i * o + o for i, o in layers) + d * n_classes + n_classes


def run_memory(model: str, model_options: dict[str, Any], *, n_samples: int, n_features: int, n_classes: int,
               display_size: int, cycles: int, n_checkpoints: int, train_batch_size: int) -> list[MemoryPart]:
    """The parts of a run's peak memory, in bytes (see the module docstring)."""
    params = n_parameters(model, model_options, n_features, n_classes)
    d = feature_width(model, model_options, n_features)
    activations = sum(o for _, o in model_widths(model, model_options, n_features)) + n_features
    if model == "cnn":  # two full-resolution convolution outputs per image
        activations += n_features * sum(list(model_options.get("channels", (16, 32))))
    shown = min(display_size, n_samples)
    return [
        MemoryPart("dataset_options", "the data (raw, float32 and standardised)", 3 * n_samples * n_features * 8),
        MemoryPart("model_options", f"{params:,} model parameters with gradients, Adam moments and "
                   f"{n_checkpoints} checkpoints", params * _FLOAT * (4 + 3 * n_checkpoints)),
        MemoryPart("train_batch_size", "activations of a training batch", 3 * train_batch_size * activations * _FLOAT),
        MemoryPart("dataset_options", "the pool's logits and features", 2 * n_samples * (n_classes + d) * _FLOAT),
        MemoryPart("display_size", f"the map's arrays of {cycles + 1} records",
                   (cycles + 1) * shown * (2 * n_classes + d) * _FLOAT),
    ]


def check_memory(parts: list[MemoryPart], values: dict[str, Any]) -> None:
    """ConfigError naming the setting behind the largest part when the total is over the ceiling."""
    total, ceiling = sum(p.bytes for p in parts), memory_ceiling()
    if total <= ceiling:
        return
    from alcore.validation import ConfigError

    worst = max(parts, key=lambda p: p.bytes)
    raise ConfigError(
        field=worst.field, value=values.get(worst.field),
        allowed=f"the run would need about {total / GB:.1f} GB ({worst.what}: {worst.bytes / GB:.1f} GB), over the "
                f"ceiling of {ceiling / GB:.1f} GB ($ALCORE_MEMORY_CEILING_GB); make it smaller")
