"""AggregateBolt's recovery reads: what `clear` concludes from them (pure logic, a stand-in store)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bolts.aggregate import AggregateBolt, _earliest_start, day_grain, days_to_read
from squall.pipeline.model import DAY_MS, StoredWindow
from squall.windowing.definitions import WindowDefinition, WindowSettings, sliding, tumbling
from squall.windowing.manager import NO_WATERMARK

T0 = 1_767_225_600_000 + 3_600_000  # 01:00 UTC: not near midnight
KEY = ("acme", "d1")


class Store:
    def __init__(
        self, stored: dict[tuple[str, int], set[int]], sources: dict[int, str] | None = None
    ) -> None:
        self.stored = stored  # (metric, window_s) -> stored window starts of KEY on T0's day
        self.sources = sources or {}  # window start -> the row's source mark
        self.requests: list[Any] = []

    def window_starts_of_days(
        self, requests: list[Any]
    ) -> list[dict[tuple[str, int], dict[int, StoredWindow]]]:
        self.requests.extend(requests)
        return [
            {
                (m, n): {s: StoredWindow(None, self.sources.get(s)) for s in self.stored.get((m, n), set())}
                if day == T0 // DAY_MS
                else {}
                for m in ms
                for n in ns
            }
            for _, _, day, ms, ns in requests
        ]


def bolt(store: Store) -> AggregateBolt:
    b = AggregateBolt.__new__(AggregateBolt)
    b.window_settings = WindowSettings(
        definitions=(tumbling(10), tumbling(60)), allowed_lateness_ms=5_000, idle_timeout_s=5.0
    )
    b.longest_ms = 60_000
    b.store = store  # type: ignore[assignment]
    b.stored_days, b.late_buckets, b.read_metrics, b.stored_until = {}, {}, {}, {}
    b.marks, b.mark_steps = {}, {}
    b.days_of, b.day_grain = {}, day_grain(b.window_settings.definitions)
    return b


def entry(ts: int, **metrics: float) -> list[Any]:
    return [[KEY[0], KEY[1], f"e{ts}", ts, "telemetry", metrics, {}], ["t", 0, 0]]


def test_clear_only_past_every_stored_window_and_only_for_metrics_read() -> None:
    store = Store({("temp", 10): {T0}, ("temp", 60): {T0}})  # [T0, T0+10s) and [T0, T0+60s) are stored
    b = bolt(store)
    assert not b.clear(KEY, T0 + 70_000, {"temp": 1.0})  # nothing read yet: ask
    b.prefetch_stored([entry(T0 + 5_000, temp=1.0)])
    assert not b.clear(KEY, T0 + 5_000, {"temp": 1.0})  # inside stored windows
    assert not b.clear(KEY, T0 + 59_999, {"temp": 1.0})  # inside the stored 60 s window
    assert b.clear(KEY, T0 + 60_000, {"temp": 1.0})  # past both
    assert not b.clear(KEY, T0 + 60_000, {"temp": 1.0, "hum": 2.0})  # hum was never read
    assert not b.clear(("acme", "d2"), T0 + 60_000, {"temp": 1.0})  # another device was never read


def test_a_read_is_made_once_per_device_day_and_metric() -> None:
    store = Store({})
    b = bolt(store)
    b.prefetch_stored([entry(T0 + i * 1_000, temp=1.0) for i in range(50)])
    b.prefetch_stored([entry(T0 + 60_000, temp=1.0), entry(T0 + 61_000, temp=1.0, hum=2.0)])
    day = T0 // DAY_MS  # and the day after, for the source marks of rows past midnight
    assert [(r[2], r[3]) for r in store.requests] == [
        (day, ("temp",)),
        (day + 1, ("temp",)),
        (day, ("hum",)),
        (day + 1, ("hum",)),
    ]
    assert b.clear(KEY, T0, {"temp": 1.0, "hum": 2.0})  # nothing stored: every event is clear once read


def test_bound_is_the_newest_time_the_stored_rows_marks_show_before_a_position() -> None:
    """Marks ((topic, partition), newest offset, newest time) of the rows read: for a position, the newest time of
    the marks at lower offsets of the same stream."""
    marks = {T0: '["t",0,100,' + str(T0 + 9_000) + "]", T0 + 10_000: '["t",0,250,' + str(T0 + 19_000) + "]"}
    store = Store({("temp", 10): {T0, T0 + 10_000}, ("temp", 60): {T0}}, marks)
    b = bolt(store)
    b.prefetch_stored([entry(T0 + 5_000, temp=1.0)])
    assert b.bound(KEY, (("t", 0), 100)) == NO_WATERMARK  # nothing stored before offset 100
    assert b.bound(KEY, (("t", 0), 101)) == T0 + 9_000
    assert b.bound(KEY, (("t", 0), 10**9)) == T0 + 19_000
    assert b.bound(KEY, (("t", 1), 10**9)) == NO_WATERMARK  # another partition: no order with this one
    assert b.bound(("acme", "d2"), (("t", 0), 10**9)) == NO_WATERMARK


class DayStore:
    """Rows of KEY anywhere in time: (metric, window_s) -> window start -> the row's source mark."""

    def __init__(self, rows: dict[tuple[str, int], dict[int, str]]) -> None:
        self.rows = rows

    def window_starts_of_days(
        self, requests: list[Any]
    ) -> list[dict[tuple[str, int], dict[int, StoredWindow]]]:
        return [
            {
                (m, n): {
                    s: StoredWindow(None, mark)
                    for s, mark in self.rows.get((m, n), {}).items()
                    if s // DAY_MS == day
                }
                for m in ms
                for n in ns
            }
            for _, _, day, ms, ns in requests
        ]


MIDNIGHT = 1_767_225_600_000


@given(
    ts=st.one_of(st.integers(-1_200_000, 1_200_000), st.integers(-DAY_MS // 2, DAY_MS // 2)).map(
        lambda t: MIDNIGHT + t
    ),
    ahead=st.integers(1, 600_000),
    length=st.sampled_from([10, 60]),
)
def test_a_replay_sees_the_marks_of_the_devices_newer_rows_on_either_side_of_midnight(
    ts: int, ahead: int, length: int
) -> None:
    """The device had moved on to `ts + ahead` (up to 10 min, a row of the lost task carries that mark) when the
    event at a later offset was produced: after its batch's recovery reads, `bound` shows the mark, whether or
    not a UTC midnight lies between the event's windows and that row."""
    newest = ts + ahead
    start = newest - newest % (length * 1000)
    store = DayStore({("temp", length): {start: f'["t",0,50,{newest}]'}})
    b = bolt(store)  # type: ignore[arg-type]
    b.prefetch_stored([entry(ts, temp=1.0)])
    assert b.bound(KEY, (("t", 0), 100)) == newest


definitions = st.lists(
    st.one_of(
        st.builds(tumbling, st.integers(1, 7200)),
        st.integers(1, 3600).flatmap(
            lambda slide: st.builds(sliding, st.integers(slide, 7200), st.just(slide))
        ),
    ),
    min_size=1,
    max_size=3,
)


@given(definitions, st.integers(0, 3 * DAY_MS), st.integers(0, 10**6))
def test_the_days_to_read_are_the_same_for_every_time_in_a_grain(
    defs: list[WindowDefinition], ts: int, step: int
) -> None:
    """prefetch_stored caches days_to_read by ts // day_grain: every time in a grain must give the same days,
    and they are the days of the windows holding ts (each window [start, start + length) with start on a
    multiple of the slide), with ts's day and the next."""
    grain = day_grain(defs)
    first = ts - ts % grain
    other = first + step % grain
    assert days_to_read(other, defs) == days_to_read(ts, defs)
    day = ts // DAY_MS
    starts = set()
    for d in defs:
        start = _earliest_start(ts, d)
        assert start <= ts < start + d.length_ms and start % d.slide_ms == 0
        assert start - d.slide_ms + d.length_ms <= ts  # the window before it does not hold ts
        starts.add(start // DAY_MS)
    assert days_to_read(ts, defs) == tuple(sorted(starts | {day, day + 1}))
