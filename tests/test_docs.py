"""Citations of the documentation resolve, and nothing cites a document outside the project.

Code, README, docs pages and app text cite the documentation as ``docs/<page>.md`` or ``docs/<page>.md#<anchor>``;
an anchor is a heading's GitHub slug or an explicit ``<a id="...">``. Inside ``docs/`` the pages link to each other
with relative Markdown links, which are checked the same way. The scanners are small functions with tests of their
own on constructed examples, so that the check itself is known to fail when it should.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.conftest import REPO_ROOT

from pages.ui.docs import slug  # GitHub's anchor of a heading: the app resolves citations the same way

# Written in pieces so that this file's own examples are neither citations nor forbidden references.
DOCS_PREFIX = "docs" + "/"
NOTES = tuple(name + ".md" for name in ("STRATEGIES", "DESIGN", "STYLE"))
OUTSIDE = NOTES + (".." + "/shared", "/work" + "/shared")
SECTION_MARK = "\u00a7"

CITATION = re.compile(r"\bdocs/([A-Za-z0-9_\-]+\.md)(?:#([A-Za-z0-9_\-]+))?")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
SECTION_CITATION = re.compile(SECTION_MARK + r"{1,2}\s*\d")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
EXPLICIT_ANCHOR = re.compile(r"""<a\s+(?:[^>]*?\s)?(?:id|name)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)

#: Anchors other work cites (the rewrite of old citations, the app, other pages): they must keep existing.
REQUIRED_ANCHORS = {
    "methods.md": (
        "conventions", "notation", "strategy-contract", "randomness", "ties", "cold-start", "class-set",
        "model-state", "defaults", "gradient-kernels", "last-layer-embeddings", "per-sample-gradients", "jvp",
        "random-projection", "adam-features", "random", "uncertainty", "bald", "badge", "badge-computation",
        "badge-edge-cases", "badge-properties", "coreset", "cold-start-strategies", "typiclust", "probcover", "less",
        "less-in-this-engine", "less-edge-cases", "less-properties", "alignment", "alignment-computation",
        "greedy-alignment", "alignment-edge-cases", "alignment-properties", "diversity-metrics",
        "learning-curve-summaries", "reference-pitfalls", "the-animated-map",
    ),
    "run-format.md": ("run-folder", "manifest", "records", "damaged-files"),
    "extending.md": ("adding-a-strategy", "adding-a-dataset"),
}


# --- the scanners ---------------------------------------------------------------------------------------------------

def anchors(markdown: str) -> set[str]:
    """Every anchor a Markdown page defines: heading slugs (outside fenced code; a repeated slug gets -1, -2, ...
    as on GitHub) and explicit ``<a id=...>`` / ``<a name=...>``."""
    found: set[str] = set(EXPLICIT_ANCHOR.findall(markdown))
    seen: dict[str, int] = {}
    fence = None
    for line in markdown.splitlines():
        opening = FENCE.match(line)
        if opening:
            marker = opening.group(1)
            if fence is None:
                fence = marker[0] * 3
            elif marker.startswith(fence):
                fence = None
            continue
        if fence is not None:
            continue
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_citations(files: dict[str, str], root: Path) -> list[str]:
    """``"<file>: <citation> (<why>)"`` for every citation in ``files`` (path relative to ``root`` -> text) that does
    not resolve: ``docs/<page>.md[#anchor]`` anywhere, and relative Markdown links inside ``docs/`` pages."""
    cache: dict[Path, set[str] | None] = {}

    def page_anchors(path: Path) -> set[str] | None:
        if path not in cache:
            cache[path] = anchors(path.read_text(encoding="utf-8")) if path.is_file() else None
        return cache[path]

    def check(name: str, shown: str, target: Path, anchor: str | None, problems: list[str]) -> None:
        if not target.exists():
            problems.append(f"{name}: {shown} (no such file)")
        elif anchor and target.suffix == ".md" and anchor not in (page_anchors(target) or set()):
            problems.append(f"{name}: {shown} (no heading or <a id> with that anchor)")

    problems: list[str] = []
    for name, text in sorted(files.items()):
        for match in CITATION.finditer(text):
            check(name, match.group(0), root / "docs" / match.group(1), match.group(2), problems)
        if name.startswith(DOCS_PREFIX) and name.endswith(".md"):
            here = (root / name).parent
            for link in MARKDOWN_LINK.findall(text):
                if re.match(r"[a-z][a-z0-9+.\-]*:", link, re.IGNORECASE):
                    continue  # http:, https:, mailto: ...
                path, _, anchor = link.partition("#")
                check(name, link, (here / path) if path else (root / name), anchor or None, problems)
    return problems


def outside_citations(files: dict[str, str]) -> list[str]:
    """``"<file>:<line>: <text>"`` for every line that cites a document outside the project: the team's notes by
    name, a path into the shared folder, or a section-mark citation (how those notes were cited)."""
    problems = []
    for name, text in sorted(files.items()):
        for number, line in enumerate(text.splitlines(), start=1):
            if any(ref in line for ref in OUTSIDE) or SECTION_CITATION.search(line):
                problems.append(f"{name}:{number}: {line.strip()[:160]}")
    return problems


def project_files(root: Path) -> dict[str, str]:
    """The text in which citations live: the engine, the app, the benchmarks, the tests, the README, the docs and
    the app's preset texts."""
    paths = [root / "app.py", root / "README.md"]
    for folder in ("alcore", "pages", "bench", "tests"):
        paths += sorted((root / folder).rglob("*.py"))
    for folder in ("docs", "bench"):
        paths += sorted((root / folder).rglob("*.md"))
    paths += sorted((root / "assets").rglob("*.json"))
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in paths if p.is_file()}


# --- the project ----------------------------------------------------------------------------------------------------

def test_every_citation_of_the_docs_resolves():
    files = project_files(REPO_ROOT)
    assert any(CITATION.search(text) for text in files.values()), "no citation found: is the scanner looking?"
    problems = broken_citations(files, REPO_ROOT)
    assert problems == [], "citations that resolve to nothing:\n" + "\n".join(problems)


def test_nothing_cites_a_document_outside_the_project():
    problems = outside_citations(project_files(REPO_ROOT))
    assert problems == [], "cite docs/<page>.md#<anchor> instead:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", sorted(REQUIRED_ANCHORS))
def test_the_anchors_others_cite_exist(page):
    have = anchors((REPO_ROOT / "docs" / page).read_text(encoding="utf-8"))
    missing = [a for a in REQUIRED_ANCHORS[page] if a not in have]
    assert missing == [], f"docs/{page} lacks the anchors {missing}"


def test_the_index_lists_every_page():
    index = (REPO_ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    pages = sorted(p.name for p in (REPO_ROOT / "docs").glob("*.md") if p.name != "index.md")
    assert [p for p in pages if f"]({p})" not in index] == []


# --- the scanners on constructed examples -----------------------------------------------------------------------------

PAGE = """# Guide

## Hello, World!
<a id="custom-place"></a>

```
## Not a heading (inside a fence)
```

### `select(state, k, rng)` and [links](https://example.org)
## Notes
## Notes
See [the other page](other.md#intro), [a gap](other.md#nowhere), [here](#notes-1) and [nothing](#not-here).
"""


@pytest.fixture
def tiny_repo(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text(PAGE)
    (docs / "other.md").write_text("# Other\n\n## Intro\n")
    return tmp_path


def test_slugs_follow_github_rules():
    assert slug("Hello, World!") == "hello-world"
    assert slug("Learning-curve summaries") == "learning-curve-summaries"
    assert slug("`select(state, k, rng)` and [links](https://example.org)") == "selectstate-k-rng-and-links"
    assert slug("LESS in this engine") == "less-in-this-engine"
    assert anchors(PAGE) == {"guide", "hello-world", "custom-place", "selectstate-k-rng-and-links", "notes", "notes-1"}


def test_good_citations_pass_and_each_broken_one_is_reported(tiny_repo):
    good = (f"{DOCS_PREFIX}guide.md#hello-world, {DOCS_PREFIX}guide.md#custom-place, {DOCS_PREFIX}guide.md "
            f"and {DOCS_PREFIX}other.md#intro.")
    assert broken_citations({"alcore/good.py": good}, tiny_repo) == []
    bad = {
        "alcore/a.py": f"see {DOCS_PREFIX}guide.md#hello-wrld for details",
        "alcore/b.py": f"({DOCS_PREFIX}missing.md#anything)",
        "alcore/c.py": f"{DOCS_PREFIX}guide.md#not-a-heading-inside-a-fence",
    }
    problems = broken_citations(bad, tiny_repo)
    assert problems == [
        f"alcore/a.py: {DOCS_PREFIX}guide.md#hello-wrld (no heading or <a id> with that anchor)",
        f"alcore/b.py: {DOCS_PREFIX}missing.md#anything (no such file)",
        f"alcore/c.py: {DOCS_PREFIX}guide.md#not-a-heading-inside-a-fence (no heading or <a id> with that anchor)",
    ]


def test_relative_links_inside_docs_pages_are_checked(tiny_repo):
    problems = broken_citations({f"{DOCS_PREFIX}guide.md": PAGE}, tiny_repo)
    assert problems == [f"{DOCS_PREFIX}guide.md: other.md#nowhere (no heading or <a id> with that anchor)",
                        f"{DOCS_PREFIX}guide.md: #not-here (no heading or <a id> with that anchor)"]
    # the same links outside docs/ are not Markdown pages of the docs: only docs/<page>.md citations count there
    assert broken_citations({"alcore/x.py": PAGE}, tiny_repo) == []


def test_outside_citations_are_found_in_every_form():
    files = {
        "alcore/a.py": f'"""Scores ({NOTES[0]} {SECTION_MARK}6.2)."""',
        "alcore/b.py": f"# the rule of {SECTION_MARK}0.4, again",
        "README.md": f"see `{NOTES[1]}` and {OUTSIDE[3]}/tools",
        "pages/c.py": f"label = 'distance ({SECTION_MARK}{SECTION_MARK}8.1-8.2)'",
        "alcore/clean.py": f"# see {DOCS_PREFIX}methods.md#ties; section 4 of the paper",
    }
    found = outside_citations(files)
    assert [line.split(":")[0] for line in found] == ["README.md", "alcore/a.py", "alcore/b.py", "pages/c.py"]
