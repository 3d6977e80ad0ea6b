"""Public test helpers: run one pystorm/streamparse component, or a whole topology, inside a test.

Components are driven with the same multilang messages Storm (and `squall run`) sends them; everything
they send back is recorded. No JVM, no subprocess (except for `run_topology(..., inline=False)`).

One bolt::

    from squall.testing import BoltHarness
    h = BoltHarness(ParseBolt, conf={"squall.pipeline": {...}}, inputs={"spout": ["raw"]})
    tid = h.process([b"..."], component="spout")         # returns the tuple id the bolt saw
    h.emitted("default")        # -> [[...values...], ...] emitted on that stream
    h.emits                     # -> [Emit(stream, values, anchors, direct_task), ...] (anchors = tuple ids)
    h.acked, h.failed           # -> tuple ids the bolt acked / failed
    h.tick()                    # a tick tuple (stream "__tick", component "__system", task -1)
    h.errors, h.logs            # `error` messages (tracebacks) and `log` messages

An exception raised by the bolt propagates out of `process` (after pystorm's own error/fail handling),
so the test sees the real traceback.

One spout::

    s = SpoutHarness(SensorSpout, conf={...})
    new = s.next_tuple()        # -> [Emit(...)] emitted during that `next`
    s.ack(new[0].id); s.fail(msg_id)

A whole topology (Storm semantics: groupings, acker, timeouts, ticks; see squall.runner)::

    from squall.testing import run_topology
    result = run_topology(WordCount, conf={"topology.max.spout.pending": 10}, until_idle=1.0)
    result.emitted("count_bolt")              # values emitted by that component (default stream)
    result.stats("count_bolt").acked          # per-component figures as `squall run` prints them
    result.errors                             # tasks' reported errors and deaths

`inline=True` (default) hosts Python components in the test process (deterministic for a `seed`);
`inline=False` runs every task as a subprocess, exactly as `squall run` does, and needs the components
importable from the project's resources (pass `project=Path(...)`, the folder holding config.json).
Pass `clock=ManualClock()` and `on_step=` (or `stop_when=`) to drive time in tests without sleeping.

A throw-away copy of a pipeline project, for tests and benchmarks on shared services::

    made = isolated_pipeline_project(tmp_path / "project", run_id, prefix="e2e", source=ROOT)
    made.root, made.config_path     # topologies/spouts/bolts linked to the source; config.json rewritten
    made.kafka, made.cassandra      # this run's own topics, consumer group and keyspace (and SQLite file)

A private set of real services (own ports, own state folder), to stop and restart without disturbing anyone::

    ctx = private_services_context(tmp_path / "services")
    api.ensure_up(["kafka", "cassandra"], ctx); ctx.endpoints.address("kafka")   # "127.0.0.1:<free port>"
    api.down(["cassandra"], ctx); api.ensure_up(["cassandra"], ctx)            # an outage
    api.down(None, ctx)                                                         # by pid, only these
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from squall.clock import Clock, ManualClock
from squall.config import Project, deep_merge, load_project, pipeline_settings, validate_config
from squall.errors import ConfigError
from squall.infra.services import Context
from squall.runner.cluster import Cluster, Emitted, LogRecord, Summary, TaskError
from squall.runner.graph import HEARTBEAT_STREAM, SYSTEM_COMPONENT, SYSTEM_TASK, TICK_STREAM
from squall.runner.inline import InlineHost
from squall.runner.metrics import ComponentStats
from squall.runner.session import execute, plan_for

if TYPE_CHECKING:
    from squall.cassandra.settings import CassandraSettings
    from squall.kafka.settings import KafkaSettings

__all__ = [
    "BoltHarness",
    "SpoutHarness",
    "Emit",
    "ManualClock",
    "run_topology",
    "RunResult",
    "IsolatedProject",
    "isolated_pipeline_project",
    "private_services_context",
    "free_port",
    "restore_default_sigint",
]


@dataclass
class Emit:
    """One `emit` a component sent. For spouts `id` is the message id (None = unreliable emit)."""

    stream: str
    values: list[Any]
    anchors: list[Any] = field(default_factory=list)
    direct_task: int | None = None
    id: Any = None


def _outputs_of(cls: type) -> dict[str, list[str]]:
    from streamparse.dsl.stream import Stream

    out: dict[str, list[str]] = {}
    for o in getattr(cls, "outputs", None) or []:
        if isinstance(o, Stream):
            out[o.name] = list(o.fields)
        elif isinstance(o, str):
            out.setdefault("default", []).append(o)
    return out


class _Harness:
    def __init__(
        self,
        cls: type,
        conf: Mapping[str, Any] | None,
        component: str,
        task: int,
        inputs: Mapping[Any, Sequence[str]] | None,
        task_ids: Sequence[int] | None,
    ) -> None:
        self.cls = cls
        self.component = component
        self.task = task
        self.task_ids = list(task_ids) if task_ids is not None else [task + 1]
        self.emits: list[Emit] = []
        self.acked: list[Any] = []
        self.failed: list[Any] = []
        self.errors: list[str] = []
        self.logs: list[tuple[int, str]] = []
        self.metrics: list[tuple[str, Any]] = []
        self.syncs = 0
        source_fields: dict[str, dict[str, list[str]]] = {}
        for key, fields in (inputs or {}).items():
            comp, stream = (key, "default") if isinstance(key, str) else key
            source_fields.setdefault(comp, {})[stream] = list(fields)
        outputs = _outputs_of(cls)
        context = {
            "task->component": {str(task): component},
            "taskid": task,
            "componentid": component,
            "streams": sorted(outputs),
            "stream->outputfields": outputs,
            "source->stream->fields": source_fields,
        }
        full_conf = {"topology.name": "test"}
        full_conf.update(conf or {})
        import tempfile

        self._piddir = tempfile.TemporaryDirectory(prefix="squall-harness-")
        self.host = InlineHost(
            cls, self._on_message, self._on_death, f"{component}[task {task}]", raise_errors=True
        )
        self.host.start({"conf": full_conf, "context": context, "pidDir": self._piddir.name})
        self.instance = self.host.component

    def _on_death(self, reason: str) -> None:  # raise_errors=True: exceptions propagate instead
        self.errors.append(reason)

    def _on_message(self, msg: Any) -> None:
        command = msg.get("command") if isinstance(msg, dict) else None
        if command == "emit":
            emit = Emit(
                msg.get("stream") or "default",
                list(msg.get("tuple") or []),
                list(msg.get("anchors") or []),
                msg.get("task"),
                msg.get("id"),
            )
            self.emits.append(emit)
            if msg.get("need_task_ids", True) and msg.get("task") is None:
                self.host.send_task_ids(list(self.task_ids))
        elif command == "ack":
            self.acked.append(msg.get("id"))
        elif command == "fail":
            self.failed.append(msg.get("id"))
        elif command == "log":
            self.logs.append((int(msg.get("level", 2)), str(msg.get("msg"))))
        elif command == "error":
            self.errors.append(str(msg.get("msg")))
        elif command == "metrics":
            self.metrics.append((str(msg.get("name")), msg.get("params")))
        elif command == "sync":
            self.syncs += 1
        else:
            raise AssertionError(f"{self.component} sent an unknown message: {msg!r}")

    def _drive(self, message: Any) -> list[Emit]:
        before = len(self.emits)
        self.host.send(message)
        self.host.run(1)
        return self.emits[before:]

    def emitted(self, stream: str | None = "default") -> list[list[Any]]:
        """Values emitted on `stream` (all streams with None), in order."""
        return [e.values for e in self.emits if stream is None or e.stream == stream]

    def letters(self, stream: str = "invalid") -> list[list[Any]]:
        """The items of every packed batch emitted on `stream` (the reference pipeline's `invalid` letters
        [reason, detail, payload bytes, source] or `late` events), in order."""
        from squall.pipeline.tuples import unpack_batch

        return [item for values in self.emitted(stream) for item in unpack_batch(values[0])]

    def close(self) -> None:
        self._piddir.cleanup()


class BoltHarness(_Harness):
    """Drives one bolt. `inputs` maps source component (or (component, stream)) to field names, so the
    bolt gets namedtuple values as under Storm; `task_ids` is the reply to emits that ask for task ids.

    Without `inputs`, `process` takes either positional values (the bolt sees a plain tuple: `tup.values[0]`)
    or a dict of field -> value, which declares those fields for that source and stream (`tup.values.word`).
    A bolt that reads a field by name from a source whose fields the harness does not know gets a
    ConfigError saying which `inputs=` to pass."""

    def __init__(
        self,
        bolt_cls: type,
        conf: Mapping[str, Any] | None = None,
        *,
        component: str = "bolt",
        task: int = 1,
        inputs: Mapping[Any, Sequence[str]] | None = None,
        task_ids: Sequence[int] | None = None,
    ) -> None:
        super().__init__(bolt_cls, conf, component, task, inputs, task_ids)
        self._next = 0
        self._fields: dict[tuple[str, str], list[str]] = {}
        for key, fields in (inputs or {}).items():
            comp, stream = (key, "default") if isinstance(key, str) else key
            self._fields[(comp, stream)] = list(fields)

    def _declare(self, component: str, stream: str, fields: list[str]) -> None:
        """Give tuples from (component, stream) named fields from now on, as `inputs=` would have."""
        from collections import namedtuple

        known = self._fields.get((component, stream))
        if known is not None and known != fields:
            raise ConfigError(
                "BoltHarness.process(values)",
                f"the keys {fields} differ from the fields {known} of {component}/{stream}",
                "pass exactly those keys, or positional values in that order",
            )
        if known is None:
            self._fields[(component, stream)] = fields
            types: dict[str, dict[str, Any]] = self.instance._source_tuple_types
            types[component][stream] = namedtuple(f"{component}_{stream}_Tuple".replace(".", "_"), fields)

    def process(
        self,
        values: Sequence[Any] | Mapping[str, Any],
        stream: str = "default",
        component: str = "spout",
        id: str | None = None,
        task: int = 0,
    ) -> str:
        """Deliver one tuple; returns its id (look for it in `acked`/`failed`).

        `values` is positional (a list or tuple) or a dict of field -> value (see the class docstring)."""
        if isinstance(values, Mapping):
            self._declare(component, stream, [str(k) for k in values])
            values = list(values.values())
        self._next += 1
        tid = id if id is not None else f"t{self._next}"
        message = {"id": tid, "comp": component, "stream": stream, "task": task, "tuple": list(values)}
        try:
            self._drive(message)
        except AttributeError as exc:
            obj = getattr(exc, "obj", None)
            unnamed = isinstance(obj, tuple) and not hasattr(obj, "_fields")
            if not unnamed or (component, stream) in self._fields:
                raise
            where = component if stream == "default" else (component, stream)
            raise ConfigError(
                "BoltHarness(inputs=...)",
                f"the bolt read the field {exc.name!r} of a tuple from {component}/{stream}, "
                "whose field names the harness was not given",
                f"pass inputs={{{where!r}: [{exc.name!r}, ...]}}, or process({{{exc.name!r}: ...}})",
            ) from exc
        return tid

    def tick(self, freq: int = 1) -> str:
        self._next += 1
        tid = f"tick{self._next}"
        self._drive(
            {"id": tid, "comp": SYSTEM_COMPONENT, "stream": TICK_STREAM, "task": SYSTEM_TASK, "tuple": [freq]}
        )
        return tid

    def heartbeat(self) -> bool:
        """Send a heartbeat tuple; True if the bolt answered `sync` as Storm requires."""
        before = self.syncs
        self._next += 1
        self._drive(
            {
                "id": f"hb{self._next}",
                "comp": None,
                "stream": HEARTBEAT_STREAM,
                "task": SYSTEM_TASK,
                "tuple": [],
            }
        )
        return self.syncs > before


class SpoutHarness(_Harness):
    """Drives one spout: `next_tuple()`, `ack(id)`, `fail(id)`, `activate()`, `deactivate()`.
    Each returns the emits made while handling that command."""

    def __init__(
        self,
        spout_cls: type,
        conf: Mapping[str, Any] | None = None,
        *,
        component: str = "spout",
        task: int = 1,
        task_ids: Sequence[int] | None = None,
    ) -> None:
        super().__init__(spout_cls, conf, component, task, None, task_ids)

    def next_tuple(self) -> list[Emit]:
        return self._drive({"command": "next"})

    def ack(self, msg_id: Any) -> list[Emit]:
        return self._drive({"command": "ack", "id": msg_id})

    def fail(self, msg_id: Any) -> list[Emit]:
        return self._drive({"command": "fail", "id": msg_id})

    def activate(self) -> list[Emit]:
        return self._drive({"command": "activate"})

    def deactivate(self) -> list[Emit]:
        return self._drive({"command": "deactivate"})


@dataclass
class RunResult:
    summary: Summary
    captured: list[Emitted]
    logs: list[LogRecord]

    @property
    def errors(self) -> list[TaskError]:
        return self.summary.errors

    @property
    def reason(self) -> str:
        return self.summary.reason

    def stats(self, component: str) -> ComponentStats:
        for c in self.summary.components:
            if c.name == component:
                return c
        raise KeyError(f"no component {component!r}: {[c.name for c in self.summary.components]}")

    def emitted(self, component: str, stream: str | None = "default") -> list[list[Any]]:
        """Values `component` emitted on `stream` (all streams with None), in emit order."""
        return [
            e.values
            for e in self.captured
            if e.component == component and (stream is None or e.stream == stream)
        ]

    def emits(self, component: str) -> list[Emitted]:
        return [e for e in self.captured if e.component == component]


def run_topology(
    topology: type,
    conf: Mapping[str, Any] | None = None,
    *,
    until_idle: float | None = 1.0,
    duration: float | None = None,
    inline: bool = True,
    seed: int | None = 0,
    par: Mapping[str, int] | None = None,
    project: Path | None = None,
    env: str | None = None,
    serializer: str | None = None,
    clock: Clock | None = None,
    stop_when: Callable[[Cluster], bool] | None = None,
    on_step: Callable[[Cluster], None] | None = None,
    drain_secs: float = 5.0,
    extra_resources: Sequence[Path] | None = None,
) -> RunResult:
    """Run `topology` (a streamparse Topology class) locally and return what happened.

    `conf` adds Storm options on top of the topology's `config` (and of config.json's env options when
    `project` is given). Stops after `duration`, after `until_idle` seconds with nothing in flight, or when
    `stop_when(cluster)` is true; then spouts are deactivated and in-flight tuples drained (bounded).
    `extra_resources` are files linked into the staged resources/ folder (e.g. Storm's storm.py, storm.js).
    """
    proj = load_project(project) if project is not None else None
    cli_par = {k: str(v) for k, v in (par or {}).items()}
    env = _test_env(proj, env)
    the_plan = plan_for(topology, proj, env, cli_par, None, extra_conf=dict(conf or {}))
    summary, cluster = execute(
        the_plan,
        inline=inline,
        duration=duration,
        until_idle=until_idle,
        seed=seed,
        clock=clock,
        capture=True,
        serializer=serializer,
        stop_when=stop_when,
        on_step=on_step,
        drain_secs=drain_secs,
        extra_resources=list(extra_resources or []),
    )
    return RunResult(summary, cluster.emitted, cluster.logs)


def _test_env(project: Project | None, env: str | None) -> str | None:
    """The env a test run uses: `env`, else `local` when the project has it (the CLI instead asks for -e
    whenever config.json has several envs, as streamparse does)."""
    if env is None and project is not None and "local" in project.env_names:
        return "local"
    return env


CODE_FOLDERS = ("topologies", "spouts", "bolts")


@dataclass(frozen=True)
class IsolatedProject:
    """A project folder whose config.json gives one run its own Kafka topics, consumer group, Cassandra keyspace
    and SQLite file. `pipeline` is the pipeline section for `env` as the run sees it (top-level deep-merged with
    the env's); `kafka`/`cassandra` are its settings."""

    root: Path
    config: dict[str, Any]
    env: str | None
    pipeline: dict[str, Any]
    kafka: KafkaSettings
    cassandra: CassandraSettings

    @property
    def config_path(self) -> Path:
        return self.root / "config.json"

    @property
    def sqlite_path(self) -> Path:
        return Path(self.pipeline["sqlite"]["path"])


def isolated_pipeline_project(
    dest: Path,
    run_id: str,
    *,
    prefix: str,
    source: Path,
    env: str | None = "dev",
    pipeline: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    parallelism: Mapping[str, int] | None = None,
    link_code: bool = True,
) -> IsolatedProject:
    """Write `dest`/config.json: `source`'s config.json with this run's names, so reruns and concurrent runs on
    the same services never see each other's data:

    - Kafka topics `<prefix>.events|dlq|alerts.<run_id>`, consumer group `<prefix>.<run_id>`,
      Cassandra keyspace `<prefix>_<run_id>` (dots become underscores), SQLite file `dest`/state/pipeline.db;
      set in `envs.<env>.pipeline`, or in the top-level `pipeline` when `env` is None;
    - then `pipeline` deep-merged into that same section (e.g. {"windows": {"idle_timeout_s": 1}});
    - `options` merged into `envs.<env>.options`; `parallelism` *replaces* `envs.<env>.parallelism`.

    With `link_code`, `dest`/topologies, spouts and bolts are symlinks to `source`'s (run the project from
    `dest`); without, only config.json is written (pass it to `sparse submit --config`)."""
    from squall.pipeline.settings import for_env

    config: dict[str, Any] = json.loads((source / "config.json").read_text())
    if env is None:
        if options or parallelism:
            raise ValueError("options and parallelism belong to an env: pass env=")
        section = config.setdefault("pipeline", {})
    else:
        env_conf = config["envs"][env]
        section = env_conf.setdefault("pipeline", {})
        if options:
            env_conf["options"] = {**env_conf.get("options", {}), **options}
        if parallelism is not None:
            env_conf["parallelism"] = dict(parallelism)
    names = {
        "kafka": {
            "events_topic": f"{prefix}.events.{run_id}",
            "dlq_topic": f"{prefix}.dlq.{run_id}",
            "alerts_topic": f"{prefix}.alerts.{run_id}",
            "group_id": f"{prefix}.{run_id}",
        },
        "cassandra": {"keyspace": f"{prefix.replace('.', '_').replace('-', '_')}_{run_id}"},
        "sqlite": {"path": str(dest / "state" / "pipeline.db")},
    }
    section.update(deep_merge(deep_merge(section, names), pipeline or {}))
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    if link_code:
        for folder in CODE_FOLDERS:
            (dest / folder).symlink_to(source / folder, target_is_directory=True)
    validate_config(config)
    project = Project(root=dest, raw=config)
    chosen = _test_env(project, env)
    settings = pipeline_settings(project, chosen)
    # a typo in `pipeline` fails here, not in a task
    typed = for_env(settings, project, project.env(chosen)[0])
    return IsolatedProject(
        root=dest,
        config=config,
        env=env,
        pipeline=settings,
        kafka=typed.kafka,
        cassandra=typed.cassandra,
    )


# Ports a second set of services needs of its own (the rest, e.g. ZooKeeper's, keep their defaults).
PRIVATE_PORTS = ("kafka", "kafka_controller", "cassandra", "cassandra_storage", "cassandra_ssl_storage")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def private_services_context(state: Path, root: Path | None = None) -> Context:
    """An infra Context (squall.infra.api) for Kafka and Cassandra of one's own: free ports on 127.0.0.1, service
    state (data, logs, pid files, the lock) under `state`, the project's infra configs and the shared jar cache.
    Start, stop and restart them with `api.ensure_up`/`api.down` and this context; nothing else is touched."""
    from squall.infra.api import project_root
    from squall.infra.endpoints import DEFAULT_HOST, DEFAULT_PORTS, Endpoints
    from squall.infra.layout import Layout

    ports = dict(DEFAULT_PORTS)
    chosen: set[int] = set()
    for name in PRIVATE_PORTS:
        port = free_port(DEFAULT_HOST)
        while port in chosen:
            port = free_port(DEFAULT_HOST)
        chosen.add(port)
        ports[name] = port
    layout = replace(Layout.for_project(project_root(root)), state=state)
    return Context(layout=layout, endpoints=Endpoints(host=DEFAULT_HOST, ports=ports))


def restore_default_sigint() -> None:
    """`preexec_fn` for a `squall run` started to be stopped with SIGINT (it then drains and prints its summary):
    SIGINT back to its default in the child. A command started in the background by a non-interactive shell
    runs with SIGINT ignored; an ignored signal stays ignored across exec, and Python then installs no
    KeyboardInterrupt handler, so the run would never stop."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
