"""A regression run in the app (AppTest) and in the report: it steps from zero labels, a text CSV with a second rating
uploads and runs, and no page, table, figure or report file of a regression run says "accuracy"."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from alcore import compare
from alcore.config import ExperimentConfig
from alcore.data import stories
from alcore.loop import Experiment
from alcore.report import write_report
from alcore.store import RunStore, new_run_id

from test_app_compare_learn import assert_clean, open_page

FAST = dict(model_options={"hidden": [16], "dropout": 0.1}, batch_size=10, epochs=8, display_size=150, seed=0,
            device="cpu")


def page_text(at: AppTest) -> str:
    """Everything the page sends to the browser: every element's message (texts, labels, help, options, tables,
    figure specs), as one string."""
    parts = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def stories_config(**overrides) -> ExperimentConfig:
    values = dict(dataset="rated_stories", dataset_options={"n_samples": 300}, strategy="badge", cycles=2,
                  initial_labels=20, target_size=30, **FAST)
    return ExperimentConfig(**{**values, **overrides})


@pytest.fixture
def regression_runs(runs: Path) -> tuple[Path, str]:
    """One run of BADGE on rated stories, and a comparison of random and alignment, both stored under ``runs``."""
    run_dir = runs / new_run_id("reg")
    Experiment(stories_config(), run_dir=run_dir).run()
    comparison = compare.create_comparison(runs, stories_config(strategy="random"), ["random", "alignment"], [0, 1],
                                           title="stories")
    for path, config in zip(*compare.job_arguments(comparison)):
        Experiment(config, run_dir=path).run()
    return run_dir, comparison.group_id


def test_no_page_or_report_of_a_regression_run_says_accuracy(regression_runs, runs: Path) -> None:
    run_dir, group_id = regression_runs
    seen = {}
    for page in ("pages/run.py", "pages/explore.py", "pages/export.py"):
        at = open_page(page, run=run_dir.name)
        assert_clean(at)
        if page == "pages/export.py":
            at.button(key="gif_render").click().run()
            assert_clean(at)
        seen[page] = page_text(at)
    at = open_page("pages/learn.py", run=run_dir.name)
    assert_clean(at)
    for step in at.radio(key="learn_step").options:
        at.radio(key="learn_step").set_value(step).run()
        assert_clean(at)
        seen[f"learn {step}"] = page_text(at)
    at = open_page("pages/compare.py", compare=group_id)
    assert_clean(at)
    seen["pages/compare.py"] = page_text(at)
    assert "test R²" in seen["pages/compare.py"] and "target loss" in seen["pages/run.py"]
    said = [name for name, text in seen.items() if "accuracy" in text.lower()]
    assert not said, f"'accuracy' on {said}"

    paths = write_report(runs, runs / "report")
    for name in ("report.md", "summary.csv", "cycles.csv", "penalty.csv"):
        assert "accuracy" not in paths[name].read_text().lower(), name
    assert "test_r2" in paths["summary.csv"].read_text()
    import plotly

    library = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text().lower()
    html = paths["curves.html"].read_text().lower()
    assert html.count("accuracy") == library.count("accuracy")  # only plotly.js's own source, inlined


@pytest.mark.parametrize("dataset", ["diabetes", "friedman1", "rated_stories"])
def test_a_regression_run_steps_from_zero_labels_in_the_app(runs: Path, dataset: str) -> None:
    at = open_page("pages/run.py")
    at.selectbox(key="run_new_dataset").set_value(dataset).run()
    at.number_input(key="run_new_epochs").set_value(8)
    at.number_input(key="run_new_display_size").set_value(200)
    at.number_input(key="run_new_cycles").set_value(2)
    at.run()
    assert_clean(at)
    assert "entropy" not in at.selectbox(key="run_new_strategy").options  # class probabilities only
    at.button(key="run_step").click().run()
    assert_clean(at)
    store = RunStore(runs / at.query_params["run"])
    (record,) = store.load_records()
    assert record.n_labeled == 0 and len(record.selected) == 20
    assert record.fallback_reason is None and record.diagnostics["untrained_model"]  # the app's cold start: "self"
    assert np.isfinite(record.test_r2) and np.isnan(record.test_accuracy)
    assert store.manifest()["dataset"]["task"]["name"] == "regression"


def _stories_csv(n: int = 160) -> bytes:
    generated = stories.generate(n, 0.5, 0)
    frame = pd.DataFrame({"story": generated.texts, "llm": generated.ratings["llm"],
                          "human": generated.ratings["human"]})
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def test_an_uploaded_text_csv_with_a_second_rating_runs_alignment_from_zero_labels(runs: Path) -> None:
    at = open_page("pages/run.py")
    at.selectbox(key="run_new_dataset").set_value("file").run()
    at.text_input(key="run_new_label_column").set_value("llm")
    at.text_input(key="run_new_text_column").set_value("story")
    at.text_input(key="run_new_target_column").set_value("human")
    at.file_uploader(key="run_new_upload").set_value(("stories.csv", _stories_csv(), "text/csv")).run()
    assert_clean(at)
    at.selectbox(key="run_new_strategy").set_value("alignment")
    at.number_input(key="run_new_target_size").set_value(20)
    at.number_input(key="run_new_epochs").set_value(5)
    at.number_input(key="run_new_batch_size").set_value(10)
    at.run()
    assert_clean(at)
    at.button(key="run_step").click().run()
    assert_clean(at)
    store = RunStore(runs / at.query_params["run"])
    manifest = store.manifest()
    assert manifest["dataset"]["task"]["name"] == "regression" and manifest["dataset"]["target"] == 20
    assert manifest["config"]["dataset_options"]["text_column"] == "story"
    (record,) = store.load_records()
    assert record.n_labeled == 0 and len(record.selected) == 10
    assert np.isfinite(record.target_loss) and np.isfinite(record.test_r2)
