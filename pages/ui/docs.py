"""The project's documentation inside the app: a citation such as ``docs/methods.md#diversity-metrics`` becomes words a
reader can follow (the section's title), and a popover shows the section itself, read from the ``docs/`` folder that
ships with the app (no link to follow, no network)."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import streamlit as st

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"
CITATION = re.compile(r"\bdocs/([A-Za-z0-9_\-]+\.md)(?:#([A-Za-z0-9_\-]+))?")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, characters other than letters, digits, '_', ' ' and '-' dropped,
    spaces made hyphens (links count by their text, inline tags by nothing)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


@lru_cache(maxsize=16)
def _sections(page: str) -> dict[str, tuple[str, str]]:
    """Anchor -> (title, Markdown up to the next heading of the same or a higher level) of one docs page."""
    lines = (DOCS_DIR / page).read_text(encoding="utf-8").splitlines()
    headings, fence = [], False
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        elif not fence and (m := _HEADING.match(line)):
            headings.append((i, len(m.group(1)), m.group(2)))
    out = {}
    for k, (start, level, title) in enumerate(headings):
        end = next((i for i, lv, _ in headings[k + 1:] if lv <= level), len(lines))
        out.setdefault(slug(title), (title, "\n".join(lines[start + 1:end]).strip()))
    return out


def section(reference: str) -> tuple[str, str] | None:
    """(title, Markdown) of the section ``docs/<page>.md#<anchor>`` cites; None when it resolves to nothing."""
    match = CITATION.search(reference)
    if not match or not (DOCS_DIR / match.group(1)).exists():
        return None
    return _sections(match.group(1)).get(match.group(2) or "")


def readable(text: str) -> str:
    """``text`` with each docs citation put in words: 'docs/methods.md#greedy-alignment' reads '“Greedy alignment”
    in docs/methods.md'."""
    def words(match: re.Match) -> str:
        found = section(match.group(0)) if match.group(2) else None
        return f"“{found[0]}” in docs/{match.group(1)}" if found else match.group(0)

    return CITATION.sub(words, text)


def docs_popover(label: str, reference: str) -> None:
    """A popover button that shows the cited section of the documentation, titled, with where it comes from."""
    found = section(reference)
    if found is None:
        return
    title, body = found
    for_readers = [p for p in body.split("\n\n") if not p.startswith("Tested in")]  # test names are for developers
    with st.popover(label, icon=":material/menu_book:"):
        st.markdown(f"**{title}**")
        st.markdown("\n\n".join(for_readers))
        st.caption(f"From {reference} in the project folder.")
