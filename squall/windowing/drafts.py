"""A provisional window row's draft, as the stores keep it beside the row (`metric_windows.draft`).

An idle timeout (or an eviction past `windows.max_keys`) closes a window before its device's watermark passed its
end: the row is stored and the window's tuples are acked, but an on-time event may still join it. A fresh
instance (after a worker is lost or a rebalance) cannot rebuild such a window from replays, since its events were
acked and do not come back, so the row carries what the window counted for its metric: the ids of its events (a
re-delivery must not count twice) and the metric's values (count, fsum, min, max and the quantile sketch are
all computed from them again). The window's final emit writes the row again with an empty draft.

The text is JSON: `[[event ids, sorted], [values]]`; floats survive it exactly (shortest round-trip form).

Every row also carries its device's source-order mark (`metric_windows.source`): the newest source position the
device's events had reached when the window closed, and the newest event time among them. A restarted instance
judges a replay that overtook the replays of the events just before it against the marks of the rows a previous
instance stored (WindowManager.recover_from's `bound`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from squall.windowing.manager import Draft


def encode_draft(event_ids: Iterable[str], values: Sequence[float]) -> str:
    return orjson.dumps([sorted(event_ids), list(values)]).decode()


def decode_draft(text: str) -> Draft:
    """The (event ids, values) of a draft; a text that is not one is an error naming what it holds."""
    data = orjson.loads(text)
    if (
        not isinstance(data, list)
        or len(data) != 2
        or not isinstance(data[0], list)
        or not isinstance(data[1], list)
        or not all(isinstance(i, str) for i in data[0])
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in data[1])
    ):
        raise ValueError(f"not a window draft (metric_windows.draft): {text[:80]!r}")
    return data[0], data[1]


def encode_source(mark: tuple[Any, int, int]) -> str:
    """A window's source-order mark (ClosedWindow.source: ((topic, partition), newest offset, newest event time))
    as `metric_windows.source` keeps it: JSON `[topic, partition, offset, time]`."""
    (topic, partition), offset, ts = mark
    return orjson.dumps([topic, partition, offset, ts]).decode()


def decode_source(text: str) -> tuple[tuple[str, int], int, int]:
    """((topic, partition), offset, time) of a stored mark; a text that is not one is an error naming it."""
    data = orjson.loads(text)
    if (
        not isinstance(data, list)
        or len(data) != 4
        or not isinstance(data[0], str)
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in data[1:])
    ):
        raise ValueError(f"not a window source mark (metric_windows.source): {text[:80]!r}")
    return (data[0], data[1]), data[2], data[3]
