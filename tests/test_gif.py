"""alcore.viz.gif: the map as a GIF, rendered with matplotlib Agg and written by Pillow."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from alcore.projection import ProjectionSettings
from alcore.records import CycleRecord
from alcore.viz.gif import render_gif, run_curve, write_run_gif


def frames_df(cycles=4, n=300, seed=0):
    """A frames table as frames_table() builds it: points drift a little, 10 labels and 5 picks per cycle."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 2)) * 10
    rows = []
    for c in range(cycles):
        state = np.full(n, "pool", dtype=object)
        state[: 10 + 5 * c] = "labeled"
        state[10 + 5 * c: 15 + 5 * c] = "selected"
        utility = np.where(state == "labeled", np.nan, rng.random(n))
        xy = base + 0.1 * c * rng.normal(size=(n, 2))
        rows.append(pd.DataFrame({"cycle": c, "idx": np.arange(n), "x": xy[:, 0], "y": xy[:, 1],
                                  "label": np.arange(n) % 4, "pred": (np.arange(n) + c) % 4, "utility": utility,
                                  "state": state, "in_display": True}))
    return pd.concat(rows, ignore_index=True)


def curve_df(cycles=4):
    return pd.DataFrame({"cycle": range(cycles), "n_labeled": [10 + 5 * c for c in range(cycles)],
                         "test_accuracy": [0.4 + 0.1 * c for c in range(cycles)], "strategy": "badge"})


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "GIF"
    return image


def test_gif_has_one_frame_per_cycle_of_the_requested_size_and_loops():
    data = render_gif(frames_df(cycles=4), curve_df(4), size=(480, 320), fps=4)
    image = decode(data)
    assert image.n_frames == 4 and image.size == (480, 320)
    assert image.info["loop"] == 0 and image.info["duration"] == 250
    for i in range(4):
        image.seek(i)
        assert image.convert("RGB").size == (480, 320)


def test_gif_frames_differ_as_the_points_move():
    image = decode(render_gif(frames_df(cycles=3), None, size=(240, 160)))
    pixels = []
    for i in range(3):
        image.seek(i)
        pixels.append(np.asarray(image.convert("RGB"), dtype=np.int16))
    assert all(np.abs(pixels[i] - pixels[i + 1]).sum() > 0 for i in range(2))


@pytest.mark.parametrize("color_by", ["label", "pred", "utility", "state"])
def test_gif_renders_every_colouring_with_and_without_the_curve(color_by):
    for curve in (curve_df(2), None):
        image = decode(render_gif(frames_df(cycles=2), curve, color_by=color_by, size=(320, 240), max_points=50))
        assert image.n_frames == 2 and image.size == (320, 240)


def test_gif_rejects_bad_options():
    with pytest.raises(ValueError, match="color_by"):
        render_gif(frames_df(cycles=1), color_by="size")
    with pytest.raises(ValueError, match="fps"):
        render_gif(frames_df(cycles=1), fps=0)
    with pytest.raises(ValueError, match="title_info"):
        render_gif(frames_df(cycles=2), title_info=[{"strategy": "x"}])


def test_write_run_gif_projects_the_records_and_writes_the_file(tmp_path):
    rng = np.random.default_rng(0)
    n, classes = 120, 3
    y = rng.integers(0, classes, n)
    h = (3 * rng.normal(size=(classes, 5)))[y] + rng.normal(size=(n, 5))
    labeled, records = [0, 1, 2], []
    for t in range(3):
        p = rng.dirichlet(np.ones(classes), n).astype(np.float32)
        a = p.copy()
        a[np.arange(n), p.argmax(1)] -= 1
        pool = np.setdiff1d(np.arange(n), labeled)
        selected = pool[:4]
        records.append(CycleRecord(cycle=t, n_labeled=len(labeled), strategy="entropy", test_accuracy=0.5 + 0.1 * t,
                                   labeled_idx=np.array(labeled), selected=selected, pool_idx=pool,
                                   utilities=rng.random(len(pool)), display_idx=np.arange(n), display_probs=p,
                                   display_a=a, display_h=h.astype(np.float32), selected_a=a[selected],
                                   selected_h=h[selected].astype(np.float32)))
        labeled += selected.tolist()
    out = write_run_gif(records, y, tmp_path / "demo.gif", settings=ProjectionSettings(n_iter=150, warm_iter=30),
                        cache_dir=tmp_path / "run", run_id="r1", size=(400, 300), fps=2)
    image = Image.open(out)
    assert image.n_frames == 3 and image.size == (400, 300)
    assert (tmp_path / "run" / "projection").is_dir()
    assert list(run_curve(records)["n_labeled"]) == [3, 7, 11]


@pytest.mark.parametrize("color_by, values, expected", [
    ("label", None, ["0", "1", "2", "3", "labelled (outlined)", "selected batch"]),
    ("state", None, None),  # the states of palette.STATE_ORDER but "selected" (the stars)
    ("utility", None, ["labelled (no utility)", "selected batch"]),
    ("label", (1.0, 9.9, None), ["labelled (outlined)", "selected batch"]),  # a true value: never missing
    ("pred", (1.0, 9.9, None), ["no prediction", "labelled (outlined)", "selected batch"]),
])
def test_the_gif_legend_names_what_its_marks_mean_and_no_missing_true_value(color_by, values, expected):
    from alcore.viz.gif import legend_handles
    from alcore.viz import palette

    frames = frames_df(cycles=2)
    labels = [h.get_label() for h in legend_handles(frames, color_by, values)]
    if expected is None:
        expected = [k for k in palette.STATE_ORDER if k != "selected"] + ["selected batch"]
    assert labels == expected
