"""The numbers of the Learn page's guided tour, computed from a stored run (docs/methods.md#last-layer-embeddings,
docs/methods.md#adam-features, docs/methods.md#badge, docs/methods.md#less, docs/methods.md#alignment).

Each function takes a run's cycle record (and, for the target-aware steps, a model rebuilt for that cycle) and
returns plain arrays and tables; the page only explains and draws them.

1. ``point_gradient``: one point's probabilities, hallucinated label ``ŷ = argmax p``, ``a = p - e_ŷ`` and
   ``||g|| = ||a||·||h||`` (``points``).
2. ``label_gradient_norms``: ``||g^y|| = sqrt(||p||² + 1 - 2 p_y)·||h||`` for every label ``y`` (Proposition 1: the
   hallucinated label gives the smallest, so ``||g^ŷ||`` is a lower bound whatever the true label);
   ``uncertainty_frame``: gradient norm against entropy and confidence over the pool (``points``).
3. ``kmeanspp_trace`` / ``badge_trace``: BADGE's k-means++ picks one at a time with the D² probabilities before
   each pick, on a 2-D ``gradient_map`` (kernel PCA of the factorised Gram matrix) (``badge_trace``).
4. ``alignment_scores``: ``s(x) = <∇ℓ(x, ŷ), G_T>`` with the target gradient ``G_T``, by the alignment strategy's
   own scoring (one JVP over all parameters), and its last-layer form ``a^T M h~`` split into ``||g||·||M||·cos``
   (``targeted``).
5. ``less_features``: LESS's scores (``Less.scores``) with Adam features ``Γ = m'/sqrt(v' + ε)`` and with plain SGD
   features ``g``, the cosine between the two features, and the spread of each (``targeted``).

6. ``cold_start.cold_start_batches``: BADGE's first batch on the untrained network next to random's, with the
   diversity of each (the seed's cold start, docs/methods.md#cold-start) (``cold_start``).

A regression run's tour (``regression``) has the same steps with a hallucinated *residual*: the predictive spread σ,
the embedding ``g = σ h``, and the strategies' regression scores (docs/tasks.md#hallucinated-labels-in-regression).

Steps 4-5 need the model of that cycle. Records do not store weights, so ``replay`` rebuilds it: the same data,
split, labelled set and seeds retrain the same model on CPU (``replay``). Nothing here imports streamlit.
"""
from __future__ import annotations

from alcore.teaching.badge_trace import (MAX_TRACE_POINTS, KMeansPPTrace, badge_trace, gradient_map, kmeanspp_trace,
                                         trace_frame)
from alcore.teaching.points import (candidate_positions, example_points, label_gradient_norms, point_gradient,
                                    tour_cycle, uncertainty_frame)
from alcore.teaching import cold_start, regression
from alcore.teaching.replay import Replay, replay, target_set
from alcore.teaching.targeted import MAX_GRADIENT_ENTRIES, MAX_SCORE_POINTS, alignment_scores, less_features

__all__ = ["MAX_GRADIENT_ENTRIES", "MAX_SCORE_POINTS", "MAX_TRACE_POINTS", "KMeansPPTrace", "Replay",
           "alignment_scores", "badge_trace", "candidate_positions", "cold_start", "example_points", "gradient_map",
           "kmeanspp_trace", "label_gradient_norms", "less_features", "point_gradient", "regression", "replay",
           "target_set", "tour_cycle", "trace_frame", "uncertainty_frame"]
