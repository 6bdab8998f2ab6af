"""The Learn page's steps for a regression run: the hallucinated residual σ, the gradient embedding g = σ h, then
k-means++ (the same step as classification's), and alignment and LESS with the regression gradient
(docs/tasks.md#hallucinated-labels-in-regression)."""
from __future__ import annotations

import streamlit as st

from alcore.teaching import regression
from alcore.teaching.study import study_note
from alcore.viz import tour as figures

from pages.ui import tour
from pages.ui.runs import run_task
from pages.ui.tour_cold_start import cold_start

_record = tour._record  # the cycle's record, as every step reads it


@st.cache_data(show_spinner=False, max_entries=16)
def _alignment(run_dir: str, n: int, cycle: int) -> dict:
    return regression.alignment_scores(tour._replay(run_dir, n, cycle))


@st.cache_data(show_spinner=False, max_entries=16)
def _less(run_dir: str, n: int, cycle: int) -> dict:
    return regression.less_scores(tour._replay(run_dir, n, cycle))


def hallucinated_residual(run_dir: str, n: int, cycle: int, dataset) -> None:
    record = _record(run_dir, n, cycle)
    st.markdown(
        "A regression model predicts a number f(x). Its loss on a point is half the squared residual, so the "
        "gradient is the **residual** times the gradient of the prediction. The pool's values are unknown, and "
        "pretending the model is right (the residual 0) gives a zero gradient for every point. The engine uses "
        "the residual's **typical size** instead: the predictive spread **σ(x)** of the last layer, large where the "
        "labelled points do not pin the prediction down. The last-layer gradient becomes **g = σ h**.")
    st.latex(r"\ell(x, y) = \tfrac12 (f(x) - y)^2, \qquad \nabla_W \ell = (f(x) - y)\, h(x)^\top, \qquad "
             r"g(x) = \sigma(x)\, h(x), \qquad \sigma^2(x) = \tilde h^\top (\lambda I + \tilde H_L^\top "
             r"\tilde H_L)^{-1} \tilde h")
    examples = regression.example_points(record)
    if not examples:
        st.info("No displayed pool point at this cycle.")
        return
    which = st.selectbox("Point", list(examples), key="learn_point",
                         help="Points of this cycle's pool worth looking at; the numbers below are for this point.")
    point = regression.point_residual(record, examples[which], dataset.y, run_task(run_dir))
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("prediction f(x)", f"{point['prediction']:.3g}")
    c2.metric("spread σ", f"{point['sigma']:.3g}", help=f"in the target's units: {point['sigma_units']:.3g}")
    c3.metric("true value", f"{point['true_value']:.3g}", help="Revealed here for teaching; the strategy never "
              "sees it.")
    c4.metric("‖g‖ = σ·‖h‖", f"{point['g_norm']:.3g}")
    if dataset.is_text:
        st.caption(dataset.texts[point["index"]])
    st.caption(f"Cycle {cycle}, {record.n_labeled} labels. σ is in standardised units (the target divided by its "
               "spread over the pool).")


def gradient_norm(run_dir: str, n: int, cycle: int, dataset) -> None:
    st.markdown(
        "The size of the embedding, σ·‖h‖, is the size of the last-layer gradient a typical residual would make: "
        "large where the model is unsure (σ) and the features are strong (‖h‖). Unlike classification there is no "
        "lower bound over labels here: a far-off true value makes a larger gradient, a close one a smaller.")
    frame = regression.spread_frame(_record(run_dir, n, cycle))
    if len(frame):
        st.plotly_chart(figures.regression_norm_figure(frame), width="stretch", key="learn_norm_scatter")
        st.caption(f"Every displayed pool point of cycle {cycle}; rank correlation of ‖g‖ with σ: "
                   f"ρ = {frame.attrs['spearman']:.2f}.")


def alignment(run_dir: str, n: int, cycle: int, dataset) -> None:
    st.markdown(
        "With a **target set** T rated by its own rater, one gradient step on a point x changes the target loss, "
        "to first order, by minus the inner product of x's gradient with the target gradient G_T. For x's unknown "
        "value the engine takes the better of the residuals ±σ: the score is σ times the size of the alignment of "
        "∇f(x) with G_T. One forward-mode pass gives the alignment of every pool point.")
    st.latex(r"G_T = \frac{1}{|T|}\sum_{z \in T} (f(z) - y_z)\, \nabla_\theta f(z), \qquad "
             r"s(x) = \sigma(x)\, \big|\langle \nabla_\theta f(x), G_T \rangle\big|")
    with st.spinner("Rebuilding this cycle's model and scoring the pool…"):
        res = _alignment(run_dir, n, cycle)
    tour.target_metrics(res)
    frame = res["frame"]
    st.plotly_chart(figures.regression_alignment_figure(frame, res["k"]), width="stretch", key="learn_align_scatter")
    st.caption(f"σ alone explains ρ = {res['spearman_sigma_score']:.2f} of the ranking.")
    st.dataframe(frame.nsmallest(res["k"], "rank"), hide_index=True, width="stretch", height=240)
    st.info(study_note(categorical=False), icon=":material/science:")


def less(run_dir: str, n: int, cycle: int, dataset) -> None:
    st.markdown(
        "LESS compares **directions**: the cosine of the update Adam would make on x with the target gradient. "
        "Adam's update is not odd in the gradient (its momentum term does not flip), so the two candidate residuals "
        "+σ and −σ give different cosines; the better one counts. With plain gradients the score is "
        "|cos(∇f, G_T)|.")
    st.latex(r"s(x) = \sum_i w_i \max_{r = \pm\sigma(x)} \cos\big(\Gamma_i(r\, \nabla_\theta f(x)),\, G_T\big)")
    with st.spinner("Scoring the pool with Adam and with SGD features…"):
        res = _less(run_dir, n, cycle)
    if not res["available"]:
        st.info(f"LESS is not available at this cycle: {res['reason']}.", icon=":material/info:")
        return
    c1, c2, c3 = st.columns(3)
    c1.metric("checkpoints", res["n_checkpoints"])
    c2.metric("rank corr. Adam vs SGD scores", f"{res['spearman']:.2f}")
    c3.metric("top-k shared", f"{res['top_overlap']} / {res['k']}")
    st.plotly_chart(figures.regression_less_figure(res["frame"]), width="stretch", key="learn_less_scatter")


STEPS = {"1 · Hallucinated residual": hallucinated_residual, "2 · Gradient embedding": gradient_norm,
         "3 · k-means++ pick by pick": tour.kmeanspp, "4 · Gradient alignment": alignment, "5 · LESS and Adam": less,
         "6 · Cold start: BADGE and random": cold_start}
