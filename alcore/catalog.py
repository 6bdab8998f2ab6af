"""What the engine offers, read from its source instead of importing it.

The setup form needs every strategy's name, description and options (with defaults and help) and every model's
options; importing the modules that define them pulls in torch (about 1 s of a 2-core machine), which the app's
first render should not wait for. This module reads the same definitions with ``ast``: the source stays the one
place they are written, and anything it cannot read as a literal is taken from the imported class instead, so the
answer is always the class's own (``tests/test_catalog.py`` checks both agree).
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import inspect
import io
import textwrap
import tokenize
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

STRATEGY_BASES = ("Strategy", "ScoreStrategy")  # bases with no options of their own
MODELS_MODULE = "alcore.models"


@dataclass(frozen=True)
class OptionSpec:
    name: str
    default: Any
    help: str = ""


@dataclass(frozen=True)
class StrategySpec:
    name: str
    module: str
    class_name: str
    description: str
    needs_target: bool
    options: tuple[OptionSpec, ...]

    def defaults(self) -> dict[str, Any]:
        return {o.name: o.default for o in self.options}


class _NotLiteral(Exception):
    """A definition the catalog cannot read without running code."""


def _source(module: str) -> str:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise _NotLiteral(module)
    return Path(spec.origin).read_text(encoding="utf-8")


def trailing_comments(source: str) -> dict[int, str]:
    """Line number -> text of the ``# comment`` ending that line."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def _constants(tree: ast.Module) -> dict[str, Any]:
    """Module-level ``NAME = <literal>`` assignments."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return found


def _literal(node: ast.expr, constants: dict[str, Any]) -> Any:
    """A default written as a literal, a module constant, or ``field(default_factory=lambda: <either>)``."""
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "field":
        for kw in node.keywords:
            if kw.arg == "default":
                return _literal(kw.value, constants)
            if kw.arg == "default_factory" and isinstance(kw.value, ast.Lambda):
                return _literal(kw.value.body, constants)
        raise _NotLiteral(ast.unparse(node))
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise _NotLiteral(ast.unparse(node)) from None


def _class_attrs(cls_node: ast.ClassDef) -> dict[str, ast.expr]:
    return {n.targets[0].id: n.value for n in cls_node.body
            if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)}


def _options(cls_node: ast.ClassDef, constants: dict, comments: dict[int, str]) -> tuple[OptionSpec, ...]:
    inner = [n for n in cls_node.body if isinstance(n, ast.ClassDef) and n.name == "Options"]
    if not inner:
        if not all(getattr(b, "id", None) in STRATEGY_BASES for b in cls_node.bases):
            raise _NotLiteral(f"{cls_node.name} inherits its Options")
        return ()
    specs = []
    for node in inner[0].body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if node.value is None:
                raise _NotLiteral(f"option {node.target.id} has no default")
            specs.append(OptionSpec(node.target.id, _literal(node.value, constants), comments.get(node.lineno, "")))
    return tuple(specs)


def _parse_strategy(module: str) -> StrategySpec:
    source = _source(module)
    tree, comments = ast.parse(source), trailing_comments(source)
    constants = _constants(tree)
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        attrs = _class_attrs(node)
        if "name" in attrs:
            return StrategySpec(
                name=_literal(attrs["name"], constants), module=module, class_name=node.name,
                description=_literal(attrs["description"], constants) if "description" in attrs else "",
                needs_target=bool(_literal(attrs["needs_target"], constants)) if "needs_target" in attrs else False,
                options=_options(node, constants, comments))
    raise _NotLiteral(f"no strategy class in {module}")


def spec_from_class(cls: type) -> StrategySpec:
    """The same description from the imported class (the fallback, and the reference the tests compare with)."""
    helps = option_help(cls.Options)
    options = tuple(OptionSpec(f.name, _field_default(f), helps.get(f.name, ""))
                    for f in dataclasses.fields(cls.Options))
    return StrategySpec(cls.name, cls.__module__, cls.__name__, cls.description, bool(cls.needs_target), options)


def strategy_spec(module: str) -> StrategySpec:
    """The spec of the strategy defined in ``module``: parsed, or imported when the source is not plain literals."""
    try:
        return _parse_strategy(module)
    except (_NotLiteral, SyntaxError, OSError):
        mod = importlib.import_module(module)
        from alcore.strategies.base import Strategy

        cls = next(o for o in vars(mod).values() if isinstance(o, type) and issubclass(o, Strategy)
                   and o.name and o.__module__ == module)
        return spec_from_class(cls)


@lru_cache(maxsize=None)
def strategy_specs(modules: tuple[str, ...]) -> dict[str, StrategySpec]:
    """Name -> spec for the strategy modules, in their order; a module that does not exist is skipped."""
    out = {}
    for module in modules:
        if importlib.util.find_spec(module) is None:
            continue
        spec = strategy_spec(module)
        out[spec.name] = spec
    return out


@lru_cache(maxsize=None)
def model_defaults(model: str) -> dict[str, Any]:
    """Keyword options of model ``model`` (the class of that name, case-insensitive, in ``alcore.models``) with their
    defaults, without the positional shape arguments."""
    try:
        source = _source(MODELS_MODULE)
        tree = ast.parse(source)
        constants = _constants(tree)
        cls_node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.lower() == model)
        init = next(n for n in cls_node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
        args = init.args.args[1:]
        given = args[len(args) - len(init.args.defaults):]
        return {a.arg: _literal(d, constants) for a, d in zip(given, init.args.defaults)}
    except (StopIteration, _NotLiteral, SyntaxError, OSError):
        mod = importlib.import_module(MODELS_MODULE)
        cls = next((c for n, c in vars(mod).items() if isinstance(c, type) and n.lower() == model), None)
        if cls is None:
            raise ValueError(f"model={model!r} is not valid") from None
        return {p.name: p.default for p in inspect.signature(cls).parameters.values()
                if p.default is not inspect.Parameter.empty}


def option_help(cls: type) -> dict[str, str]:
    """Trailing ``# comments`` of an ``Options`` dataclass's fields, by field name."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    comments = trailing_comments(source)
    tree = ast.parse(textwrap.dedent(source))
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    return {n.target.id: comments[n.lineno] for n in body
            if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.lineno in comments}


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None
