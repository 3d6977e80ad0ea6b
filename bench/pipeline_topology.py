"""The topology bench.pipeline runs: spout -> parse -> route -> aggregate -> a sink that only acks (no store).

In its own module (not bench.pipeline, which runs as __main__) so process-hosted components can import it."""

from __future__ import annotations

from typing import Any

from streamparse import Bolt, Grouping, Topology

from bolts.aggregate import AggregateBolt
from bolts.parse import ParseBolt
from bolts.route import RouteBolt
from spouts.events import EventSpout


class AckSink(Bolt):  # type: ignore[misc]
    """The in-memory sink: acks every window record (persist without a store)."""

    outputs: list[str] = []

    def process(self, tup: Any) -> None:
        pass


class BenchPipeline(Topology):
    events = EventSpout.spec(par=1)
    parse = ParseBolt.spec(inputs=[events], par=1)
    route = RouteBolt.spec(inputs=[parse], par=1)
    aggregate = AggregateBolt.spec(
        inputs={route["telemetry"]: Grouping.fields("shard")},
        par=1,
        config={"topology.tick.tuple.freq.secs": 1},
    )
    sink = AckSink.spec(inputs=[aggregate], par=1)
