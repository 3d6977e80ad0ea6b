"""Nothing squall starts listens beyond loopback: every TCP socket of every service process, Storm workers included.

The check needs services started with this checkout's configuration, so it brings up its own isolated set (a
temporary project and state folder, free ports) through `squall.infra.api`, leaving the shared dev services
alone, and stops it by pid at the end. A two-worker topology is submitted to it with `sparse`, so tuples cross
worker JVMs through the workers' Netty servers and those servers' sockets are checked too.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.infra import api, process, sockets
from squall.infra.endpoints import DEFAULT_PORTS
from squall.infra.registry import SERVICES
from squall.infra.services import Context
from squall.storm.harness import SparseProject, listed_topologies, worker_jvm_pids

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "storm_project"
COUNT = 50


def free_ports(n: int) -> list[int]:
    """`n` distinct ports nobody listens on now (the kernel's choice for port 0)."""
    held = []
    try:
        while len(held) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def isolated_context(root: Path, host: str = "127.0.0.1") -> Context:
    """A project in `root` whose services use `host` and free ports, with its own state folder."""
    names = list(DEFAULT_PORTS)
    ports = free_ports(len(names) + 2)
    services: dict[str, object] = {name: f"{host}:{port}" for name, port in zip(names, ports, strict=False)}
    services["supervisor_slots"] = ports[-2:]
    (root / "config.json").write_text(json.dumps({"envs": {"dev": {"services": services}}}))
    (root / "infra").symlink_to(REPO / "infra", target_is_directory=True)
    return api.make_context("dev", root)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    ctx = isolated_context(tmp_path_factory.mktemp("loopback-infra"))
    try:
        api.ensure_up(ctx=ctx, report=print)
        yield ctx
    finally:
        api.down(ctx=ctx, grace=20, report=print)


def service_pids(ctx: Context, names: list[str] | None = None) -> dict[str, set[int]]:
    """Every live process of every service squall started: its process group and descendants (Storm workers and
    their Python subprocesses stay in the Supervisor's group) plus the workers the Supervisor recorded."""
    procs = process.all_processes()
    out = {}
    for name in names or list(SERVICES):
        service = SERVICES[name]
        record = process.read_pid(ctx.layout.pid_file(name))
        assert record is not None and process.is_alive(record), f"{name} is not running"
        out[name] = process.family(record.pid, procs) | service.orphans(ctx)
    return out


def non_loopback(ctx: Context) -> tuple[list[sockets.Listener], dict[str, list[sockets.Listener]]]:
    found = {name: sockets.listeners(pids) for name, pids in service_pids(ctx).items()}
    bad = [item for items in found.values() for item in items if not item.is_loopback]
    return bad, found


def test_every_service_listens_on_loopback_only(cluster: Context) -> None:
    bad, found = non_loopback(cluster)
    assert not bad, f"listening beyond loopback: {', '.join(map(str, bad))}"
    ports = {name: {item.port for item in items} for name, items in found.items()}
    ep = cluster.endpoints
    # The check saw the sockets it is about (so it cannot pass on an empty list).
    assert ep.port("zookeeper") in ports["zookeeper"]
    assert {ep.port("kafka"), ep.port("kafka_controller")} <= ports["kafka"]
    assert {ep.port("cassandra"), ep.port("cassandra_storage")} <= ports["cassandra"]
    assert ep.port("nimbus") in ports["nimbus"]
    assert ep.port("supervisor_thrift") in ports["supervisor"]
    assert ep.port("storm_ui") in ports["ui"]
    # Cassandra's JMX (7199) is not opened at all.
    assert 7199 not in ports["cassandra"]


def read_sink(out_dir: Path) -> set[int]:
    seen = set()
    for path in out_dir.glob("sink-*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                seen.add(json.loads(line)["n"])
    return seen


def test_worker_slots_listen_on_loopback_and_carry_tuples(cluster: Context, tmp_path: Path) -> None:
    # msgpack multilang: tuples hold HashMaps and ArrayLists, which Kryo serializes between workers.
    env = "dev-msgpack"
    config = json.loads((FIXTURE / "config.json").read_text())
    config["envs"][env]["nimbus"] = cluster.endpoints.address("nimbus")
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    project = SparseProject(FIXTURE, nimbus_address=cluster.endpoints.address("nimbus"), config=config_path)
    name = "squall_it_loopback"
    out_dir = tmp_path / "sink"
    # Two workers on the Supervisor's two slots: tuples cross JVMs through the workers' Netty servers.
    options = {"squall.test.out": str(out_dir), "squall.test.count": COUNT, "topology.workers": 2}
    with project.submitted("passthrough", env=env, name=name, options=options) as topo:
        listed = project.sparse("list", "-e", env, "--config", str(config_path)).stdout
        assert name in listed_topologies(listed)
        topo.wait_until(lambda: read_sink(out_dir) >= set(range(COUNT)), timeout=300, what=f"{COUNT} tuples")
        workers = worker_jvm_pids(topo.topo_id)
        assert len(workers) == 2, f"expected 2 worker JVMs, found {workers}"
        # The spout and the bolts were spread over both workers, so the tuples crossed the Netty servers checked.
        executors = topo.nimbus.getTopologyInfo(topo.topo_id).executors or []
        user_ports = {e.component_id: e.port for e in executors if not e.component_id.startswith("__")}
        assert len(set(user_ports.values())) == 2, f"components all in one worker: {user_ports}"
        bad, found = non_loopback(cluster)
        assert not bad, f"listening beyond loopback: {', '.join(map(str, bad))}"
        slot_ports = {item.port for item in sockets.listeners(workers)}
        assert slot_ports == set(cluster.endpoints.slots)
        assert slot_ports <= {item.port for item in found["supervisor"]}
        # The UI REST adapter still reads the topology from Nimbus through the host-bound Thrift server.
        url = f"http://{cluster.endpoints.address('storm_ui')}/api/v1/topology/{topo.topo_id}"
        expected = {("127.0.0.1", p) for p in slot_ports}

        def ui_workers() -> set[tuple[str, int]]:
            with urllib.request.urlopen(url, timeout=60) as response:
                page = json.loads(response.read())
            assert page["name"] == name
            return {(w["host"], w["port"]) for w in page["workers"]}

        # Nimbus reports a worker in the page once its first heartbeat with stats has arrived.
        topo.wait_until(lambda: ui_workers() == expected, timeout=180, what="the UI API lists both workers")
    # `sparse kill` (on leaving the block) reached the host-bound Nimbus too.
    assert name not in listed_topologies(
        project.sparse("list", "-e", env, "--config", str(config_path)).stdout
    )


def test_storm_binds_the_configured_host_itself(tmp_path: Path) -> None:
    """On another loopback address (127.0.0.2), Nimbus and the Supervisor listen on exactly that address: the
    plugins bind `squall.bind.host`, not a fixed 127.0.0.1."""
    ctx = isolated_context(tmp_path, host="127.0.0.2")
    storm_services = ["zookeeper", "nimbus", "supervisor"]
    try:
        api.ensure_up(storm_services, ctx=ctx, report=print)
        found = {name: sockets.listeners(pids) for name, pids in service_pids(ctx, storm_services).items()}
    finally:
        api.down(storm_services, ctx=ctx, grace=20, report=print)
    assert {(str(item.ip), item.port) for item in found["nimbus"]} == {
        ("127.0.0.2", ctx.endpoints.port("nimbus"))
    }
    assert {(str(item.ip), item.port) for item in found["supervisor"]} == {
        ("127.0.0.2", ctx.endpoints.port("supervisor_thrift"))
    }
