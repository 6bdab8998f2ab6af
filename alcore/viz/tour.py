"""Figures of the Learn page's tour (plotly), each drawn from a table or numbers of ``alcore.teaching``."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

_MARGIN = dict(l=10, r=10, t=30, b=10)
#: A figure with both a legend and a colour bar: the legend goes in a row above the plot, the colour bar stays on
#: the right (plotly puts both on the right by default, one over the other).
LEGEND_ABOVE = dict(orientation="h", x=0.0, xanchor="left", y=1.02, yanchor="bottom")


def _legend_clear_of_colorbar(fig: go.Figure) -> go.Figure:
    fig.update_layout(legend=LEGEND_ABOVE, margin=dict(_MARGIN, t=80), title=dict(y=0.98, yanchor="top"))
    return fig


def probabilities_figure(class_names: Sequence[str], probs, a) -> go.Figure:
    """Step 1: the predicted probabilities p and the error a = p − e_ŷ of one point, one pair of bars per class."""
    fig = go.Figure([go.Bar(x=list(class_names), y=probs, name="p", marker_color="#4c78a8"),
                     go.Bar(x=list(class_names), y=a, name="a", marker_color="#e45756")])
    fig.update_layout(barmode="group", height=280, margin=_MARGIN,
                      title="probabilities p and the error a (one bar per class)")
    return fig


def uncertainty_figure(frame: pd.DataFrame) -> go.Figure:
    """Step 2: every pool point's gradient norm against its predictive entropy (``teaching.uncertainty_frame``)."""
    return px.scatter(frame, x="entropy", y="g_norm", color="selected", hover_data=["index", "confidence", "y_hat"],
                      color_discrete_map={True: "#e45756", False: "#9ecae9"}, opacity=0.7,
                      labels={"g_norm": "‖g‖ = ‖a‖·‖h‖", "entropy": "predictive entropy",
                              "selected": "in this cycle's batch"}, height=360)


def kmeanspp_figure(frame: pd.DataFrame, pick: int, k: int, explained: Sequence[float]) -> go.Figure:
    """Step 3: pick ``pick`` (1-based) of ``k`` on the pool's gradient embeddings (``teaching.trace_frame``):
    earlier picks as crosses, this pick as a star, every candidate coloured by its chance of being this pick."""
    fig = go.Figure()
    cand = frame[frame["role"] == "candidate"]
    fig.add_trace(go.Scattergl(x=cand["x"], y=cand["y"], mode="markers", name="candidates",
                               marker=dict(size=6, color=cand["probability"], colorscale="Viridis", showscale=True,
                                           colorbar=dict(title="P(this pick)")),
                               customdata=np.stack([cand["index"], cand["probability"]], axis=1),
                               hovertemplate="point %{customdata[0]}<br>P = %{customdata[1]:.4f}<extra></extra>"))
    chosen = frame[frame["role"] == "chosen"].sort_values("order")
    fig.add_trace(go.Scatter(x=chosen["x"], y=chosen["y"], mode="markers+text", name="picked before",
                             text=chosen["order"].astype(str), textposition="top center",
                             marker=dict(size=11, color="black", symbol="x")))
    this = frame[frame["role"] == "this pick"]
    fig.add_trace(go.Scatter(x=this["x"], y=this["y"], mode="markers", name=f"pick {pick}",
                             marker=dict(size=20, color="#e45756", symbol="star", line=dict(width=1, color="black"))))
    fig.update_layout(height=480, xaxis_title=f"gradient PC 1 ({explained[0]:.0%} of variance)",
                      yaxis_title=f"gradient PC 2 ({explained[1]:.0%} of variance)",
                      title=f"pick {pick} of {k}: gradient embeddings of the pool (kernel PCA of ⟨a,a'⟩⟨h,h'⟩)")
    return _legend_clear_of_colorbar(fig)


def alignment_figure(frame: pd.DataFrame, k: int) -> go.Figure:
    """Step 4: each pool point's alignment with the target gradient against its gradient size, coloured by the
    score, the top ``k`` marked (``teaching.alignment_scores``)."""
    return _legend_clear_of_colorbar(px.scatter(
        frame.assign(top_k=frame["rank"] <= k), x="cosine", y="g_norm", color="score", symbol="top_k",
        color_continuous_scale="RdBu_r", color_continuous_midpoint=0.0, hover_data=["index", "y_hat", "rank"],
        height=400, labels={"cosine": "cos(g_x, M): direction (last layer)", "g_norm": "‖g_x‖: uncertainty",
                            "top_k": "top-k"}))


def less_figure(frame: pd.DataFrame) -> go.Figure:
    """Step 5: each pool point's LESS score with Adam features against the one with plain gradients
    (``teaching.less_features``)."""
    return px.scatter(frame, x="score_sgd", y="score_adam", color="cos_adam_sgd", hover_data=["index"],
                      labels={"score_sgd": "score with SGD features g", "score_adam": "score with Adam features Γ",
                              "cos_adam_sgd": "cos(Γ, g)"}, height=380)


def cold_start_figure(frame: pd.DataFrame, strategy: str, baseline: str, explained: Sequence[float]) -> go.Figure:
    """Step 6: the first batch of ``strategy`` next to ``baseline``'s on one gradient map of the untrained network
    (``teaching.cold_start.cold_start_batches``): the displayed pool in grey, each panel's batch on top."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, shared_xaxes=True, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[f"{strategy}'s first batch", f"{baseline}'s first batch"])
    pool = frame[frame["picked_by"] == ""]
    for col, (name, colour) in enumerate(((strategy, "#e45756"), (baseline, "#4c78a8")), start=1):
        fig.add_trace(go.Scattergl(x=pool["x"], y=pool["y"], mode="markers", name="pool", showlegend=col == 1,
                                   marker=dict(size=5, color="#c7c7c7"), customdata=pool["index"],
                                   hovertemplate="point %{customdata}<extra></extra>"), row=1, col=col)
        mine = frame[frame["picked_by"].isin([name, "both"])]
        fig.add_trace(go.Scatter(x=mine["x"], y=mine["y"], mode="markers", name=f"picked by {name}",
                                 marker=dict(size=11, color=colour, symbol="x", line=dict(width=1, color="black")),
                                 customdata=mine["index"], hovertemplate="point %{customdata}<extra></extra>"),
                      row=1, col=col)
    fig.update_xaxes(title_text=f"gradient PC 1 ({explained[0]:.0%} of variance)")
    fig.update_yaxes(title_text=f"gradient PC 2 ({explained[1]:.0%} of variance)", col=1)
    fig.update_layout(height=440, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def regression_norm_figure(frame: pd.DataFrame) -> go.Figure:
    """A regression run's step 2: each displayed pool point's spread σ against its embedding's norm ``σ·||h||``,
    this cycle's batch marked (``teaching.regression.spread_frame``)."""
    return px.scatter(frame, x="sigma", y="g_norm", color="selected", hover_data=["index"],
                      color_discrete_map={True: "#e45756", False: "#9ecae9"}, opacity=0.7, height=360,
                      labels={"sigma": "spread σ", "g_norm": "‖g‖ = σ·‖h‖", "selected": "in this cycle's batch"})


def regression_alignment_figure(frame: pd.DataFrame, k: int) -> go.Figure:
    """A regression run's step 4: each pool point's alignment ``|<∇f, G_T>|`` against its spread σ, coloured by the
    score, the top ``k`` marked (``teaching.regression.alignment_scores``)."""
    return px.scatter(frame.assign(top_k=frame["rank"] <= k), x="alignment", y="sigma", color="score",
                      symbol="top_k", hover_data=["index", "rank"], height=380,
                      labels={"alignment": "|⟨∇f, G_T⟩|: direction", "sigma": "σ: uncertainty"})


def regression_less_figure(frame: pd.DataFrame) -> go.Figure:
    """A regression run's step 5: each pool point's LESS score with Adam features against the one with plain
    gradients (``teaching.regression.less_scores``)."""
    return px.scatter(frame, x="score_sgd", y="score_adam", color="in_batch", hover_data=["index"], height=380,
                      labels={"score_sgd": "score with SGD features", "score_adam": "score with Adam features"})
