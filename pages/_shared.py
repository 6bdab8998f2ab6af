"""UI helpers shared by every page: where runs live, the job registry, the current run, cached loading,
errors without tracebacks, and the experiment form.

State flows one way: the URL (``st.query_params["run"]``) names the run, the disk holds its cycles, the job
registry (one per server, ``st.cache_resource``) runs it in the background. ``st.session_state`` only holds
widget values, so a browser reload loses nothing that matters.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import streamlit as st

from alcore import catalog, data, strategies
from alcore.config import MODELS, OPTIMIZERS, ConfigError, ExperimentConfig
from alcore.data import DatasetError
from alcore.jobs import PREPARED_DIR, JobRegistry, worth_preparing
from alcore.records import CycleRecord
from alcore.store import RunStore, list_runs, new_run_id

if TYPE_CHECKING:
    import pandas as pd

_log = logging.getLogger("alcore.app")
RUN_PARAM = "run"
_SESSION_RUN = "_alcore_run"
UPLOADS = ".uploads"  # staged uploads, before a run folder exists; a run copies its file to <run>/upload.<ext>
_RUN_ID = re.compile(r"^[A-Za-z0-9._-]{1,200}$")

MODEL_HELP = {
    "logreg": "Logistic regression: a single linear layer (features h are the inputs).",
    "mlp": "Multi-layer perceptron: hidden ReLU layers, then a linear head (the default).",
    "cnn": "Small convolutional network for image datasets (digits, MNIST, NPZ images).",
}


# --- the app shell ---------------------------------------------------------------------------------
def _pages_directory_mode() -> bool:
    """True while Streamlit runs page files directly, bypassing ``app.py``.

    Streamlit treats any ``pages/`` folder beside the entry point as its old multipage mode until ``st.navigation``
    is first called; so the first request of a fresh server at a page's URL (``/explore?run=...`` after a restart)
    runs that page alone, without the shell's navigation and sidebar.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without the old mode
        return False
    return bool(getattr(PagesManager, "uses_pages_directory", False))


def _leave_pages_directory_mode() -> None:
    """What ``st.navigation`` itself does on its first call: stop treating ``pages/`` as the page list."""
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False


# Evaluated when the first page imports this module: True if that page runs without app.py.
_ran_alone = _pages_directory_mode()
if _ran_alone:  # from the next script run on, every page runs through app.py
    _leave_pages_directory_mode()


def shell_ran() -> None:
    """Called by ``app.py`` on every run: the pages below run inside the shell."""
    global _ran_alone
    _ran_alone = False


APP_SCRIPT = Path(__file__).resolve().parents[1] / "app.py"


def require_shell() -> None:
    """First line of a page: if Streamlit ran the page file alone, run it through ``app.py`` instead.

    The shell runs inside this same script run (its navigation picks this page again by its URL), then this outer
    run stops; a rerun instead would drop the click that started the run.
    """
    global _ran_alone
    if not (_ran_alone or _pages_directory_mode()):
        return
    _ran_alone = False
    _leave_pages_directory_mode()
    exec(compile(APP_SCRIPT.read_text(), str(APP_SCRIPT), "exec"), {"__name__": "__main__",  # noqa: S102
                                                                      "__file__": str(APP_SCRIPT)})
    st.stop()


# --- where things are ---------------------------------------------------------------------------
def runs_root() -> Path:
    """Folder holding every run: ``$ALCORE_RUNS_DIR`` or ``./runs``."""
    root = Path(os.environ.get("ALCORE_RUNS_DIR", "runs"))
    root.mkdir(parents=True, exist_ok=True)
    return root


@st.cache_resource(show_spinner=False)
def registry() -> JobRegistry:
    """The server's one job registry: background workers outlive reruns, reloads and sessions. First cycles
    prepared by an earlier server and never taken are removed."""
    shutil.rmtree(runs_root() / PREPARED_DIR, ignore_errors=True)
    return JobRegistry()


def run_dir_for(run_id: str) -> Path | None:
    """The folder of ``run_id`` under ``runs_root()``, or None for an unknown or malformed id."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or run_id in (".", ".."):
        return None
    path = runs_root() / run_id
    return path if RunStore(path).exists() else None


def current_run_dir() -> Path | None:
    """The run named in the URL (``?run=<id>``), if it exists on disk."""
    run_id = st.query_params.get(RUN_PARAM)
    return run_dir_for(run_id) if run_id else None


def set_current_run(run_dir: str | Path | None) -> None:
    """Put the run in the URL so a reload, a second tab or another page finds it."""
    if run_dir is None:
        st.query_params.pop(RUN_PARAM, None)
        st.session_state.pop(_SESSION_RUN, None)
    else:
        st.query_params[RUN_PARAM] = Path(run_dir).name
        st.session_state[_SESSION_RUN] = Path(run_dir).name


def sync_run_param() -> None:
    """Keep ``?run=`` in the URL across page switches (navigation clears query parameters).

    Called by ``app.py`` before every page: the URL wins (a reload or a shared link), the session fills in
    when a page switch dropped the parameter.
    """
    in_url = st.query_params.get(RUN_PARAM)
    if in_url:
        st.session_state[_SESSION_RUN] = in_url
    elif st.session_state.get(_SESSION_RUN):
        st.query_params[RUN_PARAM] = st.session_state[_SESSION_RUN]


def past_runs() -> list[dict[str, Any]]:
    """Manifests of the stored runs, newest first (see ``alcore.store.list_runs``)."""
    return list_runs(runs_root())


def run_label(info: dict[str, Any]) -> str:
    """One line naming a run in a select box. Stable while the run grows: the browser matches a select box's
    choice by its text, so a label that changed with every cycle would lose the choice."""
    cfg = info.get("config", {})
    name = cfg.get("name") or f"{cfg.get('strategy', '?')} on {cfg.get('dataset', '?')}"
    return f"{name} · seed {cfg.get('seed', 0)} · {info.get('run_id') or Path(info.get('path', '?')).name}"


def run_status(info: dict[str, Any]) -> str:
    """Cycles stored and status of a run, for a caption. A run whose manifest says running but that no worker of
    this server runs (stopped, or the server restarted) is paused: Step or Run continues it."""
    status = info.get("status", "?")
    job = registry().get(info.get("run_id") or Path(info.get("path", "")).name)
    if status in ("running", "created") and (job is None or not job.running):
        status = "paused"
    n = int(info.get("n_cycles", 0))
    return f"{n} cycle{'' if n == 1 else 's'} stored · {status}"


def n_complete(run_dir: str | Path) -> int:
    """Complete cycles on disk (cheap: counts files); the cache key of everything derived from a run."""
    return RunStore(run_dir).n_cycles()


def run_config(run_dir: str | Path) -> ExperimentConfig:
    return ExperimentConfig.from_dict(RunStore(run_dir).manifest()["config"])


# --- cached loading -------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=16)
def load_records(run_dir: str | Path, n_cycles: int) -> list[CycleRecord]:
    """The first ``n_cycles`` complete records of a run (cached by folder and cycle count)."""
    return RunStore(run_dir).load_records()[:n_cycles]


@st.cache_data(show_spinner=False, max_entries=64)
def load_summary(run_dir: str | Path, n_cycles: int) -> pd.DataFrame:
    """One row per complete cycle (no arrays): labels, test/target metrics, diversity, timings."""
    rows = RunStore(run_dir).summary_rows()[:n_cycles]
    import pandas as pd  # here: the first render does not need pandas

    return pd.DataFrame(rows)


@st.cache_resource(show_spinner=False, max_entries=8)
def _dataset(name: str, options_json: str) -> data.Dataset:
    return data.load(name, **json.loads(options_json))


def dataset_for(config: ExperimentConfig) -> data.Dataset:
    """The config's dataset, loaded once per server (a Dataset is read-only, so it is shared, not copied)."""
    return _dataset(config.dataset, json.dumps(config.dataset_options, sort_keys=True, default=str))


# --- errors ---------------------------------------------------------------------------------------
_WHAT_TO_DO = {
    ConfigError: "Change the setting named above and try again.",
    DatasetError: "Fix the file or the dataset options as described, then upload or choose again.",
    FileNotFoundError: "The run folder is gone or incomplete: pick another run or start a new one.",
    MemoryError: "The data does not fit in memory: subsample it or choose a smaller display size.",
}


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Turn an unexpected exception into ``show_error`` (the traceback goes to the server log, not the page).

    Streamlit's own control flow (rerun, stop, page switch) derives from BaseException and passes through.
    """
    try:
        yield
    except Exception as err:  # noqa: BLE001  the page must never show a traceback
        _log.exception("page error")
        show_error(err)


def show_error(err: BaseException | str, what_to_do: str | None = None) -> None:
    """``st.error`` with the message and what to do next; never a traceback."""
    if isinstance(err, BaseException):
        message = str(err) or type(err).__name__
        if what_to_do is None:
            what_to_do = next((v for k, v in _WHAT_TO_DO.items() if isinstance(err, k)), None)
        if what_to_do is None:
            message = f"{type(err).__name__}: {message}"
            what_to_do = "Check the settings; if this keeps happening, report it with the run's config JSON."
    else:
        message = str(err)
    st.error(f"{message}\n\n**What to do:** {what_to_do}" if what_to_do else message, icon=":material/error:")


# --- the experiment form --------------------------------------------------------------------------
def _option_widget(key: str, name: str, default: Any, help_text: str) -> Any:
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
    except json.JSONDecodeError:
        raise ConfigError(f"option {name!r}: {text!r} is not valid JSON (e.g. 0.5, [1, 2], null)") from None


def _differs(value: Any, default: Any) -> bool:
    """Compare through JSON, so [128] equals (128,) and 1 equals 1.0."""
    as_json = lambda v: json.dumps(v, sort_keys=True, default=list)  # noqa: E731
    try:
        return as_json(value) != as_json(default) and not (
            isinstance(value, (int, float)) and isinstance(default, (int, float)) and float(value) == float(default))
    except (TypeError, ValueError):
        return True


def _stage_upload(upload) -> tuple[Path, data.Dataset]:
    """Validate an uploaded file with ``load_bytes`` and stage its bytes on disk by content hash."""
    raw = upload.getvalue()
    dataset = data.load_bytes(raw, upload.name)  # raises DatasetError with what to fix
    suffix = Path(upload.name).suffix.lower()
    folder = runs_root() / UPLOADS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(raw).hexdigest()[:16]}{suffix}"
    if not path.exists():
        from alcore.store import atomic_write_bytes

        atomic_write_bytes(path, raw)
    return path, dataset


def attach_upload(config: ExperimentConfig, run_dir: str | Path) -> ExperimentConfig:
    """Copy a staged upload into ``<run>/upload.<ext>`` and point the config at it (the run is self-contained)."""
    if config.dataset != "file" or "path" not in config.dataset_options:
        return config
    src = Path(config.dataset_options["path"])
    dst = Path(run_dir) / f"upload{src.suffix.lower()}"
    if src.resolve() != dst.resolve():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    options = {**config.dataset_options, "path": str(dst)}
    return dataclasses.replace(config, dataset_options=options)


def _parse_sizes(text: str, what: str, option: str, options: dict, errors: list) -> None:
    """Comma-separated positive integers into ``options[option]``, or a ConfigError naming ``what``."""
    try:
        sizes = [int(x) for x in text.replace(" ", "").split(",") if x]
        if not sizes or min(sizes) < 1:
            raise ValueError
        options[option] = sizes
    except ValueError:
        errors.append(ConfigError(f"{what} {text!r}: give positive integers separated by commas"))


def config_form(key_prefix: str, defaults: ExperimentConfig | None = None) -> ExperimentConfig | None:
    """Dataset, model and strategy controls with help text; the validated config, or None after an ``st.error``.

    Widgets live in the caller's container (sidebar, expander, column). Keys start with ``key_prefix`` so two
    forms on one page do not collide.
    """
    d = defaults or ExperimentConfig()
    k = f"{key_prefix}_"
    values: dict[str, Any] = {}
    errors: list[BaseException] = []

    # dataset
    names = list(data.available())
    dataset = st.selectbox("Dataset", names, index=names.index(d.dataset) if d.dataset in names else 0,
                           key=k + "dataset", help="Bundled and synthetic datasets work offline; 'file' takes "
                           "your own CSV or NPZ upload; mnist/fashion_mnist need a network download.",
                           format_func=lambda n: n)
    st.caption(data.available()[dataset])
    values["dataset"] = dataset
    dataset_options: dict[str, Any] = {}
    if dataset == "file":
        upload = st.file_uploader(
            "Data file (CSV or NPZ)", type=["csv", "npz"], key=k + "upload",
            help=f"CSV: a header row, numeric feature columns and a label column (default: the last). NPZ: arrays "
                 f"X (n x features, or n x h x w images) and y. At most {data.MAX_FILE_BYTES // 2**20} MB.")
        label_column = st.text_input("Label column", value="", key=k + "label_column",
                                     help="CSV: the column holding the labels (empty: the last column). "
                                          "NPZ: the array holding the labels (empty: y).").strip() or None
        if upload is not None:
            try:
                path, ds = _stage_upload(upload)
                if label_column is not None:
                    ds = data.load_file(path=path, label_column=label_column)
                dataset_options = {"path": str(path)}
                if label_column is not None:
                    dataset_options["label_column"] = label_column
                st.caption(ds.description)
            except DatasetError as err:
                errors.append(err)
        elif d.dataset == "file" and d.dataset_options.get("path"):
            dataset_options = dict(d.dataset_options)
        else:
            st.info("Upload a CSV or NPZ file to use your own data.", icon=":material/upload:")
            return None
    else:
        opts = data.default_options(dataset)
        if opts:
            with st.expander("Dataset options"):
                for name, default in opts.items():
                    if d.dataset == dataset and name in d.dataset_options:
                        default = d.dataset_options[name]
                    try:
                        value = _option_widget(f"{k}ds_{dataset}_{name}", name, default,
                                               f"Option {name} of the {dataset} dataset.")
                    except ConfigError as err:
                        errors.append(err)
                        continue
                    if _differs(value, opts[name]):
                        dataset_options[name] = value
    values["dataset_options"] = dataset_options

    # model
    model = st.selectbox("Model", MODELS, index=MODELS.index(d.model), key=k + "model",
                         help=" ".join(MODEL_HELP.values()), format_func=lambda m: m)
    model_defaults = catalog.model_defaults(model)
    given = {**model_defaults, **(d.model_options if d.model == model else {})}
    model_options: dict[str, Any] = {}
    with st.expander("Model and training options"):
        if isinstance(model_defaults.get("hidden"), int):
            model_options["hidden"] = int(st.number_input(
                "Hidden units", 1, 100_000, int(given["hidden"]), key=k + f"hidden_{model}",
                help="Width of the dense layer after the convolutions: the size of the features h."))
        elif "hidden" in model_defaults:
            hidden = st.text_input("Hidden layer sizes", value=", ".join(map(str, given["hidden"])),
                                   key=k + "hidden", help="Comma-separated widths of the hidden layers, e.g. 128 or "
                                   "256, 128. The last one is the size of the features h used by BADGE and the map.")
            _parse_sizes(hidden, "hidden layer sizes", "hidden", model_options, errors)
        if "channels" in model_defaults:
            channels = st.text_input("Convolution channels", value=", ".join(map(str, given["channels"])),
                                     key=k + "channels", help="Comma-separated channel counts of the conv layers.")
            _parse_sizes(channels, "convolution channels", "channels", model_options, errors)
        if "dropout" in model_defaults:
            model_options["dropout"] = st.slider(
                "Dropout", 0.0, 0.9, float(given["dropout"]), 0.05, key=k + f"dropout_{model}",
                help="Dropout probability during training (BALD also uses it for its MC passes).")
        # options equal to the model's defaults are left out, so a run started elsewhere compares equal
        model_options = {n: v for n, v in model_options.items() if _differs(v, model_defaults.get(n))}
        values["epochs"] = int(st.number_input("Epochs per cycle", 1, 10_000, d.epochs, key=k + "epochs",
                                               help="Training epochs on the labelled set at every cycle."))
        values["lr"] = float(st.number_input("Learning rate", 1e-6, 10.0, float(d.lr), format="%g", key=k + "lr",
                                             help="Step size of the optimizer."))
        values["optimizer"] = st.selectbox("Optimizer", OPTIMIZERS, index=OPTIMIZERS.index(d.optimizer),
                                           key=k + "optimizer", help="Adam (default) or plain SGD.")
        values["warm_start"] = st.checkbox("Warm start", value=d.warm_start, key=k + "warm_start",
                                           help="Continue training from last cycle's weights instead of "
                                                "retraining from the seeded initialisation.")
    values["model"], values["model_options"] = model, model_options

    # strategy
    names = list(strategies.available())
    strategy = st.selectbox("Strategy", names, index=names.index(d.strategy) if d.strategy in names else 0,
                            key=k + "strategy", help="How the next batch is chosen from the unlabelled pool.")
    spec = strategies.spec(strategy)  # read from the source: the form does not import torch
    st.caption(spec.description)
    values["strategy"] = strategy
    strategy_options: dict[str, Any] = {}
    if spec.options:
        with st.expander(f"{strategy} options"):
            for option in spec.options:
                default = option.default
                if d.strategy == strategy and option.name in d.strategy_options:
                    default = d.strategy_options[option.name]
                try:
                    value = _option_widget(f"{k}st_{strategy}_{option.name}", option.name, default,
                                           option.help or f"Option {option.name} of {strategy}.")
                except ConfigError as err:
                    errors.append(err)
                    continue
                if _differs(value, option.default):
                    strategy_options[option.name] = value
    values["strategy_options"] = strategy_options

    # budget
    c1, c2, c3 = st.columns(3)
    values["batch_size"] = int(c1.number_input("Batch size", 1, 100_000, d.batch_size, key=k + "batch_size",
                                               help="Labels bought per cycle."))
    values["cycles"] = int(c2.number_input("Cycles", 1, 10_000, d.cycles, key=k + "cycles",
                                           help="Acquisition cycles in the run (one more evaluates the last batch)."))
    values["initial_labels"] = int(c3.number_input("Initial labels", 0, 1_000_000, d.initial_labels,
                                                   key=k + "initial_labels",
                                                   help="Random labels before the first cycle; 0 is a cold start."))
    with st.expander("More settings"):
        values["seed"] = int(st.number_input("Seed", 0, 2**31 - 1, d.seed, key=k + "seed",
                                             help="One seed decides the split, the model's initialisation and every "
                                                  "random choice: the same seed gives the same run."))
        values["target_size"] = int(st.number_input(
            "Target set size", 0, 1_000_000, d.target_size, key=k + "target_size",
            help="Labelled points held out as the target distribution (needed by target-aware strategies)."))
        values["test_size"] = float(st.slider("Test fraction", 0.05, 0.5, float(d.test_size), 0.05,
                                              key=k + "test_size", help="Share of the data kept for the test curve."))
        values["display_size"] = int(st.number_input("Points on the map", 100, 100_000, d.display_size, step=500,
                                                     key=k + "display_size",
                                                     help="The map shows a fixed, stratified subset of the pool "
                                                          "of at most this many points (the batch is always shown)."))
        cold = ["auto", *names]
        values["cold_start_strategy"] = st.selectbox(
            "Cold-start strategy", cold, index=cold.index(d.cold_start_strategy) if d.cold_start_strategy in cold
            else 0, key=k + "cold_start", help="Used while the model cannot score the pool (no or one class "
            "labelled). auto: TypiClust on tabular data, random on images.")
        values["name"] = st.text_input("Run name", value=d.name, key=k + "name",
                                       help="Optional: a name shown in the list of past runs.")
    values.update({f: getattr(d, f) for f in ("target_classes", "train_batch_size", "weight_decay",
                                              "n_checkpoints", "device")})
    if errors:
        for err in errors:
            show_error(err)
        return None
    try:
        return ExperimentConfig(**values)
    except (ConfigError, DatasetError) as err:
        show_error(err)
        return None


# --- picking a run on pages that show one ---------------------------------------------------------
def stored_run(key: str) -> tuple[Path, int]:
    """The run this page shows and its number of stored cycles; stops the page with a hint when there is none."""
    run_dir = current_run_dir() or pick_run(key)
    if run_dir is None:
        st.stop()
    n = n_complete(run_dir)
    if n == 0:
        st.info("This run has no stored cycle yet: press Step on the Run page.", icon=":material/hourglass_empty:")
        st.stop()
    return run_dir, n


def pick_run(key: str) -> Path | None:
    """When the URL names no run: a select box of past runs (choosing one puts it in the URL), or a hint."""
    runs = past_runs()
    if not runs:
        st.info("No runs yet. Start one on the **Run** page (press Step).", icon=":material/info:")
        return None
    paths = [r["path"] for r in runs]
    labels = {r["path"]: run_label(r) for r in runs}
    choice = st.selectbox("Run", paths, index=None, format_func=labels.get, key=f"{key}_pick_run",
                          placeholder="Choose a run", help="Runs stored on disk, newest first.")
    if choice is None:
        return None
    set_current_run(choice)
    return Path(choice)


def feature_names(dataset: data.Dataset) -> list[str]:
    return [f"x{j}" for j in range(dataset.n_features)]


# --- exports ----------------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=16)
def tables_for(run_dir: str, n_cycles: int) -> dict[str, pd.DataFrame]:
    """The run's records as tables (``alcore.export``): one row per cycle, one row per labelled point."""
    from alcore import export

    return {"cycles": export.records_frame(run_dir), "selections": export.selections_frame(run_dir)}


@st.cache_data(show_spinner=False, max_entries=8)
def gif_bytes(run_dir: str, n_cycles: int, **options: Any) -> bytes:
    """GIF bytes of the run's animation (``alcore.export.run_gif_bytes``), cached by run, cycles and options."""
    from alcore import export

    return export.run_gif_bytes(run_dir, records=load_records(run_dir, n_cycles),
                                dataset=dataset_for(run_config(run_dir)), **options)


# --- the live view's parts (Run page; Explore reuses the map) -----------------------------------------
def latest_batch(records: list[CycleRecord]) -> CycleRecord | None:
    """The record of the batch chosen last (the final record only evaluates)."""
    return next((r for r in reversed(records) if len(r.selected)), None)


def batch_view(run_dir: Path, n_cycles: int) -> None:
    """The batch just chosen: why (fallback, utility), its classes, and its images or feature values."""
    from alcore.export import point_table, sample_images

    records = load_records(run_dir, n_cycles)
    record = latest_batch(records)
    if record is None:
        st.info("The run ended without choosing a batch.")
        return
    config = run_config(run_dir)
    dataset = dataset_for(config)
    st.markdown(f"**Batch of cycle {record.cycle}** · {len(record.selected)} points · {record.strategy}")
    if record.fallback_reason:
        st.caption(f"Fallback: **{record.fallback_reason}** (the strategy could not score the pool, so "
                   f"{record.diagnostics.get('fallback_strategy', 'a cold-start rule')} chose this batch).")
    table = point_table(records, record.selected, record.cycle, dataset.y, dataset.class_names)
    if dataset.is_image:
        st.image(sample_images(dataset.X, record.selected, dataset.sample_shape), width=52, clamp=True,
                 caption=[f"{c} · {u:.3g}" for c, u in zip(table["class"], table["utility"])])
        st.caption("Each image: true class · utility (the strategy's score).")
    st.dataframe(table[["index", "class", "prediction", "confidence", "utility"]], hide_index=True,
                 width="stretch", height=240,
                 column_config={"confidence": st.column_config.NumberColumn(format="%.2f"),
                                "utility": st.column_config.NumberColumn(format="%.4g")})


def selected_points(event: Any) -> np.ndarray:
    """Dataset indices of the points inside a box or lasso on the map, without repeats, in the order reported.

    A point carries its dataset index as the first entry of ``customdata`` (the browser sends it as a list, a
    scalar, or an object ``{"0": index}``), or else as its plotly ``id``.
    """
    if not event:
        return np.zeros(0, dtype=np.int64)
    selection = event.get("selection", {}) if isinstance(event, dict) else getattr(event, "selection", {})
    points = selection.get("points", []) if isinstance(selection, dict) else getattr(selection, "points", [])
    found: list[int] = []
    for point in points or []:
        if not isinstance(point, dict):
            continue
        custom = point.get("customdata")
        if isinstance(custom, dict):
            custom = custom.get("0", next(iter(custom.values()), None))
        elif isinstance(custom, (list, tuple)):
            custom = custom[0] if custom else None
        if custom is None:
            custom = point.get("id")
        try:
            index = int(custom)
        except (TypeError, ValueError):
            continue
        if index not in found:
            found.append(index)
    return np.asarray(found, dtype=np.int64)


# --- the map and the curves (alcore.projection + alcore.viz.figures, wired by alcore.export) -----------------
COLOR_BY = {"label": "True class", "pred": "Predicted class", "utility": "Utility (the strategy's score)",
            "state": "Labelled, chosen or pool"}
SPACES = {"gradient": "Gradient embedding g = a ⊗ h", "features": "Penultimate features h", "inputs": "Inputs x"}


@st.cache_data(show_spinner=False, max_entries=16)
def frames_for(run_dir: str, n_cycles: int, space: str = "gradient") -> pd.DataFrame:
    """One row per (cycle, point) of the map of the first ``n_cycles`` cycles; the projection frames themselves
    are cached on disk in the run folder, so only new cycles are ever laid out."""
    from alcore import export

    return export.run_frames_table(run_dir, load_records(run_dir, n_cycles), space,
                                   dataset_for(run_config(run_dir)))


@st.cache_data(show_spinner=False, max_entries=16)
def _map_json(run_dir: str, n_cycles: int, color_by: str, space: str) -> str:
    from alcore import export
    from alcore.viz import figures

    figure = figures.map_figure(frames_for(run_dir, n_cycles, space), color_by,
                                class_names=dataset_for(run_config(run_dir)).class_names,
                                frame_titles=export.frame_titles(load_records(run_dir, n_cycles)), height=560)
    return figure.to_json()


def map_figure(run_dir: str | Path, n_cycles: int, color_by: str = "label", space: str = "gradient",
               open_on_last: bool = False) -> dict:
    """The animated t-SNE map of the first ``n_cycles`` cycles, as a plotly figure dict (play button, slider).

    Cached as JSON: the chart's identity in Streamlit includes its spec, so the spec must come out byte-identical on
    every rerun (a Figure object serialises differently before and after the cache's pickling, which silently
    dropped the first box selection). ``open_on_last`` shows the latest cycle first (the Run page: the batch just
    chosen) instead of cycle 0.
    """
    figure = json.loads(_map_json(str(run_dir), n_cycles, color_by, space))
    frames = figure.get("frames") or []
    if open_on_last and len(frames) > 1:
        last = frames[-1]
        for i, trace in enumerate(last.get("data", [])[:2]):
            figure["data"][i] = {**figure["data"][i], **trace}
        title = last.get("layout", {}).get("title", {})
        if title:
            figure["layout"].setdefault("title", {}).update(title if isinstance(title, dict) else {"text": title})
        for slider in figure["layout"].get("sliders", []):
            slider["active"] = len(frames) - 1
    return figure


def map_view(run_dir: Path, n_cycles: int, key: str, color_by: str = "label", space: str = "gradient") -> None:
    """The map on the Run page: opens on the latest cycle; ▶ replays every cycle."""
    try:
        figure = map_figure(str(run_dir), n_cycles, color_by=color_by, space=space, open_on_last=True)
    except (ValueError, MemoryError) as err:
        show_error(err, "Try another space, or a run with fewer points on the map.")
        return
    st.plotly_chart(figure, key=key, width="stretch")


def job_running(run_dir: Path) -> bool:
    job = registry().get(Path(run_dir).name)
    return job is not None and job.running


def mapped_cycles(run_dir: Path, n_cycles: int, running: bool | None = None) -> int:
    """Cycles the map can show without computing: while a worker runs (and lays out each new frame right after
    its cycle), the frames already on disk; otherwise every stored cycle."""
    if not (job_running(run_dir) if running is None else running):
        return n_cycles
    from alcore import export

    return min(n_cycles, export.projected_cycles(run_dir))


def _precompute_map(job, record) -> None:
    """Job callback after each stored cycle: lay out its map frame in the worker, not while the page waits."""
    precompute_map_quietly(job.run_dirs[job.current])


def precompute_map_quietly(run_dir: Path) -> None:
    """Lay out and cache the map frames of ``run_dir``; a failure is logged, never raised (the run goes on and
    the page reports the problem when it draws the map)."""
    from alcore import export

    try:
        export.precompute_map(run_dir)
    except Exception:  # noqa: BLE001  a map problem must never stop the run
        _log.exception("precomputing the map of %s failed", run_dir)


def sync_jobs() -> bool:
    """Wait for every job inline, on every page (tests, scripted use): ``ALCORE_SYNC=1``."""
    return os.environ.get("ALCORE_SYNC", "") not in ("", "0")


def prepare_enabled() -> bool:
    """Compute a new run's first cycle before its Step is pressed (``JobRegistry.prepare``): on by default, off
    with ``ALCORE_PREPARE=0``, and off in scripted runs (``ALCORE_SYNC``) unless ``ALCORE_PREPARE=1``."""
    flag = os.environ.get("ALCORE_PREPARE", "")
    return flag == "1" or (flag != "0" and not sync_jobs())


def prepare_first_cycle(config: ExperimentConfig) -> None:
    """While the user reads the Run page, compute the first cycle (and its map) that Step would start with, if
    the engine finds it worth it (``alcore.jobs.worth_preparing``); the same seed gives the same cycle, so a Step
    that takes it (``take_prepared_run``) shows exactly what it would have computed."""
    if prepare_enabled() and worth_preparing(config):
        registry().prepare(config, runs_root() / PREPARED_DIR / new_run_id(config.strategy),
                           on_cycle=precompute_map_quietly)


def take_prepared_run(config: ExperimentConfig, timeout: float) -> Path | None:
    """The new run whose first cycle was prepared for ``config`` (waiting for one in progress), or None."""
    return registry().take_prepared(config, runs_root(), timeout)


def start_job(run_dir: Path, config: ExperimentConfig | None, n_cycles: int | None):
    """Run (or resume) ``run_dir`` for ``n_cycles`` cycles in the background worker (job id = run id)."""
    return registry().start_group([Path(run_dir)], [config], n_cycles=n_cycles, job_id=Path(run_dir).name,
                                  on_cycle=_precompute_map)


#: Batch diversity shown on the Run page: uncertainty (gradient norm), spread, class balance, coverage.
DIVERSITY_SHOWN = ("div_mean_gradient_norm", "div_mean_pairwise_distance", "div_class_entropy", "div_coverage_radius")


@st.cache_data(show_spinner=False, max_entries=32)
def _curves_json(run_dir: str, n_cycles: int) -> tuple[str, str]:
    from alcore.viz import figures

    summary = load_summary(run_dir, n_cycles)
    diversity = [m for m in DIVERSITY_SHOWN if m in summary.columns and summary[m].notna().any()]
    curves = figures.run_curves_figure(summary).to_json()
    return curves, (figures.diversity_figure(summary, diversity).to_json() if diversity else "")


def curves_view(run_dir: Path, n_cycles: int) -> None:
    """Test accuracy and loss against labels used, and the batch diversity per cycle."""
    curves, diversity = _curves_json(str(run_dir), n_cycles)
    st.markdown("**Learning curves** · test accuracy and loss against labels used")
    st.plotly_chart(json.loads(curves), key="run_curves", width="stretch")
    if diversity:
        st.markdown("**Diversity of each batch** · per cycle")
        st.plotly_chart(json.loads(diversity), key="run_diversity", width="stretch")


# --- the browser's first charts -----------------------------------------------------------------------------
_WARM_STAGE = "_alcore_browser_warm"
WARM_DELAY_S = 1.5  # after the tab's first page: that render is not slowed down
_WARM_CSS = ("<style>.st-key-alcore_warm{position:fixed;left:-5000px;top:0;width:600px;opacity:0;"
             "pointer-events:none}</style>")


def warm_browser() -> None:
    """Once per browser tab, draw a tiny chart, table and image out of sight while the user reads the first page.

    The first plotly chart, table and image a tab draws cost its browser about 2 s of its own: Streamlit loads
    their modules when one is first drawn (4.7 MB of JavaScript for plotly, 0.8 s to evaluate) and React holds
    the page back while a module loads. Without this the first Step paid for it. A fragment draws nothing in the
    tab's first script run and the hidden elements in its own rerun ``WARM_DELAY_S`` later; any full run before
    that (the user acted first) cancels it, and the full run after it drops the fragment, which ends its timer.
    """
    if st.session_state.get(_WARM_STAGE) is not None:
        st.session_state[_WARM_STAGE] = "done"
        return

    @st.fragment(run_every=WARM_DELAY_S)
    def warm() -> None:
        if st.session_state.get(_WARM_STAGE) != "armed":
            return
        st.session_state[_WARM_STAGE] = "done"
        st.html(_WARM_CSS)
        with st.container(key="alcore_warm"):
            st.plotly_chart({"data": [{"type": "scatter", "mode": "markers", "x": [0, 1], "y": [1, 0]}],
                             "layout": {"title": {"text": "·"}, "height": 160}}, key="alcore_warm_chart")
            st.dataframe({"index": [0, 1], "utility": [0.5, 0.25]}, hide_index=True, height=80)
            st.image([np.zeros((8, 8)), np.ones((8, 8))], width=52, caption=["0", "1"])

    warm()  # in the tab's first run: nothing yet
    st.session_state[_WARM_STAGE] = "armed"
