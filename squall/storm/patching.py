"""Swap one function for another in every streamparse module that holds it (`from ..util import x` copies)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

MARKER = "_squall_storm_compat"


def streamparse_modules() -> list[ModuleType]:
    """streamparse.util and every streamparse.cli.* module, imported."""
    import streamparse.cli as cli_pkg

    for info in pkgutil.iter_modules(cli_pkg.__path__):
        importlib.import_module(f"streamparse.cli.{info.name}")
    return [m for name, m in sorted(sys.modules.items()) if name.startswith("streamparse") and m is not None]


def replace_everywhere(
    original: Callable[..., Any], replacement: Callable[..., Any], modules: list[ModuleType]
) -> int:
    """Rebind every module attribute that *is* `original` to `replacement`; return how many were rebound."""
    count = 0
    for module in modules:
        for attr, value in list(vars(module).items()):
            if value is original:
                setattr(module, attr, replacement)
                count += 1
    if count == 0:
        raise RuntimeError(
            f"{original.__qualname__} not found in streamparse; the compat layer needs updating"
        )
    return count


def is_installed() -> bool:
    import streamparse.util

    return bool(getattr(streamparse.util, MARKER, False))


def mark_installed() -> None:
    import streamparse.util

    setattr(streamparse.util, MARKER, True)
