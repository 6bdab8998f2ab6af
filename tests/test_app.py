"""The app through ``streamlit.testing.v1.AppTest``: the Run, Explore and Export pages, the run in the URL, errors.

Runs go to a temporary folder (``ALCORE_RUNS_DIR``). ``ALCORE_SYNC=1`` makes a button wait for its background job
before the page redraws (AppTest does not poll fragments); the job itself is the real one, from the real registry.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from alcore.loop import Experiment
from alcore.store import RunStore, new_run_id

from conftest import REPO_ROOT, make_digits_config
from pages.ui.runs import run_config

APP = str(REPO_ROOT / "app.py")
TIMEOUT = 90


def open_app(run_id: str | None = None, page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if run_id is not None:
        at.query_params["run"] = run_id
    at.run()
    if page is not None:
        at.switch_page(page).run()
    return at


def assert_clean(at: AppTest) -> None:
    """No exception and no error box on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def error_after(at: AppTest, key: str) -> str | None:
    """The error drawn in the slot right after the widget ``key`` (the form's place for that control's message)."""
    def errors(node):
        if getattr(node, "type", None) == "error":
            yield node.value
        for child in getattr(node, "children", {}).values():
            yield from errors(child)

    def find(block):
        kids = list(getattr(block, "children", {}).values())
        for i, kid in enumerate(kids):
            if getattr(kid, "key", None) == key:
                return next(errors(kids[i + 1]), None) if i + 1 < len(kids) else None
            found = find(kid)
            if found is not None:
                return found
        return None

    return find(at._tree)


def button(at: AppTest, key: str):
    return at.button(key=key)


def fast_settings(at: AppTest) -> None:
    """Shrink the default digits run (fewer epochs, a small MLP, a small map) so a cycle takes well under a second."""
    prefix = "run_new_"
    at.number_input(key=prefix + "epochs").set_value(8)
    at.text_input(key=prefix + "hidden").set_value("32")
    at.number_input(key=prefix + "display_size").set_value(300)
    at.number_input(key=prefix + "cycles").set_value(3)


def stored_run(runs: Path, cycles_run: int = 2, **overrides) -> Path:
    """A BADGE run on digits made by the engine directly (the pages only read it)."""
    overrides.setdefault("strategy", "badge")
    run_dir = runs / new_run_id("test")
    exp = Experiment(make_digits_config(**overrides), run_dir=run_dir)
    exp.run(cycles_run)
    return run_dir


def test_run_page_opens_on_the_working_default(runs: Path) -> None:
    at = open_app()
    assert_clean(at)
    assert at.selectbox(key="run_new_dataset").value == "digits"
    assert at.selectbox(key="run_new_model").value == "mlp"
    assert at.selectbox(key="run_new_strategy").value == "badge"
    assert at.number_input(key="run_new_batch_size").value == 20
    assert at.number_input(key="run_new_initial_labels").value == 0
    cold = at.selectbox(key="run_new_cold_start")
    assert cold.value == "self" and "auto" in cold.options  # the seed's cold start; today's fallback one click away
    assert "self" in cold.help and "auto" in cold.help and "docs/methods.md#cold-start" in cold.help
    assert not button(at, "run_step").disabled and not button(at, "run_many").disabled
    assert button(at, "run_stop").disabled
    assert "run" not in at.query_params


def test_every_control_has_help_text(runs: Path) -> None:
    at = open_app()
    widgets = [*at.selectbox, *at.number_input, *at.text_input, *at.slider, *at.checkbox, *at.button]
    missing = [w.label for w in widgets if not getattr(w, "help", "")]
    assert not missing, f"controls without help text: {missing}"


def test_stepping_twice_adds_two_records(runs: Path) -> None:
    at = open_app()
    fast_settings(at)
    button(at, "run_step").click().run()
    assert_clean(at)
    run_id = at.query_params["run"]
    run_dir = runs / run_id
    assert RunStore(run_dir).n_cycles() == 1
    assert at.get("plotly_chart"), "the map appears after the first cycle"

    button(at, "run_step").click().run()
    assert_clean(at)
    assert at.query_params["run"] == run_id, "a second Step continues the same run"
    assert RunStore(run_dir).n_cycles() == 2
    records = RunStore(run_dir).load_records(arrays=False)
    assert [r.cycle for r in records] == [0, 1]
    # the app's default cold start is "self": BADGE itself chose the first batch on the untrained network
    assert records[0].fallback_reason is None and records[0].n_labeled == 0
    assert records[0].diagnostics["self_cold_start"] == "cold_start" and records[0].diagnostics["untrained_model"]
    assert records[1].n_labeled == 20


def test_the_browser_warm_up_is_armed_by_the_first_run_and_dropped_by_the_next(runs: Path) -> None:
    """The hidden chart, table and image come from the fragment's own rerun (a browser's timer, tested in
    tests/test_browser.py), never from a full run: the first run only arms it, any later one ends it."""
    at = open_app()
    assert_clean(at)
    assert at.session_state["_alcore_browser_warm"] == "armed"
    assert not at.get("plotly_chart") and not at.get("arrow_data_frame"), "nothing drawn in the first run"
    at.run()
    assert at.session_state["_alcore_browser_warm"] == "done"
    assert not at.get("plotly_chart")


def _prepared_runs(runs: Path, epochs: int) -> list[Path]:
    """Folders under ``runs/.prepared`` holding a first cycle, and its map frame, of a config with ``epochs``
    epochs."""
    folder = runs / ".prepared"
    found = []
    for path in sorted(folder.iterdir()) if folder.exists() else []:
        store = RunStore(path)
        if (store.exists() and store.n_cycles() == 1 and store.manifest()["config"]["epochs"] == epochs
                and any(path.glob("projection/*/cycle_0000.npz"))):
            found.append(path)
    return found


def test_the_first_step_takes_the_cycle_prepared_while_the_page_was_read(runs: Path, monkeypatch,
                                                                         same_records) -> None:
    monkeypatch.setenv("ALCORE_PREPARE", "1")
    at = open_app()
    fast_settings(at)
    at.run()  # the form's config, with the fast settings, is prepared once the server is idle
    from pages.ui.jobs import registry

    preparation = registry().preparation
    assert preparation is not None and preparation.done.wait(60) and preparation.ok
    ready = _prepared_runs(runs, epochs=8)
    assert len(ready) == 1, "the first cycle of the form's config and its map are computed before any click"
    prepared_id = ready[0].name

    button(at, "run_step").click().run()
    assert_clean(at)
    assert at.query_params["run"] == prepared_id, "Step opens the prepared run"
    run_dir = runs / prepared_id
    assert RunStore(run_dir).n_cycles() == 1 and not ready[0].exists()
    assert at.get("plotly_chart"), "the map appears after the first cycle"
    fresh = Experiment(run_config(run_dir), run_dir=runs / "fresh")
    fresh.step()
    same_records(RunStore(run_dir).load_records(), RunStore(runs / "fresh").load_records())

    button(at, "run_step").click().run()  # the next Step continues the prepared run like any other
    assert_clean(at)
    assert at.query_params["run"] == prepared_id and RunStore(run_dir).n_cycles() == 2


def test_run_n_cycles_runs_in_the_background_and_the_page_finds_it(runs: Path, monkeypatch) -> None:
    monkeypatch.setenv("ALCORE_SYNC", "0")  # the real path: the click returns at once, a worker thread runs
    at = open_app()
    fast_settings(at)
    at.number_input(key="run_n_cycles").set_value(2)
    button(at, "run_many").click().run()
    assert_clean(at)
    run_id = at.query_params["run"]
    from pages.ui.jobs import registry

    job = registry().get(run_id)
    assert job is not None and job.wait(60) and job.status == "done", job and job.error
    at.run()  # what the polling fragment does on its next tick
    assert_clean(at)
    assert RunStore(runs / run_id).n_cycles() == 2
    assert at.get("plotly_chart")


def test_stop_ends_a_background_run_after_the_cycle_in_progress(runs: Path, monkeypatch) -> None:
    monkeypatch.setenv("ALCORE_SYNC", "0")
    at = open_app()
    fast_settings(at)
    at.number_input(key="run_new_cycles").set_value(50)
    at.number_input(key="run_n_cycles").set_value(50)
    button(at, "run_many").click().run()
    run_id = at.query_params["run"]
    assert not button(at, "run_stop").disabled, "Stop is offered while the job runs"
    button(at, "run_stop").click().run()
    assert_clean(at)
    from pages.ui.jobs import registry

    job = registry().get(run_id)
    assert job.status == "stopped"
    stored = RunStore(runs / run_id).n_cycles()
    assert stored < 50 and stored == job.cycles_done, "every finished cycle is on disk, no more"
    assert button(at, "run_stop").disabled and not button(at, "run_step").disabled


def test_a_reload_finds_the_run_from_the_url(runs: Path) -> None:
    run_dir = stored_run(runs, cycles_run=2)
    at = open_app(run_dir.name)  # a fresh session: nothing in session state, only the URL
    assert_clean(at)
    assert at.get("plotly_chart"), "the stored cycles are drawn"
    prefix = f"run_{run_dir.name}_"
    assert at.number_input(key=prefix + "epochs").value == 10, "the form shows the run's own settings"
    assert at.text_input(key=prefix + "hidden").value == "32"
    assert "Continues run" in " ".join(c.value for c in at.caption)
    button(at, "run_step").click().run()
    assert_clean(at)
    assert RunStore(run_dir).n_cycles() == 3, "Step resumes the stored run"


def test_past_runs_are_listed_and_reopen(runs: Path) -> None:
    older, newer = stored_run(runs, 1), stored_run(runs, 1, strategy="entropy")
    at = open_app()
    box = at.sidebar.selectbox(key="sidebar_run")
    assert set(box.options) >= {str(older), str(newer)} or len(box.options) == 2
    box.set_value(str(older)).run()
    assert_clean(at)
    assert at.query_params["run"] == older.name


def test_changing_a_setting_starts_a_new_run(runs: Path) -> None:
    run_dir = stored_run(runs, cycles_run=1)
    at = open_app(run_dir.name)
    at.selectbox(key=f"run_{run_dir.name}_strategy").set_value("entropy").run()
    assert "new run" in " ".join(c.value for c in at.caption)
    button(at, "run_step").click().run()
    assert_clean(at)
    new_id = at.query_params["run"]
    assert new_id != run_dir.name
    assert RunStore(runs / new_id).manifest()["config"]["strategy"] == "entropy"
    assert RunStore(run_dir).n_cycles() == 1, "the old run is untouched"


@pytest.mark.parametrize("name, content", [
    ("broken.csv", b"a,b,label\n1,2\n3,x,0\n\x00\x01"),
    ("words.csv", b"colour,size,label\nred,big,1\nblue,small,0\n"),
    ("garbage.npz", b"PK\x03\x04 this is not a zip archive"),
    ("empty.csv", b""),
])
def test_a_bad_upload_shows_an_error_not_a_traceback(runs: Path, name: str, content: bytes) -> None:
    at = open_app()
    at.selectbox(key="run_new_dataset").set_value("file").run()
    at.file_uploader(key="run_new_upload").set_value((name, content, "application/octet-stream")).run()
    assert not at.exception
    assert at.error, "the bad file is answered with st.error"
    assert "What to do" in at.error[0].value
    assert "Traceback" not in at.error[0].value
    assert button(at, "run_step").disabled
    assert not list(runs.glob("*/manifest.json")), "no run is created from a bad file"


def test_an_uploaded_csv_runs_and_is_kept_in_the_run_folder(runs: Path) -> None:
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (60, 3)), rng.normal(3, 1, (60, 3))])
    y = np.repeat([0, 1], 60)
    buf = io.StringIO()
    buf.write("f1,f2,f3,label\n")
    for row, label in zip(X, y):
        buf.write(",".join(f"{v:.4f}" for v in row) + f",{label}\n")
    at = open_app()
    at.selectbox(key="run_new_dataset").set_value("file").run()
    at.file_uploader(key="run_new_upload").set_value(("mine.csv", buf.getvalue().encode(), "text/csv")).run()
    assert_clean(at)
    at.selectbox(key="run_new_strategy").set_value("entropy")
    at.number_input(key="run_new_epochs").set_value(5)
    at.number_input(key="run_new_batch_size").set_value(5)
    at.number_input(key="run_new_cycles").set_value(3)
    button(at, "run_step").click().run()
    assert_clean(at)
    run_dir = runs / at.query_params["run"]
    assert (run_dir / "upload.csv").exists()
    assert RunStore(run_dir).manifest()["config"]["dataset_options"]["path"] == str(run_dir / "upload.csv")
    assert RunStore(run_dir).n_cycles() == 1


def test_impossible_options_show_an_error(runs: Path) -> None:
    at = open_app()
    at.selectbox(key="run_new_dataset").set_value("iris").run()
    at.number_input(key="run_new_batch_size").set_value(100)
    at.number_input(key="run_new_cycles").set_value(50).run()
    button(at, "run_step").click().run()
    assert not at.exception
    assert at.error and "budget" in at.error[0].value
    assert not list(runs.glob("*/manifest.json"))

    at.selectbox(key="run_new_dataset").set_value("digits")
    at.selectbox(key="run_new_model").set_value("mlp")
    at.text_input(key="run_new_hidden").set_value("128, zero").run()
    assert not at.exception
    assert at.error and "model_options.hidden='128, zero' is not valid" in at.error[0].value
    assert button(at, "run_step").disabled
    assert error_after(at, "run_new_hidden") == at.error[0].value  # shown right under the control that set it


@pytest.mark.parametrize("page", ["pages/explore.py", "pages/export.py"])
def test_explore_and_export_render_before_any_run_and_offer_past_runs(runs: Path, page: str) -> None:
    at = open_app(page=page)
    assert_clean(at)
    assert "No runs yet" in at.info[0].value
    run_dir = stored_run(runs, 1)
    at = open_app(page=page)
    assert_clean(at)
    at.selectbox(key=f"{Path(page).stem}_pick_run").set_value(str(run_dir)).run()
    assert_clean(at)
    assert at.query_params["run"] == run_dir.name
    assert at.get("plotly_chart") or at.get("download_button")


def test_explore_page_shows_the_map_and_the_batch_table(runs: Path) -> None:
    run_dir = stored_run(runs, cycles_run=3)
    at = open_app(run_dir.name, page="pages/explore.py")
    assert_clean(at)
    assert at.get("plotly_chart")
    tables = at.dataframe
    batch = tables[-1].value
    assert list(batch["cycle"]) == [0, 1, 2]
    assert batch["fallback"].iloc[0].startswith("cold start: no labels yet") and "chose" in batch["fallback"].iloc[0]
    assert batch["mean utility"].iloc[0] == "—", "a cold start's batch has no utility: a dash, never nan or None"
    scored = batch[(batch["batch"] > 0) & (batch["fallback"] == "")]
    assert len(scored) and all(u != "—" and "nan" not in u for u in scored["mean utility"])
    at.selectbox(key="explore_color").set_value("state").run()
    assert_clean(at)


def test_explore_shows_the_points_chosen_on_the_map(runs: Path) -> None:
    from alcore.viz.interaction import selected_indices as selected_points

    # the shapes the browser sends: customdata as an object {"0": index} (what Streamlit delivers), a list, a
    # scalar; or no customdata but the point's plotly id
    event = {"selection": {"points": [{"customdata": {"0": 5}}, {"customdata": [17, "x"]}, {"customdata": 5},
                                      {"id": "23"}, {"customdata": None, "id": "label"}],
                           "point_indices": [0, 1, 2, 3, 4], "box": [], "lasso": []}}
    assert list(selected_points(event)) == [5, 17, 23]
    assert list(selected_points(None)) == []


def test_export_page_offers_gif_tables_and_config(runs: Path) -> None:
    run_dir = stored_run(runs, cycles_run=2)
    at = open_app(run_dir.name, page="pages/export.py")
    assert_clean(at)
    labels = [b.label for b in at.get("download_button")]
    assert any("CSV" in l for l in labels) and any("Parquet" in l for l in labels) and "config.json" in labels
    at.number_input(key="gif_points").set_value(200)
    at.button(key="gif_render").click().run()
    assert_clean(at)
    assert at.get("image"), "a preview of the GIF"
    assert "Download GIF" in [b.label for b in at.get("download_button")]


def test_a_targeted_runs_gif_draws_its_target_loss_by_default_and_the_accuracy_on_request(runs: Path,
                                                                                          tmp_path: Path) -> None:
    """The seed's variable is the loss on the target set: a run with one draws it beside the map unless asked for
    the task's metric; a run without one has only the task's metric, and a metric it lacks is refused by name."""
    from PIL import Image

    from alcore import export
    from alcore.cli import main
    from alcore.config import ConfigError

    plain = stored_run(runs, cycles_run=2)
    targeted = stored_run(runs, cycles_run=2, strategy="alignment", target_size=30)
    records = RunStore(targeted).load_records()
    assert export.curve_metrics(records, "classification") == ["target_loss", "test_accuracy"]
    assert export.curve_metrics(RunStore(plain).load_records(), "classification") == ["test_accuracy"]
    options = dict(size=(320, 240), max_points=150)
    default = export.run_gif_bytes(targeted, **options)
    assert default == export.run_gif_bytes(targeted, curve_metric="target_loss", **options)
    accuracy = export.run_gif_bytes(targeted, curve_metric="test_accuracy", **options)
    assert Image.open(io.BytesIO(accuracy)).n_frames == 2 and accuracy != default  # another curve and titles
    with pytest.raises(ConfigError, match="curve_metric"):
        export.run_gif_bytes(plain, curve_metric="target_loss", **options)
    out = tmp_path / "acc.gif"
    assert main(["gif", str(targeted), "--out", str(out), "--width", "320", "--height", "240", "--max-points", "150",
                 "--curve-metric", "test_accuracy"]) == 0
    assert out.read_bytes() == accuracy
    at = open_app(targeted.name, page="pages/export.py")
    assert_clean(at)
    assert at.selectbox(key="gif_curve").options == ["target loss", "test accuracy", "no curve"]


# --- the engine side of the Export page (alcore.export), also behind `python -m alcore gif` -------------------
def test_exported_tables_have_a_row_per_cycle_and_per_labelled_point(runs: Path) -> None:
    from alcore import export

    run_dir = stored_run(runs, cycles_run=3)
    cycles = export.records_frame(run_dir)
    assert list(cycles["cycle"]) == [0, 1, 2]
    assert list(cycles["batch_size"]) == [20, 20, 0], "the final cycle (config cycles=2) only evaluates"
    assert cycles["fallback_reason"].iloc[0] == "cold_start"
    picks = export.selections_frame(run_dir)
    assert len(picks) == 40 and picks["index"].is_unique
    records = RunStore(run_dir).load_records()
    assert set(picks["index"]) == set(np.concatenate([r.selected for r in records]).tolist())
    import pandas as pd

    assert pd.read_parquet(io.BytesIO(export.to_parquet_bytes(picks))).equals(picks)
    assert pd.read_csv(io.BytesIO(export.to_csv_bytes(cycles)))["cycle"].tolist() == [0, 1, 2]


def test_the_config_json_reproduces_the_run(runs: Path, tmp_path: Path) -> None:
    from alcore import export
    from alcore.config import ExperimentConfig

    run_dir = stored_run(runs, cycles_run=2)
    again = Experiment(ExperimentConfig.from_json(export.config_json(run_dir)), run_dir=tmp_path / "again")
    again.run(2)
    first, second = RunStore(run_dir).load_records(), RunStore(tmp_path / "again").load_records()
    assert [list(r.selected) for r in first] == [list(r.selected) for r in second]


def test_the_gif_has_one_frame_per_cycle_and_the_cli_writes_it(runs: Path, tmp_path: Path) -> None:
    from PIL import Image

    from alcore import export
    from alcore.cli import main

    run_dir = stored_run(runs, cycles_run=2)
    data = export.run_gif_bytes(run_dir, size=(320, 240), max_points=150)
    image = Image.open(io.BytesIO(data))
    assert data[:6] == b"GIF89a" and image.size == (320, 240) and image.n_frames == 2
    out = tmp_path / "run.gif"
    assert main(["gif", str(run_dir), "--out", str(out), "--width", "320", "--height", "240",
                 "--color-by", "state", "--no-curve"]) == 0
    assert Image.open(out).n_frames == 2


def test_only_small_bundled_or_generated_datasets_are_prepared(runs: Path, monkeypatch) -> None:
    from alcore.config import ExperimentConfig
    from pages.ui import jobs

    asked = []

    class Registry:
        def prepare(self, config, run_dir, on_cycle=None):
            asked.append((config.dataset, Path(run_dir).parent.name))

    monkeypatch.setattr(jobs, "registry", Registry)
    monkeypatch.setenv("ALCORE_PREPARE", "1")
    jobs.prepare_first_cycle(ExperimentConfig())
    jobs.prepare_first_cycle(ExperimentConfig(dataset="moons", dataset_options={"n_samples": 20_000}))
    jobs.prepare_first_cycle(ExperimentConfig(dataset="moons", dataset_options={"n_samples": 20_001}))
    jobs.prepare_first_cycle(ExperimentConfig(dataset="mnist"))  # a download is the user's to start
    upload = runs.parent / "data.csv"
    upload.write_text("a,b,label\n" + "\n".join(f"{i},{i % 3},{i % 2}" for i in range(20)))
    jobs.prepare_first_cycle(ExperimentConfig(dataset="file", dataset_options={"path": str(upload)}))
    monkeypatch.setenv("ALCORE_PREPARE", "0")
    jobs.prepare_first_cycle(ExperimentConfig())
    assert asked == [("digits", ".prepared"), ("moons", ".prepared")]
    monkeypatch.delenv("ALCORE_PREPARE")
    jobs.prepare_first_cycle(ExperimentConfig())
    assert len(asked) == 2, "scripted runs (ALCORE_SYNC) prepare nothing unless asked"
