"""When intervals over seeds are too wide to rank strategies (alcore.intervals), and the comparison saying so."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from alcore import intervals, run_group

finite = st.floats(-10, 10, allow_nan=False)
half = st.one_of(st.floats(0, 5, allow_nan=False), st.just(math.nan))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(finite, half), min_size=2, max_size=6))
def test_two_strategies_cannot_be_ranked_exactly_when_their_intervals_overlap_or_one_has_none(values):
    names = [f"s{i}" for i in range(len(values))]
    means = {n: m for n, (m, _) in zip(names, values)}
    halves = {n: h for n, (_, h) in zip(names, values)}
    ties = intervals.overlapping(means, halves)
    for a in names:
        for b in names:
            if a == b:
                continue
            no_interval = math.isnan(halves[a]) or math.isnan(halves[b])
            apart = not no_interval and abs(means[a] - means[b]) > halves[a] + halves[b]
            assert (b in ties[a]) == (not apart), (a, b, means, halves)
            assert (b in ties[a]) == (a in ties[b]), "symmetric"


def test_apart_intervals_need_no_note_and_overlapping_ones_are_named_with_n():
    n = {"badge": 3, "random": 3, "entropy": 3}
    apart = intervals.ranking_note("AULC", {"badge": 0.9, "random": 0.5}, {"badge": 0.05, "random": 0.05}, n)
    assert apart is None
    note = intervals.ranking_note("AULC", {"badge": 0.80, "entropy": 0.78, "random": 0.5},
                                  {"badge": 0.05, "entropy": 0.04, "random": 0.01}, n)
    assert note is not None and "badge and entropy" in note and "n = 3 seeds" in note and "random" not in note
    assert "too wide to rank" in note


def test_one_seed_has_no_interval_and_the_note_asks_for_more_seeds():
    note = intervals.ranking_note("AULC", {"a": 0.9, "b": 0.1}, {"a": math.nan, "b": math.nan}, {"a": 1, "b": 1})
    assert note is not None and "no interval" in note and "n = 1 seed " in note


def _group(spread: float, seeds: int = 3) -> pd.DataFrame:
    """Complete runs of two strategies whose curves differ by 0.2; ``spread`` is the seed-to-seed noise."""
    rng = np.random.default_rng(0)
    rows = []
    for strategy, base in (("badge", 0.7), ("random", 0.5)):
        for seed in range(seeds):
            offset = rng.normal(0, spread)
            for cycle, n in enumerate((10, 20, 30, 40)):
                rows.append({"dataset": "digits", "strategy": strategy, "seed": seed, "run_id": f"{strategy}{seed}",
                             "status": "complete", "cycle": cycle, "n_labeled": n,
                             "test_accuracy": base + 0.005 * n + offset})
    return pd.DataFrame(rows)


def test_a_comparison_says_when_its_intervals_are_too_wide_to_rank_and_not_when_they_are_apart():
    noisy = run_group.summarize(_group(spread=0.3))
    assert any("AULC" in note and "badge and random" in note for note in noisy["ranking"])
    quiet = run_group.summarize(_group(spread=0.001))
    assert quiet["ranking"] == []
