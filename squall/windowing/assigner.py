"""The windows an event time falls in: a pure function, the whole of window assignment."""

from __future__ import annotations

from squall.windowing.definitions import WindowDefinition


def window_starts(ts_ms: int, slide_ms: int, length_ms: int) -> range:
    """Starts, in ms, of every window of that slide and length that contains `ts_ms`, oldest first (the window
    engine's form of `window_ranges`: no list, no tuples)."""
    last_start = ts_ms - ts_ms % slide_ms
    return range(last_start, ts_ms - length_ms, -slide_ms)[::-1]


def window_ranges(ts_ms: int, definition: WindowDefinition) -> list[tuple[int, int]]:
    """[start, end) ranges, in ms, of every window of `definition` that contains `ts_ms`, oldest first.

    Windows are aligned to the epoch: starts are multiples of the slide.
    """
    length = definition.length_ms
    return [(start, start + length) for start in window_starts(ts_ms, definition.slide_ms, length)]
