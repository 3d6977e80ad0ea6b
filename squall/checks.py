"""Typed checks of one settings value each, shared by every section of config.json.

Each check returns the value as its type, or raises ConfigError naming the key (its full dotted path), the
value and the fix. Booleans are not numbers here (JSON `true` is not `1`), and non-finite numbers (JSON's
`NaN`/`Infinity`, which Python's json module accepts) are refused everywhere.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Mapping
from typing import Any

from squall.errors import ConfigError


def check_keys(section: Mapping[str, Any], known: Collection[str], where: str) -> None:
    """Every key of `section` is one of `known`; an unknown one is a ConfigError suggesting the closest.
    `where` is the section's dotted path ("" for the top level of config.json)."""
    for key in section:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1, cutoff=0.6)
        fix = f"did you mean {close[0]}?" if close else f"use one of: {', '.join(sorted(known))}"
        raise ConfigError(f"{where}.{key}" if where else str(key), "unknown key", fix)


def obj(value: Any, where: str) -> Mapping[str, Any]:
    """An object (JSON `{}`); None (or an absent section) is an empty one."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(where, f"must be an object, got {type(value).__name__} {value!r}", "write {...}")
    return value


def integer(value: Any, where: str, lo: int | None = None, hi: int | None = None) -> int:
    """A whole number in [lo, hi] (either bound optional)."""
    if isinstance(value, bool) or not isinstance(value, int) or not _within(value, lo, hi):
        raise ConfigError(where, f"{value!r} is not valid", f"use a whole number {_range(lo, hi)}")
    return value


def number(
    value: Any,
    where: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    unit: str = "a number",
) -> float:
    """A finite number in [lo, hi]; `lo_open`/`hi_open` exclude the bound itself."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok:
        try:
            as_float = float(value)
        except OverflowError:  # an int too large for a float
            ok = False
        else:
            ok = math.isfinite(as_float) and _within(as_float, lo, hi, lo_open, hi_open)
    if not ok:
        raise ConfigError(where, f"{value!r} is not valid", f"use {unit} {_range(lo, hi, lo_open, hi_open)}")
    return float(value)


def boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(where, f"{value!r} is not valid", "use true or false")
    return value


def text(value: Any, where: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value):
        raise ConfigError(where, f"{value!r} is not valid", "use a non-empty string")
    return value


def choice(value: Any, where: str, choices: Collection[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(where, f"{value!r} is not valid", f"use one of: {', '.join(choices)}")
    return value


def names(value: Any, where: str) -> tuple[str, ...]:
    """A non-empty list of non-empty strings."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(where, f"{value!r} is not valid", 'use a list of names, e.g. ["a", "b"]')
    return tuple(value)


def _within(
    value: float, lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False
) -> bool:
    if lo is not None and (value <= lo if lo_open else value < lo):
        return False
    return not (hi is not None and (value >= hi if hi_open else value > hi))


def _range(lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False) -> str:
    if lo is not None and hi is not None and not lo_open and not hi_open:
        return f"in {_fmt(lo)}..{_fmt(hi)}"
    low = None if lo is None else f"{'>' if lo_open else '>='} {_fmt(lo)}"
    high = None if hi is None else f"{'<' if hi_open else '<='} {_fmt(hi)}"
    if low and high:
        return f"{low} and {high}"
    return low or high or ""


def _fmt(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"
