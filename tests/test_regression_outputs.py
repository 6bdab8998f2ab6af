"""What a regression run leaves for people to read: the map's table and colours, the GIF, the report's summary with a
metric where lower is better, the command line, and stored runs from before regression existed."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alcore import export
from alcore.cli import main
from alcore.config import ExperimentConfig
from alcore.loop import Experiment
from alcore.report import write_report
from alcore.run_group import cycle_frame, summarize
from alcore.store import RunStore
from alcore.viz import figures

FAST = dict(model_options={"hidden": [16]}, batch_size=10, epochs=5, display_size=120, device="cpu")


@pytest.fixture(scope="module")
def diabetes_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "diabetes-badge"
    Experiment(ExperimentConfig(dataset="diabetes", strategy="badge", cycles=2, **FAST), run_dir=run_dir).run()
    return run_dir


def test_the_map_table_of_a_regression_run_holds_values_predictions_and_residuals(diabetes_run) -> None:
    records = RunStore(diabetes_run).load_records()
    frames = export.run_frames_table(diabetes_run, records)
    assert frames["label"].dtype == np.float64 and frames["pred"].dtype == np.float64
    shown = frames[frames["in_display"]]
    assert np.allclose(shown["residual"], shown["pred"] - shown["label"])
    assert shown["pred"].notna().all() and shown["label"].between(25, 346).all()  # the target's own units
    task = export.run_task(diabetes_run)
    first = records[0]
    assert np.allclose(task.predicted(first.display_probs), task.decode(first.display_probs[:, 0]))


@pytest.mark.parametrize("color_by", ["label", "pred", "residual"])
def test_the_map_colours_a_regression_run_on_one_continuous_scale_per_colouring(diabetes_run, color_by) -> None:
    frames = export.run_frames_table(diabetes_run)
    fig = figures.map_figure(frames, color_by)
    colors = np.concatenate([np.asarray(f.data[0].marker.color, dtype=float) for f in fig.frames])
    assert colors.min() >= 0.0 and colors.max() <= 1.0 and len(np.unique(colors)) > 20  # a scale, not classes
    assert fig.data[0].marker.colorbar.title.text
    if color_by == "residual":  # diverging and symmetric: a zero residual sits in the middle of the scale
        bar = fig.data[0].marker.colorbar
        assert float(bar.ticktext[1]) == 0.0 and float(bar.ticktext[0]) == -float(bar.ticktext[2])


def test_the_gif_of_a_regression_run_renders_every_colouring_and_its_r2_curve(diabetes_run) -> None:
    for color_by in ("residual", "pred"):
        data = export.run_gif_bytes(diabetes_run, color_by=color_by, size=(320, 220))
        assert data[:6] == b"GIF89a"


def test_a_loss_is_summarised_with_lower_as_better(diabetes_run, tmp_path) -> None:
    root = tmp_path / "sweep"
    for strategy in ("random", "variance"):
        for seed in (0, 1):
            config = ExperimentConfig(dataset="diabetes", strategy=strategy, seed=seed, cycles=2, **FAST)
            Experiment(config, run_dir=root / f"{strategy}-{seed}").run()
    df = cycle_frame(sorted(root.iterdir()))
    assert set(df["task"]) == {"regression"} and "test_accuracy" not in df.columns
    r2 = summarize(df)["summary"]
    assert r2.attrs["metric"] == "test_r2"
    loss = summarize(df, metric="test_loss")
    final = df[df["cycle"] == 2].groupby("strategy")["test_loss"].mean()
    assert np.allclose(loss["summary"]["final_mean"].sort_index(), final.sort_index())  # in the loss's own sign
    assert loss["summary"]["labels_to_x_mean"].isna().all()
    assert any("Lower test loss is better" in note for note in loss["notes"])
    paths = write_report(root, metric="target_loss")
    assert paths["report.md"].exists()


def test_old_runs_without_the_regression_fields_still_load(tmp_path, fast_config) -> None:
    run_dir = tmp_path / "old"
    Experiment(fast_config(cycles=1), run_dir=run_dir).run()
    for path in (run_dir / "cycles").glob("cycle_*.json"):
        values = json.loads(path.read_text())
        for key in ("test_r2", "test_mse", "test_mae"):
            values.pop(key)
        path.write_text(json.dumps(values))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["dataset"].pop("task"), manifest["config"].pop("task")
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    records = RunStore(run_dir).load_records()
    assert all(np.isnan(r.test_r2) for r in records) and export.run_task(run_dir).name == "classification"
    assert "test_r2" not in export.records_frame(run_dir).columns


def test_the_command_line_runs_rated_stories_and_prints_r2_and_the_target_loss(tmp_path, capsys) -> None:
    out = tmp_path / "stories"
    code = main(["run", "--dataset", "rated_stories", "--strategy", "badge", "--cycles", "1", "--batch-size", "10",
                 "--epochs", "3", "--target-size", "20", "--device", "cpu", "--task", "regression",
                 "--set", 'dataset_options={"n_samples": 200}', "--set", "display_size=50", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and "test_r2=" in text and "target_loss=" in text and "accuracy" not in text
    assert RunStore(out).manifest()["dataset"]["task"]["name"] == "regression"
