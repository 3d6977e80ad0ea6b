"""squall: Storm-style topologies in pure Python for IoT event processing.

The public API for a project's own code and tests:

- `squall.testing`: BoltHarness, SpoutHarness, run_topology, ManualClock, isolated_pipeline_project, ...
- `squall.WindowedBolt`: the event-time windowed bolt base (`squall.windowing.bolt`).
- `squall.ManualClock`, `squall.Clock`: the injectable clocks.
- `squall.SquallError`, `squall.ConfigError`: what squall raises on purpose.

Names are imported on first use, so `import squall` stays cheap (no streamparse import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "WindowedBolt": "squall.windowing.bolt",
    "ManualClock": "squall.clock",
    "SystemClock": "squall.clock",
    "Clock": "squall.clock",
    "SquallError": "squall.errors",
    "ConfigError": "squall.errors",
}

__all__ = [
    "__version__",
    "WindowedBolt",
    "ManualClock",
    "SystemClock",
    "Clock",
    "SquallError",
    "ConfigError",
]

if TYPE_CHECKING:
    from squall.clock import Clock, ManualClock, SystemClock
    from squall.errors import ConfigError, SquallError
    from squall.windowing.bolt import WindowedBolt


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'squall' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
