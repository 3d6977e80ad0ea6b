"""What each service is: its jars, its config files, its command line, its ports and its health check.

Nothing here starts anything: `Service.prepare` renders config files and returns the `Launch` (argv, env)
that `api` hands to `process.spawn`. Storm's three daemons live in `storm`; this module holds the registry.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from squall.errors import InfraError
from squall.infra import health
from squall.infra.endpoints import Endpoints
from squall.infra.health import Health
from squall.infra.layout import Layout
from squall.infra.maven import Artifacts, find_jar
from squall.infra.render import read_jvm_options, render_file


def find_java() -> str:
    """`$JAVA_HOME/bin/java`, else `java` on PATH; InfraError naming the fix when there is none."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise InfraError(
            "Java is not installed (fix: apt-get install -y openjdk-17-jre-headless; squall needs Java 17)"
        )
    return found


@dataclass(frozen=True)
class Context:
    layout: Layout
    endpoints: Endpoints

    def jar_dir(self, pom: str) -> Path:
        artifacts = Artifacts.from_pom(self.layout.infra / pom)
        target = artifacts.target(self.layout.jar_cache)
        if not artifacts.is_resolved(self.layout.jar_cache):
            raise InfraError(f"jars for {pom} are not in {target} (fix: run `squall infra install`)")
        return target

    def classpath(self, *poms: str) -> str:
        return os.pathsep.join(f"{self.jar_dir(p)}/*" for p in poms)


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass(frozen=True)
class Service:
    name: str
    poms: tuple[str, ...]
    requires: tuple[str, ...]
    port_name: str
    start_timeout: float
    prepare: Callable[[Context], Launch]
    check: Callable[[Context], Health]
    extra_ports: Callable[[Context], list[int]] = lambda ctx: []
    # Processes of ours that may have left the service's process group (e.g. Storm workers): found by pid files.
    orphans: Callable[[Context], set[int]] = lambda ctx: set()
    # Log files the service writes outside <state>/<name>/logs (e.g. Storm's under <state>/storm/logs).
    extra_logs: Callable[[Context], list[Path]] = lambda ctx: []
    # False when `port_name` is only the address to show (the Supervisor binds no port of its own).
    binds_port: bool = True

    def port(self, ctx: Context) -> int:
        return ctx.endpoints.port(self.port_name)

    def ports(self, ctx: Context) -> list[int]:
        """Ports this service binds (checked free before it starts)."""
        own = [self.port(ctx)] if self.binds_port else []
        return [*own, *self.extra_ports(ctx)]


def _dirs(ctx: Context, name: str) -> tuple[Path, Path, Path]:
    data, logs, conf = ctx.layout.data_dir(name), ctx.layout.log_dir(name), ctx.layout.conf_dir(name)
    for d in (data, logs, conf):
        d.mkdir(parents=True, exist_ok=True)
    return data, logs, conf


# --- ZooKeeper -----------------------------------------------------------------------------------------


def _zookeeper_prepare(ctx: Context) -> Launch:
    data, logs, conf = _dirs(ctx, "zookeeper")
    cfg = render_file(
        ctx.layout.infra / "zookeeper" / "zoo.cfg",
        conf / "zoo.cfg",
        {"data_dir": data, "port": ctx.endpoints.port("zookeeper"), "host": ctx.endpoints.host},
    )
    argv = [
        find_java(),
        "-Xms128m",
        "-Xmx256m",
        "-XX:+UseG1GC",
        f"-Dzookeeper.log.dir={logs}",
        f"-Dlogback.configurationFile={ctx.layout.infra / 'zookeeper' / 'logback.xml'}",
        "-Dzookeeper.admin.enableServer=false",
        "-cp",
        ctx.classpath("zookeeper/pom.xml"),
        "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        str(cfg),
    ]
    return Launch(argv)


def _zookeeper_check(ctx: Context) -> Health:
    return health.zookeeper(ctx.endpoints.host, ctx.endpoints.port("zookeeper"))


# --- Kafka (KRaft, combined broker + controller) ------------------------------------------------------------


def new_kafka_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (as `kafka-storage random-uuid`)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _kafka_prepare(ctx: Context) -> Launch:
    data, logs, conf = _dirs(ctx, "kafka")
    props = render_file(
        ctx.layout.infra / "kafka" / "server.properties",
        conf / "server.properties",
        {
            "host": ctx.endpoints.host,
            "port": ctx.endpoints.port("kafka"),
            "controller_port": ctx.endpoints.port("kafka_controller"),
            "data_dir": data,
        },
    )
    java = find_java()
    classpath = ctx.classpath("kafka/pom.xml")
    log_opts = [
        f"-Dkafka.logs.dir={logs}",
        f"-Dlog4j2.configurationFile={ctx.layout.infra / 'kafka' / 'log4j2.xml'}",
    ]
    if not (data / "meta.properties").is_file():
        cmd = [
            java,
            "-Xmx256m",
            *log_opts,
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            new_kafka_cluster_id(),
            "-c",
            str(props),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise InfraError(f"kafka storage format failed (exit {proc.returncode}):\n{tail}")
    argv = [
        java,
        "-Xms256m",
        "-Xmx512m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-Djava.awt.headless=true",
        *log_opts,
        "-cp",
        classpath,
        "kafka.Kafka",
        str(props),
    ]
    return Launch(argv)


def _kafka_check(ctx: Context) -> Health:
    return health.kafka(ctx.endpoints.host, ctx.endpoints.port("kafka"))


# --- Cassandra -------------------------------------------------------------------------------------------


def _cassandra_prepare(ctx: Context) -> Launch:
    data, logs, conf = _dirs(ctx, "cassandra")
    src = ctx.layout.infra / "cassandra"
    yaml = render_file(
        src / "cassandra.yaml",
        conf / "cassandra.yaml",
        {
            "host": ctx.endpoints.host,
            "port": ctx.endpoints.port("cassandra"),
            "storage_port": ctx.endpoints.port("cassandra_storage"),
            "ssl_storage_port": ctx.endpoints.port("cassandra_ssl_storage"),
            "data_dir": data,
        },
    )
    jars = ctx.jar_dir("cassandra/pom.xml")
    argv = [
        find_java(),
        *read_jvm_options(src / "jvm17-server.options"),
        f"-javaagent:{find_jar(jars, 'jamm')}",
        f"-Dcassandra.config={yaml.as_uri()}",
        f"-Dcassandra.logdir={logs}",
        f"-Dcassandra.storagedir={data}",
        f"-Dlogback.configurationFile={src / 'logback.xml'}",
        # A lone seed has no gossip to wait for: skip the settle wait, start serving at once.
        "-Dcassandra.skip_wait_for_gossip_to_settle=0",
        f"-Xlog:gc=info:file={logs / 'gc.log'}:time,uptime:filecount=3,filesize=10m",
        "-cp",
        f"{jars}/*",
        "org.apache.cassandra.service.CassandraDaemon",
    ]
    return Launch(argv, env={**os.environ, "MALLOC_ARENA_MAX": "4"})


def _cassandra_check(ctx: Context) -> Health:
    return health.cassandra(ctx.endpoints.host, ctx.endpoints.port("cassandra"))


ZOOKEEPER = Service(
    name="zookeeper",
    poms=("zookeeper/pom.xml",),
    requires=(),
    port_name="zookeeper",
    start_timeout=60,
    prepare=_zookeeper_prepare,
    check=_zookeeper_check,
)
KAFKA = Service(
    name="kafka",
    poms=("kafka/pom.xml",),
    requires=(),
    port_name="kafka",
    start_timeout=120,
    prepare=_kafka_prepare,
    check=_kafka_check,
    extra_ports=lambda ctx: [ctx.endpoints.port("kafka_controller")],
)
CASSANDRA = Service(
    name="cassandra",
    poms=("cassandra/pom.xml",),
    requires=(),
    port_name="cassandra",
    start_timeout=240,
    prepare=_cassandra_prepare,
    check=_cassandra_check,
    extra_ports=lambda ctx: [ctx.endpoints.port("cassandra_storage")],
)
