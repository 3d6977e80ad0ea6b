from __future__ import annotations

import os
from pathlib import Path

from squall.infra.storm_home import build, slots_yaml

INFRA = Path(__file__).resolve().parents[3] / "infra"


def _values(tmp_path: Path) -> dict[str, object]:
    return {
        "host": "127.0.0.1",
        "zookeeper_port": 2181,
        "nimbus_port": 6627,
        "supervisor_port": 6628,
        "ui_port": 8080,
        "logviewer_port": 8000,
        "slots": slots_yaml((6700, 6701)),
        "local_dir": tmp_path / "data",
        "log_dir": tmp_path / "logs",
        "transport_plugin": "squall.storm.HostBoundTransportPlugin",
        "messaging_context": "squall.storm.HostBoundMessagingContext",
    }


def test_layout_is_storms_distribution_tree(tmp_path: Path) -> None:
    lib, worker = tmp_path / "jars" / "storm-lib-2.8.3", tmp_path / "jars" / "storm-lib-worker-2.8.3"
    lib.mkdir(parents=True)
    worker.mkdir(parents=True)
    home = build(
        tmp_path / "home", INFRA, lib, worker, _values(tmp_path), tmp_path / "logs", tmp_path / "data"
    )
    assert (home.home / "lib").resolve() == lib.resolve()
    assert (home.home / "lib-worker").resolve() == worker.resolve()
    assert (home.home / "log4j2" / "cluster.xml").is_file()
    assert (home.home / "log4j2" / "worker.xml").is_file()
    yaml = (home.home / "conf" / "storm.yaml").read_text()
    assert "supervisor.slots.ports:\n  - 6700\n  - 6701\n" in yaml
    assert 'storm.local.hostname: "127.0.0.1"' in yaml
    # Storm's listeners bind the configured host through squall's plugins, not the wildcard address.
    assert 'squall.bind.host: "127.0.0.1"' in yaml
    assert 'nimbus.thrift.transport: "squall.storm.HostBoundTransportPlugin"' in yaml
    assert 'supervisor.thrift.transport: "squall.storm.HostBoundTransportPlugin"' in yaml
    assert 'storm.messaging.transport: "squall.storm.HostBoundMessagingContext"' in yaml
    assert f'storm.log.dir: "{tmp_path / "logs"}"' in yaml
    # Rebuilding is idempotent and follows a moved jar folder.
    lib2 = tmp_path / "jars" / "storm-lib-2.8.4"
    lib2.mkdir()
    build(tmp_path / "home", INFRA, lib2, worker, _values(tmp_path), tmp_path / "logs", tmp_path / "data")
    assert Path(os.readlink(home.home / "lib")) == lib2


def test_daemon_command_matches_bin_storm(tmp_path: Path) -> None:
    lib = tmp_path / "lib-src"
    lib.mkdir()
    home = build(tmp_path / "home", INFRA, lib, lib, _values(tmp_path), tmp_path / "logs", tmp_path / "data")
    argv = home.daemon_argv("/usr/bin/java", "nimbus", "org.apache.storm.daemon.nimbus.Nimbus", ["-Xmx512m"])
    assert argv[0] == "/usr/bin/java" and argv[-1] == "org.apache.storm.daemon.nimbus.Nimbus"
    assert f"-Dstorm.home={home.home}" in argv
    assert f"-Dstorm.log.dir={tmp_path / 'logs'}" in argv
    assert "-Dlogfile.name=nimbus.log" in argv
    assert f"-Dlog4j.configurationFile={home.home / 'log4j2' / 'cluster.xml'}" in argv
    classpath = argv[argv.index("-cp") + 1].split(os.pathsep)
    assert classpath[1] == f"{home.home / 'lib'}/*"
    assert classpath[-1] == str(home.home / "conf")
