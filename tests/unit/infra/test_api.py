from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.errors import InfraError
from squall.infra import api, apt
from squall.infra.endpoints import Endpoints
from squall.infra.layout import Layout
from squall.infra.services import Context

INFRA = Path(__file__).resolve().parents[3] / "infra"


@pytest.fixture
def listener() -> Iterator[int]:
    """A port held by 'someone else': a socket that accepts and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def _ctx(tmp_path: Path, zookeeper_port: int) -> Context:
    root = tmp_path / "project"
    root.mkdir()
    (root / "infra").symlink_to(INFRA, target_is_directory=True)
    ports = {
        "zookeeper": zookeeper_port,
        "kafka": 1,
        "kafka_controller": 2,
        "cassandra": 3,
        "cassandra_storage": 4,
        "cassandra_ssl_storage": 5,
        "nimbus": 6,
        "supervisor_thrift": 7,
        "storm_ui": 8,
    }
    return Context(Layout.for_project(root, tmp_path / "jars"), Endpoints(ports=ports, slots=(9, 10)))


def test_up_refuses_a_port_held_by_another_process(tmp_path: Path, listener: int) -> None:
    ctx = _ctx(tmp_path, listener)
    with pytest.raises(InfraError, match=rf"zookeeper: port {listener} on 127.0.0.1 is already taken"):
        api.ensure_up(["zookeeper"], ctx=ctx)
    assert not ctx.layout.pid_file("zookeeper").exists()


def test_down_with_nothing_started_stops_nothing(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, 11)
    results = api.down(ctx=ctx)
    # Dependents first: Supervisor and UI, then Nimbus, then what Nimbus needs and the rest.
    assert [r.name for r in results] == ["supervisor", "ui", "nimbus", "zookeeper", "kafka", "cassandra"]
    assert all(r.stopped == 0 for r in results)


def test_log_tail_shows_console_first(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, 11)
    logs = ctx.layout.log_dir("kafka")
    logs.mkdir(parents=True)
    (logs / "server.log").write_text("line a\nline b\n")
    ctx.layout.console_log("kafka").write_text("\n".join(f"c{i}" for i in range(100)) + "\n")
    text = api.log_tail("kafka", lines=3, ctx=ctx)
    assert text.index("console.log") < text.index("server.log")
    assert "c99" in text and "c96" not in text
    assert "line b" in text
    assert "no logs yet" in api.log_tail("cassandra", ctx=ctx)


def test_jars_missing_names_the_fix(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, 11)
    with pytest.raises(InfraError, match="squall infra install"):
        ctx.jar_dir("kafka/pom.xml")


def test_apt_package_list_and_dpkg_lookup(tmp_path: Path) -> None:
    path = tmp_path / "apt-packages.txt"
    path.write_text("# comment\nmaven\n\nleiningen  # for sparse\n")
    assert apt.read_package_list(path) == ["maven", "leiningen"]
    assert apt.read_package_list(tmp_path / "absent.txt") == []
    assert apt.missing(["dpkg", "squall-no-such-package"]) == ["squall-no-such-package"]
