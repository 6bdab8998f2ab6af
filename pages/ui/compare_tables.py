"""The Compare page's summary table as text: mean ± 95% interval per measure (formatting only; the numbers are
``alcore.run_group.summarize``'s)."""
from __future__ import annotations

import pandas as pd


def summary_display(summary: pd.DataFrame, label: str, loss: bool = False) -> pd.DataFrame:
    """Mean ± CI as text, one column per measure (formatting only); a loss has no labels-to-X% columns."""
    def text(fmt: str, value: float) -> str:
        out = fmt.format(value)
        return out.lstrip("-") if set(out) <= set("-0.%") else out  # "-0%" of a tiny negative mean reads as 0%

    def pm(mean: str, ci: str, fmt: str) -> pd.Series:
        return summary.apply(lambda r: "–" if pd.isna(r[mean]) else
                             (text(fmt, r[mean]) + ("" if pd.isna(r[ci]) else " ± " + text(fmt, r[ci]))), axis=1)

    out = pd.DataFrame(index=summary.index)
    out["seeds"] = summary["n_seeds"]
    out["AULC"] = pm("aulc_mean", "aulc_ci95", "{:.3f}")
    out[f"final {label}"] = pm("final_mean", "final_ci95", "{:.3f}")
    if not loss:
        out["labels to X%"] = pm("labels_to_x_mean", "labels_to_x_ci95", "{:.0f}")
        out["seeds reaching X%"] = summary["labels_to_x_reached"]
        out["label savings vs random"] = pm("label_savings_mean", "label_savings_ci95", "{:.0%}")
    return out
