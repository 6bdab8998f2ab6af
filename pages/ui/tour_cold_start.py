"""The Learn page's sixth step: what BADGE picks on an untrained network next to what random picks, with the
diversity of each first batch (``alcore.teaching.cold_start``; the seed's cold start, docs/methods.md#cold-start)."""
from __future__ import annotations

import streamlit as st

from alcore.teaching import cold_start as engine
from alcore.viz import tour

from pages.ui.loaders import dataset_for
from pages.ui.runs import run_config


@st.cache_data(show_spinner=False, max_entries=8)
def _batches(run_dir: str) -> dict:
    config = run_config(run_dir)
    return engine.cold_start_batches(config, dataset=dataset_for(config))


def cold_start(run_dir: str, n: int, cycle: int, dataset) -> None:
    st.markdown(
        "The seed's question: start with a network that knows nothing of the task. Does BADGE still spread its "
        "first batch, or is a random draw just as good? Both batches below are cycle 0 of this run's settings "
        "(dataset, model, seed, batch size) from zero labels: BADGE chooses itself on the untrained, seeded network "
        "(cold start *self*, docs/methods.md#cold-start), random draws uniformly. The same seed gives both the same "
        "split, the same untrained network and the same points on the map, so only the strategy differs. "
        "Diversity is the engine's per-batch measure (docs/methods.md#diversity-metrics) on that network's "
        "gradient embeddings.")
    st.latex(r"\bar d = \frac{2}{k(k-1)} \sum_{i<j} \|g_i - g_j\|, \qquad "
             r"\log\det\big(\hat G \hat G^\top + \lambda I\big), \quad \hat g_i = g_i / \|g_i\|")
    with st.spinner("Choosing both first batches on the untrained network…"):
        res = _batches(run_dir)
    mine, base = res["strategy"], res["baseline"]
    fell_back = {name: why for name, why in res["fallback"].items() if why}
    if fell_back:
        st.info(f"Not every strategy chose itself here: {fell_back}.", icon=":material/info:")
    st.plotly_chart(tour.cold_start_figure(res["frame"], mine, base, res["explained"]), width="stretch",
                    key="learn_cold_map")
    d = res["diversity"]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(f"{mine}: mean pairwise distance", f"{d.loc['mean_pairwise_distance', mine]:.3g}")
    c2.metric(f"{base}: mean pairwise distance", f"{d.loc['mean_pairwise_distance', base]:.3g}")
    c3.metric(f"{mine}: log-det", f"{d.loc['logdet', mine]:.3g}")
    c4.metric(f"{base}: log-det", f"{d.loc['logdet', base]:.3g}")
    st.dataframe(d.rename(index=engine.SHOWN).style.format("{:.4g}"), width="stretch")
    st.markdown(res["verdict"])
    st.markdown("Spreading the first batch matters most when the model knows nothing. A ranking without it can "
                "pile into one mode: on digits with a target set of five classes, LESS (top k) takes its whole "
                "first batch from one class on every seed studied, although the points it ranks highest are nearly "
                "all of the target's classes (docs/study.md#why-lesss-first-batch-fails).")
    st.caption(f"First batch of {res['k']} points each, on the untrained network; the map is the kernel PCA of "
               "the gradient embeddings of the displayed pool and of both batches (as in step 3).")
