"""Per-batch diversity (docs/methods.md#diversity-metrics) and learning-curve summaries
(docs/methods.md#learning-curve-summaries). A model's test metrics are its task's (``alcore.task``)."""
from __future__ import annotations

import numpy as np

from alcore import distances
from alcore.constants import DEGENERATE_NORM
from alcore.spaces import l2_normalize


def batch_diversity(a: np.ndarray, h: np.ndarray, *, fixed: np.ndarray, reference_idx: np.ndarray,
                    covered_idx: np.ndarray, batch_labels: np.ndarray, labeled_labels: np.ndarray,
                    n_classes: int, lam: float = 1e-6, delta: float | None = None,
                    nearest_sq: np.ndarray | None = None) -> dict[str, float]:
    """Diversity of one batch (docs/methods.md#diversity-metrics).

    ``a``, ``h``: the batch's gradient factors under the selection-time model. ``fixed``: the fixed reference
    embedding of every row; coverage is measured over ``reference_idx`` (pool and labelled set) against
    ``covered_idx`` (labelled set plus this batch). ``labeled_labels``: every label known after the batch.
    ``delta``: ProbCover's ball radius (its ``diagnostics["delta"]``); when given, adds ``delta_coverage``, the
    fraction of reference rows within ``delta`` of a covered row on the L2-normalised fixed embedding
    (docs/methods.md#probcover).
    ``nearest_sq``: the squared distance of each reference row to the covered set when the caller keeps it up to
    date batch by batch (``nearest_covered_sq``); coverage then costs O(|reference|) instead of a full search.
    ``n_classes=0`` (a regression target) leaves out the class balance.
    """
    a = np.asarray(a, np.float64)
    h = np.asarray(h, np.float64)
    k = len(a)
    out: dict[str, float] = {"batch_size": float(k)}
    out["mean_gradient_norm"] = float(np.sqrt(distances.sq_norms(a, h)).mean()) if k else float("nan")
    if k >= 2:
        sq = distances.gradient_sq_distances(a, h)
        out["mean_pairwise_distance"] = float(np.sqrt(sq[np.triu_indices(k, 1)]).mean())
    else:
        out["mean_pairwise_distance"] = float("nan")
    out.update(normalized_logdet(a, h, lam))
    if nearest_sq is None:
        out.update(coverage(fixed, reference_idx, covered_idx))
    else:
        out.update(_coverage_summary(np.sqrt(nearest_sq)))
    if delta is not None:
        out["delta_coverage"] = delta_coverage(fixed, reference_idx, covered_idx, delta)
    if n_classes > 0:
        out.update(class_balance(batch_labels, labeled_labels, n_classes))
    return out


def normalized_logdet(a: np.ndarray, h: np.ndarray, lam: float = 1e-6) -> dict[str, float]:
    """log det(Ĝ Ĝ^T + λI) of the unit-normalised gradient embeddings, from cos(a_i,a_j)·cos(h_i,h_j)."""
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(h, axis=1)
    keep = norms > DEGENERATE_NORM
    n_zero = int((~keep).sum())
    a, h = a[keep], h[keep]
    if len(a) == 0:
        return {"logdet": float("nan"), "rank": 0.0, "n_zero": float(n_zero)}
    eig = np.linalg.eigvalsh(distances.cosine_similarities(a, h))
    logdet = float(np.sum(np.log(np.clip(eig, 0, None) + lam)))
    return {"logdet": logdet, "rank": float((eig > 1e-6).sum()), "n_zero": float(n_zero)}


def coverage(fixed: np.ndarray, reference_idx: np.ndarray, covered_idx: np.ndarray) -> dict[str, float]:
    """Coverage radius (k-center cost) and mean nearest-labelled distance in the fixed space.

    Chunked, ``O(|reference| · |covered| · d)`` time, never a full distance matrix.
    """
    if len(covered_idx) == 0 or len(reference_idx) == 0:
        return {"coverage_radius": float("nan"), "mean_nearest_labeled": float("nan")}
    return _coverage_summary(_nearest_distance(np.asarray(fixed), reference_idx, covered_idx))


def nearest_covered_sq(fixed: np.ndarray, reference_idx: np.ndarray, new_idx: np.ndarray,
                       nearest_sq: np.ndarray | None = None) -> np.ndarray:
    """Squared distance of each reference row to its nearest covered row, after ``new_idx`` joins the covered
    set: a running minimum, so each batch costs O(|reference| · |batch| · d)."""
    fixed = np.asarray(fixed, dtype=np.float64)
    d2 = distances.min_sq_distances(fixed[np.asarray(reference_idx)], fixed[np.asarray(new_idx, dtype=np.int64)])
    return d2 if nearest_sq is None else np.minimum(nearest_sq, d2)


def _coverage_summary(d: np.ndarray) -> dict[str, float]:
    return {"coverage_radius": float(d.max()), "mean_nearest_labeled": float(d.mean())}


def delta_coverage(fixed: np.ndarray, reference_idx: np.ndarray, covered_idx: np.ndarray, delta: float) -> float:
    """ProbCover's coverage: fraction of reference rows closer than ``delta`` to a covered row, on the
    L2-normalised fixed embedding (the space in which ProbCover chooses δ)."""
    if len(reference_idx) == 0:
        return float("nan")
    if len(covered_idx) == 0:
        return 0.0
    fixed = np.asarray(fixed, dtype=np.float64)
    d2 = distances.min_sq_distances(l2_normalize(fixed[np.asarray(reference_idx)]),
                                    l2_normalize(fixed[np.asarray(covered_idx)]))
    return float((d2 < delta**2).mean())


def _nearest_distance(fixed: np.ndarray, reference_idx: np.ndarray, covered_idx: np.ndarray) -> np.ndarray:
    fixed = np.asarray(fixed, dtype=np.float64)
    return np.sqrt(distances.min_sq_distances(fixed[np.asarray(reference_idx)], fixed[np.asarray(covered_idx)]))


def spearman(x, y) -> float:
    """Spearman rank correlation of two score vectors; NaN when either is constant or shorter than 2."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def class_balance(batch_labels: np.ndarray, labeled_labels: np.ndarray, n_classes: int) -> dict[str, float]:
    """Normalised class entropy of the batch, its number of classes, and the cumulative class coverage."""
    batch_labels = np.asarray(batch_labels, dtype=np.int64)
    if len(batch_labels):
        q = np.bincount(batch_labels, minlength=n_classes) / len(batch_labels)
        q = q[q > 0]
        ent = float(-(q * np.log(q)).sum() / np.log(n_classes)) if n_classes > 1 else 0.0
    else:
        ent = float("nan")
    return {"class_entropy": ent, "batch_classes": float(len(np.unique(batch_labels))),
            "class_coverage": float(len(np.unique(labeled_labels)) / n_classes)}


# --- learning-curve summaries (docs/methods.md#learning-curve-summaries) ----------------------------------------------

def _curve(n, acc) -> tuple[np.ndarray, np.ndarray]:
    """Finite points sorted by ``n``; repeated ``n`` values averaged."""
    n = np.asarray(n, dtype=np.float64).ravel()
    acc = np.asarray(acc, dtype=np.float64).ravel()
    if n.shape != acc.shape:
        raise ValueError(f"n and acc must have the same length; got {len(n)} and {len(acc)}")
    keep = np.isfinite(n) & np.isfinite(acc)
    n, acc = n[keep], acc[keep]
    grid, inverse = np.unique(n, return_inverse=True)
    return grid, np.bincount(inverse, weights=acc, minlength=len(grid)) / np.bincount(inverse, minlength=len(grid))


def aulc(n, acc, n_lo: float | None = None, n_hi: float | None = None, log_x: bool = False) -> float:
    """Normalised area under the learning curve ``acc(n)`` over ``[n_lo, n_hi]``
    (docs/methods.md#learning-curve-summaries), in the units of ``acc``.

    Trapezoidal rule on the linearly interpolated curve, divided by the width; endpoints inside the curve's range are
    interpolated, never extrapolated (``ValueError`` outside it). Defaults: the curve's own range. ``log_x=True``
    integrates ``acc d(log n)`` (interpolating linearly in ``log n``), which weights the cold-start regime; it needs
    ``n_lo > 0`` and uses only the points with ``n > 0``. A constant curve ``c`` gives ``c``; a zero-width range
    gives the accuracy at that point.
    """
    if log_x and n_lo is not None and n_lo <= 0:
        raise ValueError(f"log_x=True needs n_lo > 0; got n_lo={n_lo:g}")
    n, acc = _curve(n, acc)
    if log_x:  # the curve is piecewise linear in log n, which starts at the first positive label count
        n, acc = n[n > 0], acc[n > 0]
    if len(n) == 0:
        return float("nan")
    lo = float(n[0]) if n_lo is None else float(n_lo)
    hi = float(n[-1]) if n_hi is None else float(n_hi)
    if hi < lo:
        raise ValueError(f"n_hi={hi:g} must be >= n_lo={lo:g}")
    if lo < n[0] or hi > n[-1]:
        raise ValueError(f"[n_lo, n_hi] = [{lo:g}, {hi:g}] lies outside the curve's range [{n[0]:g}, {n[-1]:g}]; "
                         "AULC never extrapolates")
    if log_x:
        x, lo, hi = np.log(n), np.log(lo), np.log(hi)
    else:
        x = n
    if hi == lo:
        return float(np.interp(lo, x, acc))
    inside = (x > lo) & (x < hi)
    xs = np.concatenate([[lo], x[inside], [hi]])
    ys = np.concatenate([[np.interp(lo, x, acc)], acc[inside], [np.interp(hi, x, acc)]])
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2.0) / (hi - lo))


def labels_to_reach(n, acc, target: float, robust: bool = False) -> float | None:
    """Labels needed for the curve to reach ``target`` (docs/methods.md#learning-curve-summaries), linearly interpolated
    between the two bracketing cycles; ``None`` if it never does.

    ``robust=False``: the first crossing. ``robust=True``: the crossing after which the curve never falls below
    ``target`` again (``None`` if the last point is below it).
    """
    n, acc = _curve(n, acc)
    above = acc >= target
    if robust:
        below = np.flatnonzero(~above)
        if len(below) == 0:
            return float(n[0]) if len(n) else None
        if below[-1] == len(n) - 1:
            return None
        i = below[-1] + 1
    else:
        hits = np.flatnonzero(above)
        if len(hits) == 0:
            return None
        i = hits[0]
        if i == 0:
            return float(n[0])
    n0, n1, a0, a1 = n[i - 1], n[i], acc[i - 1], acc[i]
    return float(n0 + (target - a0) / (a1 - a0) * (n1 - n0))


def label_savings(n_x_strategy: float | None, n_x_random: float | None) -> float:
    """``1 - n_X(strategy) / n_X(random)``: the fraction of labels saved against random; NaN if either is missing."""
    if n_x_strategy is None or n_x_random is None or not np.isfinite(n_x_random) or n_x_random <= 0:
        return float("nan")
    return float(1.0 - n_x_strategy / n_x_random)


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the t-interval over seeds (docs/methods.md#learning-curve-summaries); NaN half-width below
    two finite values."""
    from scipy import stats

    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    if len(v) == 1:
        return float(v[0]), float("nan")
    half = stats.t.ppf(0.5 + confidence / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean()), float(half)


def _runs(df, metric: str) -> dict:
    """{strategy: {seed: (n, acc)}} from a long table with columns strategy, seed, n_labeled, ``metric``."""
    missing = {"strategy", "seed", "n_labeled", metric} - set(df.columns)
    if missing:
        raise ValueError(f"the results table needs the columns {sorted(missing)}")
    runs: dict = {}
    for (strategy, seed), rows in df.groupby(["strategy", "seed"], sort=False):
        runs.setdefault(strategy, {})[seed] = _curve(rows["n_labeled"].to_numpy(), rows[metric].to_numpy())
    return runs


def _doubling_checkpoints(grid: np.ndarray, baseline_curve: tuple[np.ndarray, np.ndarray] | None,
                          stop_frac: float) -> np.ndarray:
    """``n_0 + 2^(j-1) K`` on the common grid, until the baseline reaches ``stop_frac`` of its final accuracy
    (BADGE ``scripts/agg_results.py``); every grid point after the first when that leaves nothing."""
    if len(grid) < 2:
        return grid
    n0, step = grid[0], np.diff(grid).min()
    sched = [n0 + 2**j * step for j in range(0, 64) if n0 + 2**j * step <= grid[-1]]
    points = grid[np.isin(grid, sched)]
    if baseline_curve is not None and len(baseline_curve[0]):
        n_b, acc_b = baseline_curve
        reached = n_b[acc_b >= stop_frac * acc_b[-1]]
        if len(reached):
            points = points[points <= reached[0]]
    return points if len(points) else grid[1:]


def penalty_matrix(df, metric: str = "test_accuracy", alpha: float = 0.05, checkpoints=None,
                   baseline: str = "random", stop_frac: float = 0.99):
    """Pairwise win/penalty matrix of the BADGE paper (Ash et al. 2020, Sec. 4;
    docs/methods.md#learning-curve-summaries).

    ``df``: long table with columns strategy, seed, n_labeled and ``metric`` (one row per run and cycle). At each
    checkpoint label count, a one-sample t-test on the seed-paired differences ``acc_A - acc_B``; when A is
    significantly better (mean > 0, two-sided p < ``alpha``) ``1 / n_checkpoints`` is added to ``[A, B]``.
    Rows are winners, columns losers, so ``matrix.mean(axis=0)`` says how often each strategy loses. The diagonal is
    0. Identical non-zero differences on every seed count as significant; a single paired seed never does.
    ``checkpoints``: label counts to test (default: the doubling schedule, cut where ``baseline`` reaches
    ``stop_frac`` of its final accuracy); stored in ``matrix.attrs["checkpoints"]``.
    """
    import pandas as pd
    from scipy import stats

    runs = _runs(df, metric)
    names = list(runs)
    grids = [np.unique(np.concatenate([c[0] for c in runs[s].values()])) for s in names]
    common = grids[0] if grids else np.zeros(0)
    for g in grids[1:]:
        common = np.intersect1d(common, g)
    if checkpoints is None:
        base = None
        if baseline in runs:
            base = _curve(np.concatenate([c[0] for c in runs[baseline].values()]),
                          np.concatenate([c[1] for c in runs[baseline].values()]))
        checkpoints = _doubling_checkpoints(common, base, stop_frac)
    checkpoints = np.asarray(checkpoints, dtype=np.float64)
    matrix = pd.DataFrame(0.0, index=pd.Index(names, name="winner"), columns=pd.Index(names, name="loser"))

    def value(strategy, seed, n):
        grid, acc = runs[strategy][seed]
        hit = np.flatnonzero(grid == n)
        return acc[hit[0]] if len(hit) else np.nan

    for a in names:
        for b in names:
            if a == b:
                continue
            seeds = [s for s in runs[a] if s in runs[b]]
            for n in checkpoints:
                diffs = np.array([value(a, s, n) - value(b, s, n) for s in seeds])
                diffs = diffs[np.isfinite(diffs)]
                if len(diffs) < 2 or diffs.mean() <= 0:
                    continue
                if np.all(diffs == diffs[0]):
                    significant = True
                else:
                    significant = stats.ttest_1samp(diffs, 0.0).pvalue < alpha
                if significant:
                    matrix.loc[a, b] += 1.0 / len(checkpoints)
    matrix.attrs["checkpoints"] = checkpoints.tolist()
    return matrix


def summary_table(df, full_value: float | None = None, x_percent: float = 90, metric: str = "test_accuracy",
                  baseline: str = "random", log_x: bool = False):
    """One row per strategy: AULC, the final value of ``metric`` (``final_mean``: accuracy, or a regression run's
    R²), labels to reach X% and label savings vs ``baseline``, each as the mean over seeds and the half-width of its
    95% t-interval (docs/methods.md#learning-curve-summaries). The metric must be one where higher is better.

    AULC runs over the label range common to every run. The target is ``x_percent / 100 · full_value`` (e.g. the
    full-data accuracy); without one, the baseline's mean final value is the reference (BADGE's analysis does the
    same), or the best strategy's when there is no baseline (``attrs["reference"]`` says which, ``attrs
    ["reference_value"]`` and ``attrs["target_value"]`` the numbers). Labels-to-X is averaged over the seeds that
    reach the target (``labels_to_x_reached`` counts them); savings are paired by seed.
    """
    import pandas as pd

    runs = _runs(df, metric)
    if not runs:
        return pd.DataFrame()
    curves = [c for r in runs.values() for c in r.values() if len(c[0])]
    if log_x:
        curves = [(c[0][c[0] > 0], c[1][c[0] > 0]) for c in curves]
    if any(len(c[0]) == 0 for c in curves) or not curves:
        raise ValueError("every run needs at least one point with a finite metric (and n > 0 for log_x)")
    n_lo = max(c[0][0] for c in curves)
    n_hi = min(c[0][-1] for c in curves)
    if n_lo > n_hi:
        raise ValueError(f"the runs share no common label range (latest start {n_lo:g} > earliest end {n_hi:g})")
    finals = {s: float(np.mean([c[1][-1] for c in r.values() if len(c[0])])) for s, r in runs.items()}
    if full_value is not None:
        reference, acc_full = "full_data", float(full_value)
    elif baseline in runs:
        reference, acc_full = f"{baseline}_final", finals[baseline]
    else:
        reference, acc_full = "best_final", max(finals.values())
    target = x_percent / 100.0 * acc_full
    n_x = {s: {seed: labels_to_reach(*c, target) for seed, c in r.items()} for s, r in runs.items()}
    rows = []
    for s, r in runs.items():
        aulc_m, aulc_ci = mean_ci([aulc(*c, n_lo=n_lo, n_hi=n_hi, log_x=log_x) for c in r.values()])
        final_m, final_ci = mean_ci([c[1][-1] for c in r.values() if len(c[0])])
        nx_m, nx_ci = mean_ci(list(n_x[s].values()))
        savings = [label_savings(n_x[s][seed], n_x[baseline].get(seed)) for seed in r] if baseline in runs else []
        sav_m, sav_ci = mean_ci(savings)
        rows.append({"strategy": s, "n_seeds": len(r), "aulc_mean": aulc_m, "aulc_ci95": aulc_ci,
                     "final_mean": final_m, "final_ci95": final_ci,
                     "labels_to_x_mean": nx_m, "labels_to_x_ci95": nx_ci,
                     "labels_to_x_reached": int(sum(v is not None for v in n_x[s].values())),
                     "label_savings_mean": sav_m, "label_savings_ci95": sav_ci})
    table = pd.DataFrame(rows).set_index("strategy")
    table.attrs.update({"n_lo": float(n_lo), "n_hi": float(n_hi), "x_percent": float(x_percent),
                        "reference_value": acc_full, "target_value": target, "reference": reference,
                        "metric": metric, "log_x": log_x})
    return table
