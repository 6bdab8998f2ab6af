"""What the pages read from a run, cached: records and summaries by (folder, cycles stored), since a run only
ever grows (records also by the last cycle's time: a repair rewrites cycles); datasets once per server; the export
tables and the GIF."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from alcore import data
from alcore.config import ExperimentConfig
from alcore.records import CycleRecord
from alcore.store import CYCLES, RunStore


if TYPE_CHECKING:
    import pandas as pd


def run_config(run_dir: str | Path) -> ExperimentConfig:
    """The stored run's config (ManifestError when its manifest cannot be read)."""
    return ExperimentConfig.from_dict(RunStore(run_dir).manifest()["config"])


@st.cache_data(show_spinner=False, max_entries=16)
def _stored(run_dir: str | Path, n_cycles: int, version: int) -> tuple[list[CycleRecord], str | None]:
    """The first ``n_cycles`` readable records of a run, and what is damaged after them (None when nothing is).
    ``version`` (``_version``) only keys the cache."""
    store = RunStore(run_dir)
    records = store.load_records()[:n_cycles]
    return records, None if store.damage is None else str(store.damage)


def _version(run_dir: str | Path, n_cycles: int) -> int:
    """Which writing of the first ``n_cycles`` cycles is on disk: the last one's time. A run grows, except when a
    resume computes a damaged cycle again, with every later one (the last included), to the same count."""
    try:
        return (Path(run_dir) / CYCLES / f"cycle_{n_cycles - 1:05d}.json").stat().st_mtime_ns
    except OSError:
        return 0


def load_records(run_dir: str | Path, n_cycles: int) -> list[CycleRecord]:
    """The first ``n_cycles`` complete records of a run (fewer when one is damaged: ``damage_note``)."""
    return _stored(run_dir, n_cycles, _version(run_dir, n_cycles))[0]


def damage_note(run_dir: str | Path, n_cycles: int) -> str | None:
    """What reading the run's first ``n_cycles`` cycles found damaged (docs/run-format.md#damaged-files)."""
    return _stored(run_dir, n_cycles, _version(run_dir, n_cycles))[1]


@st.cache_data(show_spinner=False, max_entries=64)
def load_summary(run_dir: str | Path, n_cycles: int) -> pd.DataFrame:
    """One row per complete cycle (no arrays): labels, test/target metrics, diversity, timings."""
    rows = RunStore(run_dir).summary_rows()[:n_cycles]
    import pandas as pd  # here: the first render does not need pandas

    return pd.DataFrame(rows)


@st.cache_resource(show_spinner=False, max_entries=8)
def _dataset(name: str, options_json: str, task: str = "auto") -> data.Dataset:
    return data.load_for_task(name, json.loads(options_json), task)


def dataset_for(config: ExperimentConfig) -> data.Dataset:
    """The config's dataset, loaded once per server (a Dataset is read-only, so it is shared, not copied); a text
    dataset as loaded, with its texts and without features."""
    return _dataset(config.dataset, json.dumps(config.dataset_options, sort_keys=True, default=str), config.task)


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
