"""Node loss: the reference pipeline on two Supervisors (`cluster` env, two workers, self-contained jar) loses one
Supervisor with every worker and Python process under it (SIGKILL) while events flow; Nimbus reassigns the lost
executors to the surviving node and metric_windows still end equal to the simulator's truth.

Only `supervisor-2` (started here) is killed; the shared first Supervisor takes over. The run has its own Kafka
topics, consumer group and keyspace (a `--config` copy of config.json), and its topology is killed at the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from squall.cassandra.store import connect
from squall.infra import api, process
from squall.infra.storm import extra_supervisor_dirs
from squall.kafka import admin
from squall.kafka.simulate import read_truth
from squall.storm.harness import SparseProject, worker_jvm_pids
from tests.integration.test_storm_pipeline import (
    events_stored,
    isolated_config,
    live_explain,
    paced_producer,
    run,
    wait_for_exact_windows,
)

pytestmark = [pytest.mark.integration, pytest.mark.storm, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[2]


def executor_ports(nimbus: Any, topo_id: str) -> set[int]:
    """The worker slot ports Nimbus has the topology's executors on."""
    return {int(e.port) for e in nimbus.getTopologyInfo(topo_id).executors or []}


def node_processes(local: Path, supervisor_pid: int) -> set[int]:
    """The Supervisor and everything it started: worker JVMs (by their pid files), their LogWriters and Python."""
    procs = process.all_processes()
    pids = {supervisor_pid} | process.family(supervisor_pid, procs)
    for pid_file in local.glob("workers/*/pids/*"):
        if pid_file.name.isdigit():
            pid = int(pid_file.name)
            pids |= {pid} | process.family(pid, procs)
    children: dict[int, list[int]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p.pid)
    todo = list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in pids:
                pids.add(child)
                todo.append(child)
    return pids


def test_pipeline_survives_the_loss_of_a_supervisor(tmp_path: Path, infra_up: Any) -> None:
    infra_up(["kafka", "cassandra", "nimbus", "supervisor"])
    ctx = api.make_context("cluster")
    (sup2,) = ctx.endpoints.extra_supervisors
    _, _, sup2_local = extra_supervisor_dirs(ctx, "supervisor-2")
    suffix = uuid.uuid4().hex[:8]
    made = isolated_config(tmp_path, suffix, env="cluster", prefix="it.node")
    kafka, cassandra = made.kafka, made.cassandra
    truth_path = tmp_path / "truth.json"
    run("db", "init", "-e", "dev", "--keyspace", cassandra.keyspace)
    admin.ensure_topics(kafka, [kafka.events_topic, kafka.dlq_topic, kafka.alerts_topic])
    producer: subprocess.Popen[str] | None = None

    cluster, session = connect(cassandra)
    try:
        api.ensure_up(["supervisor-2"], ctx=ctx)
        sup2_pid = {s.name: s for s in api.status(["supervisor-2"], ctx=ctx)}["supervisor-2"].pid
        assert sup2_pid is not None
        with SparseProject(ROOT).submitted(
            "iot_pipeline", env="cluster", name=f"it_node_{suffix}", config=made.config_path
        ) as topo:
            explain = live_explain(session, made, truth_path, topo.topo_id)

            # One worker on each node: Storm's even scheduler spreads a topology's workers over Supervisors.
            topo.wait_until(
                lambda: len(worker_jvm_pids(topo.topo_id)) == 2,
                timeout=240,
                what="two worker JVMs run",
                explain=explain,
            )
            ports = executor_ports(topo.nimbus, topo.topo_id)
            assert ports & set(sup2.slots) and ports & set(ctx.endpoints.slots), ports

            producer = paced_producer(kafka, truth_path)  # the node dies while events are being produced
            threshold = 1000  # of about 5,600 valid events: the loss comes early in the stream
            topo.wait_until(
                lambda: events_stored(session, cassandra.keyspace) >= threshold,
                timeout=300,
                what=f"{threshold} events stored",
                explain=explain,
            )
            assert producer.poll() is None, "not mid-stream: the producer had already finished"

            # The node dies: its Supervisor, worker JVMs, LogWriters and Python subprocesses, all at once.
            victims = node_processes(sup2_local, sup2_pid)
            lost_at = time.monotonic()
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            stored_at_loss = events_stored(session, cassandra.keyspace)

            topo.wait_until(
                lambda: not executor_ports(topo.nimbus, topo.topo_id) & set(sup2.slots),
                timeout=300,
                what="Nimbus moved every executor off the lost node",
                explain=explain,
            )
            reassigned_at = time.monotonic()
            topo.wait_until(
                lambda: (
                    len(worker_jvm_pids(topo.topo_id)) == 2
                    and events_stored(session, cassandra.keyspace) > stored_at_loss
                ),
                timeout=300,
                what="a replacement worker runs and events are stored again",
                explain=explain,
            )
            flowing_at = time.monotonic()
            out, _ = producer.communicate(timeout=300)
            assert producer.returncode == 0, out
            truth = read_truth(truth_path)
            print(
                f"\nnode loss: {len(victims)} processes killed; Nimbus reassigned after "
                f"{reassigned_at - lost_at:.1f}s, events stored again after {flowing_at - lost_at:.1f}s"
            )
            # Every valid event is stored exactly once (the events table is keyed by event id): nothing the lost
            # node held was dropped, the replays reached Cassandra.
            topo.wait_until(
                lambda: events_stored(session, cassandra.keyspace) == truth["unique_events"],
                timeout=300,
                what=f"all {truth['unique_events']} valid events stored",
                explain=explain,
            )
            print(f"all events stored after {time.monotonic() - lost_at:.1f}s")
            assert not executor_ports(topo.nimbus, topo.topo_id) & set(sup2.slots)
            # A replay that overtakes the replays of the events just before it reaches a fresh aggregate task that
            # never saw them: it is judged by the source marks of the rows the lost task stored (docs/pipeline.md).
            wait_for_exact_windows(topo, session, cassandra.keyspace, truth, 180, explain)
            letters = [line for line in explain().splitlines() if line.startswith("dead letters")]
            print(f"windows exact after {time.monotonic() - lost_at:.1f}s; {' '.join(letters)}")
    finally:
        if producer is not None and producer.poll() is None:
            producer.kill()
            producer.wait()
        cluster.shutdown()
        api.down(["supervisor-2"], ctx=ctx)
