"""AlertsBolt: threshold, consecutive-readings and anomaly alerts per device -> publisher and persist.

Input: shard batches (BATCH_FIELDS); output: one `records` tuple of the alerts a batch raised (if any). Alerts
are published asynchronously (an event whose evaluation raises is dead-lettered alone on `invalid`,
processing_error:alerts:<type>): a batch is acked when the broker acknowledged all its alerts (at most
`pipeline.alerts.max_in_flight` batches wait, default 256; tick tuples settle them), failed otherwise. Per-device
detector state is bounded by `pipeline.windows.max_keys` (squall.pipeline.alerting)."""

from __future__ import annotations

from typing import Any

from streamparse import Bolt, Stream

from squall.pipeline.alerting import AlertEngine
from squall.pipeline.collector import tune_collector
from squall.pipeline.confirming import AckOnConfirm
from squall.pipeline.dead_letters import invalid_values
from squall.pipeline.persisting import WriteWindow
from squall.pipeline.publishing import AlertPublisher
from squall.pipeline.settings import from_conf
from squall.pipeline.tuples import INVALID_FIELDS, RECORD_FIELDS, Letters, record_values, unpack_batch


class AlertsBolt(AckOnConfirm, Bolt):  # type: ignore[misc]
    confirming = "alert publish"
    outputs = [Stream(RECORD_FIELDS, "default"), Stream(INVALID_FIELDS, "invalid")]
    auto_ack = False

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        settings = from_conf(conf)
        tune_collector()
        # pipeline.windows.max_keys bounds both engines' per-device state
        self.engine = AlertEngine(settings.alerts.rules, max_keys=settings.windows.max_keys)
        self.publisher = AlertPublisher(settings)
        limit = settings.alerts.max_in_flight
        self.sends = WriteWindow(limit, self.ack, self._failed, self.publisher.timeout_s)
        self.letters = Letters(self)

    def process(self, tup: Any) -> None:
        evaluate = self.engine.evaluate_fields
        alerts = []
        for entry in unpack_batch(tup.values[1]):
            try:
                alerts.extend(evaluate(entry[0]))
            except Exception as exc:  # noqa: BLE001 - one event never stops the stream
                self.letters.add(invalid_values("alerts", exc, entry))
        self.letters.flush(tup.id)
        if not alerts:
            self.ack(tup)
            return
        futures = self.publisher.publish_alerts_async(alerts)
        self.emit(record_values("alert", alerts))
        self.sends.add(futures, tup.id)
