"""Whether intervals over seeds are narrow enough to rank strategies (docs/methods.md#learning-curve-summaries).

A comparison reports each summary (AULC, final accuracy, ...) as a mean over seeds with the half-width of its 95%
t-interval. With few seeds those intervals are wide: with 3 seeds the t-factor alone is 4.3 standard errors, and
the intervals easily span more than the differences between strategies. The rule used here: **an interval is too
wide to rank two strategies when it overlaps the other strategy's interval** (``|mean_a - mean_b| <= half_a +
half_b``); a strategy with a single seed has no interval and cannot be ranked at all. The rule is deliberately
simple and conservative: two overlapping intervals can still hide a difference that a paired test over the same
seeds finds (the penalty matrix runs that test), but two disjoint 95% intervals are a difference a reader can trust.
"""
from __future__ import annotations

import math
from typing import Mapping

#: Seeds in a comparison below which the page says that its intervals are wide by construction.
FEW_SEEDS = 5


def overlapping(means: Mapping[str, float], halves: Mapping[str, float]) -> dict[str, list[str]]:
    """For each strategy, the others it cannot be ranked against: their intervals overlap its own, or either has
    no interval (NaN half-width: one seed) or no mean. Symmetric; in the order of ``means``."""
    def interval(name: str) -> tuple[float, float] | None:
        """(mean, half-width), or None without an interval."""
        mean, half = means[name], halves.get(name, math.nan)
        return (mean, half) if math.isfinite(mean) and math.isfinite(half) else None

    out: dict[str, list[str]] = {}
    for a in means:
        ia, out[a] = interval(a), []
        for b in means:
            if b == a:
                continue
            ib = interval(b)
            # the rule as the module states it, not as endpoints: mean ± half rounds, and a tie would then hang
            # on the order of the subtraction
            if ia is None or ib is None or abs(ia[0] - ib[0]) <= ia[1] + ib[1]:
                out[a].append(b)
    return out


def ranking_note(measure: str, means: Mapping[str, float], halves: Mapping[str, float],
                 n_seeds: Mapping[str, int]) -> str | None:
    """A sentence for the reader when some strategies cannot be ranked on ``measure`` (``overlapping``), naming
    them and the number of seeds; None when every pair of intervals is apart."""
    ties = {a: b for a, b in overlapping(means, halves).items() if b}
    if not ties:
        return None
    seeds = sorted(set(int(n) for n in n_seeds.values()))
    n_text = f"n = {seeds[0]} seed{'s' if seeds[0] != 1 else ''}" if len(seeds) == 1 else \
        f"n = {seeds[0]}–{seeds[-1]} seeds"
    if max(seeds) < 2:
        return (f"{measure}: with {n_text} per strategy there is no interval, so the table cannot rank the "
                "strategies; run at least 2 seeds (better 5 or more).")
    pairs = sorted({tuple(sorted((a, b))) for a, others in ties.items() for b in others})
    names = "; ".join(f"{a} and {b}" for a, b in pairs)
    return (f"{measure}: the 95% intervals of {names} overlap ({n_text}), so these intervals are too wide to rank "
            f"them. More seeds narrow an interval about as 1/√n.")
