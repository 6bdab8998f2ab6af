"""The documentation inside the app (pages/ui/docs.py): citations read as the cited section's title, and a popover
shows the section itself from the docs/ folder that ships with the app."""
from __future__ import annotations

import re

import pytest

from alcore import strategies
from pages.ui.docs import CITATION, readable, section


def test_a_cited_section_is_found_with_its_title_and_text():
    title, body = section("docs/methods.md#diversity-metrics")
    assert title == "Diversity metrics"
    assert "mean_pairwise_distance" in body and "### Learning-curve summaries" not in body, "up to the next section"
    docs = "docs" + "/"  # in pieces: these two are wrong on purpose, not citations for tests/test_docs.py to check
    assert section(docs + "methods.md#no-such-section") is None and section(docs + "nothing.md#x") is None


@pytest.mark.parametrize("reference", ["docs/methods.md#greedy-alignment", "docs/methods.md#adam-features",
                                       "docs/methods.md#learning-curve-summaries"])
def test_a_citation_reads_as_the_title_of_the_section_it_cites(reference):
    text = readable(f"see ({reference}) here")
    title, _ = section(reference)
    assert text == f"see (“{title}” in docs/methods.md) here"


def test_no_help_text_of_the_setup_form_shows_a_raw_citation():
    """Strategy options carry their source comments as help; those cite docs/ sections, which the form puts in
    words."""
    helps = [o.help for name in strategies.available() for o in strategies.spec(name).options if o.help]
    cited = [h for h in helps if CITATION.search(h)]
    assert cited, "some option help cites the docs (else this test checks nothing)"
    for text in cited:
        assert not re.search(r"docs/\w+\.md#", readable(text)), text


def test_no_control_of_the_setup_form_shows_a_raw_citation(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from conftest import REPO_ROOT

    monkeypatch.setenv("ALCORE_RUNS_DIR", str(tmp_path))
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=90).run()
    at.selectbox(key="run_new_dataset").set_value("file").run()
    helps = [getattr(w, "help", "") or "" for w in [*at.selectbox, *at.text_input, *at.number_input]]
    assert any("docs/" in h for h in helps), "some help cites the docs (else this test checks nothing)"
    assert not [h for h in helps if re.search(r"docs/\w+\.md#", h)]
