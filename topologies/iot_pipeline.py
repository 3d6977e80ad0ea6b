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

# Tuples carry micro-batches (squall/pipeline/tuples.py): the spout one batch per Kafka partition, parse one
# batch per device shard (shard = stable hash of tenant + device_id, `pipeline.shards`). A device's events stay in
# order end to end: a device maps to one Kafka partition, the partition to one parse task, the device to one shard
# and the shard to one route/aggregate/alerts task (Storm keeps order between any two tasks). A fields grouping
# on `shard` is thus a fields grouping by (tenant, device_id) that moves a batch per hop instead of an event.
# A shuffle here would let one parse task run ahead of another and turn in-order events into late ones.
# Window rows go to persist by shard too: a window can be emitted twice (an idle close, then its amendment), and
# one persist task writes them in emit order, so the complete row is the one that stays.
BY_PARTITION = Grouping.fields("partition")
BY_DEVICE = Grouping.fields("shard")
SHUFFLE = Grouping.SHUFFLE
TICKS = {"topology.tick.tuple.freq.secs": 1}


class IotPipeline(Topology):
    events = EventSpout.spec(par=1)
    parse = ParseBolt.spec(inputs={events: BY_PARTITION}, par=2)
    route = RouteBolt.spec(inputs={parse: BY_DEVICE}, par=1)
    aggregate = AggregateBolt.spec(inputs={route["telemetry"]: BY_DEVICE}, par=2, config=TICKS)
    alerts = AlertsBolt.spec(
        inputs={route["telemetry"]: BY_DEVICE, route["alarms"]: BY_DEVICE}, par=1, config=TICKS
    )
    dlq = DeadLetterBolt.spec(
        inputs=[
            parse["invalid"],
            route["invalid"],
            aggregate["late"],
            aggregate["invalid"],
            alerts["invalid"],
        ],
        par=1,
        config=TICKS,
    )
    persist = PersistBolt.spec(
        inputs={aggregate: BY_DEVICE, alerts: SHUFFLE, dlq: SHUFFLE, route["archive"]: SHUFFLE},
        par=2,
        config=TICKS,
    )
