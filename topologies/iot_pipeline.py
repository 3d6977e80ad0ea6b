"""The reference IoT pipeline: device events -> parse -> route -> windows/alerts -> store. Wiring only.

Settings (source, sink, windows, routing, alerts, ...) come from config.json's `pipeline` section for the env;
parallelism from `envs.<env>.parallelism`. See docs/pipeline.md.
"""

from streamparse import Grouping, Topology

from bolts.aggregate import AggregateBolt
from bolts.alerts import AlertsBolt
from bolts.dlq import DeadLetterBolt
from bolts.parse import ParseBolt
from bolts.persist import PersistBolt
from bolts.route import RouteBolt
from spouts.events import EventSpout

BY_DEVICE = Grouping.fields("tenant", "device_id")
TICKS = {"topology.tick.tuple.freq.secs": 1}


class IotPipeline(Topology):
    events = EventSpout.spec(par=1)
    parse = ParseBolt.spec(inputs=[events], par=2)
    route = RouteBolt.spec(inputs=[parse], par=1)
    aggregate = AggregateBolt.spec(inputs={route["telemetry"]: BY_DEVICE}, par=2, config=TICKS)
    alerts = AlertsBolt.spec(inputs={route["telemetry"]: BY_DEVICE, route["alarms"]: BY_DEVICE}, par=1)
    dlq = DeadLetterBolt.spec(inputs=[parse["invalid"], aggregate["late"]], par=1)
    persist = PersistBolt.spec(inputs=[aggregate, alerts, dlq, route["archive"]], par=2, config=TICKS)
