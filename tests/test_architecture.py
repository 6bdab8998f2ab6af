"""The house's rules (docs/architecture.md#imports): imports run one way through the layers, no circles between
the engine's modules, nothing in the engine imports the command line, streamlit or the pages."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: docs/architecture.md#imports, top layer first. Every top-level module of the engine must be listed here.
LAYERS = (
    ("app", "pages"),
    ("alcore.cli", "alcore.__main__"),
    ("alcore.viz", "alcore.report", "alcore.report_figures", "alcore.export", "alcore.jobs", "alcore.teaching",
     "alcore.presets", "alcore.compare", "alcore.catalog"),
    ("alcore.loop", "alcore.run_group", "alcore.sweep", "alcore.win_loss", "alcore.job_plan"),
    ("alcore.strategies", "alcore.config", "alcore.task", "alcore.metrics", "alcore.projection",
     "alcore.uncertainty", "alcore.run_data"),
    ("alcore", "alcore.data", "alcore.models", "alcore.train", "alcore.gradients", "alcore.store", "alcore.records",
     "alcore.distances", "alcore.seeding", "alcore.constants", "alcore.spaces", "alcore.run_lock",
     "alcore.source_cache", "alcore.validation", "alcore.limits", "alcore.threads", "alcore.imports",
     "alcore.atomic_files", "alcore.intervals", "alcore.model_options"),
)
RANK = {unit: len(LAYERS) - i for i, layer in enumerate(LAYERS) for unit in layer}


def module_files() -> dict[str, Path]:
    files = [*ROOT.glob("alcore/**/*.py"), *ROOT.glob("pages/**/*.py"), ROOT / "app.py"]
    out = {}
    for path in files:
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def imported_names(module: str, path: Path) -> set[str]:
    """Every module name an import statement of ``path`` names, at any depth of the file (lazy imports too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def unit(module: str) -> str:
    """The layer table's unit of a module: ``pages``, ``app`` or ``alcore.<top-level name>``."""
    parts = module.split(".")
    if parts[0] != "alcore":
        return parts[0]
    return ".".join(parts[:2])


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    """Project module -> project modules it imports (the deepest module a dotted name resolves to)."""
    files = module_files()
    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in files.items():
        for name in imported_names(module, path):
            while name and name not in files:
                name = name.rpartition(".")[0]
            if name and name != module:
                edges[module].add(name)
    return edges


def test_every_top_level_module_has_a_layer():
    units = {unit(m) for m in module_files()}
    assert not units - set(RANK), f"place these in docs/architecture.md#imports and LAYERS: {sorted(units - set(RANK))}"


def test_imports_never_point_to_a_higher_layer(graph):
    upward = sorted(f"{a} -> {b}" for a, bs in graph.items() for b in bs
                    if unit(a) != unit(b) and RANK[unit(b)] > RANK[unit(a)])
    assert not upward


def test_no_import_circle_between_the_engines_top_level_modules(graph):
    units: dict[str, set[str]] = defaultdict(set)
    for a, bs in graph.items():
        units[unit(a)].update(unit(b) for b in bs if unit(b) not in (unit(a), "alcore"))
    seen: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(units.get(node, ())):
            assert seen.get(nxt) != 1, "import circle: " + " -> ".join([*path, node, nxt])
            if nxt not in seen:
                visit(nxt, [*path, node])
        seen[node] = 2

    for node in sorted(units):
        if node not in seen:
            visit(node, [])


def test_the_engine_imports_neither_streamlit_nor_the_pages_nor_the_command_line():
    offenders = []
    for module, path in module_files().items():
        if not module.startswith("alcore") or unit(module) in ("alcore.cli", "alcore.__main__"):
            continue
        for name in imported_names(module, path):
            if name.split(".")[0] in ("streamlit", "pages") or name.startswith("alcore.cli"):
                offenders.append(f"{module}: {name}")
    assert not offenders


def test_the_layer_check_sees_an_upward_import(tmp_path):
    """The parser resolves relative imports, so an upward import written as one is still seen."""
    path = tmp_path / "store.py"
    path.write_text("from .viz import figures\nimport torch\n")
    assert "alcore.viz" in imported_names("alcore.store", path)
    assert RANK[unit("alcore.viz.figures")] > RANK[unit("alcore.store")]
