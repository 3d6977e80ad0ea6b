"""What tests, the CLI and other engineers call: install, ensure_up, down, status, endpoints, is_healthy.

    from squall.infra import api
    api.ensure_up(["kafka", "cassandra"])        # no-op when already healthy
    api.endpoints()                              # {"kafka": "127.0.0.1:9092", ...}

Every call is serialised by a lock file in the state folder, so several test sessions may call `ensure_up`
at once and only one of them starts anything.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import squall
from squall.config import find_root, load_project, services
from squall.errors import ConfigError, InfraError
from squall.infra import apt, health, maven, process, storm_plugins
from squall.infra.endpoints import Endpoints
from squall.infra.layout import Layout
from squall.infra.registry import SERVICES, dependency_levels, resolve_names
from squall.infra.services import Context, Service, find_java
from squall.infra.storm import extra_supervisors
from squall.infra.storm_home import WORKER_POM
from squall.private_state import ensure_state_dir, open_private

DEFAULT_ENV = "dev"
Report = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def project_root(start: Path | None = None) -> Path:
    """The project holding config.json and infra/: from `start`/cwd upwards, else squall's own checkout."""
    try:
        root = find_root(start)
        if (root / "infra").is_dir():
            return root
    except ConfigError:
        pass
    fallback = Path(squall.__file__).resolve().parents[1]
    if (fallback / "infra").is_dir():
        return fallback
    raise InfraError("cannot find the project's infra/ folder (fix: run from the squall checkout)")


def make_context(env: str = DEFAULT_ENV, root: Path | None = None, jar_cache: Path | None = None) -> Context:
    """The services of config.json `envs.<env>.services`: their addresses, and optionally `"run"` (the services
    this env runs, default all), `"state"` (its state folder, default .state) and `"secure": true` (Kafka on
    SASL_SSL with SCRAM, Cassandra with PasswordAuthenticator and TLS; squall.infra.secure)."""
    root = project_root(root)
    section = services(load_project(root), env)
    where = f"envs.{env}.services"
    layout = Layout.for_project(root, jar_cache)
    state = section.get("state")
    if state is not None:
        if not isinstance(state, str) or not state.strip():
            raise ConfigError(f"{where}.state", f"{state!r} is not a folder", 'e.g. ".state/secure"')
        layout = replace(layout, state=root / state)
    run = section.get("run")
    if run is not None:
        if not isinstance(run, list) or not run or not all(isinstance(n, str) for n in run):
            raise ConfigError(
                f"{where}.run", f"{run!r} is not a list of services", 'e.g. ["kafka", "cassandra"]'
            )
        for name in run:
            if name not in SERVICES:
                raise ConfigError(
                    f"{where}.run", f"{name!r} is not a service", f"use some of: {', '.join(SERVICES)}"
                )
    secure = section.get("secure", False)
    if not isinstance(secure, bool):
        raise ConfigError(f"{where}.secure", f"{secure!r} is not true/false", "write true or false")
    if secure and run is None:
        raise ConfigError(
            f"{where}.run", "is required with secure: true", 'e.g. "run": ["kafka", "cassandra"]'
        )
    if secure and not set(run or ()) <= {"kafka", "cassandra"}:
        raise ConfigError(
            f"{where}.run", f"{run!r}: only kafka and cassandra can run secured", 'use ["kafka", "cassandra"]'
        )
    return Context(
        layout=layout,
        endpoints=Endpoints.from_services(section, where),
        env=env,
        secure=secure,
        run=tuple(run) if run is not None else None,
    )


def all_services(ctx: Context) -> dict[str, Service]:
    """The registry plus `ctx`'s extra Supervisors (`supervisor-2`, ...: envs.<env>.services.supervisors)."""
    return {**SERVICES, **{s.name: s for s in extra_supervisors(ctx)}}


def env_services(ctx: Context) -> dict[str, Service]:
    """The services `ctx`'s env runs, in registry order (extra Supervisors after the others)."""
    return {n: s for n, s in all_services(ctx).items() if ctx.run is None or n in ctx.run}


def endpoints(env: str = DEFAULT_ENV, root: Path | None = None) -> dict[str, str]:
    """{"zookeeper": "127.0.0.1:2181", "kafka": ..., "cassandra": ..., "nimbus": ..., "storm_ui": ...}."""
    ctx = make_context(env, root)
    return {
        name: ctx.endpoints.address(name)
        for name in ("zookeeper", "kafka", "cassandra", "nimbus", "storm_ui")
    }


@contextmanager
def _locked(layout: Layout, timeout: float = 900.0) -> Iterator[None]:
    ensure_state_dir(layout.state)
    with os.fdopen(open_private(layout.state / "infra.lock", append=True), "a") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise InfraError(
                        f"another `squall infra` call held {layout.state / 'infra.lock'} for {timeout:.0f}s"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- install ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstallResult:
    pom: str
    folder: Path
    resolved: bool
    seconds: float


def install(
    ctx: Context | None = None, repo_local: Path | None = None, with_apt: bool = True, report: Report = _quiet
) -> list[InstallResult]:
    """Debian packages from infra/apt-packages.txt (when missing), then every service's jars (when missing)."""
    ctx = ctx or make_context()
    if with_apt:
        installed = apt.install(apt.read_package_list(ctx.layout.infra / "apt-packages.txt"), report=report)
        if installed:
            report(f"apt: installed {', '.join(installed)}")
    find_java()
    poms = sorted({p for s in SERVICES.values() for p in s.poms})
    results = []
    for pom in poms:
        artifacts = maven.Artifacts.from_pom(ctx.layout.infra / pom)
        t0 = time.monotonic()
        resolved = maven.resolve(artifacts, ctx.layout.jar_cache, repo_local, report=report)
        took = time.monotonic() - t0
        target = artifacts.target(ctx.layout.jar_cache)
        report(f"{pom}: {'resolved' if resolved else 'cached'} in {took:.1f}s -> {target}")
        results.append(InstallResult(pom, target, resolved, took))
    t0 = time.monotonic()
    jar, built = storm_plugins.build(ctx.layout.infra, ctx.jar_dir(WORKER_POM), ctx.layout.jar_cache)
    took = time.monotonic() - t0
    report(f"storm plugins: {'compiled' if built else 'cached'} in {took:.1f}s -> {jar}")
    results.append(InstallResult("storm/plugins", jar.parent, built, took))
    return results


# --- status ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    name: str
    address: str
    pid: int | None
    running: bool
    healthy: bool
    detail: str

    @property
    def managed(self) -> bool:
        return self.pid is not None and self.running


def _record(ctx: Context, name: str) -> process.PidRecord | None:
    record = process.read_pid(ctx.layout.pid_file(name))
    return record if record is not None and process.is_alive(record) else None


def service_status(ctx: Context, service: Service) -> Status:
    record = _record(ctx, service.name)
    healthy, detail = service.check(ctx)
    address = ctx.endpoints.address(service.port_name)
    if service.show_address is not None:
        address = service.show_address(ctx)
    elif not service.binds_port:  # the Supervisor: show the worker slots it offers
        address = f"{ctx.endpoints.host}:{','.join(str(p) for p in ctx.endpoints.slots)}"
    return Status(
        name=service.name,
        address=address,
        pid=record.pid if record else None,
        running=record is not None,
        healthy=healthy,
        detail=detail,
    )


def status(names: Iterable[str] | None = None, ctx: Context | None = None) -> list[Status]:
    ctx = ctx or make_context()
    chosen = resolve_names(names, with_requirements=False, services=env_services(ctx))
    return [service_status(ctx, all_services(ctx)[n]) for n in chosen]


def is_healthy(name: str, ctx: Context | None = None) -> bool:
    ctx = ctx or make_context()
    services = all_services(ctx)
    if name not in services:
        raise ConfigError("SERVICE", f"{name!r} is not a service", f"use one of: {', '.join(services)}")
    return services[name].check(ctx)[0]


# --- up --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpResult:
    name: str
    action: str  # "already up" | "started" | "external"
    seconds: float
    detail: str


def log_files(ctx: Context, name: str) -> list[Path]:
    """The service's log files: console (JVM stdout/stderr) first, then the others, newest last."""
    folder = ctx.layout.log_dir(name)
    console = ctx.layout.console_log(name)
    own = [p for p in folder.rglob("*.log") if p != console] if folder.is_dir() else []
    others = sorted(
        (p for p in [*own, *all_services(ctx)[name].extra_logs(ctx)] if p.is_file()),
        key=lambda p: p.stat().st_mtime,
    )
    return ([console] if console.is_file() else []) + others


def tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def log_tail(name: str, lines: int = 40, ctx: Context | None = None) -> str:
    ctx = ctx or make_context()
    parts = [f"==> {p} <==\n{tail(p, lines)}" for p in log_files(ctx, name)]
    return "\n\n".join(parts) or f"(no logs yet in {ctx.layout.log_dir(name)})"


def _start(ctx: Context, service: Service) -> process.PidRecord:
    busy = [p for p in service.ports(ctx) if health.port_open(ctx.endpoints.host, p)]
    if busy:
        raise InfraError(
            f"{service.name}: port {', '.join(map(str, busy))} on {ctx.endpoints.host} is already taken by a process "
            f"squall did not start (fix: stop it — `ss -ltnp` shows who — or change envs.{ctx.env}.services.{service.port_name})"
        )
    launch = service.prepare(ctx)
    pid = process.spawn(
        launch.argv, ctx.layout.service_dir(service.name), launch.env, ctx.layout.console_log(service.name)
    )
    return process.write_pid(ctx.layout.pid_file(service.name), pid)


def _wait_healthy(
    ctx: Context, pending: dict[str, tuple[process.PidRecord, float]], report: Report
) -> dict[str, tuple[float, str]]:
    """Poll each pending service until healthy; InfraError when one dies or runs out of time."""
    done: dict[str, tuple[float, str]] = {}
    while pending:
        for name, (record, started) in list(pending.items()):
            service = all_services(ctx)[name]
            ok, detail = service.check(ctx)
            elapsed = time.monotonic() - started
            if ok:
                done[name] = (elapsed, detail)
                del pending[name]
                report(f"{name}: healthy after {elapsed:.1f}s ({detail})")
            elif not process.is_alive(record):
                raise InfraError(
                    f"{name} died while starting (last check: {detail}). Log tail:\n{log_tail(name, 30, ctx)}"
                )
            elif elapsed > service.start_timeout:
                raise InfraError(
                    f"{name} did not become healthy within {service.start_timeout:.0f}s (last check: {detail}); "
                    f"pid {record.pid} left running for inspection (`squall infra logs {name}`, `squall infra down {name}`). "
                    f"Log tail:\n{log_tail(name, 30, ctx)}"
                )
        if pending:
            time.sleep(0.5)
    return done


def ensure_up(
    names: Iterable[str] | None = None, ctx: Context | None = None, report: Report = _quiet
) -> list[UpResult]:
    """Start the named services (default: all) and what they need; leave healthy ones alone. Idempotent."""
    ctx = ctx or make_context()
    available = env_services(ctx)
    wanted = resolve_names(names, with_requirements=True, services=available)
    results: list[UpResult] = []
    with _locked(ctx.layout):
        for level in dependency_levels(wanted, available):
            pending: dict[str, tuple[process.PidRecord, float]] = {}
            for name in level:
                service = all_services(ctx)[name]
                ok, detail = service.check(ctx)
                record = _record(ctx, name)
                if ok:
                    service.setup(ctx)
                    results.append(UpResult(name, "already up" if record else "external", 0.0, detail))
                    report(
                        f"{name}: already up ({detail})"
                        + ("" if record else " — not started by squall, left alone")
                    )
                    continue
                t0 = time.monotonic()
                if record is None:
                    record = _start(ctx, service)
                    report(
                        f"{name}: started pid {record.pid}, waiting for it to answer on {ctx.endpoints.address(service.port_name)}"
                    )
                else:
                    report(f"{name}: pid {record.pid} is running but not healthy yet ({detail}); waiting")
                pending[name] = (record, t0)
            for name, (seconds, detail) in _wait_healthy(ctx, pending, report).items():
                all_services(ctx)[name].setup(ctx)
                results.append(UpResult(name, "started", seconds, detail))
    return results


def revive(names: Iterable[str], ctx: Context | None = None, report: Report = _quiet) -> list[str]:
    """Start again each named service that squall started and that has since died (its pid file names a process
    that is gone). Storm's daemons are fail-fast and meant to run under a process supervisor (a Supervisor halts
    itself when a topology is killed while its slots still localize the jar); this is that supervisor's step,
    without waiting for Nimbus to notice the death. Returns the names started again."""
    ctx = ctx or make_context()
    pending: dict[str, tuple[process.PidRecord, float]] = {}
    with _locked(ctx.layout):
        for name in names:
            record = process.read_pid(ctx.layout.pid_file(name))
            if record is None or process.is_alive(record):
                continue
            report(f"{name}: pid {record.pid} died; starting it again")
            pending[name] = (_start(ctx, all_services(ctx)[name]), time.monotonic())
        revived = sorted(pending)
        _wait_healthy(ctx, pending, report)  # empties `pending` as each becomes healthy
    return revived


# --- down ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DownResult:
    name: str
    stopped: int  # processes signalled
    seconds: float


def _stop(ctx: Context, name: str, grace: float) -> DownResult:
    pid_file = ctx.layout.pid_file(name)
    record = process.read_pid(pid_file)
    t0 = time.monotonic()
    pids: set[int] = set()
    procs = process.all_processes()
    if record is not None:
        alive = process.is_alive(record)
        if alive or any(p.pgid == record.pid for p in procs):
            pids |= process.family(record.pid, procs)
        if not alive:
            pids.discard(record.pid)
    pids |= all_services(ctx)[name].orphans(ctx)
    left = process.terminate(pids, grace=grace) if pids else set()
    if left:
        raise InfraError(f"{name}: processes {sorted(left)} survived SIGKILL")
    pid_file.unlink(missing_ok=True)
    if pids:
        _wait_ports_closed(ctx, all_services(ctx)[name])
    return DownResult(name, len(pids), time.monotonic() - t0)


def _wait_ports_closed(ctx: Context, service: Service, timeout: float = 15.0) -> None:
    """After our processes are gone their ports must close; one still open belongs to someone else."""
    deadline = time.monotonic() + timeout
    while True:
        open_ports = [p for p in service.ports(ctx) if health.port_open(ctx.endpoints.host, p, timeout=0.5)]
        if not open_ports:
            return
        if time.monotonic() > deadline:
            raise InfraError(
                f"{service.name}: stopped its processes but port(s) {open_ports} still answer: another process "
                "(not started by squall) holds them (`ss -ltnp` shows which)"
            )
        time.sleep(0.2)


def down(
    names: Iterable[str] | None = None,
    ctx: Context | None = None,
    grace: float = 30.0,
    report: Report = _quiet,
) -> list[DownResult]:
    """Stop the named services (default: all) that squall started, dependents first; by pid only."""
    ctx = ctx or make_context()
    available = env_services(ctx)
    wanted = resolve_names(names, with_requirements=False, services=available)
    results = []
    with _locked(ctx.layout):
        for level in reversed(dependency_levels(wanted, available)):
            for name in level:
                result = _stop(ctx, name, grace)
                report(
                    f"{name}: "
                    + (
                        f"stopped {result.stopped} process(es) in {result.seconds:.1f}s"
                        if result.stopped
                        else "not running"
                    )
                )
                results.append(result)
    return results
