"""AlertsBolt: threshold, consecutive-readings and anomaly alerts per device -> publisher and persist."""

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
        alerts = self.engine.evaluate(event_from_dict(tup.values[2]))
        self.publisher.publish_alerts(alerts)  # raises if the publisher failed: the tuple fails and replays
        for alert in alerts:
            self.emit(record_values("alert", alert))
