"""The Compare and Learn pages through ``streamlit.testing.v1.AppTest``.

Runs go to a temporary folder (``ALCORE_RUNS_DIR``); ``ALCORE_SYNC=1`` makes a start button wait for its background
job (the real one, from the real registry) before the page redraws, since AppTest does not poll fragments.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from alcore import presets
from alcore.config import ExperimentConfig
from alcore.loop import Experiment
from alcore.store import new_run_id

from conftest import REPO_ROOT, make_digits_config

APP = str(REPO_ROOT / "app.py")
COMPARE = "pages/compare.py"
LEARN = "pages/learn.py"
TIMEOUT = 90


def open_page(page: str, **query: str) -> AppTest:
    """The page inside the app shell (navigation, sidebar), as a user opens it."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page(page).run()
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


# --- Compare ------------------------------------------------------------------------------------------------------

def test_compare_page_opens_on_badge_entropy_random_over_three_seeds(runs: Path) -> None:
    at = open_page(COMPARE)
    assert_clean(at)
    assert at.multiselect(key="compare_strategies").value == ["badge", "entropy", "random"]
    assert at.number_input(key="compare_seeds").value == 3
    assert not at.button(key="compare_start").disabled
    assert "compare" not in at.query_params


def test_every_compare_preset_shows_on_the_page(runs: Path) -> None:
    at = open_page(COMPARE)
    box = at.selectbox(key="compare_preset")
    wanted = [n for n in presets.list_presets() if presets.load_preset(n)["page"] == "compare"]
    assert sorted(box.options) == sorted(presets.load_preset(n)["title"] for n in wanted)
    for name in wanted:
        at.selectbox(key="compare_preset").set_value(name).run()
        assert_clean(at)
        assert any(c.value == presets.load_preset(name)["shows"] for c in at.caption)


def tiny_comparison_form(at: AppTest) -> None:
    """Moons, 200 points, a 16-unit MLP, 5 epochs, 2 cycles of 5: random against entropy over 2 seeds."""
    at.selectbox(key="compare_dataset").set_value("moons").run()
    at.number_input(key="compare_ds_moons_n_samples").set_value(200)
    at.text_input(key="compare_hidden").set_value("16")
    at.number_input(key="compare_epochs").set_value(5)
    at.number_input(key="compare_batch_size").set_value(5)
    at.number_input(key="compare_cycles").set_value(2)
    at.number_input(key="compare_display_size").set_value(100)
    at.multiselect(key="compare_strategies").set_value(["random", "entropy"])
    at.number_input(key="compare_seeds").set_value(2)
    at.run()


def summary(at: AppTest):
    return next(d.value for d in at.dataframe if "AULC" in d.value.columns)


def test_a_compare_of_two_strategies_and_two_seeds_fills_its_table(runs: Path) -> None:
    at = open_page(COMPARE)
    tiny_comparison_form(at)
    assert_clean(at)
    at.button(key="compare_start").click().run()
    assert_clean(at)
    group_id = at.query_params["compare"]
    assert group_id.startswith("cmp-")

    table = summary(at)
    assert list(table.index) == ["random", "entropy"] and (table["seeds"] == 2).all()
    assert all(v != "–" for v in table["AULC"])
    assert any(list(d.value.columns) == ["random", "entropy"] for d in at.dataframe)  # the penalty matrix
    assert len(at.get("plotly_chart")) == 2  # learning curve and diversity
    diversity = at.selectbox(key="compare_div_metric")
    assert diversity.options and not any("docs/" in o for o in diversity.options), "labels read as words"
    assert "“Diversity metrics” in docs/methods.md" in diversity.help, "the citation, put in words"
    from alcore import compare, run_group

    runs_of = [str(d) for d in compare.load_comparison(runs, group_id).run_dirs]
    expected = run_group.summarize(run_group.cycle_frame(runs_of))["ranking"]
    assert [w.value for w in at.warning] == expected, "the page says which strategies it cannot rank"

    again = open_page(COMPARE, compare=group_id)  # a reload finds the comparison on disk
    assert_clean(again)
    assert list(summary(again).index) == ["random", "entropy"]

    # the summary follows the learning curve's metric; a loss has no goal to reach, so no labels-to-X% columns
    assert "labels to X%" in table.columns and at.slider(key="compare_x")
    at.selectbox(key="compare_curve_metric").set_value("test_loss").run()
    assert_clean(at)
    loss_table = summary(at)
    assert "final test loss" in loss_table.columns and "labels to X%" not in loss_table.columns
    assert not [s for s in at.slider if s.key == "compare_x"]
    assert any(h.value == "Summary: test loss" for h in at.subheader)
    expected = run_group.summarize(run_group.cycle_frame(runs_of), metric="test_loss")["summary"]
    assert [f"{v:.3f}" for v in expected["aulc_mean"]] == [a.split(" ±")[0] for a in loss_table["AULC"]]


def test_a_background_comparison_fills_in_when_its_runs_finish(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pages.ui.jobs import registry

    monkeypatch.delenv("ALCORE_SYNC")  # the real path: the button returns at once, a worker thread runs
    at = open_page(COMPARE)
    tiny_comparison_form(at)
    at.button(key="compare_start").click().run()
    assert_clean(at)
    job = registry().get(at.query_params["compare"])
    assert job is not None and job.wait(TIMEOUT) and job.status == "done", job.error
    at.run()  # what the polling fragment does every few seconds
    assert_clean(at)
    assert list(summary(at).index) == ["random", "entropy"]
    assert not any(b.key == "compare_stop" for b in at.button) and not any(b.key == "compare_resume" for b in at.button)


# --- Learn --------------------------------------------------------------------------------------------------------

def test_learn_page_without_a_run_offers_the_demo(runs: Path) -> None:
    at = open_page(LEARN)
    assert_clean(at)
    assert not at.button(key="learn_demo").disabled


def test_the_demo_button_runs_the_learn_preset_and_opens_the_tour(runs: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "presets"
    folder.mkdir()
    tour = json.loads((presets.PRESETS_DIR / "learn-tour.json").read_text())
    tour["base"].update(epochs=5, cycles=1, display_size=300, model_options={"hidden": [16], "dropout": 0.0})
    (folder / "learn-tour.json").write_text(json.dumps(tour))
    monkeypatch.setattr(presets, "PRESETS_DIR", folder)  # the same demo, shrunk to run in a few seconds
    at = open_page(LEARN)
    at.button(key="learn_demo").click().run()
    assert_clean(at)
    assert at.query_params["run"].startswith("learn-")
    assert at.radio(key="learn_step").value.startswith("1") and len(at.latex) >= 1


def assert_cold_start_step_compares_badge_with_random(at: AppTest, config: ExperimentConfig) -> None:
    """Step 6 shows each first batch's diversity: the engine's own numbers for cycle 0 of BADGE and of random from
    zero labels, and the paragraph that says which one is more diverse."""
    from alcore.teaching.cold_start import first_batch

    shown = {m.label: m.value for m in at.metric}
    for name in ("badge", "random"):
        record = first_batch(config, name)
        assert record.fallback_reason is None and len(record.selected) == config.batch_size
        want = record.diversity["mean_pairwise_distance"]
        assert shown[f"{name}: mean pairwise distance"] == f"{want:.3g}"
    farther = float(shown["badge: mean pairwise distance"]) > float(shown["random: mean pairwise distance"])
    said = " ".join(m.value for m in at.markdown)
    assert ("not more diverse than random's" in said) == (not farther)
    assert at.get("plotly_chart")


def test_every_step_of_the_tour_shows_formulas_and_the_runs_numbers(runs: Path) -> None:
    run_dir = runs / new_run_id("test")
    config = make_digits_config(strategy="badge", target_size=30, initial_labels=20, cycles=2, display_size=2000)
    Experiment(config, run_dir=run_dir).run()
    at = open_page(LEARN, run=run_dir.name)
    assert_clean(at)
    assert at.selectbox(key="learn_cycle").value == 1
    steps = at.radio(key="learn_step").options
    assert len(steps) == 6
    for i, step in enumerate(steps):
        at.radio(key="learn_step").set_value(step).run()
        assert_clean(at)
        assert len(at.latex) >= 1, step
        if i == 0:
            assert {m.label for m in at.metric} >= {"hallucinated label ŷ", "true label"}
        if i == 2:
            assert at.success, "BADGE's picks on the map should be the run's own batch"
            at.slider(key="learn_pick_step").set_value(5).run()
            assert_clean(at)
            assert any("Pick 5 had probability" in m.value for m in at.markdown)
        if i == 3:
            assert any(m.label == "target set" and m.value == "30 points" for m in at.metric)
            assert any("the seed's rule" in box.value and "docs/study.md" in box.value for box in at.info)
        if i == 4:
            assert any(m.label == "checkpoints" for m in at.metric)
        if i == 5:
            assert_cold_start_step_compares_badge_with_random(at, config)
        if i < 5:
            at.button(key="learn_next").click().run()
            assert at.radio(key="learn_step").value == steps[i + 1]


def test_the_summary_table_reads_a_tiny_negative_mean_as_zero_and_drops_goal_columns_for_a_loss() -> None:
    import pandas as pd

    from pages.ui.compare_tables import summary_display

    nan = float("nan")
    summary = pd.DataFrame({"n_seeds": [3, 3], "aulc_mean": [0.5, 0.4], "aulc_ci95": [0.1, nan],
                            "final_mean": [0.9, 0.8], "final_ci95": [0.01, 0.02], "labels_to_x_mean": [10.0, nan],
                            "labels_to_x_ci95": [1.0, nan], "labels_to_x_reached": [3, 0],
                            "label_savings_mean": [-0.001, -0.2], "label_savings_ci95": [0.1, 0.1]},
                           index=["alignment", "badge"])
    shown = summary_display(summary, "test accuracy")
    assert list(shown["label savings vs random"]) == ["0% ± 10%", "-20% ± 10%"]  # not "-0%"; a real loss keeps "-"
    assert list(shown["AULC"]) == ["0.500 ± 0.100", "0.400"] and list(shown["labels to X%"]) == ["10 ± 1", "–"]
    loss = summary_display(summary, "target loss", loss=True)
    assert list(loss.columns) == ["seeds", "AULC", "final target loss"]
