"""Compare: several strategies x seeds on one dataset and model, run in the background, compared as they finish.

The comparison's id sits in the URL (``?compare=<id>``) and its manifest on disk (``alcore.compare``), so a reload
or a server restart finds it; its runs are ordinary runs, each one can be opened on the other pages.
"""
from __future__ import annotations


import pandas as pd
import streamlit as st

from alcore import compare, presets, run_group, strategies
from alcore.config import ConfigError, ExperimentConfig
from alcore.task import higher_is_better, metric_label
from alcore.validation import show

from pages.ui.compare_tables import summary_display
from pages.ui.docs import docs_popover, readable
from pages.ui.errors import guard, show_error
from pages.ui.frame import in_frame
from pages.ui.jobs import registry, sync_jobs
from pages.ui.runs import n_complete, runs_root, set_current_run
from pages.ui.setup_form import app_defaults, config_form

COMPARE_PARAM = "compare"
POLL_S = 2.0
DEFAULT_STRATEGIES = ["badge", "entropy", "variance", "random"]  # those the dataset's task has
DIVERSITY_LABELS = {
    "div_mean_pairwise_distance": "mean pairwise gradient distance",
    "div_mean_gradient_norm": "mean gradient norm ||a||·||h|| (uncertainty)",
    "div_logdet": "log-det of the normalised gradient Gram matrix",
    "div_coverage_radius": "coverage radius in the fixed space",
    "div_mean_nearest_labeled": "mean distance to the nearest label",
    "div_class_entropy": "class entropy of the batch",
    "div_class_coverage": "share of classes labelled so far",
    "div_batch_classes": "classes in the batch",
}
DIVERSITY_DOCS = "docs/methods.md#diversity-metrics"
SUMMARY_DOCS = "docs/methods.md#learning-curve-summaries"



@st.cache_data(show_spinner=False, max_entries=32)
def _frame(run_dirs: tuple[str, ...], cycles: tuple[int, ...]) -> pd.DataFrame:
    """Every stored cycle of the comparison's runs (cached by how many cycles each run has)."""
    return run_group.cycle_frame(run_dirs)


@st.cache_data(show_spinner=False, max_entries=32)
def _tables(run_dirs: tuple[str, ...], cycles: tuple[int, ...], x_percent: float, metric: str | None) -> dict:
    return run_group.summarize(_frame(run_dirs, cycles), x_percent=x_percent, metric=metric)


@st.cache_data(show_spinner=False)
def _compare_presets() -> dict[str, dict]:
    out = {}
    for name in presets.list_presets():
        try:
            p = presets.load_preset(name)
        except ConfigError:
            continue
        if p["page"] == "compare":
            out[name] = {"title": p["title"], "shows": p["shows"], "metrics": p["metrics"],
                         "task": p["base"].known_task()}
    return out


def _start(comparison: compare.Comparison) -> None:
    """Hand the comparison's runs to the background worker (resuming any already on disk)."""
    dirs, configs = compare.job_arguments(comparison)
    job = registry().start_group(dirs, configs, job_id=comparison.group_id)
    if sync_jobs():
        with st.spinner("Running the comparison…"):
            job.wait()


def _open(comparison: compare.Comparison) -> None:
    st.query_params[COMPARE_PARAM] = comparison.group_id
    st.session_state["compare_open"] = comparison.group_id


def _create_and_open(*args, **kwargs) -> None:
    """Create a comparison (``compare.create_comparison``), start its runs and show it; a bad config is an error."""
    try:
        comparison = compare.create_comparison(runs_root(), *args, **kwargs)
    except ConfigError as err:
        show_error(err)
        return
    _start(comparison)
    _open(comparison)
    st.rerun()


def _current() -> compare.Comparison | None:
    group_id = st.query_params.get(COMPARE_PARAM) or st.session_state.get("compare_open")
    if not group_id:
        return None
    try:
        comparison = compare.load_comparison(runs_root(), group_id)
    except FileNotFoundError:
        st.warning(f"No comparison {show(group_id)} on disk: start a new one below.", icon=":material/warning:")
        st.query_params.pop(COMPARE_PARAM, None)
        st.session_state.pop("compare_open", None)
        return None
    except ValueError as err:  # its compare.json is damaged: its runs are intact and listed on the other pages
        show_error(err, "Start a new comparison below; the comparison's runs are kept and can be opened from the "
                        "sidebar.")
        return None
    st.query_params[COMPARE_PARAM] = comparison.group_id  # navigation drops query parameters: put it back
    return comparison


# --- starting a comparison -------------------------------------------------------------------------------------

def _setup(current: compare.Comparison | None) -> None:
    with st.expander("New comparison", expanded=current is None, icon=":material/add:"):
        from_preset, custom, past = st.tabs(["From a preset", "Your own", "Past comparisons"])
        with from_preset:
            options = _compare_presets()
            if options:
                task = _task_of(ExperimentConfig.from_dict(current.base)) if current is not None else None
                names = list(options)
                first = next((i for i, n in enumerate(names) if options[n]["task"] == task), 0)  # the shown one's
                name = st.selectbox("Demo", names, index=first, format_func=lambda n: options[n]["title"],
                                    key="compare_preset", help="Ready-made teaching demos from assets/presets.")
                st.caption(options[name]["shows"])
                if st.button("Run this demo", key="compare_run_preset", icon=":material/play_arrow:", type="primary"):
                    p = presets.load_preset(name)
                    _create_and_open(p["base"], p["strategies"], p["seeds"], p["strategy_options"],
                                     title=p["title"], preset=name)
        with custom:
            st.caption("Dataset, model and training are shared by every run; the Strategy box below only sets that "
                       "strategy's options. Choose the strategies to compare and the number of seeds further down.")
            base = config_form("compare", app_defaults())
            task = _task_of(base)
            names = [n for n, spec in strategies.specs().items() if task is None or task in spec.tasks]
            chosen = st.multiselect("Strategies to compare", names,
                                    default=[s for s in DEFAULT_STRATEGIES if s in names], key="compare_strategies",
                                    help="Each strategy runs once per seed. Target-aware strategies (alignment, "
                                         "LESS) give every run the same target set, so the pools stay identical.")
            n_seeds = int(st.number_input("Seeds", 1, 20, 3, key="compare_seeds",
                                          help="Seeds 0, 1, …: each gives every strategy the same split, model "
                                               "initialisation and first batch, so differences are the strategy's."))
            if st.button("Start comparison", key="compare_start", icon=":material/play_arrow:", type="primary",
                         disabled=base is None or not chosen):
                _create_and_open(base, chosen, range(n_seeds))
        with past:
            groups = compare.list_comparisons(runs_root())
            if not groups:
                st.caption("No comparison yet.")
            else:
                ids = [g.group_id for g in groups]
                titles = {g.group_id: f"{g.title} ({g.group_id})" for g in groups}
                pick = st.selectbox("Comparison", ids, index=None, format_func=titles.get, key="compare_past",
                                    placeholder="Choose a past comparison")
                if pick is not None and st.button("Open", key="compare_open_past"):
                    st.query_params[COMPARE_PARAM] = pick
                    st.session_state["compare_open"] = pick
                    st.rerun()


def _task_of(base: ExperimentConfig | None) -> str | None:
    """The task of the form's dataset when it is known before loading (docs/tasks.md#tasks)."""
    try:
        return base.known_task() if base is not None else None
    except ConfigError:
        return None


# --- showing one ----------------------------------------------------------------------------------------------

def _controls(comparison: compare.Comparison) -> bool:
    """Stop / Resume and the failure message, if any; returns whether a worker is still running the runs."""
    job = registry().get(comparison.group_id)
    running = job is not None and job.running
    if job is not None and job.status == "failed":
        show_error(job.error or "a run failed", "Check the settings of the failed run (Runs, below), then start a "
                   "new comparison; finished runs are kept.")
    if running:
        if st.button("Stop", key="compare_stop", icon=":material/stop:",
                     help="Stop after the cycle in progress; finished cycles stay on disk."):
            job.stop()
            st.rerun()
    elif not comparison.is_finished():
        if st.button("Resume", key="compare_resume", icon=":material/play_arrow:", type="primary",
                     help="Continue every unfinished run from its last stored cycle."):
            _start(comparison)
            st.rerun()
    return running


def _progress(comparison: compare.Comparison, running: bool) -> None:
    """How far the runs are (read from disk), and a way to open one of them on the other pages."""
    table = comparison.progress()
    done, total = int(table["cycles_done"].sum()), int(table["cycles_total"].sum())
    complete = int((table["status"] == "complete").sum())
    st.progress(min(done / total, 1.0) if total else 0.0,
                text=f"{done} of {total} cycles · {complete} of {len(table)} runs complete"
                     + (" · running" if running else ""))
    with st.expander("Runs"):
        st.dataframe(table, hide_index=True, width="stretch")
        open_id = st.selectbox("Open a run on the other pages", table["run_id"].tolist(), index=None,
                               key="compare_open_run", placeholder="Choose a run")
        if open_id is not None and n_complete(runs_root() / open_id):
            set_current_run(runs_root() / open_id)
            st.caption(f"Run **{open_id}** is now the current run of the Run, Explore, Learn and Export pages.")


def _curve(df: pd.DataFrame, metric: str):
    """Mean over seeds with its 95% band against labels used, one line per strategy
    (``alcore.report.curve_figure``, which uses ``alcore.viz.figures`` when it is there)."""
    from alcore import report

    fig = report.curve_figure(df[df[metric].notna()], metric=metric)
    label = DIVERSITY_LABELS[metric].split(" (")[0] if metric in DIVERSITY_LABELS else metric_label(metric)
    fig.update_layout(height=380, margin=dict(l=50, r=10, t=30, b=40), yaxis_title=label,
                      xaxis_title="labels used")
    return fig


def _results(comparison: compare.Comparison, metrics_wanted: list[str]) -> None:
    dirs = tuple(str(d) for d in comparison.run_dirs)
    cycles = tuple(n_complete(d) for d in dirs)
    df = _frame(dirs, cycles)
    if df.empty:
        st.info("No cycle stored yet: the curves appear as the first run progresses.", icon=":material/hourglass:")
        return
    curve_options = [m for m in run_group.CURVE_METRICS if m in df and df[m].notna().any()]
    div_options = [c for c in DIVERSITY_LABELS if c in df and df[c].notna().any()]
    want_curve = next((m for m in metrics_wanted if m in curve_options), run_group.group_metric(df))
    want_div = next((m for m in metrics_wanted if m in div_options), div_options[0] if div_options else None)
    left, right = st.columns(2)
    with left:
        metric = st.selectbox("Learning curve", curve_options, index=curve_options.index(want_curve)
                              if want_curve in curve_options else 0, format_func=metric_label,
                              key="compare_curve_metric")
        st.plotly_chart(_curve(df, metric), width="stretch", key="compare_curve")
        st.caption("Lines: the mean over the seeds (n in the legend); band: the lowest to the highest seed.")
    with right:
        if div_options:
            div = st.selectbox("Diversity per cycle", div_options, index=div_options.index(want_div),
                               format_func=lambda m: DIVERSITY_LABELS[m], key="compare_div_metric",
                               help=readable(f"How spread out, uncertain or class-balanced each chosen batch is; "
                                             f"every measure is defined in {DIVERSITY_DOCS}."))
            st.plotly_chart(_curve(df, div), width="stretch", key="compare_div")
            st.caption("Measured on each chosen batch, against the labels used when it was chosen. A cold start's "
                       "first batch comes from the cold-start strategy.")
            docs_popover("How these are measured", DIVERSITY_DOCS)
    _tables_view(dirs, cycles, metric)


def _tables_view(dirs: tuple[str, ...], cycles: tuple[int, ...], metric: str) -> None:
    """The summary of the metric the learning curve shows (the seed's experiment: the target loss)."""
    label = metric_label(metric)
    st.subheader(f"Summary: {label}")
    loss = not higher_is_better(metric)
    x_percent = 90.0
    if not loss:  # labels to X% of a reference needs a goal to reach; a loss has none (docs/methods.md)
        c1, c2 = st.columns([1, 3])
        x_percent = float(c1.slider(f"Labels to reach X% of the reference {label}", 50, 100, 90, 5, key="compare_x",
                                    help=f"The reference is random's mean final {label} (BADGE's analysis does the "
                                         "same) or, without random, the best strategy's."))
    tables = _tables(dirs, cycles, x_percent, metric)
    for note in tables["notes"]:
        st.caption(note)
    for note in tables.get("ranking", []):
        st.warning(note, icon=":material/balance:")
    summary = tables["summary"]
    if len(summary):
        attrs = summary.attrs
        span = f"{attrs.get('n_lo', 0):g}–{attrs.get('n_hi', 0):g}"
        st.caption(f"Over {tables['runs']} complete runs. " + (
            f"AULC: area under the {label} curve over labels {span}, divided by the width: the mean {label} over "
            "the run, lower is better. Labels to X% are not computed for a loss. " if loss else
            f"AULC: area under the {label} curve over labels {span}, divided by the width (1 = perfect from the "
            f"first label). Target {label} {attrs.get('target_value', float('nan')):.3f} "
            f"({x_percent:g}% of {attrs.get('reference', '?').replace('_', ' ')}). Label savings: 1 − labels "
            "needed / random's labels needed, paired by seed. ") + "± is the 95% t-interval over the seeds (n in the "
            "first column); intervals that overlap cannot rank two strategies.")
        st.dataframe(summary_display(summary, label, loss), width="stretch")
        st.caption(readable(f"How each number is computed: {SUMMARY_DOCS}."))
    penalty = tables["penalty"]
    if len(penalty):
        better = f"a significantly lower {label}" if loss else f"a significantly better {label}"
        st.markdown("**Pairwise penalty matrix** (Ash et al. 2020): cell (row, column) is the share of checkpoints "
                    f"where the row strategy had {better} than the column strategy (paired t-test over seeds, "
                    "p < 0.05). Column means: how often a strategy loses.")
        shown = penalty.copy()
        shown.loc["column mean (losses)"] = penalty.mean(axis=0)
        st.dataframe(shown.style.format("{:.2f}").background_gradient(cmap="Reds", axis=None),
                     width="stretch")
        checkpoints = penalty.attrs.get("checkpoints", [])
        if checkpoints:
            st.caption("Checkpoints (labels used): " + ", ".join(f"{c:g}" for c in checkpoints))


# --- the page ---------------------------------------------------------------------------------------------------

in_frame()
st.title("Compare strategies")
st.caption("Several strategies, each with the same seeds, on one dataset and model. Runs go one after another in "
           "the background; curves and tables fill in as cycles and runs finish.")
current = _current()
_setup(current)

if current is not None:
    st.header(current.title)
    preset_info = _compare_presets().get(current.preset) if current.preset else None
    if preset_info:
        st.info(preset_info["shows"], icon=":material/lightbulb:")
    running = _controls(current)
    wanted = preset_info["metrics"] if preset_info else ["div_mean_pairwise_distance"]

    @st.fragment(run_every=POLL_S if running else None)
    def _live() -> None:
        _progress(current, running)
        with guard():
            _results(current, wanted)
        job = registry().get(current.group_id)
        if running and (job is None or not job.running):
            st.rerun(scope="app")  # the worker finished: redraw the status and stop polling

    _live()
