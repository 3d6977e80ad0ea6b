"""The windows an event time falls in: a pure function, the whole of window assignment."""

from __future__ import annotations

from squall.windowing.definitions import WindowDefinition


def window_ranges(ts_ms: int, definition: WindowDefinition) -> list[tuple[int, int]]:
    """[start, end) ranges, in ms, of every window of `definition` that contains `ts_ms`, oldest first.

    Windows are aligned to the epoch: starts are multiples of the slide.
    """
    slide, length = definition.slide_ms, definition.length_ms
    last_start = ts_ms - ts_ms % slide
    starts = range(last_start, ts_ms - length, -slide)
    return [(start, start + length) for start in reversed(starts)]
