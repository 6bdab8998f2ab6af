"""The study's figures that the Learn page and the report quote (alcore.teaching.study) are the ones docs/study.md
states, and the note says how the seed's literal rule fared and why."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from alcore.teaching.study import RESULTS, study_note

STUDY = Path(__file__).resolve().parents[1] / "docs" / "study.md"


def in_short_rows() -> dict[tuple[str, str], list[str]]:
    text = STUDY.read_text(encoding="utf-8")
    section = text[text.index("## In short"):]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("("):
            rows[(cells[0], cells[1])] = cells[2:]
    return rows


@pytest.mark.parametrize("key", sorted(RESULTS))
def test_every_quoted_figure_is_the_documents(key):
    rows = in_short_rows()
    for r in RESULTS[key]:
        final, wins, area = rows[(r.task, r.rule)]
        assert final == f"{r.final:.3f} ({r.random_final:.3f})"
        assert wins == f"{r.wins_final}/{r.n_seeds}, {r.wins_area}/{r.n_seeds}"
        assert area == f"{r.area:.3f} ({r.random_area:.3f})"


@pytest.mark.parametrize("categorical", [True, False])
def test_the_note_gives_both_rules_numbers_and_the_reason_the_literal_rule_loses(categorical):
    note = study_note(categorical)
    default, literal = RESULTS["classification" if categorical else "regression"]
    for r in (default, literal):
        assert f"{r.final:.3f}" in note and f"{r.area:.3f}" in note
    assert "no better than random" in note
    assert literal.area >= literal.random_area and literal.wins_area <= literal.n_seeds // 2, \
        "the note says the literal rule loses over the run: the figures must say so too"
    assert re.search(r"docs/study\.md", note)
    assert "accuracy" not in note
