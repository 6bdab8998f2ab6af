"""ExperimentConfig: every knob of a run, validated once at the door, to and from JSON.

Every field is checked when the config is made, its options too (model, dataset, strategy): type, range,
finiteness, and the memory the run would need against a ceiling (``alcore.limits``). A bad value raises
``ConfigError`` in the one format of ``alcore.validation``: the field, the value and what is allowed.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from alcore import limits
from alcore import validation as v
from alcore.constants import COLD_START_RULES, MODELS
from alcore.task import TASKS
from alcore.validation import ConfigError

OPTIMIZERS = ("adam", "sgd")
DEVICES = ("auto", "cpu", "cuda")
MAX_CONFIG_BYTES = 1_000_000   # a config file or text longer than this is not a config
_BOM = "\ufeff"


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
        """Check every field; raise ConfigError naming the first bad one, its value and what is allowed."""
        from alcore import data, strategies  # late: the registries import this module's neighbours

        v.choice("dataset", self.dataset, list(data.available()))
        v.choice("task", self.task, ["auto", *TASKS])
        v.choice("model", self.model, MODELS)
        v.choice("strategy", self.strategy, list(strategies.available()))
        v.choice("cold_start_strategy", self.cold_start_strategy, [*COLD_START_RULES, *strategies.available()])
        v.choice("optimizer", self.optimizer, OPTIMIZERS)
        v.choice("device", self.device, DEVICES)
        for name, hi in (("batch_size", limits.MAX_ROWS), ("cycles", limits.MAX_CYCLES),
                         ("epochs", limits.MAX_EPOCHS), ("train_batch_size", limits.MAX_ROWS),
                         ("n_checkpoints", limits.MAX_CHECKPOINTS), ("display_size", limits.MAX_DISPLAY)):
            setattr(self, name, v.integer(name, getattr(self, name), 1, hi))
        for name, hi in (("initial_labels", limits.MAX_ROWS), ("target_size", limits.MAX_ROWS),
                         ("seed", limits.MAX_SEED)):
            setattr(self, name, v.integer(name, getattr(self, name), 0, hi))
        v.number("lr", self.lr, 0, limits.MAX_LR, lo_open=True)
        v.number("weight_decay", self.weight_decay, 0, limits.MAX_WEIGHT_DECAY)
        v.number("test_size", self.test_size, 0, 1, lo_open=True, hi_open=True)
        v.boolean("warm_start", self.warm_start)
        v.text("name", self.name, limits.MAX_NAME_CHARS)
        if self.target_classes is not None:
            self.target_classes = v.integers("target_classes", self.target_classes, 0, limits.MAX_CLASSES - 1, 1,
                                             limits.MAX_CLASSES)
        for name in ("dataset_options", "model_options", "strategy_options"):
            if not isinstance(getattr(self, name), dict) or not all(isinstance(k, str) for k in getattr(self, name)):
                v.fail(name, getattr(self, name), "it must be a dict of option: value")
        _check_dataset_options(self.dataset, self.dataset_options)
        _check_model_options(self.model, self.model_options)
        self._check_strategy(strategies)
        try:
            json.dumps(self.to_dict(), allow_nan=False)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"every config value must be plain JSON (numbers, strings, lists, dicts): {err}",
                              field="config") from None
        self.check_memory(**_shape_hint(self.dataset, self.dataset_options))

    def _check_strategy(self, strategies) -> None:
        """The strategy's needs (a target set), its options (names, types, its own checks), and the task."""
        spec = strategies.spec(self.strategy)
        if spec.needs_target and self.target_size == 0:
            v.fail("target_size", self.target_size,
                   f"strategy {self.strategy!r} scores the pool against a labelled target set: set target_size > 0 "
                   "(e.g. 50), optionally with target_classes")
        if self.target_classes is not None and self.target_size == 0:
            v.fail("target_classes", self.target_classes, "it filters the target set, but target_size=0 draws none: "
                                                          "set target_size > 0 (e.g. 50), or leave target_classes unset")
        defaults = spec.defaults()
        for name, value in self.strategy_options.items():
            if name not in defaults:
                v.fail(f"strategy_options.{name}", value,
                       f"strategy {self.strategy!r} has no such option; its options: {sorted(defaults)}")
            v.like_default(f"strategy_options.{name}", value, defaults[name])
        task = self.known_task()
        if not self.strategy_options:
            if task is not None:
                self.check_task(task)
            return  # the defaults are valid; checking them would import the strategy (and torch) for nothing
        try:
            strategy = strategies.get(self.strategy, **self.strategy_options)
        except (TypeError, ValueError) as err:
            raise strategy_option_error(self.strategy, err, self.strategy_options) from None
        if task is not None:
            self.check_task(task, strategy)

    def check_memory(self, n_samples: int, n_features: int, n_classes: int) -> None:
        """ConfigError when a run of this config on data of this shape needs more memory than the ceiling
        (``alcore.limits``); the message names the setting behind the largest part."""
        parts = limits.run_memory(self.model, self.model_options, n_samples=n_samples, n_features=n_features,
                                  n_classes=max(n_classes, 1), display_size=self.display_size, cycles=self.cycles,
                                  n_checkpoints=self.n_checkpoints, train_batch_size=self.train_batch_size)
        limits.check_memory(parts, self.to_dict())

    def known_task(self) -> str | None:
        """The run's task when it is known before the data is loaded: ``task``, or the dataset's own (every
        registered dataset has one; a file with ``task="auto"`` is known only once read)."""
        from alcore import data

        declared = data.declared_task(self.dataset, self.dataset_options)
        if self.task == "auto":
            return declared
        if declared is not None and declared != self.task:
            v.fail("task", self.task, f"dataset {self.dataset!r} has a {declared} target; choose task='auto' or "
                                      f"task={declared!r}")
        return self.task

    def check_task(self, task: str, strategy=None) -> None:
        """Refuse what ``task`` cannot run (docs/tasks.md#tasks), naming the field or the option: strategies and
        strategy options of the other task, and target classes of a regression target. ``strategy``: the configured
        strategy's instance when its options were checked already."""
        from alcore import strategies

        if self.target_classes is not None and task != "classification":
            v.fail("target_classes", self.target_classes, f"it selects classes, but a {task} target has none: leave "
                                                          "target_classes unset (the target set is drawn from every "
                                                          "non-test point)")
        for field_name in ("strategy", "cold_start_strategy"):
            name = getattr(self, field_name)
            if name in strategies.available() and task not in strategies.spec(name).tasks:
                fits = [s for s, spec in strategies.specs().items() if task in spec.tasks]
                v.fail(field_name, name, f"it works for {' and '.join(strategies.spec(name).tasks)} only, and this "
                                         f"run's target is a {task} target: choose one of {fits}"
                                         + (" ('variance' is the uncertainty strategy of regression)"
                                            if "variance" in fits else ""))
        if self.strategy_options:
            try:
                (strategy or strategies.get(self.strategy, **self.strategy_options)).check_task(task)
            except ValueError as err:
                raise strategy_option_error(self.strategy, err, self.strategy_options) from None

    def check_budget(self, pool_size: int) -> None:
        """A budget larger than the pool is a config error (the last cycle alone may be clamped); the message
        suggests settings that fit (``budget_advice``)."""
        budget = self.initial_labels + self.batch_size * self.cycles
        if self.initial_labels >= pool_size:
            room = pool_size - self.batch_size * self.cycles
            advice = (f"set initial_labels to at most {room}" if room >= 0 else " or ".join(
                f"set initial_labels to 0 and {a}" for a in budget_advice(pool_size, 0, self.batch_size, self.cycles)))
            v.fail("initial_labels", self.initial_labels,
                   f"it leaves nothing to select from the pool ({pool_size} points): {advice}")
        if budget - self.batch_size >= pool_size:
            raise ConfigError(
                f"cycles={self.cycles} is not valid; the budget initial_labels + batch_size * cycles = "
                f"{self.initial_labels} + {self.batch_size} * {self.cycles} = {budget} labels is more than the pool "
                f"holds ({pool_size} points): "
                + " or ".join(budget_advice(pool_size, self.initial_labels, self.batch_size, self.cycles)),
                field="cycles", value=self.cycles)

    # --- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            from alcore import atomic_files

            atomic_files.write_bytes(path, text.encode())
        return text

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ExperimentConfig":
        if not isinstance(values, dict):
            v.fail("config", values, "it must be a JSON object of field: value")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(map(str, values)) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s) {unknown}; valid fields: {sorted(known)}",
                              field=unknown[0] or "config", value=values.get(unknown[0]),
                              allowed=f"valid fields: {sorted(known)}")
        return cls(**values)

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> "ExperimentConfig":
        """A config from JSON text or a JSON file (UTF-8, a byte-order mark allowed); ConfigError naming what is
        wrong with the text, the file or a field."""
        return cls.from_dict(read_json_object(text_or_path, "config"))


def read_json_object(text_or_path: str | Path | bytes, field: str) -> dict[str, Any]:
    """The JSON object in ``text_or_path`` (text, bytes, or the path of a file holding it); ConfigError naming
    ``field`` when it cannot be read, is not JSON or is not an object."""
    if isinstance(text_or_path, bytes):
        text = _decode(text_or_path, field)
    else:
        text = str(text_or_path)
        if not text.lstrip(_BOM + " \t\r\n").startswith(("{", "[")):
            text = _decode(_read_file(text, field), field)
    text = text.lstrip(_BOM)
    if len(text) > MAX_CONFIG_BYTES:
        v.fail(field, text, f"a config is at most {MAX_CONFIG_BYTES:_} characters of JSON")
    try:
        values = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise ConfigError(f"{field} is not valid JSON: {err}"[:300], field=field) from None
    if not isinstance(values, dict):
        v.fail(field, values, "it must be a JSON object of field: value")
    return values


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


def _read_file(path: str, field: str) -> bytes:
    try:
        if os.path.getsize(path) > MAX_CONFIG_BYTES:
            v.fail(field, path, f"the file is over {MAX_CONFIG_BYTES:_} bytes: not a config")
        return Path(path).read_bytes()
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
        raise ConfigError(field=field, value=path, allowed=f"it is neither JSON nor a readable file ({reason})") \
            from None


def _decode(raw: bytes, field: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{field} is not UTF-8 text ({err.reason} at byte {err.start}): save it as UTF-8",
                          field=field) from None


def strategy_option_error(strategy: str, err: Exception, options: Any) -> ConfigError:
    """A strategy's complaint about its options (``name=value is not valid; ...``) as a ConfigError naming the
    option as a field (``strategy_options.name``) when the message starts with one of ``options``."""
    named = re.match(r"\s*'?(\w+)'?\s*=", str(err))
    option = named.group(1) if named and named.group(1) in options else None
    return ConfigError(f"strategy_options for {strategy!r}: {err}",
                       field=f"strategy_options.{option}" if option else "strategy_options")


def config_differences(stored: dict[str, Any], given: dict[str, Any]) -> list[str]:
    """``field: stored -> given`` for every field whose value differs (what ``--out`` on an existing run names)."""
    return [f"{k}: {v.show(stored.get(k))} -> {v.show(given.get(k))}" for k in sorted(set(stored) | set(given))
            if stored.get(k) != given.get(k)]


def _check_model_options(model: str, options: dict[str, Any]) -> None:
    from alcore.model_options import model_defaults

    defaults = model_defaults(model)
    for name, value in options.items():
        field_name = f"model_options.{name}"
        if name not in defaults:
            v.fail(field_name, value, f"model {model!r} has no such option; its options: {sorted(defaults)}")
        if name == "dropout":
            v.number(field_name, value, 0, 1, hi_open=True)
        elif name == "channels":
            v.integers(field_name, value, 1, limits.MAX_UNITS, 2, 2)
        elif name == "hidden" and isinstance(defaults[name], int):
            v.integer(field_name, value, 1, limits.MAX_UNITS)
        elif name == "hidden":
            v.integers(field_name, value, 1, limits.MAX_UNITS, 1, limits.MAX_LAYERS)
        else:
            v.like_default(field_name, value, defaults[name])


def _check_dataset_options(dataset: str, options: dict[str, Any]) -> None:
    from alcore import data

    defaults = data.default_options(dataset)
    for name, value in options.items():
        field_name = f"dataset_options.{name}"
        if name not in defaults:
            v.fail(field_name, value, f"dataset {dataset!r} has no such option; its options: {sorted(defaults)}")
        if name in limits.DATASET_OPTION_RANGES:
            lo, hi = limits.DATASET_OPTION_RANGES[name]
            (v.integer if isinstance(lo, int) else v.number)(field_name, value, lo, hi)
        elif name == "path":
            _check_path(field_name, value, data)
        elif name == "task":
            v.choice(field_name, value, ["auto", *data.TASKS])
        else:
            v.like_default(field_name, value, defaults[name])
    missing = [n for n, d in defaults.items() if d is None and n == "path" and n not in options]
    if missing:
        v.fail("dataset_options.path", None, f"dataset {dataset!r} needs the path of a .csv or .npz file")


def _check_path(field_name: str, value: Any, data) -> None:
    v.text(field_name, value, 4096, empty=False)
    path = Path(value)
    suffixes = [".csv", ".npz"]
    if path.suffix.lower() not in suffixes:
        v.fail(field_name, value, f"it must name a {' or '.join(suffixes)} file")
    try:
        ok = path.is_file()
        size = path.stat().st_size if ok else 0
    except (OSError, ValueError) as err:
        v.fail(field_name, value, f"it cannot be read ({type(err).__name__})")
    if not ok:
        v.fail(field_name, value, "no such file: check the path, or upload the file again")
    if not os.access(path, os.R_OK):
        v.fail(field_name, value, "the file is not readable (permission denied)")
    if size > data.MAX_FILE_BYTES:
        v.fail(field_name, value, f"the file is over the {data.MAX_FILE_BYTES // 2**20} MB limit")


def _shape_hint(dataset: str, options: dict[str, Any]) -> dict[str, int]:
    """The data's shape as far as the config tells it (the options' values or their defaults), for the memory
    check at construction; unknown parts count as the smallest possible (the run checks again with the data)."""
    from alcore import data

    given = {**data.default_options(dataset), **options}
    pick = lambda name, low: int(given[name]) if v.is_int(given.get(name)) else low  # noqa: E731
    return {"n_samples": pick("n_samples", 1), "n_features": pick("n_features", 1), "n_classes": pick("n_classes", 2)}
