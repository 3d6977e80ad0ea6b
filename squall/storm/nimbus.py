"""Read-only questions to a Storm Nimbus over Thrift (streamparse's client): what runs, with which executors/conf.

Used by `squall storm info|rebalance`, tests and benchmarks; `sparse list/kill` remain the user commands.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from squall.errors import InfraError


def client(address: str, timeout_ms: int = 15000) -> Any:
    """A Nimbus Thrift client for "host:port"."""
    from streamparse.util import get_nimbus_client

    host, _, port = address.partition(":")
    try:
        return get_nimbus_client(host=host, port=int(port or 6627), timeout=timeout_ms)
    except OSError as exc:
        raise InfraError(f"cannot reach Nimbus at {address}: {exc} (fix: `squall infra up`)") from exc


def topology_id(nimbus: Any, name: str) -> str | None:
    """The id of the running topology called `name`, or None."""
    for summary in nimbus.getClusterInfo().topologies or []:
        if summary.name == name:
            return str(summary.id)
    return None


def executor_counts(nimbus: Any, topo_id: str) -> dict[str, int]:
    """component id -> number of executors Storm scheduled (system components such as __acker included)."""
    info = nimbus.getTopologyInfo(topo_id)
    return dict(Counter(e.component_id for e in info.executors or []))


def task_counts(nimbus: Any, topo_id: str) -> dict[str, int]:
    """component id -> number of tasks (fixed at submit; a rebalance can run them in 1..tasks executors)."""
    counts: Counter[str] = Counter()
    for e in nimbus.getTopologyInfo(topo_id).executors or []:
        counts[e.component_id] += e.executor_info.task_end - e.executor_info.task_start + 1
    return dict(counts)


def topology_conf(nimbus: Any, topo_id: str) -> dict[str, Any]:
    conf: dict[str, Any] = json.loads(nimbus.getTopologyConf(topo_id))
    return conf


def worker_count(nimbus: Any, topo_id: str) -> int:
    for summary in nimbus.getClusterInfo().topologies or []:
        if summary.id == topo_id:
            return int(summary.num_workers)
    return 0


def spout_acked(nimbus: Any, topo_id: str, window: str = ":all-time") -> int:
    """Tuple trees the topology's spouts saw acked in `window`, as Storm's executor stats report them (sampled
    at topology.stats.sample.rate, reported with the executors' heartbeats: seconds behind)."""
    total = 0
    for executor in nimbus.getTopologyInfo(topo_id).executors or []:
        stats = executor.stats
        spout = stats.specific.spout if stats is not None and stats.specific is not None else None
        if spout is None or spout.acked is None:
            continue
        total += sum(int(n) for n in (spout.acked.get(window) or {}).values())
    return total
