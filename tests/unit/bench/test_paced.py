"""The paced producer hands message i on at start + i / rate, by an injected clock."""

import pytest

from bench.paced import PaceReport, paced


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_each_item_waits_for_its_turn() -> None:
    clock = FakeClock(100.0)
    report = PaceReport()
    handed = []
    for item in paced(range(5), rate=4.0, start_s=101.0, report=report, clock=clock, sleep=clock.sleep):
        handed.append((item, clock.now))
    assert handed == [(0, 101.0), (1, 101.25), (2, 101.5), (3, 101.75), (4, 102.0)]
    assert report.sent == 5 and report.achieved_per_s == pytest.approx(4.0)
    assert report.max_behind_s == 0.0


def test_a_slow_consumer_of_the_items_shows_as_behind_and_a_lower_rate() -> None:
    clock = FakeClock(0.0)
    report = PaceReport()
    for _ in paced(range(3), rate=10.0, start_s=0.0, report=report, clock=clock, sleep=clock.sleep):
        clock.now += 0.5  # sending takes longer than the 0.1 s step
    assert report.max_behind_s == pytest.approx(0.8)  # the third item was due at 0.2, handed on at 1.0
    assert report.achieved_per_s == pytest.approx(2.0)
    assert clock.slept == []


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        list(paced([1], rate=0, start_s=0.0, report=PaceReport()))
