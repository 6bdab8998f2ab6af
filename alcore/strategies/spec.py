"""What a strategy class says about itself, as plain data: name, description, whether it needs a target set, the tasks
it works for, and its options with their defaults and help (the trailing ``# comment`` of each ``Options`` field)."""
from __future__ import annotations

import dataclasses
import inspect
import io
import textwrap
import tokenize
from dataclasses import dataclass
from typing import Any


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
    tasks: tuple[str, ...] = ("classification", "regression")

    def defaults(self) -> dict[str, Any]:
        return {o.name: o.default for o in self.options}

    def to_data(self) -> dict[str, Any]:
        """Plain data (``from_data`` gives the spec back)."""
        return {**dataclasses.asdict(self), "options": tuple((o.name, o.default, o.help) for o in self.options)}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> "StrategySpec":
        return cls(**{**data, "options": tuple(OptionSpec(*o) for o in data["options"]),
                      "tasks": tuple(data.get("tasks", ("classification", "regression")))})


def spec_from_class(cls: type) -> StrategySpec:
    """The spec of a Strategy subclass, read from the class itself."""
    helps = option_help(cls.Options)
    options = tuple(OptionSpec(f.name, _field_default(f), helps.get(f.name, ""))
                    for f in dataclasses.fields(cls.Options))
    return StrategySpec(cls.name, cls.__module__, cls.__name__, cls.description, bool(cls.needs_target), options,
                        tuple(cls.tasks))


def option_help(cls: type) -> dict[str, str]:
    """Trailing ``# comments`` of an ``Options`` dataclass's fields, by field name."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    # tokens, not ``ast.parse``: CPython 3.11's AST constructor is not thread-safe ("recursion depth mismatch"),
    # and the app's sessions (Streamlit compiling pages) may parse at the same moment
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    comments = {tok.start[0]: tok.string.lstrip("#").strip() for tok in tokens if tok.type == tokenize.COMMENT}
    fields, depth = {}, 0
    for i, tok in enumerate(tokens[:-1]):
        depth += tok.type == tokenize.INDENT
        depth -= tok.type == tokenize.DEDENT
        starts_line = i > 0 and tokens[i - 1].type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
        if depth == 1 and starts_line and tok.type == tokenize.NAME and tokens[i + 1].string == ":" \
                and tok.start[0] in comments:
            fields[tok.string] = comments[tok.start[0]]
    return fields


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None
