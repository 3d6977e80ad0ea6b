"""AlertsBolt: threshold, consecutive-readings and anomaly alerts per device -> publisher and persist.

Input: shard batches (BATCH_FIELDS); output: one `records` tuple of the alerts a batch raised (if any). Alerts
are published asynchronously: a batch is acked when the broker acknowledged all its alerts (at most
`pipeline.alerts.max_in_flight` batches wait, default 256; tick tuples settle them), failed otherwise."""

from __future__ import annotations

from typing import Any

from streamparse import Bolt

from squall.pipeline.alerting import AlertEngine, parse_alert_rules
from squall.pipeline.confirming import AckOnConfirm
from squall.pipeline.persisting import WriteWindow, in_flight_limit
from squall.pipeline.publishing import AlertPublisher
from squall.pipeline.settings import from_conf, section
from squall.pipeline.tuples import RECORD_FIELDS, record_values, unpack_batch


class AlertsBolt(AckOnConfirm, Bolt):  # type: ignore[misc]
    confirming = "alert publish"
    outputs = RECORD_FIELDS
    auto_ack = False

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        settings = from_conf(conf)
        self.engine = AlertEngine(parse_alert_rules(section(settings, "alerts")))
        self.publisher = AlertPublisher(settings)
        limit = in_flight_limit(settings, "alerts")
        self.sends = WriteWindow(limit, self.ack, self._failed, self.publisher.timeout_s)

    def process(self, tup: Any) -> None:
        evaluate = self.engine.evaluate_dict
        alerts = [alert for entry in unpack_batch(tup.values[1]) for alert in evaluate(entry[0])]
        if not alerts:
            self.ack(tup)
            return
        futures = self.publisher.publish_alerts_async(alerts)
        self.emit(record_values("alert", alerts))
        self.sends.add(futures, tup.id)
