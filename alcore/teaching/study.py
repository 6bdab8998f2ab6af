"""What the targeted-selection study measured (docs/study.md), said where a user meets alignment: the Learn page's
alignment step and a report whose runs have a target set.

The figures are the study's printed results (``bench/study_targeted.py``, warm start, seeds 0-4), not computed
here: re-running the study is 15-30 minutes. ``tests/test_study_note.py`` checks that every figure below is the one
docs/study.md#in-short states, so the page and the document cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StudyResult:
    """One row of docs/study.md#in-short: a rule's final target loss and area under the target-loss curve, random's
    beside them, and on how many of the 5 seeds the rule ends (final) or stays (area) below random."""

    task: str
    rule: str
    final: float
    random_final: float
    wins_final: int
    area: float
    random_area: float
    wins_area: int
    n_seeds: int = 5


#: task key ("classification": digits with a target from classes 0-4; "regression": rated stories, pool rated by
#: one rater, target by the other) -> the default and the seed's literal rule.
RESULTS: dict[str, tuple[StudyResult, StudyResult]] = {
    "classification": (StudyResult("(a) digits", "alignment default", 0.194, 0.340, 5, 0.350, 0.468, 4),
                       StudyResult("(a) digits", "the seed's rule", 0.245, 0.340, 4, 0.557, 0.468, 2)),
    "regression": (StudyResult("(b) rated stories", "alignment default", 0.752, 0.864, 4, 0.868, 0.942, 4),
                   StudyResult("(b) rated stories", "the seed's rule", 0.851, 0.864, 3, 0.948, 0.942, 2)),
}

#: Why the seed's rule loses over the run, per task (docs/study.md).
REASONS = {
    "classification": "ordering by the gradient's size takes the most uncertain points, where the hallucinated label "
                      "is most often wrong, and that label cannot name a class the model does not predict yet",
    "regression": "every hallucinated score is at least 0 on a regression model (the better sign of the residual is "
                  "taken), so the rule reduces to ranking by σ·‖∇f‖, an uncertainty rule that buys extreme, "
                  "disputed ratings",
}


def _line(r: StudyResult) -> str:
    return (f"{r.rule}: final target loss {r.final:.3f} against random's {r.random_final:.3f} (below random on "
            f"{r.wins_final} of {r.n_seeds} seeds), area {r.area:.3f} against {r.random_area:.3f} (below on "
            f"{r.wins_area} of {r.n_seeds})")


def study_note(categorical: bool) -> str:
    """A paragraph for the run's task: how the default and the seed's literal rule (``mode="norm"``) fared against
    random in the study, and why the literal rule loses over the run."""
    key = "classification" if categorical else "regression"
    default, literal = RESULTS[key]
    return (f"In the targeted-selection study (docs/study.md; task {default.task}, 20 initial labels, "
            f"{default.n_seeds} seeds): "
            f"{_line(default)}; {_line(literal)}. The seed's literal rule (`mode=\"norm\"`) is no better than random "
            f"over the run: {REASONS[key]}.")
