"""What a newcomer trips over, through ``AppTest`` (the browser side is in test_browser_newcomer.py): counts that
match the setup, a diverged run that says so and offers no more cycles, an upload error under the upload, the
tab's icon served by the app, and the Export page's HTML map."""
from __future__ import annotations

from pathlib import Path

from alcore.store import RunStore

from conftest import REPO_ROOT
from test_app import open_app


def small_run(at: AppTest, cycles: int, **extra) -> None:
    """Shrink the default digits run so a cycle takes well under a second."""
    at.number_input(key="run_new_epochs").set_value(extra.get("epochs", 8))
    at.text_input(key="run_new_hidden").set_value("32")
    at.number_input(key="run_new_display_size").set_value(300)
    at.number_input(key="run_new_cycles").set_value(cycles)
    if "lr" in extra:
        at.number_input(key="run_new_lr").set_value(extra["lr"])
    at.run()


def test_run_n_defaults_to_the_cycles_of_the_run_and_then_leaves_it_complete(runs: Path) -> None:
    at = open_app()
    small_run(at, cycles=2)
    assert at.number_input(key="run_n_cycles").value == 2, "Run asks for every cycle of the run by default"
    assert at.button(key="run_many").label == "Run 2 cycles"
    assert at.number_input(key="run_new_cycles").label == "Cycles in run"
    at.button(key="run_many").click().run()
    assert not at.exception and not at.error
    run_dir = runs / at.query_params["run"]
    assert RunStore(run_dir).n_cycles() == 3 and RunStore(run_dir).manifest()["status"] == "complete"
    assert any("2 of 2 cycles run · complete" in c.value for c in at.caption)
    assert at.button(key="run_step").disabled and at.button(key="run_many").disabled


def test_a_diverged_run_says_what_happened_and_what_to_change(runs: Path) -> None:
    at = open_app()
    small_run(at, cycles=3, lr=10.0)
    at.button(key="run_many").click().run()
    assert not at.exception
    run_dir = runs / at.query_params["run"]
    assert RunStore(run_dir).manifest()["status"] == "diverged"
    messages = [e.value for e in at.error]
    assert len(messages) == 1 and messages[0].startswith("Training diverged at cycle 1: lower the learning rate")
    assert "Learning rate" in messages[0], "what to do names the setting"
    assert at.button(key="run_step").disabled, "a diverged run takes no more cycles"
    assert at.get("plotly_chart"), "the map of the cycle before it is drawn"
    sidebar = [c.value for c in at.sidebar.caption]
    assert any("stopped: training diverged" in c for c in sidebar)


def test_an_upload_error_comes_right_after_the_file_box(runs: Path) -> None:
    at = open_app()
    at.selectbox(key="run_new_dataset").set_value("file").run()
    at.file_uploader(key="run_new_upload").set_value(("words.csv", b"colour,size,label\nred,big,1\nblue,small,0\n",
                                                      "text/csv")).run()
    assert not at.exception
    order = [(node.type, getattr(node, "key", None)) for node in at.sidebar if node.type != "flex_container"]
    at_upload = next(i for i, (kind, key) in enumerate(order) if key == "run_new_upload")
    assert order[at_upload + 1][0] == "error", order[at_upload:at_upload + 3]  # above its column and task boxes
    assert len(at.error) == 1, "shown once, beside the upload, not again at the end of the form"
    assert at.button(key="run_step").disabled


def test_the_tab_icon_is_a_file_of_the_app(runs: Path) -> None:
    from pages.ui import frame

    assert frame.PAGE_ICON.is_file() and frame.PAGE_ICON.is_relative_to(REPO_ROOT)
    assert not open_app().exception


def test_the_export_page_offers_the_map_as_one_html_page(runs: Path) -> None:
    from alcore.loop import Experiment
    from alcore.store import new_run_id

    from conftest import make_digits_config

    run_dir = runs / new_run_id("test")
    Experiment(make_digits_config(cycles=1), run_dir=run_dir).run()
    at = open_app(run_dir.name, page="pages/export.py")
    at.button(key="html_make").click().run()
    assert not at.exception and not at.error
    assert any(b.label.startswith("Download the map") for b in at.get("download_button"))
