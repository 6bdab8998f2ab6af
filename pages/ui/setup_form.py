"""The experiment setup form: dataset (or an upload: numbers, or texts with a rating), model and training, strategy and
its options (those of the dataset's task), budget.

Every control has help text; the form returns a validated ``ExperimentConfig`` or None after showing what to fix
beside the control that set it (``ConfigError.field`` names the setting; each control leaves a slot for its
message). Options equal to their defaults are left out of the config, so a run started elsewhere compares equal.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import streamlit as st

from alcore import atomic_files, catalog, data, strategies
from alcore.config import MODELS, OPTIMIZERS, ConfigError, ExperimentConfig
from alcore.data import DatasetError
from alcore.task import TASKS

from pages.ui.docs import readable
from pages.ui.errors import show_error
from pages.ui.runs import runs_root

UPLOADS = ".uploads"  # staged uploads, before a run folder exists; a run copies its file to <run>/upload.<ext>
MODEL_HELP = {
    "logreg": "Logistic regression: a single linear layer (features h are the inputs).",
    "mlp": "Multi-layer perceptron: hidden ReLU layers, then a linear head (the default).",
    "cnn": "Small convolutional network for image datasets (digits, MNIST, NPZ images).",
}




def _option_widget(key: str, name: str, default: Any, help_text: str, field: str) -> Any:
    """One widget for one option, by the type of its default; JSON text for anything not a plain scalar."""
    label = name.replace("_", " ")
    if isinstance(default, bool):
        return st.checkbox(label, value=default, key=key, help=help_text)
    if isinstance(default, int):
        return int(st.number_input(label, value=default, step=1, key=key, help=help_text))
    if isinstance(default, float):
        return float(st.number_input(label, value=default, key=key, help=help_text, format="%g"))
    if isinstance(default, str):
        return st.text_input(label, value=default, key=key, help=help_text)
    text = st.text_input(label, value="" if default is None else json.dumps(default, default=list), key=key,
                         help=f"{help_text} (JSON; empty for the default)".strip())
    if not text.strip():
        return default
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise ConfigError(field=field, value=text, allowed="it must be JSON, e.g. 0.5, [1, 2], null") from None


def _differs(value: Any, default: Any) -> bool:
    """Compare through JSON, so [128] equals (128,) and 1 equals 1.0."""
    as_json = lambda v: json.dumps(v, sort_keys=True, default=list)  # noqa: E731
    try:
        return as_json(value) != as_json(default) and not (
            isinstance(value, (int, float)) and isinstance(default, (int, float)) and float(value) == float(default))
    except (TypeError, ValueError):
        return True


def _stage_upload(upload, options: dict[str, Any], task: str) -> tuple[Path, data.Dataset]:
    """Validate an uploaded file with ``load_bytes`` (its column ``options``, the ``task``) and stage its bytes on
    disk by content hash."""
    raw = upload.getvalue()
    dataset = data.load_bytes(raw, upload.name, task=task, **options)  # raises DatasetError with what to fix
    suffix = Path(upload.name).suffix.lower()
    path = runs_root() / UPLOADS / f"{hashlib.sha256(raw).hexdigest()[:16]}{suffix}"
    if not path.exists():
        atomic_files.write_bytes(path, raw)
    return path, dataset


def attach_upload(config: ExperimentConfig, run_dir: str | Path) -> ExperimentConfig:
    """Copy a staged upload into ``<run>/upload.<ext>`` and point the config at it (the run is self-contained)."""
    if config.dataset != "file" or "path" not in config.dataset_options:
        return config
    src = Path(config.dataset_options["path"])
    dst = Path(run_dir) / f"upload{src.suffix.lower()}"
    if src.resolve() != dst.resolve():
        atomic_files.write_bytes(dst, src.read_bytes())
    options = {**config.dataset_options, "path": str(dst)}
    return dataclasses.replace(config, dataset_options=options)


def _parse_sizes(text: str, option: str, options: dict, errors: list) -> None:
    """Comma-separated positive integers into ``options[option]``, or a ConfigError naming the option."""
    try:
        sizes = [int(x) for x in text.replace(" ", "").split(",") if x]
        if not sizes or min(sizes) < 1:
            raise ValueError
        options[option] = sizes
    except ValueError:
        errors.append(ConfigError(field=f"model_options.{option}", value=text,
                                  allowed="give positive integers separated by commas, e.g. 128 or 256, 128"))


COLD_STARTS = ("self", "auto")
COLD_START_HELP = (
    "What chooses while the model has seen no label yet (docs/methods.md#cold-start):\n\n"
    "- **self** (the app's default): the strategy itself, on the untrained, seeded network from cycle 0.\n"
    "- **auto**: TypiClust on tabular data, random on images, until the model can score the pool.\n\n"
    "Or name the strategy that chooses instead.")


def app_defaults() -> ExperimentConfig:
    """The setup form's defaults: the engine's, with the seed's cold start (the strategy itself from cycle 0)."""
    return ExperimentConfig(cold_start_strategy="self")


def config_form(key_prefix: str, defaults: ExperimentConfig | None = None) -> ExperimentConfig | None:
    """Dataset, model and strategy controls with help text; the validated config, or None after an ``st.error``.

    Widgets live in the caller's container (sidebar, expander, column). Keys start with ``key_prefix`` so two
    forms on one page do not collide.
    """
    form = _Form(defaults or app_defaults(), f"{key_prefix}_")
    if not form.dataset():
        return None
    form.model()
    form.strategy()
    form.budget()
    return form.config()


class _Form:
    """One drawing of the form: the controls of each section add their values (and their errors) here."""

    def __init__(self, defaults: ExperimentConfig, key: str) -> None:
        self.d, self.k = defaults, key
        self.values: dict[str, Any] = {}
        self.errors: list[BaseException] = []
        self.slots: dict[str, Any] = {}   # config field -> the place under its control where its error goes

    def slot(self, *fields: str) -> None:
        """Leave a place for the error of ``fields`` right under the control just drawn."""
        place = st.empty()
        for name in fields:
            self.slots.setdefault(name, place)

    def options(self, prefix: str, field: str, options: list[tuple[str, Any, str]], given: dict[str, Any]
                ) -> dict[str, Any]:
        """One widget per ``(name, default, help)`` showing ``given`` values; the values that differ from the
        default. ``field``: the config field holding them (``dataset_options``, ``strategy_options``)."""
        chosen = {}
        for name, default, help_text in options:
            try:
                value = _option_widget(f"{self.k}{prefix}_{name}", name, given.get(name, default),
                                       readable(help_text), f"{field}.{name}")
            except ConfigError as err:
                self.errors.append(err)
                continue
            finally:
                self.slot(f"{field}.{name}")
            if _differs(value, default):
                chosen[name] = value
        return chosen

    def dataset(self) -> bool:
        """The dataset and its options, or an upload; False when the form cannot go on (no file uploaded yet)."""
        d, k = self.d, self.k
        names = list(data.available())
        dataset = st.selectbox("Dataset", names, index=names.index(d.dataset) if d.dataset in names else 0,
                               key=k + "dataset", help="Bundled and synthetic datasets work offline; 'file' takes "
                               "your own CSV or NPZ upload; mnist/fashion_mnist need a network download.",
                               format_func=lambda n: n)
        st.caption(data.available()[dataset])
        self.slot("dataset", "dataset_options")
        self.values["dataset"] = dataset
        self.values["task"] = "auto"
        if dataset == "file":
            options = self.upload()
            if options is None:
                return False
        else:
            defaults = data.default_options(dataset)
            options = {}
            if defaults:
                with st.expander("Dataset options"):
                    described = [(n, v, f"Option {n} of the {dataset} dataset.") for n, v in defaults.items()]
                    given = d.dataset_options if d.dataset == dataset else {}
                    options = self.options(f"ds_{dataset}", "dataset_options", described, given)
        self.values["dataset_options"] = options
        return True

    def upload(self) -> dict[str, Any] | None:
        """The upload, its columns and its task: the dataset options of the staged file, or None without a file."""
        d, k = self.d, self.k
        upload = st.file_uploader(
            "Data file (CSV or NPZ)", type=["csv", "npz"], key=k + "upload",
            help=f"CSV: a header row, numeric feature columns and a label column (default: the last), or a text "
                 f"column and a numeric rating column. NPZ: arrays X (n x features, or n x h x w images) and y. At "
                 f"most {data.MAX_FILE_BYTES // 2**20} MB.")
        self.slot("upload", "dataset_options.path")
        given = d.dataset_options if d.dataset == "file" else {}
        c1, c2, c3 = st.columns(3)
        columns = {
            "label_column": c1.text_input(
                "Label column", value=given.get("label_column") or "", key=k + "label_column",
                help="The column to predict: classes, or a number such as a rating (empty: the last column). NPZ: "
                     "the array holding the labels (empty: y)."),
            "text_column": c2.text_input(
                "Text column", value=given.get("text_column") or "", key=k + "text_column",
                help=readable("CSV only: the column holding a text per row (a story, a review). Its features are "
                              "TF-IDF and SVD fitted on the pool (docs/datasets.md#text-features). Empty: numeric "
                              "features.")),
            "target_column": c3.text_input(
                "Second rating column", value=given.get("target_column") or "", key=k + "target_column",
                help="CSV only, optional: another rating of the same rows (a second rater), used for the target "
                     "set: the target loss measures how well the model predicts it."),
        }
        self.slot("dataset_options.label_column", "dataset_options.text_column", "dataset_options.target_column")
        options = {name: value.strip() for name, value in columns.items() if value.strip()}
        self.values["task"] = st.selectbox(
            "Task", ["auto", *TASKS], index=(["auto", *TASKS].index(d.task) if d.task in TASKS else 0),
            key=k + "task", help=readable("auto: integer or text labels are classes, many distinct numbers a value "
                                          "to predict (regression); docs/tasks.md#tasks."))
        self.slot("task")
        if upload is None and d.dataset == "file" and d.dataset_options.get("path"):
            return dict(d.dataset_options)
        if upload is None:
            st.info("Upload a CSV or NPZ file to use your own data.", icon=":material/upload:")
            return None
        try:
            path, ds = _stage_upload(upload, options, self.values["task"])
            st.caption(f"{ds.description} · {ds.task}")
        except DatasetError as err:
            err.field = "upload"  # shown beside the uploader
            self.errors.append(err)
            return {}
        return {"path": str(path), **options}

    def model(self) -> None:
        d, k = self.d, self.k
        model = st.selectbox("Model", MODELS, index=MODELS.index(d.model), key=k + "model",
                             help=" ".join(MODEL_HELP.values()), format_func=lambda m: m)
        self.slot("model", "model_options")
        model_defaults = catalog.model_defaults(model)
        given = {**model_defaults, **(d.model_options if d.model == model else {})}
        model_options: dict[str, Any] = {}
        with st.expander("Model and training options"):
            if isinstance(model_defaults.get("hidden"), int):
                model_options["hidden"] = int(st.number_input(
                    "Hidden units", 1, 100_000, int(given["hidden"]), key=k + f"hidden_{model}",
                    help="Width of the dense layer after the convolutions: the size of the features h."))
                self.slot("model_options.hidden")
            elif "hidden" in model_defaults:
                hidden = st.text_input("Hidden layer sizes", value=", ".join(map(str, given["hidden"])),
                                       key=k + "hidden", help="Comma-separated widths of the hidden layers, e.g. "
                                       "128 or 256, 128. The last one is the size of the features h used by BADGE "
                                       "and the map.")
                _parse_sizes(hidden, "hidden", model_options, self.errors)
                self.slot("model_options.hidden")
            if "channels" in model_defaults:
                channels = st.text_input("Convolution channels", value=", ".join(map(str, given["channels"])),
                                         key=k + "channels", help="Comma-separated channel counts of the conv layers.")
                _parse_sizes(channels, "channels", model_options, self.errors)
                self.slot("model_options.channels")
            if "dropout" in model_defaults:
                model_options["dropout"] = st.slider(
                    "Dropout", 0.0, 0.9, float(given["dropout"]), 0.05, key=k + f"dropout_{model}",
                    help="Dropout probability during training (BALD also uses it for its MC passes).")
                self.slot("model_options.dropout")
            self.values["epochs"] = int(st.number_input("Epochs per cycle", 1, 10_000, d.epochs, key=k + "epochs",
                                                        help="Training epochs on the labelled set at every cycle."))
            self.slot("epochs")
            self.values["lr"] = float(st.number_input("Learning rate", 1e-6, 10.0, float(d.lr), format="%g",
                                                      key=k + "lr", help="Step size of the optimizer."))
            self.slot("lr")
            self.values["optimizer"] = st.selectbox("Optimizer", OPTIMIZERS, index=OPTIMIZERS.index(d.optimizer),
                                                    key=k + "optimizer", help="Adam (default) or plain SGD.")
            self.values["warm_start"] = st.checkbox("Warm start", value=d.warm_start, key=k + "warm_start",
                                                    help="Continue training from last cycle's weights instead of "
                                                         "retraining from the seeded initialisation.")
        self.values["model"] = model
        self.values["model_options"] = {n: v for n, v in model_options.items()
                                        if _differs(v, model_defaults.get(n))}

    def task(self) -> str | None:
        """The run's task when the form already knows it: chosen for an upload, else the dataset's own."""
        if self.values.get("task", "auto") != "auto":
            return self.values["task"]
        try:
            return data.declared_task(self.values["dataset"], self.values.get("dataset_options"))
        except DatasetError:
            return None

    def strategy(self) -> None:
        d, k = self.d, self.k
        task = self.task()
        names = [n for n, spec in strategies.specs().items() if task is None or task in spec.tasks]
        strategy = st.selectbox("Strategy", names, index=names.index(d.strategy) if d.strategy in names else 0,
                                key=k + "strategy", help=readable(
                                    "How the next batch is chosen from the unlabelled pool; the list holds the "
                                    "strategies of the dataset's task (docs/tasks.md#regression)."))
        spec = strategies.spec(strategy)  # memoised on disk: the form does not import torch
        st.caption(spec.description)
        self.slot("strategy", "strategy_options", "target_size")
        self.values["strategy"] = strategy
        options = {}
        if spec.options:
            with st.expander(f"{strategy} options"):
                described = [(o.name, o.default, o.help or f"Option {o.name} of {strategy}.") for o in spec.options]
                given = d.strategy_options if d.strategy == strategy else {}
                options = self.options(f"st_{strategy}", "strategy_options", described, given)
        self.values["strategy_options"] = options

    def budget(self) -> None:
        d, k, values = self.d, self.k, self.values
        c1, c2, c3 = st.columns(3)
        values["batch_size"] = int(c1.number_input("Batch size", 1, 100_000, d.batch_size, key=k + "batch_size",
                                                   help="Labels bought per cycle (points in each batch)."))
        values["cycles"] = int(c2.number_input("Cycles in run", 1, 10_000, d.cycles, key=k + "cycles",
                                               help="Acquisition cycles of the whole run: it buys cycles × batch size "
                                                    "labels, then evaluates the last model once more (not a cycle)."))
        values["initial_labels"] = int(c3.number_input("Initial labels", 0, 1_000_000, d.initial_labels,
                                                       key=k + "initial_labels",
                                                       help="Random labels before the first cycle; 0 is a cold "
                                                            "start."))
        self.slot("batch_size", "cycles", "initial_labels")
        with st.expander("More settings"):
            values["seed"] = int(st.number_input("Seed", 0, 2**31 - 1, d.seed, key=k + "seed",
                                                 help="One seed decides the split, the model's initialisation and "
                                                      "every random choice: the same seed gives the same run."))
            self.slot("seed")
            values["target_size"] = int(st.number_input(
                "Target set size", 0, 1_000_000, d.target_size, key=k + "target_size",
                help="Labelled points held out as the target distribution (needed by target-aware strategies)."))
            self.slot("target_size", "target_classes")
            values["test_size"] = float(st.slider("Test fraction", 0.05, 0.5, float(d.test_size), 0.05,
                                                  key=k + "test_size",
                                                  help="Share of the data kept for the test curve."))
            self.slot("test_size")
            values["display_size"] = int(st.number_input(
                "Points on the map", 100, 100_000, d.display_size, step=500, key=k + "display_size",
                help="The map shows a fixed, stratified subset of the pool of at most this many points (the batch "
                     "is always shown)."))
            self.slot("display_size")
            task = self.task()
            cold = [*COLD_STARTS, *(n for n, spec in strategies.specs().items() if task is None or task in spec.tasks)]
            values["cold_start_strategy"] = st.selectbox(
                "Cold-start strategy", cold, index=cold.index(d.cold_start_strategy)
                if d.cold_start_strategy in cold else 0, key=k + "cold_start", help=COLD_START_HELP)
            self.slot("cold_start_strategy")
            values["name"] = st.text_input("Run name", value=d.name, key=k + "name",
                                           help="Optional: a name shown in the list of past runs.")
            self.slot("name")
        values.update({f: getattr(d, f) for f in ("target_classes", "train_batch_size", "weight_decay",
                                                  "n_checkpoints", "device")})

    def config(self) -> ExperimentConfig | None:
        """The validated config, or None after an ``st.error`` per problem found, each beside its control."""
        if not self.errors:
            try:
                return ExperimentConfig(**self.values)
            except (ConfigError, DatasetError) as err:
                self.errors.append(err)
        for err in self.errors:
            self.show(err)
        return None

    def show(self, err: BaseException) -> None:
        """The error under the control of the field it names (or its option group), else here."""
        field = getattr(err, "field", None) or ""
        place = self.slots.get(field) or self.slots.get(field.split(".")[0])
        if place is None:
            show_error(err)
            return
        with place.container():
            show_error(err)
