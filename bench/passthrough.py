"""Pass-through throughput of `squall run`: spout -> bolt -> bolt, every tuple anchored and acked.

    python -m bench.passthrough [--count N] [--quick]

For each hosting (process, inline) and serializer (json, msgpack): tuples/s end to end (spout emit to the
tree's ack reaching the spout), and resident memory per task. Results via bench.machine.write_result.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from bench.machine import write_result
from squall.config import load_project
from squall.runner.cluster import Cluster
from squall.runner.loader import load_topology
from squall.runner.session import execute, plan_for

PROJECT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "projects" / "passthrough"


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def one(count: int, inline: bool, serializer: str, batch: int, max_pending: int) -> dict[str, Any]:
    project = load_project(PROJECT)
    _, topology = load_topology(project, "passthrough")
    conf = {
        "pt.count": count,
        "pt.batch": batch,
        "topology.max.spout.pending": max_pending,
        "topology.message.timeout.secs": 300,
    }
    plan = plan_for(topology, project, "local", extra_conf=conf)
    marks: dict[str, Any] = {}

    def done(cluster: Cluster) -> bool:
        spout = cluster.executors[cluster.graph.components["source"].tasks[0]]
        if "t0" not in marks and spout.metrics.emitted:
            marks["t0"] = time.perf_counter()
        if spout.metrics.acked >= count:
            marks["t1"] = time.perf_counter()
            marks["rss"] = {
                cluster.graph.task_component[t]: rss_kib(h.proc.pid)
                if getattr(h, "proc", None)
                else rss_kib(os.getpid())
                for t, h in cluster.hosts.items()
            }
            return True
        return False

    summary, _ = execute(
        plan, inline=inline, serializer=serializer, stop_when=done, duration=600, drain_secs=1
    )
    seconds = marks.get("t1", time.perf_counter()) - marks.get("t0", time.perf_counter())
    acked = next(c.acked for c in summary.components if c.name == "source")
    return {
        "hosting": "inline" if inline else "process",
        "serializer": serializer,
        "tuples": count,
        "acked": acked,
        "seconds": round(seconds, 3),
        "tuples_per_s": round(acked / seconds) if seconds > 0 else None,
        "rss_kib_per_task": marks.get("rss", {}),
        "spout_batch": batch,
        "max_spout_pending": max_pending,
        "errors": [e.message for e in summary.errors],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--max-pending", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="20k tuples per case")
    args = parser.parse_args()
    count = 20_000 if args.quick else args.count
    runs = []
    for inline in (False, True):
        for serializer in ("msgpack", "json"):
            n = count * (3 if inline else 1)
            result = one(n, inline, serializer, args.batch, args.max_pending)
            print(
                f"{result['hosting']:>7} {serializer:>7}: {result['tuples_per_s']} tuples/s "
                f"({result['acked']} in {result['seconds']}s)",
                flush=True,
            )
            runs.append(result)
    path = write_result(
        "passthrough",
        {
            "description": "spout -> bolt -> bolt, anchored + acked, end to end (spout emit to spout ack)",
            "targets": {"process_msgpack_tuples_per_s": 100_000, "inline_tuples_per_s": 500_000},
            "runs": runs,
        },
    )
    print(f"written {path}")


if __name__ == "__main__":
    main()
