"""The Learn page's first five steps: how BADGE, gradient alignment and LESS choose, on the current run's own numbers.

Each step is a few plain words, the formula, then this run's numbers from ``alcore.teaching``, cached by run
folder, cycles stored and cycle (``alcore.viz.tour`` draws the figures): 1 the hallucinated label, 2 the gradient
embedding and why its norm measures uncertainty, 3 k-means++ picking the batch one point at a time, 4 gradient
alignment with a target set, 5 LESS and its Adam-aware features (the sixth, the cold start, is
``tour_cold_start``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from alcore import teaching
from alcore.teaching.study import study_note
from alcore.viz import tour

from pages.ui.loaders import dataset_for, load_records
from pages.ui.runs import run_config


# --- cached engine calls, keyed by run folder, stored cycles and cycle ------------------------------------------
def _record(run_dir: str, n: int, cycle: int):
    return next(r for r in load_records(run_dir, n) if r.cycle == cycle)


@st.cache_data(show_spinner=False, max_entries=16)
def _trace(run_dir: str, n: int, cycle: int) -> dict:
    return teaching.badge_trace(_record(run_dir, n, cycle), run_config(run_dir).seed)


@st.cache_data(show_spinner=False, max_entries=16)
def _uncertainty(run_dir: str, n: int, cycle: int) -> pd.DataFrame:
    return teaching.uncertainty_frame(_record(run_dir, n, cycle))


@st.cache_resource(show_spinner=False, max_entries=2)
def _replay(run_dir: str, n: int, cycle: int) -> teaching.Replay:
    config = run_config(run_dir)
    return teaching.replay(config, _record(run_dir, n, cycle), dataset=dataset_for(config))


@st.cache_data(show_spinner=False, max_entries=16)
def _alignment(run_dir: str, n: int, cycle: int) -> dict:
    return teaching.alignment_scores(_replay(run_dir, n, cycle))


@st.cache_data(show_spinner=False, max_entries=16)
def _less(run_dir: str, n: int, cycle: int, params: str | None) -> dict:
    return teaching.less_features(_replay(run_dir, n, cycle), params=params)


# --- the steps: each takes the run folder, its stored cycles, the cycle explained and the run's dataset ------------
def _pick_point(record, dataset) -> dict:
    """The point steps 1 and 2 talk about (one select box, shared by both steps)."""
    examples = teaching.example_points(record)
    if not examples:
        st.info("No displayed pool point at this cycle.")
        return {}
    which = st.selectbox("Point", list(examples), key="learn_point",
                         help="Points of this cycle's pool worth looking at; the numbers below are for this point.")
    return teaching.point_gradient(record, examples[which], dataset.y)


def hallucinated_label(run_dir: str, n: int, cycle: int, dataset) -> None:
    record = _record(run_dir, n, cycle)
    st.markdown(
        "The pool's labels are unknown, so a strategy cannot compute the loss gradient of a pool point. BADGE "
        "pretends the model is right: it takes the **hallucinated label** ŷ, the class the model finds most "
        "likely, and computes the gradient of the loss at that label with respect to the last layer's weights. "
        "For cross-entropy that gradient is an outer product of two short vectors: the error of the "
        "probabilities, **a**, and the features the last layer sees, **h**.")
    st.latex(r"\hat y(x) = \arg\max_c \, p_c(x), \qquad a(x) = p(x) - e_{\hat y(x)}, \qquad "
             r"g(x) = \frac{\partial \ell(x, \hat y)}{\partial W} = a(x)\, h(x)^\top")
    point = _pick_point(record, dataset)
    if not point:
        return
    names = dataset.class_names
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("hallucinated label ŷ", names[point["y_hat"]], help="argmax of the predicted probabilities")
    c2.metric("p(ŷ)", f"{point['p_max']:.3f}")
    c3.metric("true label", names[point["true_label"]],
              delta="ŷ is right" if point["true_label"] == point["y_hat"] else "ŷ is wrong",
              delta_color="normal" if point["true_label"] == point["y_hat"] else "inverse",
              help="Revealed here for teaching; the strategy never sees it.")
    c4.metric("‖g‖ = ‖a‖·‖h‖", f"{point['g_norm']:.3f}")
    left, right = st.columns([2, 1])
    with left:
        st.plotly_chart(tour.probabilities_figure(names, point["probs"], point["a"]), width="stretch",
                        key="learn_bars")
    with right:
        if dataset.is_image:
            from alcore.export import sample_images

            st.image(sample_images(dataset.X, [point["index"]], dataset.sample_shape), width=120, clamp=True,
                     caption=f"point {point['index']}")
        st.markdown(f"‖a‖ = **{point['a_norm']:.3f}**, ‖h‖ = **{point['h_norm']:.3f}**  \n"
                    f"entropy of p = **{point['entropy']:.3f}** (max log C = {np.log(len(names)):.3f})")
    st.caption(f"Cycle {cycle}, {record.n_labeled} labels, model trained on them. a has one negative entry (at ŷ, "
               "p(ŷ) − 1) and sums to 0.")


def gradient_norm(run_dir: str, n: int, cycle: int, dataset) -> None:
    st.markdown(
        "Whatever the true label y turns out to be, the gradient's size is ‖p − e_y‖·‖h‖. Expanding the square "
        "shows the hallucinated label gives the **smallest** of them (Proposition 1 of the BADGE paper), so "
        "‖g‖ is a lower bound on the size of the last-layer gradient the true label will produce, whichever it "
        "is. A confident model has p ≈ e_ŷ and a tiny ‖a‖; an unsure one has a large ‖a‖. The norm therefore "
        "measures uncertainty, scaled by ‖h‖.")
    st.latex(r"\|g^{y}(x)\|^2 = \|p - e_y\|^2\,\|h\|^2 = \big(\|p\|^2 + 1 - 2p_y\big)\,\|h\|^2 "
             r"\;\ge\; \|g^{\hat y}(x)\|^2 \quad\text{for every label } y")
    st.latex(r"\text{two classes: } \|a\| = \sqrt{2}\,\big(1 - p_{\max}\big)")
    point = _pick_point(_record(run_dir, n, cycle), dataset)
    if point:
        table = teaching.label_gradient_norms(point["probs"], point["h_norm"])
        table.insert(0, "class", list(dataset.class_names))
        st.markdown(f"For this point the smallest gradient norm is at ŷ = "
                    f"**{dataset.class_names[point['y_hat']]}** ({table['g_norm'].min():.3g}); the true label "
                    f"**{dataset.class_names[point['true_label']]}** will give "
                    f"{table['g_norm'].iloc[point['true_label']]:.3g}.")
        st.dataframe(table.drop(columns=["label"]).style.format({"p": "{:.3f}", "a_norm": "{:.3f}",
                                                                 "g_norm": "{:.3g}"})
                     .highlight_min(subset=["g_norm"], color="#d6f5d6"),
                     hide_index=True, width="stretch", height=min(38 * (len(table) + 1), 420))
    frame = _uncertainty(run_dir, n, cycle)
    if len(frame):
        st.plotly_chart(tour.uncertainty_figure(frame), width="stretch", key="learn_norm_scatter")
        st.caption(f"Every displayed pool point of cycle {cycle}. Rank correlation with entropy: ‖a‖ "
                   f"ρ = {frame.attrs['spearman_a_entropy']:.2f}, ‖g‖ ρ = {frame.attrs['spearman_g_entropy']:.2f} "
                   "(‖h‖ varies from point to point and blurs the relation).")


def kmeanspp(run_dir: str, n: int, cycle: int, dataset) -> None:
    st.markdown(
        "Taking the largest norms alone would buy many near-copies of one uncertain region. BADGE instead seeds "
        "k-means++ in gradient space: the first pick is the largest gradient; each next pick is drawn with "
        "probability proportional to its **squared distance D²** to the nearest point already picked. Far-away "
        "points are likely, near-duplicates of a pick have D² ≈ 0 and are almost never drawn, and since confident "
        "points sit near the origin, uncertain ones are the far ones. Distances come from the two factors, "
        "never from the long vector g.")
    st.latex(r"c_1 = \arg\max_i \|g_i\|^2, \qquad P(\text{next} = i) = \frac{D^2(i)}{\sum_j D^2(j)}, \qquad "
             r"D^2(i) = \min_{c \,\in\, \text{chosen}} \|g_i - g_c\|^2")
    st.latex(r"\|g_i - g_c\|^2 = \|a_i\|^2\|h_i\|^2 + \|a_c\|^2\|h_c\|^2 - 2\,\langle a_i, a_c\rangle\langle h_i, h_c"
             r"\rangle")
    with st.spinner("Replaying k-means++…"):
        result = _trace(run_dir, n, cycle)
    trace: teaching.KMeansPPTrace = result["trace"]
    k = result["k"]
    if k == 0:
        st.info("This cycle chose no batch.")
        return
    if result["matches_run"]:
        st.success(f"These are the run's own {k} picks of cycle {cycle}, in the order BADGE made them.",
                   icon=":material/check_circle:")
    elif result["note"]:
        st.caption(result["note"])
    j = st.slider("Pick", 1, k, 1, key="learn_pick_step",
                  help="Slide to watch the batch grow: earlier picks in black, this pick as a star, every other "
                       "point coloured by its chance of being this pick.") if k > 1 else 1
    frame = teaching.trace_frame(result, j - 1)
    st.plotly_chart(tour.kmeanspp_figure(frame, j, k, result["explained"]), width="stretch",
                    key="learn_kmeans_map")
    p_pick = float(trace.pick_probability[j - 1])
    if j == 1:
        st.markdown(f"Pick 1 is not random: it is the point with the largest ‖g‖² = "
                    f"**{trace.sq_norms[trace.picks[0]]:.3g}**.")
    else:
        top = frame.nlargest(5, "probability")[["index", "probability", "d2"]]
        st.markdown(f"Pick {j} had probability **{p_pick:.4f}** (D² = {trace.d2[j - 1][trace.picks[j - 1]]:.3g}); "
                    f"a uniform draw would give each of the {len(frame) - (j - 1)} remaining points "
                    f"{1 / max(len(frame) - (j - 1), 1):.4f}. The five most likely points at this step:")
        st.dataframe(top.rename(columns={"d2": "D²"}), hide_index=True, width="stretch")


def target_metrics(res: dict) -> None:
    """The alignment step's four numbers, for either task: the target set, ||G_T||, this cycle's target loss and how
    many of the top k the run's batch holds."""
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("target set", f"{res['n_target']} points", help=res["target_source"])
    c2.metric("‖G_T‖", f"{res['g_t_norm']:.3g}", help="norm of the target-loss gradient, all parameters")
    c3.metric("target loss (this cycle)", f"{res['target_loss']:.3f}" if np.isfinite(res["target_loss"]) else "–")
    c4.metric("top-k ∩ run's batch", f"{res['overlap']} / {res['k']}")


def alignment(run_dir: str, n: int, cycle: int, dataset) -> None:
    st.markdown(
        "Sometimes we care about one part of the data: a **target set** T of labelled examples (here "
        "drawn from a few classes). One gradient step on a candidate x changes the target loss, to first order, by "
        "minus the inner product of x's gradient with the target gradient G_T. Alignment buys the points with the "
        "largest inner product: the largest predicted drop of the target loss. The inner product is a norm times "
        "a cosine, so it still likes uncertain points (large ‖g‖), but only when they point the right way.")
    st.latex(r"G_T = \nabla_\theta \frac{1}{|T|}\sum_{z \in T} \ell(z, y_z), \qquad "
             r"s(x) = \langle \nabla_\theta \ell(x, \hat y), G_T \rangle, \qquad "
             r"L_T\big(\theta - \eta \nabla_\theta \ell(x, \hat y)\big) \approx L_T(\theta) - \eta\, s(x)")
    st.latex(r"\text{last layer: } s(x) = a_x^\top M\, \tilde h_x = \|g_x\|\;\|M\|\;\cos(g_x, M), \qquad "
             r"M = \frac{1}{|T|}\sum_{z} a_z \tilde h_z^\top")
    with st.spinner("Rebuilding this cycle's model and scoring the pool…"):
        rep = _replay(run_dir, n, cycle)
        res = _alignment(run_dir, n, cycle)
    for note in rep.notes:
        st.caption(note)
    target_metrics(res)
    if res["target_source"] != "target":
        st.caption("This run has no target set, so the test set stands in for it. The targeted demo on the Compare "
                   "page uses a real one.")
    frame = res["frame"]
    top = frame.nsmallest(res["k"], "rank")
    st.plotly_chart(tour.alignment_figure(frame, res["k"]), width="stretch", key="learn_align_scatter")
    st.caption(f"Each pool point: its alignment (x) against its gradient size (y), coloured by the score. The "
               f"last-layer score ranks the pool like the all-parameter one (ρ = {res['spearman_last_full']:.2f}); "
               f"the gradient norm alone explains ρ = {res['spearman_norm_score']:.2f} of the ranking.")
    st.dataframe(top[["index", "score", "g_norm", "cosine", "y_hat", "in_batch"]], hide_index=True,
                 width="stretch", height=240)
    st.info(study_note(categorical=True), icon=":material/science:")


def less(run_dir: str, n: int, cycle: int, dataset) -> None:
    st.markdown(
        "LESS (Xia et al. 2024) also matches pool gradients to target gradients, with two changes. It uses the "
        "**cosine**, so only the direction counts, not the size. And since the model is trained with Adam, which "
        "rescales every coordinate of the gradient, it compares the **update Adam would make** on x, Γ, rather "
        "than the raw gradient g; the target side keeps plain gradients. Scores are averaged over a few training "
        "checkpoints, weighted by their learning rates.")
    st.latex(r"m' = \beta_1 m + (1-\beta_1)\, g, \quad v' = \beta_2 v + (1-\beta_2)\, g^2, \quad "
             r"\Gamma = \frac{m'}{\sqrt{v' + \epsilon}}")
    st.caption("m and v are Adam's moment estimates saved with each checkpoint. As in LESS's released code, ε sits "
               "inside the square root and the moments are not bias-corrected.")
    st.latex(r"s(x) = \sum_i w_i \, \max_{y} \cos\!\big(\Gamma_i(x, y),\, \nabla L_T(\theta_i)\big), "
             r"\qquad w_i \propto \bar\eta_i")
    st.caption("The engine compares with the gradient of the mean target loss, which points where the target loss "
               "is, and tries every label y of x: the predicted label is wrong exactly on the classes the model "
               "misses, and its gradient then points away from the target's. LESS's released code averages the "
               "cosines with each target example and uses the predicted label (options target_agg='mean_cosine', "
               "label_mode='argmax'); measured on two-domain digits, that buys labels the model already fits.")
    full = st.toggle("All parameters (slower)", value=False, key="learn_less_all",
                     help="Off: the last layer only (fast). On: every parameter, as LESS does by default.")
    with st.spinner("Computing Adam and SGD features at each checkpoint…"):
        res = _less(run_dir, n, cycle, "all" if full else None)
    if not res["available"]:
        st.info(f"LESS is not available at this cycle: {res['reason']}.", icon=":material/info:")
        return
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("checkpoints", len(res["checkpoints"]))
    c2.metric("mean cos(Γ, g)", f"{res['frame']['cos_adam_sgd'].mean():.2f}",
              help="1 would mean Adam only rescales the gradient uniformly")
    c3.metric("rank corr. Adam vs SGD scores", f"{res['spearman']:.2f}")
    c4.metric("top-k shared", f"{res['top_overlap']} / {res['k']}")
    st.caption(f"{res['params'].replace('_', ' ')} parameters ({res['n_params']} numbers per gradient"
               + (f", projected to {res['proj_dim']}" if res.get("proj_dim") and res["proj_dim"] < res["n_params"]
                  else "") + f"), Adam as in LESS's code (β = {res['betas']}, ε = {res['eps']:g} inside the root), "
               f"target: {res['target_source']} ({res['n_target']} points).")
    table = res["checkpoints"].rename(columns={
        "epoch": "epoch", "weight": "w_i", "cos_adam_sgd": "mean cos(Γ, g)",
        "spread_adam": "mean pairwise cos, Γ", "spread_sgd": "mean pairwise cos, g",
        "score_std_adam": "score std, Adam", "score_std_sgd": "score std, SGD"}).drop(columns=["mean_lr"])
    st.dataframe(table.style.format(precision=3), hide_index=True, width="stretch")
    st.caption("Adam features share the momentum term β₁m, so they crowd together (a larger mean pairwise cosine) "
               "and their scores spread less than plain gradients' (the score std columns).")
    st.plotly_chart(tour.less_figure(res["frame"]), width="stretch", key="learn_less_scatter")
