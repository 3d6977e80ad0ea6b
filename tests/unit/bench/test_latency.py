"""Percentiles and event-to-window-row latencies of the end-to-end benchmark."""

import pytest

from bench.latency import Arrival, latencies_ms, percentile, summarize, window_start


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert percentile([5, 1, 4, 2, 3], 50) == 3  # unsorted input
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 1000], 99) == 1000  # one outlier in ten is the p99


@pytest.mark.parametrize("q", [0, -1, 101])
def test_percentile_rejects_q_out_of_range(q: float) -> None:
    with pytest.raises(ValueError, match="outside"):
        percentile([1, 2], q)


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_window_start_is_aligned_to_the_epoch() -> None:
    assert window_start(1_767_225_612_345, 10) == 1_767_225_610_000
    assert window_start(1_767_225_660_000, 60) == 1_767_225_660_000


def test_an_events_latency_is_the_last_write_of_its_rows_less_its_arrival() -> None:
    t0 = 1_767_225_600_000
    a = Arrival("t", "d1", t0 + 3_000, ("temperature", "humidity"), record_ms=t0 + 3_100)
    b = Arrival("t", "d1", t0 + 62_000, ("temperature",), record_ms=t0 + 62_050)
    written = {
        ("t", "d1", "temperature", 10, t0): t0 + 15_500,
        ("t", "d1", "humidity", 10, t0): t0 + 15_700,  # the later of a's two rows counts
        ("t", "d1", "temperature", 60, t0): t0 + 65_400,
        ("t", "d1", "humidity", 60, t0): t0 + 65_300,
        ("t", "d1", "temperature", 10, t0 + 60_000): t0 + 75_000,
        # b's 60 s row is missing
    }
    lat, missing = latencies_ms([a, b], written, [10, 60])
    assert lat == {10: [12_600, 12_950], 60: [62_300]}
    assert missing == {10: 0, 60: 1}
    summary = summarize(lat, missing)
    assert summary["10s"] == {"events": 2, "missing_rows": 0, "p50_s": 12.6, "p99_s": 12.95, "max_s": 12.95}
    assert summary["60s"]["missing_rows"] == 1 and summary["60s"]["p99_s"] == 62.3
