"""Export: the animated map as a GIF (with a preview) or as one self-contained HTML page, the records as CSV and
Parquet, and the config JSON. A download button only downloads (``on_click="ignore"``): the file is made before it
is shown, so a click has nothing to recompute and does not run the page again."""
from __future__ import annotations

import streamlit as st

from alcore import export
from alcore.constants import color_by_labels
from alcore.task import metric_label

from pages.ui.frame import in_frame
from pages.ui.loaders import gif_bytes, load_summary, tables_for
from pages.ui.map_panel import SPACES, build_from_map, map_html
from pages.ui.runs import run_task, stored_run

in_frame()
st.title("Export a run")
run_dir, n = stored_run("export")
run_id = run_dir.name
task = run_task(run_dir)
colorings = color_by_labels(task.name)

st.subheader("Animated GIF")
st.caption("The same frames as the map, rendered without a browser: one frame per cycle, the batch on top.")
c1, c2, c3 = st.columns(3)
color_by = c1.selectbox("Colour by", list(colorings), format_func=colorings.get, key="gif_color",
                        help="What the colour of a point shows.")
space = c2.selectbox("Space", list(SPACES), format_func=SPACES.get, key="gif_space",
                     help="Which embedding the t-SNE map lays out.")
fps = c3.slider("Frames per second", 0.5, 10.0, 2.0, 0.5, key="gif_fps", help="Playback speed: cycles per second.")
c4, c5, c6 = st.columns(3)
width = c4.select_slider("Width (px)", [480, 640, 720, 960, 1280], value=720, key="gif_width",
                         help="Image width; the height keeps a 3:2 ratio.")
max_points = c5.number_input("Most points drawn", 100, 100_000, 2000, step=100, key="gif_points",
                             help="A seeded subset of the map's points (the batch is always drawn); fewer points "
                                  "make a smaller file.")
curves = [*export.curve_metrics(list(load_summary(str(run_dir), n).itertuples()), task.name), None]  # scalars only
curve = c6.selectbox("Curve beside the map", curves, key="gif_curve",
                     format_func=lambda m: "no curve" if m is None else metric_label(m),
                     help="The learning curve drawn beside the map, and the number in each frame's title. A run with "
                          "a target set offers its target loss, the variable a targeted strategy tries to lower.")
if st.button("Render GIF", type="primary", icon=":material/movie:", key="gif_render",
             help="Render the frames (a few seconds for a digits run)."):
    st.session_state["gif_options"] = dict(space=space, color_by=color_by, fps=float(fps),
                                           size=(int(width), int(width * 2 // 3)), max_points=int(max_points),
                                           show_curve=curve is not None, curve_metric=curve)
options = st.session_state.get("gif_options")
built = options and build_from_map(run_dir, n, options, gif_bytes, "Rendering the GIF…",
                                   "Try fewer points, a smaller size or another space.")
if built:
    data, n_gif = built
    st.image(data, caption=f"{run_id}: {n_gif} frames, {len(data) / 1e6:.2f} MB")
    st.download_button("Download GIF", data, file_name=f"{run_id}.gif", mime="image/gif", key="gif_download",
                       icon=":material/download:", type="primary", on_click="ignore")

st.subheader("Animated map as a web page")
st.caption("The map with its ▶ play button and cycle slider, in one HTML file that opens in any browser without a "
           "network (plotly is inside it, about 5 MB): for slides and teaching. Colour and space as chosen above.")
if st.button("Make the HTML page", icon=":material/html:", key="html_make",
             help="Build the page from the run's map (the frames are cached, so this takes a few seconds)."):
    st.session_state["html_options"] = dict(color_by=color_by, space=space)
html_options = st.session_state.get("html_options")
built = html_options and build_from_map(run_dir, n, html_options, map_html, "Building the HTML page…",
                                        "Try another space, or a run with fewer points on the map.")
if built:
    page, _ = built
    st.download_button(f"Download the map ({len(page.encode()) / 1e6:.1f} MB)", page, file_name=f"{run_id}-map.html",
                       mime="text/html", key="html_download", icon=":material/download:", type="primary",
                       on_click="ignore")

st.subheader("Records")
st.caption("One row per cycle (metrics, diversity, timings, the batch), and one row per labelled point.")
tables = tables_for(str(run_dir), n)
for name, frame in tables.items():
    st.markdown(f"**{name}** · {len(frame)} rows")
    a, b = st.columns(2)
    a.download_button(f"{name} as CSV", export.to_csv_bytes(frame), file_name=f"{run_id}-{name}.csv",
                      mime="text/csv", key=f"csv_{name}", icon=":material/table:", on_click="ignore")
    b.download_button(f"{name} as Parquet", export.to_parquet_bytes(frame), file_name=f"{run_id}-{name}.parquet",
                      mime="application/vnd.apache.parquet", key=f"parquet_{name}", icon=":material/dataset:",
                      on_click="ignore")
with st.expander("Preview the cycles table"):
    st.dataframe(tables["cycles"], hide_index=True, width="stretch")

st.subheader("Config")
text = export.config_json(run_dir)
st.caption("Repeat the run with `python -m alcore run --config config.json --out runs/again` (same seed, same "
           "selections).")
st.download_button("config.json", text, file_name=f"{run_id}-config.json", mime="application/json",
                   key="config_download", icon=":material/data_object:", on_click="ignore")
st.code(text, language="json")
