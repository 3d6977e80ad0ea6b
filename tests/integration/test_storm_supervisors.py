"""A second Supervisor on this host, started and stopped by `squall infra` for the `cluster` env, is a Storm node
of its own: its own id, STORM_HOME, local dir, log folder and ports (on 127.0.0.1), listed by the shared Nimbus.

Only `supervisor-2` is started here, and it is stopped (by its pid) at the end; the shared ZooKeeper, Nimbus and
first Supervisor are only used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from squall.infra import api, health, process
from squall.infra.storm import cluster_info, extra_supervisor_dirs, supervisor_id

pytestmark = [pytest.mark.integration, pytest.mark.storm, pytest.mark.timeout(300)]

EnsureUp = Callable[[Iterable[str]], dict[str, str]]


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on `port` (IPv4 and IPv4-mapped IPv6), from /proc/net."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            addr, _, hex_port = local.rpartition(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            ipv4 = bytes.fromhex(addr[-8:])[::-1]
            found.add(".".join(str(b) for b in ipv4))
    return found


def running(pid: int) -> bool:
    info = process.proc_info(pid)
    return info is not None and info.state not in ("Z", "X")


def test_second_supervisor_is_a_node_of_its_own(infra_up: EnsureUp) -> None:
    infra_up(["nimbus", "supervisor"])
    ctx = api.make_context("cluster")
    (sup2_ports,) = ctx.endpoints.extra_supervisors
    home, logs, local = extra_supervisor_dirs(ctx, "supervisor-2")
    pid = None
    try:
        results = {r.name: r for r in api.ensure_up(["supervisor-2"], ctx=ctx)}
        assert results["supervisor-2"].action == "started"
        assert results["nimbus"].action in ("external", "already up")  # the shared one, only used

        rows = {r.name: r for r in api.status(ctx=ctx)}
        assert rows["supervisor"].healthy and rows["supervisor-2"].healthy, rows
        assert rows["supervisor-2"].address == "127.0.0.1:6710,6711"
        pid = rows["supervisor-2"].pid
        assert pid is not None

        # Its own STORM_HOME, conf, local dir and log folder, as on a host of its own.
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert f"-Dstorm.home={home}".encode() in cmdline
        assert f"-Dstorm.log.dir={logs}".encode() in cmdline
        yaml = (home / "conf" / "storm.yaml").read_text()
        assert f"supervisor.thrift.port: {sup2_ports.thrift}" in yaml
        assert "supervisor.slots.ports:\n  - 6710\n  - 6711\n" in yaml
        assert f'storm.local.dir: "{local}"' in yaml
        assert (local / "supervisor").is_dir()

        # A separate node for Nimbus: another id, its own two slots, beside the first Supervisor's two.
        sup2_id = supervisor_id(logs / "supervisor.log")
        assert sup2_id is not None
        listed = {s.supervisor_id: s for s in cluster_info("127.0.0.1", 6627).supervisors}
        assert sup2_id in listed and listed[sup2_id].num_workers == 2
        assert any(i != sup2_id and s.num_workers == 2 for i, s in listed.items()), listed

        # Its Thrift port answers on 127.0.0.1 only.
        assert health.port_open("127.0.0.1", sup2_ports.thrift)
        assert listening_addresses(sup2_ports.thrift) == {"127.0.0.1"}
    finally:
        stopped = {r.name: r for r in api.down(["supervisor-2"], ctx=ctx)}
    assert stopped["supervisor-2"].stopped >= 1
    assert pid is not None
    deadline = time.monotonic() + 15
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not running(pid)
    assert not health.port_open("127.0.0.1", sup2_ports.thrift)
    # The shared first Supervisor is untouched.
    assert api.is_healthy("supervisor", ctx)
