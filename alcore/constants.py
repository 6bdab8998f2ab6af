"""Names and small numbers that several modules share: the map's spaces and colourings, the metrics' titles, the
fallback reasons and the tolerances. Plain data, no imports, so any module (and the app) can read it."""
from __future__ import annotations

#: The models a run can train (``alcore.models``), in the order the app lists them.
MODELS = ("logreg", "mlp", "cnn")

# --- the map -----------------------------------------------------------------------------------------------------

#: Spaces a map can be laid out in: the last-layer gradient embeddings ``g = a ⊗ h``, the penultimate features
#: ``h``, the raw inputs.
SPACES = ("gradient", "features", "inputs")
SPACE_LABELS = {"gradient": "Gradient embedding g = a ⊗ h", "features": "Penultimate features h",
                "inputs": "Inputs x"}

#: What a map's points can be coloured by: true class, predicted class, the strategy's utility, or the point's state
#: (pool, labelled, selected in this cycle). A regression run's map has continuous values instead of classes, and the
#: residual (predicted minus true value) besides (``color_by_labels("regression")``).
COLOR_BY = ("label", "pred", "utility", "state")
COLOR_BY_LABELS = {"label": "True class", "pred": "Predicted class", "utility": "Utility (the strategy's score)",
                   "state": "Labelled, chosen or pool"}
REGRESSION_COLOR_BY_LABELS = {"label": "True value", "pred": "Predicted value",
                              "residual": "Residual (predicted − true value)", "utility": COLOR_BY_LABELS["utility"],
                              "state": COLOR_BY_LABELS["state"]}
#: Other names accepted for a colouring.
COLOR_BY_ALIASES = {"prediction": "pred", "class": "label", "labeled": "state", "value": "label"}


def color_by_labels(task: str = "classification") -> dict[str, str]:
    """The colourings a map of a ``task`` run offers, with the names they show."""
    return REGRESSION_COLOR_BY_LABELS if task == "regression" else COLOR_BY_LABELS


def color_by_option(name: str, task: str = "classification") -> str:
    """``name`` as one of the ``task``'s colourings (aliases resolved); ValueError naming the choices otherwise."""
    name = COLOR_BY_ALIASES.get(name, name)
    choices = list(color_by_labels(task))
    if name not in choices:
        raise ValueError(f"color_by={name!r} is not valid; choose one of {choices}")
    return name


#: What a table, a caption or the map's hover shows for a value that does not exist (the utility of a point the
#: strategy did not score, e.g. in a cold start): never "nan" or "None".
MISSING_VALUE = "—"

# --- records -----------------------------------------------------------------------------------------------------

#: Why a strategy's batch came from elsewhere or its scores say little (``Selection.fallback_reason``).
FALLBACK_REASONS = ("cold_start", "single_class", "degenerate_scores", "no_target", "all_zero_embeddings",
                    "coverage_complete")
#: Each fallback reason in words, for tables and captions.
FALLBACK_WORDS = {"cold_start": "cold start: no labels yet, so no model to score the pool",
                  "single_class": "one class labelled so far: no boundary to score against",
                  "degenerate_scores": "every point scored the same",
                  "no_target": "no target set to align with",
                  "all_zero_embeddings": "every gradient embedding is zero",
                  "coverage_complete": "every point is covered already"}

#: The reasons ``cold_start_strategy="self"`` overrides: the model exists, it has only seen too few labels (or none).
MODEL_NOT_READY = ("cold_start", "single_class")
#: Cold-start rules besides a strategy's name: ``"auto"`` (typiclust on tabular data, random on images) or ``"self"``
#: (the strategy itself, on the untrained or barely trained model).
COLD_START_RULES = ("auto", "self")

#: Training diverged when an epoch's mean loss is NaN, infinite, or more than this many times the first epoch's (or
#: 1) (``alcore.train.diverged_loss``): the run then ends with a record that says so.
DIVERGED_LOSS_FACTOR = 100.0

# --- tolerances --------------------------------------------------------------------------------------------------

#: A norm, a score scale or a width at or below this counts as zero (a target gradient with nothing to align to,
#: a zero embedding row, a map without extent).
DEGENERATE_NORM = 1e-12
#: Squared distances below this many ulps of ``||x||² + ||y||²`` are rounding noise of the expansion and are set
#: to 0, so exact duplicates are at distance 0 (``alcore.distances``).
DUPLICATE_ULPS = 64.0
