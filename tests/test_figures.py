"""alcore.viz.figures: the animated map and the curves, checked on their plotly structure."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from alcore.projection import ProjectionSettings, project_records
from alcore.records import CycleRecord
from alcore.viz import palette
from alcore.viz.figures import (
    diversity_figure,
    frames_table,
    learning_curve_figure,
    map_figure,
    run_curves_figure,
    thumbnail_figure,
    utility_histogram,
)


def fake_run(n_points=90, n_display=70, cycles=3, batch=5, n_classes=3, seed=0):
    """Records with random factors and a map result with random frames: the figure code sees only arrays."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n_points)
    display = np.sort(rng.choice(n_points, n_display, replace=False))
    labeled = rng.choice(display, batch, replace=False).tolist()
    records = []
    for t in range(cycles):
        p = rng.dirichlet(np.ones(n_classes), n_points).astype(np.float32)
        a = p.copy()
        a[np.arange(n_points), p.argmax(1)] -= 1
        h = rng.normal(size=(n_points, 4)).astype(np.float32)
        pool = np.setdiff1d(np.arange(n_points), labeled)
        utilities = rng.random(len(pool))
        selected = pool[np.argsort(-utilities)[:batch]]
        records.append(CycleRecord(cycle=t, n_labeled=len(labeled), strategy="margin", labeled_idx=np.array(labeled),
                                   selected=selected, pool_idx=pool, utilities=utilities, display_idx=display,
                                   display_probs=p[display], display_a=a[display], display_h=h[display],
                                   selected_a=a[selected], selected_h=h[selected]))
        labeled += selected.tolist()
    return y, records


@pytest.fixture(scope="module")
def run():
    y, records = fake_run()
    result = project_records(records, settings=ProjectionSettings(n_iter=150, warm_iter=30, perplexity=10))
    return y, records, result, frames_table(records, result, y, class_names=["cat", "dog", "owl"])


def test_frames_table_has_one_row_per_cycle_and_point_with_the_right_states(run):
    y, records, result, df = run
    assert list(df.columns[:8]) == ["cycle", "idx", "x", "y", "label", "pred", "utility", "state"]
    for r, frame in zip(records, result.frames):
        part = df[df["cycle"] == r.cycle]
        shown = part[part["in_display"]]
        assert np.array_equal(shown["idx"], result.idx) and np.allclose(shown[["x", "y"]], frame)
        assert set(part.loc[part["state"] == "selected", "idx"]) == set(r.selected.tolist())
        labeled = part[part["state"] == "labeled"]
        assert set(labeled["idx"]) == set(np.intersect1d(r.labeled_idx, part["idx"]).tolist())
        assert labeled["utility"].isna().all()  # a labelled point is not a candidate
        assert np.array_equal(shown["label"], y[result.idx])
        assert np.array_equal(shown["pred"], r.display_probs.argmax(1))
        assert set(part["label_name"]) <= {"cat", "dog", "owl"}


def test_map_has_one_frame_per_cycle_with_stable_ids_fixed_axes_and_controls(run):
    _, records, result, df = run
    fig = map_figure(df, "label")
    cycles = [r.cycle for r in records]
    assert [f.name for f in fig.frames] == [str(c) for c in cycles]
    ids = [tuple(f.data[0].ids) for f in fig.frames]
    assert all(i == ids[0] for i in ids) and sorted(map(int, ids[0])) == result.idx.tolist()
    assert tuple(fig.data[0].ids) == ids[0]
    for frame, r in zip(fig.frames, records):  # the selected batch on top, per frame
        assert sorted(int(i[1:]) for i in frame.data[1].ids) == sorted(r.selected.tolist())
        assert list(frame.traces) == [0, 1, 2]
    xr, yr = fig.layout.xaxis.range, fig.layout.yaxis.range
    assert fig.layout.xaxis.autorange is False and fig.layout.yaxis.autorange is False
    assert xr[0] < df["x"].min() and xr[1] > df["x"].max() and yr[0] < df["y"].min() and yr[1] > df["y"].max()
    assert all(f.layout.xaxis.range is None for f in fig.frames)  # no frame changes the ranges
    labels = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert any("play" in b for b in labels) and any("pause" in b for b in labels)
    assert [s.label for s in fig.layout.sliders[0].steps] == [str(c) for c in cycles]
    assert fig.data[1].marker.symbol == "star"
    animations = [b.args[1] for b in fig.layout.updatemenus[0].buttons]
    animations += [s.args[1] for s in fig.layout.sliders[0].steps]
    assert all(a["frame"]["redraw"] for a in animations), "without a redraw, a box drawn after the slider moved or " \
        "the map played selects nothing"


def test_map_colours_by_every_option_with_the_shared_palette(run):
    _, _, _, df = run
    for color_by in ("label", "pred", "utility", "state", "prediction"):
        fig = map_figure(df, color_by)
        values = np.asarray(fig.frames[0].data[0].marker.color, dtype=float)
        assert len(values) == int(df[(df["cycle"] == 0) & df["in_display"]].shape[0])
    fig = map_figure(df, "label", class_names=["cat", "dog", "owl"])
    legend = {t.name: t.marker.color for t in fig.data[3:]}
    assert legend == {"chosen batch": "#ffffff", "labelled (outlined)": "#ffffff", "cat": palette.class_color(0),
                      "dog": palette.class_color(1), "owl": palette.class_color(2)}
    utility = np.asarray(map_figure(df, "utility").frames[0].data[0].marker.color, dtype=float)
    labelled = (df[(df["cycle"] == 0) & df["in_display"]]["state"] == "labeled").to_numpy()
    assert np.all(utility[labelled] == 0) and np.all((utility[~labelled] >= 0.15) & (utility[~labelled] <= 1))
    # the batch is coloured on the same per-cycle scale as every other point
    batch = np.asarray(map_figure(df, "utility").frames[0].data[1].marker.color, dtype=float)
    shown = df[(df["cycle"] == 0)]
    expected = utility[np.isin(shown[shown["in_display"]]["idx"], shown[shown["state"] == "selected"]["idx"])]
    assert sorted(batch[: len(expected)]) == sorted(expected)
    with pytest.raises(ValueError, match="color_by"):
        map_figure(df, "size")


def test_map_switches_to_webgl_for_large_frames(run):
    _, _, _, df = run
    assert isinstance(map_figure(df).data[0], go.Scatter)
    assert isinstance(map_figure(df, webgl=True).data[0], go.Scattergl)


def curves_df():
    rows = []
    for strategy, base in (("random", 0.5), ("badge", 0.6)):
        for seed in range(3):
            for n in (10, 20, 30):
                rows.append(dict(strategy=strategy, seed=seed, cycle=n // 10 - 1, n_labeled=n,
                                 test_accuracy=base + 0.01 * n + 0.02 * seed, test_loss=1 - 0.01 * n,
                                 div_class_entropy=0.1 * seed, div_mean_distance=n / 10))
    return pd.DataFrame(rows)


def test_learning_curve_shows_the_mean_over_seeds_and_a_min_max_band_in_the_strategy_colour():
    df = curves_df()
    fig = learning_curve_figure(df, "test_accuracy")
    mean = {t.name.split(" (")[0]: t for t in fig.data if t.showlegend is not False}
    assert set(mean) == {"random", "badge"}
    assert mean["badge"].name == "badge (n=3)", "the legend says over how many seeds"
    np.testing.assert_allclose(mean["badge"].y, [0.6 + 0.1 + 0.02, 0.6 + 0.2 + 0.02, 0.6 + 0.3 + 0.02])
    assert mean["badge"].line.color == palette.strategy_color("badge")
    bands = [t for t in fig.data if t.fill == "tonexty"]
    assert len(bands) == 2
    np.testing.assert_allclose(bands[0].y, [0.5 + 0.1, 0.5 + 0.2, 0.5 + 0.3])  # random's minimum over seeds
    std = learning_curve_figure(df, "test_loss", band="std")
    assert [t for t in std.data if t.fill == "tonexty"]
    with pytest.raises(ValueError, match="band"):
        learning_curve_figure(df, band="iqr")


def test_a_strategy_has_the_same_colour_in_every_figure():
    df = curves_df()
    only_badge = df[df["strategy"] == "badge"]
    colours = set()
    for fig in (learning_curve_figure(df), learning_curve_figure(only_badge), diversity_figure(df),
                run_curves_figure(only_badge)):
        colours |= {t.line.color for t in fig.data if t.name == "badge" and t.mode == "lines+markers"}
    assert colours == {palette.strategy_color("badge")}
    assert palette.strategy_color("my_new_strategy") == palette.strategy_color("my_new_strategy")


def test_diversity_figure_has_a_panel_per_metric():
    fig = diversity_figure(curves_df())
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["class entropy", "mean distance"]
    assert sum(1 for t in fig.data if t.showlegend) == 2  # one legend entry per strategy
    with pytest.raises(ValueError, match="diversity"):
        diversity_figure(curves_df().drop(columns=["div_class_entropy", "div_mean_distance"]))


def test_utility_histogram_counts_the_pool_and_marks_the_batch():
    u = np.array([0.1, 0.2, 0.2, 0.9, 0.95, np.nan])
    mask = np.array([False, False, False, True, True, False])
    fig = utility_histogram(u, mask, bins=5)
    pool, batch, rug = fig.data
    assert len(pool.x) == 3 and len(batch.x) == 2 and list(rug.x) == [0.9, 0.95]
    assert pool.xbins.size == batch.xbins.size
    with pytest.raises(ValueError, match="selected_mask"):
        utility_histogram(u, mask[:3])


def test_thumbnail_panel_tiles_the_images_with_captions():
    images = np.random.default_rng(0).random((12, 8, 8))
    fig = thumbnail_figure(images, [f"#{i}" for i in range(12)], cols=5)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (3 * (8 + 4), 5 * (8 + 1), 3) and z.dtype == np.uint8
    assert [a.text for a in fig.layout.annotations] == [f"#{i}" for i in range(12)]
    flat = thumbnail_figure(images.reshape(12, 64), image_shape=(8, 8))
    assert np.asarray(flat.data[0].z).shape[2] == 3


def test_a_map_opened_on_its_last_frame_shows_that_frames_points_title_and_slider(run):
    import json

    from alcore.viz.interaction import open_on_last_frame

    y, records, result, df = run
    figure = json.loads(map_figure(df, "label").to_json())
    last = figure["frames"][-1]
    opened = open_on_last_frame(json.loads(json.dumps(figure)))
    for i in (0, 1):
        assert opened["data"][i]["x"] == last["data"][i]["x"] and opened["data"][i]["ids"] == last["data"][i]["ids"]
    assert opened["data"][2]["text"] == last["data"][2]["text"] != figure["data"][2]["text"], "the title follows"
    assert opened["layout"]["sliders"][0]["active"] == len(records) - 1
    assert opened["data"][3:] == figure["data"][3:] and opened["frames"] == figure["frames"], "the rest is kept"
    one = json.loads(map_figure(df[df["cycle"] == 0], "label").to_json())
    assert open_on_last_frame(json.loads(json.dumps(one))) == one, "a single frame is already the last"


def test_each_frame_carries_its_own_title_in_a_trace_the_animation_replaces(run):
    """plotly.js redraws a frame's layout only after the tween (so a layout title stayed on cycle 0 while the map
    played); the title is an animated text trace instead, and the layout has none."""
    _, records, _, df = run
    titles = {r.cycle: f"cycle {r.cycle} of the test" for r in records}
    fig = map_figure(df, "label", frame_titles=titles)
    assert not fig.layout.title.text
    assert [tuple(f.data[2].text) for f in fig.frames] == [(titles[r.cycle],) for r in records]
    assert fig.data[2].text == (titles[records[0].cycle],) and fig.data[2].cliponaxis is False
    assert all(f.layout.title.text is None for f in fig.frames), "no frame changes the layout's title"


def test_a_selected_point_says_which_frame_it_was_selected_on(run):
    from alcore.viz.interaction import selected_indices, selection_cycle

    _, records, _, df = run
    fig = map_figure(df, "label")
    for frame, r in zip(fig.frames, records):
        custom = [list(c) for c in frame.data[0].customdata[:3]]
        event = {"selection": {"points": [{"customdata": c} for c in custom]}}
        assert selection_cycle(event) == r.cycle
        assert selected_indices(event).tolist() == [int(c[0]) for c in custom]
        as_objects = {"selection": {"points": [{"customdata": {str(i): v for i, v in enumerate(c)}} for c in custom]}}
        assert selection_cycle(as_objects) == r.cycle
    assert selection_cycle({"selection": {"points": []}}) is None and selection_cycle(None) is None


def test_the_final_frame_stars_the_last_batch_bought():
    """The final record selects nothing; its frame stars the batch of the cycle before (now labelled)."""
    y, records = fake_run(cycles=3)
    last = records[-1]
    final = CycleRecord(cycle=3, n_labeled=last.n_labeled + len(last.selected), strategy="margin", is_final=True,
                        labeled_idx=np.concatenate([last.labeled_idx, last.selected]), display_idx=last.display_idx,
                        display_probs=last.display_probs, display_a=last.display_a, display_h=last.display_h)
    records = records + [final]
    result = project_records(records, settings=ProjectionSettings(n_iter=150, warm_iter=30, perplexity=10))
    df = frames_table(records, result, y)
    starred = set(df.loc[(df["cycle"] == 3) & df["batch"], "idx"])
    assert starred == set(last.selected.tolist())  # all of it, like the frame before: not only its display points
    assert (df.loc[(df["cycle"] == 3) & df["batch"], "state"] == "labeled").all()
    for r in records[:-1]:
        assert set(df.loc[(df["cycle"] == r.cycle) & df["batch"], "idx"]) == set(r.selected.tolist())
    fig = map_figure(df, "label")
    assert sorted(int(i[1:]) for i in fig.frames[-1].data[1].ids) == sorted(starred)
    # a batch point outside the display set sits where the display point it was drawn on in frame 2 is in frame 3
    outside = [i for i in last.selected.tolist() if i not in set(result.idx.tolist())]
    assert outside, "the case needs a batch point outside the display set"
    rows = {c: df[df["cycle"] == c].set_index("idx") for c in (2, 3)}
    shown = {c: rows[c][rows[c]["in_display"]] for c in (2, 3)}
    for i in outside:
        before = rows[2].loc[i, ["x", "y"]].to_numpy(float)
        anchor = (shown[2][["x", "y"]].to_numpy(float) == before).all(axis=1)
        assert anchor.any() and np.allclose(rows[3].loc[i, ["x", "y"]].to_numpy(float),
                                            shown[3].loc[shown[2].index[anchor][0], ["x", "y"]].to_numpy(float))


def _has_colorbar(fig: go.Figure) -> bool:
    return bool(getattr(fig.layout, "coloraxis", None) and fig.layout.coloraxis.colorscale) or any(
        getattr(getattr(t, "marker", None), "showscale", False) for t in fig.data)


def test_the_learn_figures_keep_their_legend_clear_of_the_colour_bar():
    """Both sit on the right by default, one over the other: the legend goes in a row above the plot."""
    from alcore.viz import tour

    rng = np.random.default_rng(0)
    n = 30
    trace = pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n), "index": np.arange(n),
                          "probability": rng.random(n), "order": np.arange(n),
                          "role": ["candidate"] * 25 + ["chosen"] * 4 + ["this pick"]})
    scores = pd.DataFrame({"cosine": rng.normal(size=n), "g_norm": rng.random(n), "score": rng.normal(size=n),
                           "rank": np.arange(1, n + 1), "index": np.arange(n), "y_hat": rng.integers(0, 3, n)})
    figures = [tour.kmeanspp_figure(trace, 5, 10, [0.4, 0.2]), tour.alignment_figure(scores, 5)]
    for fig in figures:
        assert _has_colorbar(fig) and any(t.showlegend is not False for t in fig.data)
        legend = fig.layout.legend
        assert legend.orientation == "h" and legend.y >= 1 and legend.yanchor == "bottom", "above the plot"
        colorbars = [t.marker.colorbar for t in fig.data if getattr(t.marker, "showscale", False)]
        colorbars += [fig.layout.coloraxis.colorbar] if fig.layout.coloraxis.colorscale else []
        assert all(c.x is None or c.x >= 1 for c in colorbars), "the colour bar stays right of the plot"
