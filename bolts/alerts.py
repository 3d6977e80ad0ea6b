"""AlertsBolt: threshold, consecutive-readings and anomaly alerts per device -> publisher and persist.

Input: shard batches (BATCH_FIELDS); output: one `records` tuple of the alerts a batch raised (if any)."""

from __future__ import annotations

from typing import Any

from streamparse import Bolt

from squall.pipeline.alerting import AlertEngine, parse_alert_rules
from squall.pipeline.events import event_from_dict
from squall.pipeline.publishing import AlertPublisher
from squall.pipeline.settings import from_conf, section
from squall.pipeline.tuples import RECORD_FIELDS, record_values


class AlertsBolt(Bolt):  # type: ignore[misc]
    outputs = RECORD_FIELDS

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        settings = from_conf(conf)
        self.engine = AlertEngine(parse_alert_rules(section(settings, "alerts")))
        self.publisher = AlertPublisher(settings)

    def process(self, tup: Any) -> None:
        evaluate = self.engine.evaluate
        alerts = [alert for entry in tup.values[1] for alert in evaluate(event_from_dict(entry[0]))]
        if alerts:
            self.publisher.publish_alerts(
                alerts
            )  # raises if the publisher failed: the batch fails and replays
            self.emit(record_values("alert", alerts))
