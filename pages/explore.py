"""Explore: the animated map of a run, colour-by, box/lasso selection of points, and the per-cycle batch table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from alcore.constants import color_by_labels
from alcore.export import batch_table, point_table, sample_images
from alcore.viz.interaction import selected_indices, selection_cycle

from pages.ui.errors import show_error
from pages.ui.frame import in_frame
from pages.ui.loaders import dataset_for, load_records
from pages.ui.map_panel import SPACES, map_figure, mapped_cycles
from pages.ui.run_panels import BATCH_FORMATS
from pages.ui.runs import run_config, run_task, stored_run

in_frame()
st.title("Explore a run")
run_dir, n = stored_run("explore")

config = run_config(run_dir)
task = run_task(run_dir)
n_map = mapped_cycles(run_dir, n)  # while a worker runs, the frames it has laid out already
c1, c2, c3 = st.columns(3)
colorings = color_by_labels(task.name)
color_by = c1.selectbox("Colour by", list(colorings), format_func=colorings.get, key="explore_color",
                        help="What the colour of a point shows, for every frame of the animation.")
space = c2.selectbox("Space", list(SPACES), format_func=SPACES.get, key="explore_space",
                     help="Which embedding the t-SNE map lays out.")
c3.metric("Cycles stored", n, help="Each frame of the animation is one cycle; press ▶ on the map to play them.")

event = None
if space == "gradient" and n_map == 0:
    st.info("The run's worker is laying out the first map; reload the page in a few seconds.",
            icon=":material/hourglass_empty:")
else:
    try:
        figure = map_figure(run_dir, n_map if space == "gradient" else n, color_by=color_by, space=space,
                            open_on_last=True)
    except (ValueError, MemoryError) as err:
        show_error(err, "Choose another space or colour, or a run with fewer display points.")
        st.stop()
    figure.setdefault("layout", {})["dragmode"] = "select"  # a drag draws a box; the lasso is in the toolbar
    event = st.plotly_chart(figure, key=f"explore_map_{color_by}_{space}", on_select="rerun",
                            selection_mode=("box", "lasso"), width="stretch")
    st.caption("Drag a box or a lasso on the map (tools at its top right) to see the points inside, at the cycle "
               "the map shows; the slider and ▶ play the cycles.")

records = load_records(run_dir, n)
indices = selected_indices(event)
st.subheader("Chosen points")
if not len(indices):
    st.caption("Nothing selected yet.")
else:
    cycle = selection_cycle(event)
    cycle = n - 1 if cycle is None else cycle  # the map opens on the last cycle
    dataset = dataset_for(config)
    table = point_table(records, indices, cycle, dataset.y, dataset.class_names, task=task, texts=dataset.texts)
    st.markdown(f"**{len(indices)} point(s) selected at cycle {cycle}**, the cycle the map showed: prediction, "
                f"confidence and utility are those of that cycle's model and batch (move the map's slider and "
                f"select again for another cycle).")
    if dataset.is_image:
        shown = indices[:48]
        st.image(sample_images(dataset.X, shown, dataset.sample_shape), width=56, clamp=True,
                 caption=[f"{r['class']}→{r['prediction']}" for _, r in table.head(len(shown)).iterrows()])
    elif not dataset.is_text:  # a text's words are in the table's text column
        features = pd.DataFrame(dataset.X[np.asarray(indices)], index=pd.Index(indices, name="index"),
                                columns=[f"x{j}" for j in range(dataset.n_features)])
        st.dataframe(features, width="stretch", height=200)
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format=f) for c, f in BATCH_FORMATS.items()})

st.subheader("Batches, cycle by cycle")
st.caption("A fallback says why the strategy's own scores did not choose the batch (e.g. a cold start with no "
           "labels) and which strategy chose instead; its utilities read —.")
batches = batch_table(records, task)
st.dataframe(batches, hide_index=True, width="stretch",
             column_config={c: st.column_config.NumberColumn(format="%.3f") for c in batches.columns
                            if str(c).startswith("test ")})
