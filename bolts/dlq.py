"""DeadLetterBolt: invalid and late events -> the dead-letter topic (publisher) and persist.

Inputs: every `invalid` stream (parse's rejects, and the processing errors of later bolts) and aggregate's `late`,
each tuple a packed list of the letters (or late events) one upstream tuple produced. An item that cannot be read
as a dead letter is itself dead-lettered (processing_error:dlq:<type>, its values as
the payload): nothing that reaches this bolt is dropped.

Publishes are asynchronous: the record for persist is emitted (anchored) at once, and the input tuple is acked
when the broker acknowledged its dead letter, failed (and replayed) if it did not within `publish_timeout_s`.
At most `pipeline.dlq.max_in_flight` (default 256) publishes are outstanding; tick tuples settle the rest. A
synchronous publish per tuple capped the bolt at one broker round trip per dead letter (~100/s here)."""

from __future__ import annotations

from typing import Any

from streamparse import Bolt

from squall.pipeline.collector import tune_collector
from squall.pipeline.confirming import AckOnConfirm
from squall.pipeline.dead_letters import processing_error
from squall.pipeline.persisting import WriteWindow
from squall.pipeline.publishing import DeadLetterPublisher, dead_letter_from_invalid, dead_letter_from_late
from squall.pipeline.settings import from_conf
from squall.pipeline.tuples import RECORD_FIELDS, record_values, unpack_batch


class DeadLetterBolt(AckOnConfirm, Bolt):  # type: ignore[misc]
    confirming = "dead-letter publish"
    outputs = RECORD_FIELDS
    auto_ack = False

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        settings = from_conf(conf)
        tune_collector()
        self.publisher = DeadLetterPublisher(settings)
        limit = settings.dlq.max_in_flight
        self.sends = WriteWindow(limit, self.ack, self._failed, self.publisher.timeout_s)

    def process(self, tup: Any) -> None:
        now = self.publisher.clock.wall_ms()
        late = tup.stream == "late"
        try:
            items = unpack_batch(tup.values[0])
        except Exception as exc:  # noqa: BLE001 - keep the unreadable tuple as a letter of its own
            letters = [self._unreadable(tup, tup.values, exc, now)]
        else:
            letters = []
            for item in items:
                try:
                    letters.append(
                        dead_letter_from_late(item, now) if late else dead_letter_from_invalid(item, now)
                    )
                except Exception as exc:  # noqa: BLE001 - keep the bad item as a letter of its own
                    letters.append(self._unreadable(tup, item, exc, now))
        if not letters:
            self.ack(tup)
            return
        sent = self.publisher.publish_many_async(letters)
        self.emit(record_values("dead_letter", letters))
        self.sends.add([sent], tup.id)

    @staticmethod
    def _unreadable(tup: Any, value: Any, exc: Exception, now: int) -> Any:
        payload = repr(value).encode("utf-8", "backslashreplace")
        return processing_error("dlq", exc, payload, (f"{tup.component}:{tup.stream}", -1, -1), now)
