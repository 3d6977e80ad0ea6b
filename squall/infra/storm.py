"""Storm 2.8's daemons as squall services: Nimbus, one Supervisor (2 worker slots) and the UI REST API.

Nimbus and the Supervisor are Storm's own JVMs, launched from a STORM_HOME built by `storm_home`. Their
health is asked of Nimbus over Thrift (streamparse's thriftpy2 client): Nimbus is healthy when it reports a
leader, the Supervisor when Nimbus lists it with all its slots. Storm's UI (storm-webapp) is not published on
Maven Central, so the `ui` service is squall's own small server of the UI's REST API over Nimbus Thrift
(`squall.infra.storm_ui`).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from squall.infra import health, process, storm_plugins
from squall.infra.endpoints import SupervisorPorts
from squall.infra.health import Health
from squall.infra.services import Context, Launch, Service, find_java
from squall.infra.storm_home import LIB_POM, WORKER_POM, StormHome, build, slots_yaml
from squall.private_state import private_dir

STORM_POMS = (LIB_POM, WORKER_POM)
LOGVIEWER_PORT = 8000


def storm_dirs(ctx: Context) -> tuple[Path, Path, Path]:
    base = ctx.layout.service_dir("storm")
    return base / "home", base / "logs", base / "data"


def storm_home(ctx: Context) -> StormHome:
    home, logs, local = storm_dirs(ctx)
    ep = ctx.endpoints
    return _storm_home(ctx, home, logs, local, ep.port("supervisor_thrift"), ep.slots)


def _storm_home(
    ctx: Context, home: Path, logs: Path, local: Path, supervisor_port: int, slots: tuple[int, ...]
) -> StormHome:
    """A STORM_HOME whose storm.yaml gives this Supervisor its Thrift port, slots, local dir and log dir."""
    ep = ctx.endpoints
    worker_jars = ctx.jar_dir(WORKER_POM)
    plugins, _ = storm_plugins.build(ctx.layout.infra, worker_jars, ctx.layout.jar_cache)
    built = build(
        home=home,
        infra=ctx.layout.infra,
        lib_jars=ctx.jar_dir(LIB_POM),
        worker_jars=worker_jars,
        values={
            "host": ep.host,
            "transport_plugin": storm_plugins.TRANSPORT_PLUGIN,
            "messaging_context": storm_plugins.MESSAGING_CONTEXT,
            "zookeeper_port": ep.port("zookeeper"),
            "nimbus_port": ep.port("nimbus"),
            "supervisor_port": supervisor_port,
            "ui_port": ep.port("storm_ui"),
            "logviewer_port": LOGVIEWER_PORT,
            "slots": slots_yaml(slots),
            "local_dir": local,
            "log_dir": logs,
        },
        log_dir=logs,
        local_dir=local,
    )
    storm_plugins.install_into(plugins, home / "extlib")
    return built


@contextlib.contextmanager
def nimbus_client(host: str, port: int, timeout: float = 5.0) -> Iterator[Any]:
    """A Nimbus Thrift client (framed binary transport, as `sparse` talks to Nimbus), closed on exit."""
    from streamparse.thrift import Nimbus
    from thriftpy2.protocol import TBinaryProtocolFactory
    from thriftpy2.rpc import make_client
    from thriftpy2.transport import TFramedTransportFactory

    client = make_client(
        Nimbus,
        host,
        port,
        proto_factory=TBinaryProtocolFactory(),
        trans_factory=TFramedTransportFactory(),
        timeout=int(timeout * 1000),
    )
    try:
        yield client
    finally:
        client.close()


def cluster_info(host: str, port: int, timeout: float = 5.0) -> Any:
    """Nimbus's ClusterSummary over Thrift."""
    with nimbus_client(host, port, timeout) as client:
        return client.getClusterInfo()


def _cluster(ctx: Context) -> tuple[Any, str]:
    ep = ctx.endpoints
    if not health.port_open(ep.host, ep.port("nimbus")):
        return None, "nimbus thrift port closed"
    try:
        return cluster_info(ep.host, ep.port("nimbus")), ""
    except Exception as exc:  # noqa: BLE001 - thriftpy2 raises transport and protocol errors of many kinds
        return None, f"{type(exc).__name__}: {exc}"


def _nimbus_check(ctx: Context) -> Health:
    info, error = _cluster(ctx)
    if info is None:
        return False, error
    leaders = [n for n in info.nimbuses or [] if n.isLeader]
    if not leaders:
        return False, "no leader nimbus yet"
    return (
        True,
        f"leader {leaders[0].host}:{leaders[0].port}, storm {leaders[0].version}, {len(info.topologies or [])} topologies",
    )


def _supervisor_check(ctx: Context) -> Health:
    info, error = _cluster(ctx)
    if info is None:
        return False, error
    want = len(ctx.endpoints.slots)
    # Not one of this env's other Supervisors (they may offer as many slots).
    others = {
        supervisor_id(extra_supervisor_dirs(ctx, s.name)[1] / "supervisor.log")
        for s in extra_supervisors(ctx)
    }
    for sup in info.supervisors or []:
        if sup.num_workers == want and sup.supervisor_id not in others:
            # Nimbus lists the Supervisor (from its ZooKeeper heartbeat) before its Thrift server, which workers
            # report to, is listening.
            ep = ctx.endpoints
            if not health.port_open(ep.host, ep.port("supervisor_thrift")):
                return False, f"supervisor thrift port {ep.port('supervisor_thrift')} not listening yet"
            return True, f"{sup.host}: {sup.num_workers - sup.num_used_workers}/{sup.num_workers} slots free"
    return False, f"nimbus lists {len(info.supervisors or [])} supervisor(s), none with {want} slots yet"


def _ui_check(ctx: Context) -> Health:
    return health.storm_ui(ctx.endpoints.host, ctx.endpoints.port("storm_ui"))


def _daemon(ctx: Context, daemon: str, main_class: str) -> Launch:
    home = storm_home(ctx)
    private_dir(ctx.layout.log_dir(daemon))
    heap = {"nimbus": ["-Xmx512m", "-XX:+UseG1GC"], "supervisor": ["-Xmx256m", "-XX:+UseG1GC"]}[daemon]
    return Launch(home.daemon_argv(find_java(), daemon, main_class, heap))


def _nimbus_prepare(ctx: Context) -> Launch:
    return _daemon(ctx, "nimbus", "org.apache.storm.daemon.nimbus.Nimbus")


def _supervisor_prepare(ctx: Context) -> Launch:
    return _daemon(ctx, "supervisor", "org.apache.storm.daemon.supervisor.Supervisor")


def _ui_prepare(ctx: Context) -> Launch:
    private_dir(ctx.layout.log_dir("ui"))
    ep = ctx.endpoints
    argv = [
        sys.executable,
        "-m",
        "squall.infra.storm_ui",
        "--host",
        ep.host,
        "--port",
        str(ep.port("storm_ui")),
        "--nimbus",
        ep.address("nimbus"),
    ]
    return Launch(argv)


def worker_pids(ctx: Context) -> set[int]:
    """Worker JVMs (and their subprocesses) the supervisor recorded under storm.local.dir/workers/*/pids/."""
    _, _, local = storm_dirs(ctx)
    return _worker_pids(local)


def _worker_pids(local: Path) -> set[int]:
    procs = process.all_processes()
    found: set[int] = set()
    for pid_file in local.glob("workers/*/pids/*"):
        if not pid_file.name.isdigit():
            continue
        pid = int(pid_file.name)
        try:
            cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        if b"org.apache.storm" in cmdline:
            found |= process.family(pid, procs) | {pid}
    return found


def _storm_logs(daemon: str) -> Any:
    def logs(ctx: Context) -> list[Path]:
        _, log_dir, _ = storm_dirs(ctx)
        return [log_dir / f"{daemon}.log"]

    return logs


NIMBUS = Service(
    name="nimbus",
    poms=STORM_POMS,
    requires=("zookeeper",),
    port_name="nimbus",
    start_timeout=120,
    prepare=_nimbus_prepare,
    check=_nimbus_check,
    extra_logs=_storm_logs("nimbus"),
)
SUPERVISOR = Service(
    name="supervisor",
    poms=STORM_POMS,
    requires=("zookeeper", "nimbus"),
    port_name="nimbus",
    start_timeout=120,
    prepare=_supervisor_prepare,
    check=_supervisor_check,
    orphans=worker_pids,
    extra_logs=_storm_logs("supervisor"),
    binds_port=False,
    extra_ports=lambda ctx: [ctx.endpoints.port("supervisor_thrift"), *ctx.endpoints.slots],
)
UI = Service(
    name="ui",
    poms=(),
    requires=("nimbus",),
    port_name="storm_ui",
    start_timeout=30,
    prepare=_ui_prepare,
    check=_ui_check,
)


# --- more Supervisors on this host, each a node of its own ------------------------------------------------
#
# envs.<env>.services.supervisors lists every Supervisor; the first is the `supervisor` service above, the
# others are `supervisor-2`, `supervisor-3`, ... Each has what a separate host would have: its own STORM_HOME
# (storm.yaml with its Thrift port and slots), storm.local.dir (hence its own supervisor id), log folder and
# pid file, all under <state>/supervisor-N/. They share ZooKeeper and Nimbus, and report the same hostname
# (Storm's workers reach their own Supervisor at the machine's hostname, so all bind the services' host).

SUPERVISOR_ID = re.compile(r"Starting supervisor with id (\S+) at host")


def extra_supervisor_name(index: int) -> str:
    """The service name of supervisors[index] (index >= 1): supervisor-2, supervisor-3, ..."""
    return f"supervisor-{index + 1}"


def extra_supervisor_dirs(ctx: Context, name: str) -> tuple[Path, Path, Path]:
    base = ctx.layout.service_dir(name)
    return base / "home", base / "logs", base / "data"


def supervisor_id(log_file: Path) -> str | None:
    """The id the Supervisor logged at its last start (its storm.local.dir keeps it across restarts)."""
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        return None
    found = SUPERVISOR_ID.findall(text)
    return found[-1] if found else None


def extra_supervisor(index: int, ports: SupervisorPorts) -> Service:
    name = extra_supervisor_name(index)

    def prepare(ctx: Context) -> Launch:
        home, logs, local = extra_supervisor_dirs(ctx, name)
        # A fresh storm.local.dir, hence a fresh supervisor id, on every start. Nimbus's BlacklistScheduler
        # blacklists *hosts*: an id it once saw vanish (a stopped node), seen alive again within
        # blacklist.scheduler.resume.time.secs, would take every Supervisor of 127.0.0.1 out of scheduling.
        # Only squall's own pid-recorded processes ran from it, and they are stopped with the service.
        if local.exists():
            shutil.rmtree(local)
        built = _storm_home(ctx, home, logs, local, ports.thrift, ports.slots)
        private_dir(ctx.layout.log_dir(name))
        heap = ["-Xmx256m", "-XX:+UseG1GC"]
        return Launch(
            built.daemon_argv(
                find_java(), "supervisor", "org.apache.storm.daemon.supervisor.Supervisor", heap
            )
        )

    def check(ctx: Context) -> Health:
        _, logs, _ = extra_supervisor_dirs(ctx, name)
        sup_id = supervisor_id(logs / "supervisor.log")
        if sup_id is None:
            return False, f"no supervisor id in {logs / 'supervisor.log'} yet"
        info, error = _cluster(ctx)
        if info is None:
            return False, error
        for sup in info.supervisors or []:
            if sup.supervisor_id == sup_id:
                if not health.port_open(ctx.endpoints.host, ports.thrift):
                    return False, f"supervisor thrift port {ports.thrift} not listening yet"
                free = sup.num_workers - sup.num_used_workers
                return True, f"{sup_id}: {free}/{sup.num_workers} slots free"
        return False, f"nimbus does not list supervisor {sup_id}"

    def orphans(ctx: Context) -> set[int]:
        return _worker_pids(extra_supervisor_dirs(ctx, name)[2])

    def logs(ctx: Context) -> list[Path]:
        return [extra_supervisor_dirs(ctx, name)[1] / "supervisor.log"]

    return Service(
        name=name,
        poms=STORM_POMS,
        requires=("zookeeper", "nimbus"),
        port_name="nimbus",
        start_timeout=120,
        prepare=prepare,
        check=check,
        orphans=orphans,
        extra_logs=logs,
        binds_port=False,
        extra_ports=lambda ctx: [ports.thrift, *ports.slots],
        show_address=lambda ctx: f"{ctx.endpoints.host}:{','.join(str(p) for p in ports.slots)}",
    )


def extra_supervisors(ctx: Context) -> list[Service]:
    return [extra_supervisor(i, ports) for i, ports in enumerate(ctx.endpoints.extra_supervisors, start=1)]
