from __future__ import annotations

from pathlib import Path

from squall.kafka.simulate import (
    ProduceReport,
    read_truth,
    truth_document,
    truth_rows,
    with_broker_offsets,
    write_truth,
)
from squall.pipeline.simulator import SimulatorSettings, generate
from squall.pipeline.truth import compute_truth


def test_truth_file_round_trip(tmp_path: Path) -> None:
    messages = list(generate(SimulatorSettings(devices=3, rate=20, duration_s=5, partitions=2)))
    truth = compute_truth(messages, [(1, 1)], 5000)
    report = ProduceReport(topic="t", produced=len(messages))
    doc = truth_document(truth, report, {"seed": 7})
    write_truth(tmp_path / "truth.json", doc)
    back = read_truth(tmp_path / "truth.json")
    assert back["produced"] == len(messages) and back["seed"] == 7
    assert truth_rows(back) == truth.rows
    assert back["aggregated"] + back["duplicates"] + back["late"] + back["dead_lettered"] + back[
        "elsewhere"
    ] == len(messages)


def test_broker_offsets_replace_the_simulators_when_the_topic_was_not_empty() -> None:
    messages = list(generate(SimulatorSettings(devices=2, rate=10, duration_s=1, partitions=1)))
    report = ProduceReport(topic="t", moved=len(messages), offsets=[100 + m.offset for m in messages])
    moved = with_broker_offsets(messages, report)
    assert [m.offset for m in moved] == [100 + m.offset for m in messages]
    assert with_broker_offsets(messages, ProduceReport(topic="t")) is messages
