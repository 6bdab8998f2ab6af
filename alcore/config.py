"""ExperimentConfig: every knob of a run, validated once at the door, to and from JSON."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from alcore.constants import COLD_START_RULES
from alcore.task import TASKS

MODELS = ("logreg", "mlp", "cnn")
OPTIMIZERS = ("adam", "sgd")
DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A config field has a value the engine cannot run; the message names the field and the valid choices."""


@dataclass
class ExperimentConfig:
    """One active-learning run. Defaults are the app's first screen: digits, MLP, BADGE, cold start."""

    dataset: str = "digits"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    task: str = "auto"
    model: str = "mlp"
    model_options: dict[str, Any] = field(default_factory=dict)
    strategy: str = "badge"
    strategy_options: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 20
    cycles: int = 10
    initial_labels: int = 0
    target_size: int = 0
    target_classes: list[int] | None = None
    test_size: float = 0.2
    epochs: int = 100
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    train_batch_size: int = 64
    warm_start: bool = False
    n_checkpoints: int = 4
    cold_start_strategy: str = "auto"
    display_size: int = 5000
    seed: int = 0
    device: str = "auto"
    name: str = ""

    def __post_init__(self) -> None:
        self.validate()

    # --- validation -------------------------------------------------------------------------
    def validate(self) -> None:
        """Check every field; raise ConfigError naming the first bad one and what is allowed."""
        from alcore import data, strategies  # late: the registries import this module's neighbours

        _check(isinstance(self.dataset, str) and self.dataset in data.available(), "dataset", self.dataset,
               sorted(data.available()))
        _check(isinstance(self.task, str) and self.task in ("auto", *TASKS), "task", self.task, ("auto", *TASKS))
        _check(self.model in MODELS, "model", self.model, MODELS)
        _check(isinstance(self.strategy, str) and self.strategy in strategies.available(), "strategy", self.strategy,
               sorted(strategies.available()))
        if self.cold_start_strategy not in COLD_START_RULES:
            _check(isinstance(self.cold_start_strategy, str) and self.cold_start_strategy in strategies.available(),
                   "cold_start_strategy",
                   self.cold_start_strategy, [*COLD_START_RULES, *sorted(strategies.available())])
        _check(self.optimizer in OPTIMIZERS, "optimizer", self.optimizer, OPTIMIZERS)
        _check(self.device in DEVICES, "device", self.device, DEVICES)
        for name in ("batch_size", "cycles", "epochs", "train_batch_size", "n_checkpoints", "display_size"):
            _positive_int(name, getattr(self, name))
        for name in ("initial_labels", "target_size", "seed"):
            _nonnegative_int(name, getattr(self, name))
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not (isinstance(self.test_size, (int, float)) and 0 < self.test_size < 1):
            raise ConfigError(f"test_size must be a fraction in (0, 1), got {self.test_size!r}")
        for name in ("dataset_options", "model_options", "strategy_options"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"{name} must be a dict of options, got {type(getattr(self, name)).__name__}")
        if self.target_classes is not None:
            if (not isinstance(self.target_classes, (list, tuple)) or not self.target_classes
                    or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in self.target_classes)):
                raise ConfigError(f"target_classes must be a non-empty list of class ids, got {self.target_classes!r}")
        try:
            json.dumps(self.to_dict())
        except (TypeError, ValueError) as err:
            raise ConfigError(f"every config value must be plain JSON (numbers, strings, lists, dicts): {err}") \
                from None
        if strategies.spec(self.strategy).needs_target and self.target_size == 0:
            raise ConfigError(
                f"strategy {self.strategy!r} scores the pool against a labelled target set: "
                "set target_size > 0 (e.g. 50), optionally with target_classes"
            )
        if self.target_classes is not None and self.target_size == 0:
            raise ConfigError(f"target_classes={self.target_classes!r} filters the target set, but target_size=0 "
                              "draws none: set target_size > 0 (e.g. 50), or leave target_classes unset")
        task = self.known_task()
        if not self.strategy_options:
            if task is not None:
                self.check_task(task)
            return  # the defaults are valid; checking them would import the strategy (and torch) for nothing
        try:
            strategy = strategies.get(self.strategy, **self.strategy_options)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"strategy_options for {self.strategy!r}: {err}") from None
        if task is not None:
            self.check_task(task, strategy)

    def known_task(self) -> str | None:
        """The run's task when it is known before the data is loaded: ``task``, or the dataset's own (every
        registered dataset has one; a file with ``task="auto"`` is known only once read)."""
        from alcore import data

        declared = data.declared_task(self.dataset, self.dataset_options)
        if self.task == "auto":
            return declared
        if declared is not None and declared != self.task:
            raise ConfigError(f"task={self.task!r} does not match dataset {self.dataset!r}, whose target is a "
                              f"{declared} target; choose task='auto' or task={declared!r}")
        return self.task

    def check_task(self, task: str, strategy=None) -> None:
        """Refuse what ``task`` cannot run (docs/tasks.md#tasks), naming the field or the option: strategies and
        strategy options of the other task, and target classes of a regression target. ``strategy``: the configured
        strategy's instance when its options were checked already."""
        from alcore import strategies

        if self.target_classes is not None and task != "classification":
            raise ConfigError(f"target_classes={self.target_classes!r} selects classes, but a {task} target has "
                              "none: leave target_classes unset (the target set is drawn from every non-test point)")
        for field_name in ("strategy", "cold_start_strategy"):
            name = getattr(self, field_name)
            if name in strategies.available() and task not in strategies.spec(name).tasks:
                fits = [s for s, spec in strategies.specs().items() if task in spec.tasks]
                raise ConfigError(f"{field_name}={name!r} works for {' and '.join(strategies.spec(name).tasks)} only, "
                                  f"and this run's target is a {task} target: choose one of {fits}"
                                  + (" ('variance' is the uncertainty strategy of regression)"
                                     if "variance" in fits else ""))
        if self.strategy_options:
            try:
                (strategy or strategies.get(self.strategy, **self.strategy_options)).check_task(task)
            except ValueError as err:
                raise ConfigError(f"strategy_options for {self.strategy!r}: {err}") from None

    def check_budget(self, pool_size: int) -> None:
        """A budget larger than the pool is a config error (the last cycle alone may be clamped); the message
        suggests settings that fit (``budget_advice``)."""
        budget = self.initial_labels + self.batch_size * self.cycles
        if self.initial_labels >= pool_size:
            room = pool_size - self.batch_size * self.cycles
            advice = (f"set initial_labels to at most {room}" if room >= 0 else " or ".join(
                f"set initial_labels to 0 and {a}" for a in budget_advice(pool_size, 0, self.batch_size, self.cycles)))
            raise ConfigError(f"initial_labels={self.initial_labels} leaves nothing to select from the pool "
                              f"({pool_size} points): {advice}")
        if budget - self.batch_size >= pool_size:
            raise ConfigError(
                f"the budget initial_labels + batch_size * cycles = {self.initial_labels} + {self.batch_size} * "
                f"{self.cycles} = {budget} labels is more than the pool holds ({pool_size} points): "
                + " or ".join(budget_advice(pool_size, self.initial_labels, self.batch_size, self.cycles)))

    # --- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ExperimentConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s) {unknown}; valid fields: {sorted(known)}")
        return cls(**values)

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> "ExperimentConfig":
        text = str(text_or_path)
        if not text.lstrip().startswith(("{", "[")):
            try:
                text = Path(text_or_path).read_text()
            except (OSError, ValueError) as err:
                raise ConfigError(f"config {text[:80]!r} is neither JSON nor a readable file ({err})") from None
        try:
            values = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"config is not valid JSON: {err}") from None
        if not isinstance(values, dict):
            raise ConfigError("config JSON must be an object of field: value")
        return cls.from_dict(values)


def budget_advice(pool_size: int, initial_labels: int, batch_size: int, cycles: int) -> list[str]:
    """Changes that make ``initial_labels + batch_size * cycles`` fit in a pool of ``pool_size`` points, every batch
    full: fewer cycles of the same batch, or a smaller batch for the same cycles, or else one cycle of what is left.
    Each names the field and the value to set (``initial_labels < pool_size``)."""
    room = pool_size - initial_labels
    fewer_cycles, smaller_batch = room // batch_size, room // cycles
    advice = []
    if fewer_cycles >= 1:
        advice.append(f"set cycles to at most {fewer_cycles} ({fewer_cycles} batches of {batch_size} = "
                      f"{fewer_cycles * batch_size} labels)")
    if smaller_batch >= 1:
        advice.append(f"set batch_size to at most {smaller_batch} ({cycles} batches of {smaller_batch} = "
                      f"{cycles * smaller_batch} labels)")
    if not advice:
        advice.append(f"set cycles to 1 and batch_size to at most {room}")
    return advice


def _check(ok: bool, name: str, value: Any, choices) -> None:
    if not ok:
        raise ConfigError(f"{name}={value!r} is not valid; choose one of {list(choices)}")


def _positive_int(name: str, value: Any) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _nonnegative_int(name: str, value: Any) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        raise ConfigError(f"{name} must be an integer >= 0, got {value!r}")
