"""The simulator is deterministic and labels its defects; the truth applies the documented rules to them."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from squall.errors import ConfigError
from squall.pipeline.events import decode_event
from squall.pipeline.parse import Parser
from squall.pipeline.simulated_source import SimulatedSource
from squall.pipeline.simulator import Produced, SimulatorSettings, generate
from squall.pipeline.truth import compare_rows, compute_truth, explain_rows, truth_for_settings

SMALL = SimulatorSettings(
    devices=5, rate=50, duration_s=60, format="mixed", bad_ratio=0.03, dup_ratio=0.03, late_ratio=0.03
)


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    assert list(generate(SMALL)) == list(generate(SMALL))
    other = SimulatorSettings(**{**SMALL.__dict__, "seed": 8})
    assert list(generate(other)) != list(generate(SMALL))


def test_labels_match_what_parse_decides() -> None:
    messages = list(generate(SMALL))
    labels = Counter(m.label for m in messages)
    assert set(labels) == {"ok", "dup", "late", "bad"} and labels["ok"] > 0.8 * len(messages)
    parser = Parser({"parse": {"dedup_horizon": 10**6}})
    reasons = set()
    for m in messages:
        parsed = parser.parse(m.value, (m.topic, m.partition, m.offset))
        if m.label == "bad":
            assert parsed.dead_letter is not None and parsed.dead_letter.reason == m.expected_reason
            reasons.add(m.expected_reason)
        else:
            assert parsed.dead_letter is None
            decode_event(m.value)
    assert {"too_deep", "duplicate_key", "future_ts", "too_large", "invalid_field:attrs"} <= reasons


def test_offsets_are_contiguous_per_partition_and_keys_stay_in_one_partition() -> None:
    messages = list(generate(SMALL))
    by_partition: dict[int, list[int]] = {}
    partition_of: dict[bytes, int] = {}
    for m in messages:
        by_partition.setdefault(m.partition, []).append(m.offset)
        assert partition_of.setdefault(m.key, m.partition) == m.partition
    assert all(offsets == list(range(len(offsets))) for offsets in by_partition.values())


def test_truth_counts_reconcile_and_agree_with_the_simulator_labels() -> None:
    messages = list(generate(SMALL))
    truth = compute_truth(messages, [(10, 10), (60, 60)], 5000, windowed=lambda event: True)
    labels = Counter(m.label for m in messages)
    assert truth.reconciles()
    assert (truth.duplicates, truth.late, truth.dead_lettered) == (
        labels["dup"],
        labels["late"],
        labels["bad"],
    )
    per_length = Counter()
    for (_, _, metric, length, _), row in truth.rows.items():
        if metric == "temperature":
            per_length[length] += row["count"]
    assert per_length[10] == per_length[60] > 0  # every event in exactly one window of each length


def test_truth_rules_on_a_hand_made_stream() -> None:
    def msg(i: int, ts: int, value: float, event_id: str | None = None, label: str = "ok") -> Produced:
        body = {
            "tenant": "a",
            "device_id": "d",
            "event_id": event_id or f"e{i}",
            "ts": ts,
            "type": "telemetry",
            "metrics": {"v": value},
        }
        return Produced(b"a/d", json.dumps(body).encode(), 0, i, label)

    t0 = 1_767_225_600_000
    stream = [
        msg(0, t0 + 1000, 1.0),
        msg(1, t0 + 9000, 3.0),
        msg(2, t0 + 1000, 1.0, "e0", "dup"),
        msg(3, t0 + 20_000, 5.0),
        msg(4, t0 + 14_999, 100.0, label="late"),
        msg(5, t0 + 15_000, 7.0),
        Produced(b"a/d", b"{oops", 0, 6, "bad", "invalid_json"),
    ]
    truth = compute_truth(stream, [(10, 10)], 5000)
    assert (truth.produced, truth.aggregated, truth.duplicates, truth.late, truth.dead_lettered) == (
        7,
        4,
        1,
        1,
        1,
    )
    rows = {
        k[4] - t0: (r["count"], r["sum"], r["min"], r["max"], r["p50"], r["p95"])
        for k, r in truth.rows.items()
    }
    assert rows == {
        0: (2, 4.0, 1.0, 3.0, 1.0, 1.0),
        10_000: (1, 7.0, 7.0, 7.0, 7.0, 7.0),
        20_000: (1, 5.0, 5.0, 5.0, 5.0, 5.0),
    }
    assert truth.bad_reasons == {("iot.events", 0, 6): "invalid_json"}


def test_truth_for_settings_only_windows_what_routing_sends_to_telemetry() -> None:
    messages = list(generate(SimulatorSettings(devices=3, rate=30, duration_s=30, alarm_ratio=0.2)))
    truth = truth_for_settings(messages, {})
    assert truth.elsewhere > 0 and truth.reconciles()
    assert not any(k[2] == "code" for k in truth.rows)  # alarm metrics are not windowed


def test_compare_rows_reports_each_kind_of_difference() -> None:
    key = ("a", "d", "v", 10, 0)
    want = {
        key: {
            "window_end": 10,
            "count": 2,
            "sum": 3.0,
            "min": 1.0,
            "max": 2.0,
            "mean": 1.5,
            "p50": 1.0,
            "p95": 2.0,
        }
    }
    assert compare_rows(want, want) == []
    assert compare_rows({key: {**want[key], "p50": 1.005}}, want) == []  # within 1 %
    assert compare_rows({key: {**want[key], "p50": 1.02}}, want) != []
    assert compare_rows({key: {**want[key], "sum": 3.0000000001}}, want) != []
    assert compare_rows({}, want) == [f"missing window {key}"]


def test_simulated_source_splits_partitions_between_tasks_and_replays() -> None:
    settings = {"simulator": {"devices": 8, "rate": 40, "duration_s": 5, "partitions": 4}}
    seen = []
    for task in range(2):
        src = SimulatedSource(settings, task, 2)
        polled = iter(src.poll, None)
        mine = list(polled)
        assert {p % 2 for _, _, _, p, _ in mine} == {task}
        seen += mine
        src.fail(mine[0][0])
        assert src.poll() == mine[0]
        src.ack(mine[0][0])
        src.deactivate()
        assert src.poll() is None
    assert len(seen) == 200


def test_bad_simulator_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="pipeline.simulator"):
        SimulatorSettings.from_settings({"simulator": {"devices": 0}})
    with pytest.raises(
        ConfigError, match=r"pipeline.simulator.device: unknown key \(fix: did you mean devices\?\)"
    ):
        SimulatorSettings.from_settings({"simulator": {"device": 3}})
    with pytest.raises(ConfigError, match="jitter_ms"):
        SimulatorSettings.from_settings(
            {"simulator": {"jitter_ms": 9000}, "windows": {"allowed_lateness_s": 5}}
        )


def _row(
    key: tuple[str, str, str, int, int], count: int, total: float, p50: float = 1.0
) -> dict[str, object]:
    return {
        "window_end": key[4] + key[3] * 1000,
        "count": count,
        "sum": total,
        "min": 1.0,
        "max": total,
        "mean": total / count,
        "p50": p50,
        "p95": p50,
    }


def test_explain_rows_names_missing_extra_and_differing_columns() -> None:
    a, b, c, d = (("t", f"d{i}", "temp", 10, 0) for i in range(4))
    expected = {a: _row(a, 2, 3.0), b: _row(b, 1, 1.0), c: _row(c, 1, 1.0)}
    actual = {a: _row(a, 1, 1.0), c: _row(c, 1, 1.0, p50=1.005), d: _row(d, 1, 1.0)}
    text = explain_rows(actual, expected, relative_accuracy=0.01)
    lines = text.splitlines()
    assert lines[0] == "rows: 3 stored, 3 expected; 1 missing, 1 extra, 1 differing"
    assert f"  {b} count=1" in lines[lines.index("missing (first 1):") + 1]
    assert f"  {d} count=1" in lines[lines.index("extra (first 1):") + 1]
    [differing] = [line for line in lines if line.startswith(f"  {a}")]
    assert "count: 1 -> 2" in differing and "sum: 1.0 -> 3.0" in differing and "min" not in differing
    assert str(c) not in text  # p50 within the sketch's accuracy is not a difference
    assert explain_rows(expected, expected) == ""


def test_explain_rows_shows_the_first_ten_of_each() -> None:
    keys = [("t", "d", "temp", 10, i * 10_000) for i in range(25)]
    text = explain_rows({}, {k: _row(k, 1, 1.0) for k in keys}, limit=10)
    assert "25 missing" in text and "missing (first 10):" in text
    assert sum(1 for line in text.splitlines() if line.startswith("  ")) == 10
