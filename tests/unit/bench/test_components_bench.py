"""bench.components on a short run: every bolt of the pipeline is fed and measured, and each one's figure is a
share of the run's messages (the spout batches hold every simulated message once)."""

from __future__ import annotations

from bench import components
from bench.end_to_end import Options
from squall.pipeline.tuples import unpack_batch


def test_spout_batches_hold_every_message_once_in_partition_order() -> None:
    o = Options(devices=5, rate=200, duration=5, rate_limit=0, quix=False)
    batches = components.spout_batches(o, 64)
    seen: dict[int, list[int]] = {}
    for topic, partition, packed in batches:
        assert topic == "iot.events"
        items = unpack_batch(packed)
        assert 0 < len(items) <= 64
        seen.setdefault(partition, []).extend(offset for offset, _payload in items)
    assert sum(len(v) for v in seen.values()) == 1000
    assert all(offsets == sorted(offsets) and len(set(offsets)) == len(offsets) for offsets in seen.values())


def test_one_run_measures_every_bolt() -> None:
    o = Options(devices=5, rate=200, duration=20, rate_limit=0, quix=False)
    seconds = components.one_run(components.spout_batches(o, 1000), set(components.BOLTS))
    assert set(seconds) == set(components.BOLTS)
    assert all(s > 0 for s in seconds.values()), seconds
