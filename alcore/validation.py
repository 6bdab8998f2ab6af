"""The one format of a bad setting, and the checks that raise it (scikit-learn style, at the door).

Every config the engine takes (``ExperimentConfig`` with its model, dataset and strategy options, a sweep's grid, a
GIF's options, an upload's options) is checked field by field when it is made, and a bad value raises
``ConfigError`` saying::

    <field>=<value> is not valid; <what is allowed>

``field`` is the setting's name as the user wrote it (``lr``, ``model_options.hidden``, ``--max-points``), so the
command line prints it and the app shows it beside the widget that set it (``ConfigError.field``). Light on
purpose: no numpy, no torch.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

_UNSET = object()
_SHOWN_CHARS = 80  # a value longer than this is cut in messages (a pasted file, a long query)


class ConfigError(ValueError):
    """A setting has a value the engine cannot run; the message names the field, the value and what is allowed.

    ``field`` names the setting (None only for an error about the whole config, such as text that is not JSON),
    ``allowed`` says what would be accepted.
    """

    def __init__(self, message: str | None = None, *, field: str | None = None, value: Any = _UNSET,
                 allowed: str | None = None) -> None:
        if message is None:
            message = describe(field or "value", value, allowed or "")
        super().__init__(message)
        self.field, self.allowed = field, allowed
        self.value = None if value is _UNSET else value


def describe(field: str, value: Any, allowed: str) -> str:
    """``<field>=<value> is not valid; <allowed>``: the one format of every message (values cut to a line)."""
    return f"{field}={show(value)} is not valid; {allowed}" if value is not _UNSET else f"{field}: {allowed}"


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else f"{text[:_SHOWN_CHARS]}… ({len(text)} characters)"


def fail(field: str, value: Any, allowed: str) -> None:
    raise ConfigError(field=field, value=value, allowed=allowed)


def is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def integer(field: str, value: Any, lo: int, hi: int) -> int:
    """An integer in ``lo..hi`` (numpy integers too; never a bool or a float)."""
    if not is_int(value) or not lo <= value <= hi:
        fail(field, value, f"it must be an integer in {lo}..{hi}")
    return int(value)


def number(field: str, value: Any, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite real number in the interval (``lo_open``/``hi_open``: that end excluded); never a bool."""
    ok = is_number(value) and math.isfinite(value) and (lo < value if lo_open else lo <= value) and (
        value < hi if hi_open else value <= hi)
    if not ok:
        fail(field, value, f"it must be a finite number in {'(' if lo_open else '['}{lo:g}, {hi:g}"
                           f"{')' if hi_open else ']'}")
    return float(value)


def boolean(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        fail(field, value, "it must be true or false")
    return value


def choice(field: str, value: Any, choices: Iterable[Any]) -> Any:
    choices = list(choices)
    if not isinstance(value, (str, int, float, type(None))) or isinstance(value, bool) or value not in choices:
        fail(field, value, f"choose one of {choices}")
    return value


def text(field: str, value: Any, max_chars: int, *, empty: bool = True) -> str:
    if not isinstance(value, str) or len(value) > max_chars or (not empty and not value.strip()) or "\0" in value:
        fail(field, value, f"it must be text of {'1' if not empty else '0'} to {max_chars} characters")
    return value


def integers(field: str, value: Any, lo: int, hi: int, min_len: int, max_len: int) -> list[int]:
    """A list (or tuple) of ``min_len..max_len`` integers, each in ``lo..hi``."""
    if (not isinstance(value, (list, tuple)) or not min_len <= len(value) <= max_len
            or not all(is_int(v) and lo <= v <= hi for v in value)):
        count = f"{min_len}" if min_len == max_len else f"{min_len} to {max_len}"
        fail(field, value, f"it must be a list of {count} integers, each in {lo}..{hi}")
    return [int(v) for v in value]


def like_default(field: str, value: Any, default: Any, *, max_int: int = 10**9, max_chars: int = 200) -> None:
    """Check an option by the type of its default (the options of strategies and datasets are declared with
    defaults only): a bool for a bool, a bounded integer for an int, a finite number for a float, text for a
    string, a number or None for None, a list of finite numbers for a tuple."""
    if isinstance(default, bool):
        boolean(field, value)
    elif is_int(default):
        integer(field, value, -max_int, max_int)
    elif isinstance(default, float):
        number(field, value, -1e12, 1e12)
    elif isinstance(default, str):
        text(field, value, max_chars)
    elif default is None:
        if value is not None and not isinstance(value, str):
            number(field, value, -1e12, 1e12)
        elif isinstance(value, str):
            text(field, value, max_chars)
    elif isinstance(default, (tuple, list)):
        if not isinstance(value, (list, tuple)) or len(value) > 1000 or not all(
                is_number(v) and math.isfinite(v) and abs(v) <= 1e12 for v in value):
            fail(field, value, "it must be a list of at most 1000 finite numbers")
