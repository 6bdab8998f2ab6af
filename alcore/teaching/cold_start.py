"""The seed's cold start on the Learn page: what BADGE picks on an untrained network next to what random picks
(docs/methods.md#cold-start, docs/methods.md#diversity-metrics).

Both first batches come from cycle 0 of a real run (``Experiment.step``) with the run's dataset, model, seed and batch
size, zero labels and ``cold_start_strategy="self"``: the same seed gives both the same split, the same untrained
network and the same displayed points, so the two batches differ by the strategy alone. Their diversity is the
engine's per-batch metric (``metrics.batch_diversity``), computed by the loop on that same untrained network. The map
is the Learn page's 2-D gradient view (``badge_trace.gradient_map``) of the displayed points and both batches.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from alcore import data
from alcore.config import ExperimentConfig
from alcore.loop import Experiment
from alcore.records import CycleRecord
from alcore.teaching.badge_trace import gradient_map

#: The per-batch diversity numbers the page shows, with what a larger value means.
SHOWN = {"mean_pairwise_distance": "mean pairwise gradient distance (larger: farther apart)",
         "logdet": "log-det of the normalised gradient Gram matrix (larger: more directions)",
         "mean_gradient_norm": "mean gradient norm ‖a‖·‖h‖ (the size behind the distances)",
         "mean_nearest_labeled": "mean distance from a pool point to its nearest pick, fixed space (smaller: "
                                 "better covered)"}


def first_batch(config: ExperimentConfig, strategy: str, dataset: data.Dataset | None = None) -> CycleRecord:
    """Cycle 0 of ``config`` run with ``strategy`` from zero labels, the strategy itself choosing (no fallback)."""
    values = {**config.to_dict(), "strategy": strategy, "strategy_options": {}, "initial_labels": 0,
              "cold_start_strategy": "self", "cycles": max(int(config.cycles), 1), "name": ""}
    return Experiment(ExperimentConfig.from_dict(values), dataset=dataset).step()


def cold_start_batches(config: ExperimentConfig, dataset: data.Dataset | None = None, strategy: str = "badge",
                       baseline: str = "random") -> dict[str, Any]:
    """``strategy``'s and ``baseline``'s first batches on the untrained network of ``config``'s seed.

    Returns ``{"strategy", "baseline", "k"`` (batch size), ``"frame"`` (one row per displayed point and pick: index,
    x, y on the gradient map, ``picked_by`` one of "", strategy, baseline, "both"), ``"explained"`` (variance share of
    each map axis), ``"diversity"`` (rows ``SHOWN``, a column per strategy), ``"fallback"`` (each batch's fallback
    reason, None when the strategy chose itself) and ``"verdict"`` (one honest paragraph, ``verdict``)}``.
    """
    records = {name: first_batch(config, name, dataset) for name in (strategy, baseline)}
    shown = records[strategy]  # the displayed points and the network are the same in both runs (same seed)
    rows = np.concatenate([shown.display_idx, *(r.selected for r in records.values())])
    a = np.concatenate([shown.display_a, *(r.selected_a for r in records.values())])
    h = np.concatenate([shown.display_h, *(r.selected_h for r in records.values())])
    rows, first = np.unique(rows, return_index=True)
    coords, explained = gradient_map(a[first], h[first])
    picked = {name: np.isin(rows, r.selected) for name, r in records.items()}
    picked_by = np.where(picked[strategy] & picked[baseline], "both",
                         np.where(picked[strategy], strategy, np.where(picked[baseline], baseline, "")))
    frame = pd.DataFrame({"index": rows, "x": coords[:, 0], "y": coords[:, 1], "picked_by": picked_by})
    diversity = pd.DataFrame({name: [float(r.diversity.get(key, np.nan)) for key in SHOWN]
                              for name, r in records.items()}, index=list(SHOWN))
    return {"strategy": strategy, "baseline": baseline, "k": int(len(shown.selected)), "frame": frame,
            "explained": explained, "diversity": diversity,
            "fallback": {name: r.fallback_reason for name, r in records.items()},
            "verdict": verdict(diversity, strategy, baseline)}


def verdict(diversity: pd.DataFrame, strategy: str = "badge", baseline: str = "random") -> str:
    """One paragraph on whether ``strategy``'s first batch is more diverse than ``baseline``'s, from the numbers:
    farther apart (mean pairwise gradient distance), and whether that comes from direction (log-det of the
    normalised Gram matrix) or only from larger gradients; it says so plainly when it is not more diverse."""
    d = diversity
    dist = d.loc["mean_pairwise_distance"]
    det = d.loc["logdet"]
    norm = d.loc["mean_gradient_norm"]
    numbers = (f"mean pairwise gradient distance {dist[strategy]:.3g} against {dist[baseline]:.3g}, log-det "
               f"{det[strategy]:.3g} against {det[baseline]:.3g}, mean gradient norm {norm[strategy]:.3g} against "
               f"{norm[baseline]:.3g}")
    if not dist[strategy] > dist[baseline]:
        return (f"Here {strategy}'s cold-start batch is not more diverse than {baseline}'s ({numbers}). An untrained "
                "network's gradient embeddings say little about the data, so k-means++ over them need not spread "
                "the batch further than a random draw does.")
    if det[strategy] >= det[baseline]:
        return (f"Here {strategy}'s cold-start batch is more diverse than {baseline}'s: its points are farther apart "
                f"in gradient space and point in more different directions ({numbers}). That is on the untrained "
                "network's gradients; whether it buys a lower loss later is what the learning curves show.")
    return (f"Here {strategy}'s cold-start batch is farther apart than {baseline}'s in gradient space, but not in "
            f"more directions ({numbers}): the distance comes from larger gradients, which k-means++ favours, "
            "rather than from a wider spread of directions.")
