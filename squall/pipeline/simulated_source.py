"""The embedded default EventSource: the simulator's messages, replayed on failure, no services needed.

Spout task i of n reads the simulated partitions p with p % n == i, in production order (as a Kafka consumer
of those partitions would); a failed message is polled again before new ones (at-least-once).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

from squall.pipeline.settings import PipelineSettings
from squall.pipeline.simulator import Produced, SimulatorSettings, generate
from squall.pipeline.sources import Polled


class SimulatedSource:
    def __init__(
        self, settings: PipelineSettings | Mapping[str, Any], task_index: int = 0, num_tasks: int = 1
    ) -> None:
        self.sim: SimulatorSettings = PipelineSettings.of(settings).simulator
        self.task_index = task_index
        self.num_tasks = num_tasks
        self._stream: Iterator[Produced] = (
            m for m in generate(self.sim) if m.partition % num_tasks == task_index
        )
        self._pending: dict[str, Produced] = {}
        self._retry: deque[str] = deque()
        self._active = True
        self.stats = {"emitted": 0, "re_emitted": 0, "acked": 0, "failed": 0}

    @staticmethod
    def msg_id(m: Produced) -> str:
        return f"{m.topic}:{m.partition}:{m.offset}"

    def poll(self) -> Polled | None:
        if not self._active:
            return None
        if self._retry:
            mid = self._retry.popleft()
            m = self._pending[mid]
            self.stats["re_emitted"] += 1
            return mid, m.value, m.topic, m.partition, m.offset
        m = next(self._stream, None)
        if m is None:
            return None
        mid = self.msg_id(m)
        self._pending[mid] = m
        self.stats["emitted"] += 1
        return mid, m.value, m.topic, m.partition, m.offset

    def ack(self, msg_id: Any) -> None:
        if self._pending.pop(str(msg_id), None) is not None:
            self.stats["acked"] += 1

    def fail(self, msg_id: Any) -> None:
        if str(msg_id) in self._pending:
            self.stats["failed"] += 1
            self._retry.append(str(msg_id))

    def activate(self) -> None:
        self._active = True

    def deactivate(self) -> None:
        self._active = False

    def close(self) -> None:
        self._active = False
