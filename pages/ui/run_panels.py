"""The Run page's live view below the map: the batch just chosen, and the learning and diversity curves."""
from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from alcore.store import RunStore

from pages.ui.errors import show_error
from pages.ui.loaders import dataset_for, load_records, load_summary
from pages.ui.runs import run_config, run_task

#: Batch diversity shown on the Run page: uncertainty (gradient norm), spread, class balance, coverage.
DIVERSITY_SHOWN = ("div_mean_gradient_norm", "div_mean_pairwise_distance", "div_class_entropy", "div_coverage_radius")
#: How the batch table shows its numbers (whichever columns the run's task gives it).
#: Number formats of the batch table's numeric columns (the others are text: a missing value reads "—").
BATCH_FORMATS = {"value": "%.4g"}


def batch_view(run_dir: Path, n_cycles: int) -> None:
    """The batch just chosen: why (fallback, utility), its classes (or values, and the model's predictions), and its
    images or texts. A utility the strategy did not compute reads "—", with the reason above the table."""
    from alcore.export import fallback_words, point_table, sample_images

    records = load_records(run_dir, n_cycles)
    record = next((r for r in reversed(records) if len(r.selected)), None)  # the final record only evaluates
    if record is None:
        st.info("The run ended without choosing a batch.")
        return
    dataset = dataset_for(run_config(run_dir))
    last = " (the last one: the final record only evaluates)" if records[-1].is_final else ""
    st.markdown(f"**Batch of cycle {record.cycle}**{last} · {len(record.selected)} points · {record.strategy}")
    if record.fallback_reason:
        st.caption(f"No utility (—): {fallback_words(record)}.")
    table = point_table(records, record.selected, record.cycle, dataset.y, dataset.class_names,
                        task=run_task(run_dir), texts=dataset.texts)
    if dataset.is_image:
        st.image(sample_images(dataset.X, record.selected, dataset.sample_shape), width=52, clamp=True,
                 caption=[f"{c} · {u}" for c, u in zip(table["class"], table["utility"])])
        st.caption("Each image: true class · utility (the strategy's score).")
    st.dataframe(table.drop(columns=["state", "picked in cycle"]), hide_index=True, width="stretch", height=240,
                 column_config={c: st.column_config.NumberColumn(format=f) for c, f in BATCH_FORMATS.items()})


def diverged_view(run_dir: Path, n_cycles: int) -> None:
    """The run stopped because its training diverged: what happened, and what to change."""
    message = RunStore(run_dir).manifest().get("error") or "training diverged: lower the learning rate"
    shown = "The cycles before it are kept and shown below." if n_cycles > 1 else "No cycle before it to show."
    show_error(message[:1].upper() + message[1:] + ".", "Lower the **Learning rate** in the sidebar (Model and "
               f"training options), then press Step: that starts a new run. {shown}")


@st.cache_data(show_spinner=False, max_entries=32)
def _curves_json(run_dir: str, n_cycles: int, metrics: tuple[str, ...]) -> tuple[str, str]:
    from alcore.viz import figures

    summary = load_summary(run_dir, n_cycles)
    diversity = [m for m in DIVERSITY_SHOWN if m in summary.columns and summary[m].notna().any()]
    shown = [m for m in metrics if m in summary.columns and summary[m].notna().any()] or list(metrics[:2])
    curves = figures.run_curves_figure(summary, shown).to_json()
    return curves, (figures.diversity_figure(summary, diversity).to_json() if diversity else "")


def curves_view(run_dir: Path, n_cycles: int) -> None:
    """The task's primary metric (test accuracy, or R²) and loss against labels used (and the target set's loss when
    the run has one), and the batch diversity per cycle."""
    from alcore.task import metric_label

    metric = run_task(run_dir).primary_metric
    curves, diversity = _curves_json(str(run_dir), n_cycles, (metric, "test_loss", "target_loss"))
    st.markdown(f"**Learning curves** · {metric_label(metric)} and loss against labels used")
    st.plotly_chart(json.loads(curves), key="run_curves", width="stretch")
    if diversity:
        st.markdown("**Diversity of each batch** · per cycle")
        st.plotly_chart(json.loads(diversity), key="run_diversity", width="stretch")
