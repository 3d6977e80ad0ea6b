"""topology.debug: every emitted tuple is logged as Storm's executors log it, in both hostings.

Storm (org.apache.storm.daemon.Task) logs `Emitting Tuple: taskId=.. componentId=.. stream=.. values=..` at INFO
for each emit when topology.debug is true; squall logs the same line on the `squall.tuples` logger, which
`squall run` shows whenever topology.debug is on (`-d`, `-o topology.debug=true`, or the topology's config).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

TUPLE_LOGGER = "squall.tuples"

Route = Callable[[int, str, str, Any, "int | None"], list[int]]


def is_debug(conf: dict[str, Any]) -> bool:
    return conf.get("topology.debug") is True


def logging_route(route: Route, logger: logging.Logger | None = None) -> Route:
    """`route`, logging each emit before routing it (Storm logs in getOutgoingTasks, before grouping)."""
    out = logger or logging.getLogger(TUPLE_LOGGER)

    def debug_route(task: int, component: str, stream: str, values: Any, direct: int | None) -> list[int]:
        out.info(
            "Emitting Tuple: taskId=%d componentId=%s stream=%s values=%s", task, component, stream, values
        )
        return route(task, component, stream, values, direct)

    return debug_route
