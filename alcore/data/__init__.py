"""The dataset registry: one `load(name, **options)` for bundled, synthetic, generated-text, file and downloaded
data (docs/datasets.md).

>>> ds = load("digits")
>>> ds.sample_shape, ds.n_classes
((8, 8), 10)

A dataset is a classification or a regression task (`Dataset.task`, inferred by `infer_task`).
A text dataset (`rated_stories`, a CSV with `text_column`) has no numeric columns until
`featurize(dataset, pool)` computes them on the pool, right after the split.

Each loader takes its options as keyword arguments; the registry reads them from the loader's
signature, so the accepted options and their defaults are written in one place.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Callable

from . import bundled, downloads, stories, synthetic
from .dataset import Dataset, DatasetError, validate_arrays
from .files import MAX_FILE_BYTES, load_bytes, load_file
from .splits import Split, make_splits, standardize, strata
from .targets import TASKS, infer_task
from .text_features import featurize

__all__ = [
    "DEFAULT_DATASET",
    "Dataset",
    "DatasetError",
    "MAX_FILE_BYTES",
    "Split",
    "TASKS",
    "available",
    "declared_task",
    "default_options",
    "featurize",
    "infer_task",
    "load",
    "load_bytes",
    "load_for_task",
    "make_splits",
    "standardize",
    "strata",
    "validate_arrays",
]

DEFAULT_DATASET = "digits"

_FILE_DESCRIPTION = ("Your own .csv (header row, a label column; or a text column and a rating column) or .npz "
                     "(arrays X and y) file; options path, label_column, text_column, target_column, task")

_LOADERS: dict[str, Callable[..., Dataset]] = {
    **bundled.LOADERS,
    **synthetic.LOADERS,
    **stories.LOADERS,
    "file": load_file,
    **downloads.LOADERS,
}

_DESCRIPTIONS: dict[str, str] = {
    **bundled.DESCRIPTIONS,
    **synthetic.DESCRIPTIONS,
    **stories.DESCRIPTIONS,
    "file": _FILE_DESCRIPTION,
    **downloads.DESCRIPTIONS,
}


_TASKS: dict[str, str] = {**bundled.TASKS, **synthetic.TASKS, **stories.TASKS}
"""The registered datasets whose target is a regression target; every other one, but a file, is classification."""


def available() -> dict[str, str]:
    """Dataset name -> one-line description, in display order (bundled, synthetic, generated text, file, downloads)."""
    return dict(_DESCRIPTIONS)


def is_offline(name: str) -> bool:
    """True for the bundled and generated datasets (rated_stories too): loading them reads no user file and needs
    no network."""
    return name in bundled.LOADERS or name in synthetic.LOADERS or name in stories.LOADERS


def default_options(name: str) -> dict[str, object]:
    """The options `name` accepts, with their defaults (required options map to None)."""
    parameters = inspect.signature(_loader(name)).parameters.values()
    return {p.name: (None if p.default is inspect.Parameter.empty else p.default) for p in parameters}


def load(name: str, **options) -> Dataset:
    """Load dataset `name` with its `options`; raise `DatasetError` for unknown names or options."""
    loader = _loader(name)
    parameters = inspect.signature(loader).parameters
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        accepted = ", ".join(parameters) or "none"
        raise DatasetError(
            f"dataset {name!r} got unknown option(s) {', '.join(map(repr, unknown))}; accepted options: {accepted}."
        )
    missing = [p for p, spec in parameters.items() if spec.default is inspect.Parameter.empty and p not in options]
    if missing:
        raise DatasetError(f"dataset {name!r} needs option(s) {', '.join(map(repr, missing))}.")
    return loader(**options)


def declared_task(name: str, options: dict | None = None) -> str | None:
    """The task of dataset `name` known without loading it: "classification" or "regression", or None for a file
    whose `task` option is "auto" (only its values can tell, `infer_task`)."""
    if name == "file":
        task = (options or {}).get("task", "auto")
        return task if task in TASKS else None
    _loader(name)
    return _TASKS.get(name, "classification")


def load_for_task(name: str, options: dict | None = None, task: str = "auto") -> Dataset:
    """`load(name, **options)` for a run of `task`: a loader with a `task` option (a file) gets it unless the
    options set it, and a dataset whose target is of another task is refused naming both."""
    options = dict(options or {})
    if task != "auto" and "task" in inspect.signature(_loader(name)).parameters:
        options.setdefault("task", task)
    dataset = load(name, **options)
    check_dataset_task(dataset, task)
    return dataset


def check_dataset_task(dataset: Dataset, task: str = "auto") -> None:
    """Raise `DatasetError` when `task` (unless "auto") is not the dataset's."""
    if task != "auto" and dataset.task != task:
        raise DatasetError(
            f"task={task!r} does not match dataset {dataset.name!r}, whose target is a {dataset.task} target; "
            f"choose task='auto' or task={dataset.task!r}."
        )


def _loader(name: str) -> Callable[..., Dataset]:
    if isinstance(name, str) and name in _LOADERS:
        return _LOADERS[name]
    close = difflib.get_close_matches(str(name).lower(), list(_LOADERS), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise DatasetError(f"unknown dataset {name!r}; valid names: {', '.join(_LOADERS)}.{hint}")
