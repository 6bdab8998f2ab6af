"""The map: the animated t-SNE of a run's cycles (``alcore.projection`` laid out, ``alcore.viz.figures`` drawn,
``alcore.export`` wiring them), and the choices of what it colours and which space it lays out."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from alcore.constants import SPACE_LABELS
from alcore.viz.interaction import open_on_last_frame

from pages.ui.errors import show_error
from pages.ui.jobs import job_running
from pages.ui.loaders import dataset_for, load_records
from pages.ui.runs import run_config

if TYPE_CHECKING:
    import pandas as pd

SPACES = SPACE_LABELS  # what the map's space boxes offer, with the names they show


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

    figure = export.run_map_figure(run_dir, color_by, space, load_records(run_dir, n_cycles),
                                   dataset_for(run_config(run_dir)), frames_for(run_dir, n_cycles, space), height=560)
    return figure.to_json()


@st.cache_data(show_spinner=False, max_entries=4)
def map_html(run_dir: str, n_cycles: int, color_by: str, space: str) -> str:
    """The map as one self-contained HTML page (``alcore.export.run_map_html``), cached by run, cycles and options."""
    from alcore import export

    return export.run_map_html(run_dir, color_by, space, load_records(run_dir, n_cycles),
                               dataset_for(run_config(run_dir)))


def map_figure(run_dir: str | Path, n_cycles: int, color_by: str = "label", space: str = "gradient",
               open_on_last: bool = False) -> dict:
    """The animated map of the first ``n_cycles`` cycles, as a plotly figure dict (play button, slider).

    Cached as JSON: the chart's identity in Streamlit includes its spec, so the spec must come out byte-identical on
    every rerun (a Figure object serialises differently before and after the cache's pickling, which silently
    dropped the first box selection). ``open_on_last`` shows the latest cycle first (the Run page: the batch just
    chosen) instead of cycle 0.
    """
    figure = json.loads(_map_json(str(run_dir), n_cycles, color_by, space))
    return open_on_last_frame(figure) if open_on_last else figure


@st.cache_resource(show_spinner=False, max_entries=8)
def _run_page_figure(run_dir: str, n_cycles: int, color_by: str, space: str):
    """The Run page's map as a plotly Figure, validated once and shared read-only by every rerun and session:
    ``st.plotly_chart`` validates a dict again on each rerun (a quarter of a second for a digits map, also on every
    poll while a job runs), but only copies a Figure."""
    import plotly.graph_objects as go

    return go.Figure(map_figure(run_dir, n_cycles, color_by=color_by, space=space, open_on_last=True))


def map_view(run_dir: Path, n_cycles: int, key: str, color_by: str = "label", space: str = "gradient") -> None:
    """The map on the Run page: opens on the latest cycle; ▶ replays every cycle."""
    try:
        figure = _run_page_figure(str(run_dir), n_cycles, color_by, space)
    except (ValueError, MemoryError) as err:
        show_error(err, "Try another space, or a run with fewer points on the map.")
        return
    st.plotly_chart(figure, key=key, width="stretch")


def mapped_cycles(run_dir: Path, n_cycles: int, running: bool | None = None) -> int:
    """Cycles the map can show without computing: while a worker runs (and lays out each new frame right after
    its cycle), the frames already on disk; otherwise every stored cycle."""
    if not (job_running(run_dir) if running is None else running):
        return n_cycles
    from alcore import export

    return min(n_cycles, export.projected_cycles(run_dir))


def build_from_map(run_dir: Path, n_cycles: int, options: dict, build, doing: str, fix: str):
    """``build(run_dir, cycles, **options)`` of an export drawn from the map (the GIF, the HTML page) over the cycles
    whose map is laid out, and that count; None after saying why there is nothing (no frame yet, or an error
    with ``fix``)."""
    n_map = mapped_cycles(run_dir, n_cycles) if options["space"] == "gradient" else n_cycles
    if n_map == 0:
        st.info("The run's worker is laying out the first map; try again in a few seconds.")
        return None
    try:
        with st.spinner(doing):
            return build(str(run_dir), n_map, **options), n_map
    except (ValueError, MemoryError, FileNotFoundError) as err:
        show_error(err, fix)
        return None
