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
from dataclasses import dataclass, field, replace
from pathlib import Path

from cassandra.auth import PlainTextAuthProvider

from squall.cassandra.client import cluster_security
from squall.cassandra.settings import CassandraSettings
from squall.errors import InfraError
from squall.infra import health
from squall.infra.endpoints import Endpoints
from squall.infra.health import Health
from squall.infra.layout import Layout
from squall.infra.maven import Artifacts, find_jar
from squall.infra.render import read_jvm_options, render_file, render_text
from squall.infra.secure import (
    CASSANDRA_DEFAULT_SUPERUSER,
    KAFKA_ADMIN,
    PIPELINE_USER,
    Material,
    ensure_material,
)
from squall.kafka.client import security_config
from squall.kafka.settings import KafkaSettings
from squall.private_state import private_dir


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
    env: str = "dev"
    # envs.<env>.services.secure: Kafka on SASL_SSL (SCRAM) and Cassandra with PasswordAuthenticator and TLS,
    # with certificates and credentials made in the state folder (squall.infra.secure).
    secure: bool = False
    # envs.<env>.services.run: the services this env runs (None: all of them).
    run: tuple[str, ...] | None = None

    @property
    def material(self) -> Material:
        """The secured env's certificates and passwords, made on first use."""
        return ensure_material(self.layout.state)

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
    # Runs once the service is healthy (and when found already up): e.g. the secured Cassandra's roles.
    setup: Callable[[Context], None] = lambda ctx: None
    # The address `squall infra status` shows, when not host:port of `port_name` (a Supervisor: its slots).
    show_address: Callable[[Context], str] | None = None

    def port(self, ctx: Context) -> int:
        return ctx.endpoints.port(self.port_name)

    def ports(self, ctx: Context) -> list[int]:
        """Ports this service binds (checked free before it starts)."""
        own = [self.port(ctx)] if self.binds_port else []
        return [*own, *self.extra_ports(ctx)]


def _dirs(ctx: Context, name: str) -> tuple[Path, Path, Path]:
    data, logs, conf = ctx.layout.data_dir(name), ctx.layout.log_dir(name), ctx.layout.conf_dir(name)
    for d in (data, logs, conf):
        private_dir(d)
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


def _with_overlay(target: Path, overlay: Path, values: dict[str, object]) -> None:
    """Append the rendered `overlay` to the rendered `target` (written only when the text changed)."""
    text = target.read_text()
    marker = "\n# --- overlay ---\n"
    text = text.split(marker)[0] + marker + render_text(overlay.read_text(), values, str(overlay))
    if target.read_text() != text:
        target.write_text(text)


def _kafka_prepare(ctx: Context) -> Launch:
    data, logs, conf = _dirs(ctx, "kafka")
    values: dict[str, object] = {
        "host": ctx.endpoints.host,
        "port": ctx.endpoints.port("kafka"),
        "controller_port": ctx.endpoints.port("kafka_controller"),
        "data_dir": data,
    }
    props = render_file(ctx.layout.infra / "kafka" / "server.properties", conf / "server.properties", values)
    scram: list[str] = []
    if ctx.secure:
        m = ctx.material
        values |= {
            "admin_user": KAFKA_ADMIN,
            "admin_password": m.password("kafka-admin"),
            "keystore": m.keystore,
            "keystore_password": m.password("keystore"),
            "ca_cert": m.ca_cert,
        }
        _with_overlay(props, ctx.layout.infra / "kafka" / "secure.properties", values)
        for user, secret in ((KAFKA_ADMIN, "kafka-admin"), (PIPELINE_USER, "kafka-squall")):
            for mechanism in ("SCRAM-SHA-512", "SCRAM-SHA-256"):
                scram += ["--add-scram", f"{mechanism}=[name={user},password={m.password(secret)}]"]
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
            *scram,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise InfraError(f"kafka storage format failed (exit {proc.returncode}):\n{tail}")
    argv = [
        java,
        *(["-Xms128m", "-Xmx384m"] if ctx.secure else ["-Xms256m", "-Xmx512m"]),
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


def kafka_client_settings(ctx: Context, user: str = PIPELINE_USER) -> KafkaSettings:
    """KafkaSettings for this env's broker as `user` (a secured env's SCRAM user; PLAINTEXT otherwise)."""
    settings = KafkaSettings(bootstrap_servers=ctx.endpoints.address("kafka"))
    if not ctx.secure:
        return settings
    m = ctx.material
    secret = "kafka-admin" if user == KAFKA_ADMIN else "kafka-squall"
    return replace(
        settings,
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        username=user,
        password_file=str(m.password_file(secret)),
        ssl_cafile=str(m.ca_cert),
    )


def _no_material(ctx: Context) -> Health | None:
    """A secured env before its first `up` has no certificates to check with (and a check makes none)."""
    if ctx.secure and not Material(ctx.layout.state).complete:
        return False, f"no certificates in {ctx.layout.state} yet (`squall infra up -e {ctx.env}` makes them)"
    return None


def _kafka_check(ctx: Context) -> Health:
    if (missing := _no_material(ctx)) is not None:
        return missing
    security = security_config(kafka_client_settings(ctx)) if ctx.secure else None
    return health.kafka(ctx.endpoints.host, ctx.endpoints.port("kafka"), security=security)


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
            "authenticator": "PasswordAuthenticator" if ctx.secure else "AllowAllAuthenticator",
        },
    )
    secure_opts: list[str] = []
    if ctx.secure:
        m = ctx.material
        values = {"keystore": m.keystore, "keystore_password": m.password("keystore")}
        _with_overlay(yaml, src / "secure.yaml", values)
        # A modest heap beside the dev node; the default superuser at once (not after the 10 s default delay).
        secure_opts = ["-Xms512m", "-Xmx512m", "-Dcassandra.superuser_setup_delay_ms=0"]
    jars = ctx.jar_dir("cassandra/pom.xml")
    argv = [
        find_java(),
        *read_jvm_options(src / "jvm17-server.options"),
        *secure_opts,  # after the options file: the later -Xmx wins
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


def cassandra_client_settings(ctx: Context, user: str = PIPELINE_USER) -> CassandraSettings:
    """CassandraSettings for this env's node as `user` (a secured env's role, over TLS; open otherwise)."""
    settings = CassandraSettings(
        contact_points=(ctx.endpoints.host,), port=ctx.endpoints.port("cassandra"), consistency="LOCAL_ONE"
    )
    if not ctx.secure:
        return settings
    m = ctx.material
    secret = "cassandra-admin" if user == CASSANDRA_DEFAULT_SUPERUSER else "cassandra-squall"
    return replace(
        settings,
        username=user,
        password_file=str(m.password_file(secret)),
        ssl=True,
        ssl_cafile=str(m.ca_cert),
    )


def _cassandra_check(ctx: Context) -> Health:
    host, port = ctx.endpoints.host, ctx.endpoints.port("cassandra")
    if not ctx.secure:
        return health.cassandra(host, port)
    if (missing := _no_material(ctx)) is not None:
        return missing
    ok, detail = health.cassandra(host, port, security=cluster_security(cassandra_client_settings(ctx)))
    if ok or "AuthenticationFailed" not in detail and "Bad credentials" not in detail:
        return ok, detail
    # The node serves but role `squall` does not exist yet: healthy when the default superuser logs in
    # (`_cassandra_setup` then creates the role and changes that superuser's password).
    default = {"auth_provider": PlainTextAuthProvider(CASSANDRA_DEFAULT_SUPERUSER, "cassandra")}
    security = {
        **cluster_security(replace(cassandra_client_settings(ctx), username="", password_file="")),
        **default,
    }
    ok, fallback = health.cassandra(host, port, security=security)
    return ok, (
        f"{fallback}; the default superuser answers, role {PIPELINE_USER!r} is set up next" if ok else detail
    )


def _cassandra_setup(ctx: Context) -> None:
    """A secured node: create role `squall` (login, superuser: it creates keyspaces) with the generated password
    and replace the default superuser's well-known password. Idempotent: nothing to do once `squall` logs in."""
    if not ctx.secure:
        return
    from cassandra import AuthenticationFailed
    from cassandra.cluster import Cluster, NoHostAvailable

    ours = cassandra_client_settings(ctx)
    if health.cassandra(ctx.endpoints.host, ours.port, security=cluster_security(ours))[0]:
        return
    m = ctx.material
    tls = cluster_security(replace(ours, username="", password_file=""))
    for password in ("cassandra", m.password("cassandra-admin")):
        cluster = Cluster(
            [ctx.endpoints.host],
            port=ours.port,
            protocol_version=5,
            auth_provider=PlainTextAuthProvider(CASSANDRA_DEFAULT_SUPERUSER, password),
            connect_timeout=20,
            **tls,
        )
        try:
            session = cluster.connect()
        except NoHostAvailable as exc:
            cluster.shutdown()
            if any(isinstance(e, AuthenticationFailed) for e in exc.errors.values()):
                continue
            raise InfraError(f"cassandra: cannot set up roles: {exc}") from exc
        try:
            secret = m.password("cassandra-squall").replace("'", "''")
            session.execute(
                f"CREATE ROLE IF NOT EXISTS {PIPELINE_USER} WITH PASSWORD = '{secret}' "
                "AND LOGIN = true AND SUPERUSER = true",
                timeout=60,
            )
            session.execute(f"ALTER ROLE {PIPELINE_USER} WITH PASSWORD = '{secret}'", timeout=60)
            admin = m.password("cassandra-admin").replace("'", "''")
            session.execute(f"ALTER ROLE {CASSANDRA_DEFAULT_SUPERUSER} WITH PASSWORD = '{admin}'", timeout=60)
        finally:
            cluster.shutdown()
        return
    raise InfraError(
        f"cassandra: neither role {PIPELINE_USER!r} nor the default superuser can log in to "
        f"{ctx.endpoints.address('cassandra')} (fix: `squall infra down -e {ctx.env}` and delete "
        f"{ctx.layout.state} to start the secured env afresh)"
    )


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
    setup=_cassandra_setup,
    extra_ports=lambda ctx: [ctx.endpoints.port("cassandra_storage")],
)
