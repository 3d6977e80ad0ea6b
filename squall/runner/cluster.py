"""One local Storm: tasks (hosted inline or as subprocesses) wired to the router and the acker, driven by a
single-threaded event loop. Both hostings share every semantic; only how a message reaches the component
differs.

Loop step: run inline components on their queued messages, let spouts emit (one command at a time, each
answered by `sync`), flush subprocess pipes, wait on their stdout/stderr, then fire timers (acker rotation,
tick tuples, heartbeats and the subprocess timeout).
"""

from __future__ import annotations

import gc
import logging
import random
import selectors
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from squall.clock import Clock, SystemClock
from squall.errors import ComponentError
from squall.protocol import framing_for
from squall.runner.acker import Acker, Outcome
from squall.runner.debug import is_debug, logging_route
from squall.runner.executor import BoltExecutor, SpoutExecutor, TaskExecutor
from squall.runner.graph import ComponentDef, Graph
from squall.runner.grouping import Router, RoutingError
from squall.runner.inline import InlineHost, load_class
from squall.runner.metrics import (
    DEFAULT_WINDOW_SECS,
    SAMPLE_PERIOD_SECS,
    ComponentStats,
    TaskMetrics,
    Window,
    roll_up,
)
from squall.runner.shell import ShellHost, command_line
from squall.runner.tracebacks import PathMapper, has_traceback

log = logging.getLogger("squall.runner")

DEFAULT_TIMEOUT_SECS = 30
DEFAULT_SUBPROCESS_TIMEOUT_SECS = (
    30  # Storm: topology.subprocess.timeout.secs, else supervisor.worker.timeout.secs
)
HEARTBEAT_PERIOD_SECS = 1.0
HANDSHAKE_WALL_SECS = 60.0
INLINE_BUDGET = 2000
# Storm's topology.executor.receive.buffer.size: a task with this many messages queued for it (delivered by
# the runner, not yet taken by the component) pauses every spout until it catches up (Storm 2 backpressure).
DEFAULT_RECEIVE_BUFFER = 32768
# The cyclic collector's first-generation threshold while a cluster runs. Each tuple allocates a few
# containers (its pending entry, its tree's edge map, decoded messages), most freed within a few steps; with
# CPython's default (700) a collection ran every ~100 tuples and took ~0.5 us a tuple inline, ~1 us in a
# process-hosted runner. Nothing the runner makes per tuple holds a reference cycle (reference counting frees
# it), so cycles are still collected, just less often. The previous setting is restored by `close`.
RUN_GEN0_THRESHOLD = 20_000
_LEVELS = {0: logging.DEBUG, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}


@dataclass
class TaskError:
    component: str
    task: int
    message: str
    kind: str = "error"  # "error" (reported by the component) | "died" (the runner restarted it)
    count: int = 1  # the same report from the same task, this many times in a row

    @property
    def signature(self) -> str:
        """What makes two reports the same: the last line (the exception, for a traceback)."""
        return last_line(self.message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "task": self.task,
            "kind": self.kind,
            "count": self.count,
            "message": self.message,
        }


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


@dataclass
class LogRecord:
    component: str
    task: int
    level: int
    message: str


@dataclass
class Emitted:
    component: str
    stream: str
    values: list[Any]
    anchors: list[Any] | None
    task: int


@dataclass
class Summary:
    topology: str
    hosting: str
    seconds: float
    reason: str
    components: list[ComponentStats]
    errors: list[TaskError] = field(default_factory=list)
    pending_trees: int = 0
    # component -> user tuples its tasks never acked or failed although their trees already finished (timed
    # out or failed): Storm does not wait for them, and neither does --until-idle
    held: dict[str, int] = field(default_factory=dict)
    # component -> tuples that belong to no tree, never acked, held longer than topology.message.timeout.secs
    held_untracked: dict[str, int] = field(default_factory=dict)
    gave_up: list[str] = field(default_factory=list)  # tasks the runner stopped restarting, and why

    @property
    def failed(self) -> bool:
        """The run stopped on a task that kept dying, or ended with dead tasks."""
        return self.reason == "fatal" or bool(self.gave_up)

    def as_dict(self) -> dict[str, Any]:
        return {
            "topology": self.topology,
            "hosting": self.hosting,
            "seconds": round(self.seconds, 3),
            "stopped_because": self.reason,
            "pending_trees": self.pending_trees,
            "held": dict(self.held),
            "held_untracked": dict(self.held_untracked),
            "gave_up": list(self.gave_up),
            "components": [c.as_dict() for c in self.components],
            "errors": [e.as_dict() for e in self.errors],
        }


def _int_option(conf: dict[str, Any], key: str, default: int | None) -> int | None:
    value = conf.get(key, default)
    return None if value is None else int(value)


class Cluster:
    def __init__(
        self,
        graph: Graph,
        conf: dict[str, Any],
        *,
        resources: Path | None = None,
        serializer: str = "json",
        inline: bool = False,
        clock: Clock | None = None,
        seed: int | None = None,
        capture: bool = False,
        max_restarts: int = 10,
        on_log: Callable[[LogRecord], None] | None = None,
        window_secs: float = DEFAULT_WINDOW_SECS,
    ) -> None:
        """`window_secs`: the sliding window capacity and rates are measured over (squall.runner.metrics)."""
        self.graph = graph
        self.conf = dict(conf)
        self.conf.setdefault("topology.name", graph.name)
        self.resources = resources or Path.cwd()
        self.serializer = serializer
        self.framing = framing_for(serializer)
        self.inline = inline
        self.clock = clock or SystemClock()
        self.now = self.clock.now()
        self.rng = random.Random(seed)
        self._bits = self.rng.getrandbits
        self.router = Router(graph, self.rng)
        # the Engine's `route`: the router's own (no call in between; executors call it once per emit)
        self.route: Callable[[int, str, str, Any, int | None], list[int]] = self.router.route
        # (task, stream) -> (arity, tasks) where a stream's emits always go to the same tasks, for executors
        # to skip `route`; None under topology.debug (every emit goes through the logging `route`)
        self.fixed_route: Callable[[int, str], tuple[int, list[int]] | None] | None = self.router.fixed
        if is_debug(self.conf):  # topology.debug: each emit logged as Storm logs it
            self.route = logging_route(self.router.route)
            self.fixed_route = None
        self.capture = capture
        self.max_restarts = max_restarts
        self.on_log = on_log
        ackers = _int_option(self.conf, "topology.acker.executors", None)
        self.timeout_secs: float = (
            _int_option(self.conf, "topology.message.timeout.secs", DEFAULT_TIMEOUT_SECS)
            or DEFAULT_TIMEOUT_SECS
        )
        self.acker: Acker | None = None if ackers == 0 else Acker(self.timeout_secs, self.now)
        self.max_spout_pending = _int_option(self.conf, "topology.max.spout.pending", None)
        self.receive_buffer = max(
            1,
            _int_option(self.conf, "topology.executor.receive.buffer.size", DEFAULT_RECEIVE_BUFFER)
            or DEFAULT_RECEIVE_BUFFER,
        )
        self.backpressure_pauses = 0  # loop steps in which spouts were held back by a full task queue
        sub = self.conf.get("topology.subprocess.timeout.secs") or self.conf.get(
            "supervisor.worker.timeout.secs"
        )
        self.subprocess_timeout = float(sub or DEFAULT_SUBPROCESS_TIMEOUT_SECS)
        self.executors: dict[int, TaskExecutor] = {}
        self.hosts: dict[int, Any] = {}
        self.spouts: list[SpoutExecutor] = []
        self.bolts: list[BoltExecutor] = []
        self._spout_tasks: dict[int, SpoutExecutor] = {}
        self.errors: list[TaskError] = []
        self.logs: list[LogRecord] = []
        self.emitted: list[Emitted] = []
        self.fatal: str | None = None
        self.gave_up: list[str] = []
        self._latest_report: dict[tuple[int, str], TaskError] = {}  # (task, kind) -> its latest report
        self._first_death: dict[int, float] = {}
        self._selector = selectors.DefaultSelector()
        self._fd_host: dict[int, ShellHost] = {}
        self._inline_hosts: list[tuple[int, InlineHost]] = []
        self._shell_hosts: list[tuple[int, ShellHost]] = []
        self._piddir = tempfile.TemporaryDirectory(prefix="squall-pids-")
        self._ticks: list[tuple[float, float, list[BoltExecutor]]] = []
        self._next_heartbeat = self.now + HEARTBEAT_PERIOD_SECS
        self._to_restart: list[int] = []
        self.active = False
        self.started_at = 0.0
        self.last_busy = self.now
        self._wall_started = time.perf_counter()
        self._stopped = False
        self.emit_count = 0
        self._last_error: dict[int, str] = {}
        self._user_paths = PathMapper(self.resources)  # staged resources/ paths -> the project's files
        self._shown: set[tuple[int, str]] = set()  # (task, signature) of tracebacks already printed in full
        self.window = Window(window_secs)
        self._next_sample = 0.0
        self._busy_wall = 0.0  # perf_counter time of the last step that was busy (`last_busy`)
        # bolt task -> its executor's deliver (executors call it straight: the Engine's `deliverers`)
        self._deliver: dict[int, Callable[..., None]] = {}
        self.deliverers = self._deliver
        # (the collector's thresholds before `start`, those it set) while it runs with RUN_GEN0_THRESHOLD
        self._gc_thresholds: tuple[tuple[int, ...], tuple[int, ...]] | None = None
        self.receivers: dict[int, BoltExecutor] = {}  # bolt task -> its executor (filled in once all exist)
        self.edge_bits = self._bits  # edge ids: edge_bits(64) or 1
        self.last_work = (
            0  # work done by the last step; 0 = it only waited (tests advance a ManualClock then)
        )

    # -- building ------------------------------------------------------------------------------------
    def component_conf(self, comp: ComponentDef) -> dict[str, Any]:
        conf = dict(self.conf)
        conf.update(comp.conf)
        return conf

    def hosting(self, comp: ComponentDef) -> str:
        return "inline" if self.inline and comp.is_python else "process"

    def start(self) -> None:
        """Create every task, handshake it, activate spouts."""
        previous = gc.get_threshold()
        if previous[0] and previous[0] < RUN_GEN0_THRESHOLD:  # 0: the collector is off, leave it so
            self._gc_thresholds = (previous, (RUN_GEN0_THRESHOLD, *previous[1:]))
            gc.set_threshold(*self._gc_thresholds[1])
        self.now = self.clock.now()
        self.started_at = self.now
        self.last_busy = self.now
        for comp in self.graph.components.values():
            for task in comp.tasks:
                if comp.kind == "spout":
                    ex: TaskExecutor = SpoutExecutor(task, comp, self, self.capture, self.max_spout_pending)
                    self.spouts.append(ex)  # type: ignore[arg-type]
                else:
                    ex = BoltExecutor(task, comp, self, self.capture)
                    self.bolts.append(ex)
                self.executors[task] = ex
        self.spouts.sort(key=lambda e: e.task)
        self._spout_tasks = {s.task: s for s in self.spouts}
        self._deliver.update({b.task: b.deliver for b in self.bolts})
        self.receivers.update({b.task: b for b in self.bolts})
        self.bolts.sort(key=lambda e: e.task)
        for comp in self.graph.components.values():
            if comp.kind != "bolt":
                continue
            freq = self.component_conf(comp).get("topology.tick.tuple.freq.secs")
            if freq:
                tasks = [self.executors[t] for t in comp.tasks]
                self._ticks.append((float(freq), self.now + float(freq), tasks))  # type: ignore[arg-type]
        for task in sorted(self.executors):
            self._launch(task)
        self.active = True
        for spout in self.spouts:
            spout.active = True
            spout.tell({"command": "activate"})

    def _launch(self, task: int) -> None:
        ex = self.executors[task]
        comp = ex.component
        handshake = {
            "conf": self.component_conf(comp),
            "context": self.graph.context(task),
            "pidDir": self._piddir.name,
        }
        label = f"{comp.name}[task {task}]"

        def on_death(reason: str, task: int = task) -> None:
            self.task_died(task, reason)

        if self.hosting(comp) == "inline":
            cls = comp.component_cls or load_class(comp.class_path)
            timed = ex.metrics if isinstance(ex, BoltExecutor) else None
            host: Any = InlineHost(
                cls, ex.handle, on_death, label, serializer=self.serializer, metrics=timed, executor=ex
            )
            self._inline_hosts.append((task, host))
            self._inline_hosts.sort(key=lambda p: p[0])
        else:
            serializer = self.serializer if comp.is_python else None
            argv = command_line(
                comp.command, comp.script if not comp.is_python else comp.class_path, serializer
            )
            host = ShellHost(
                argv, self.resources, self.framing, ex.handle, on_death, label, on_messages=ex.handle_all
            )

            def on_ready(ex: TaskExecutor = ex) -> None:
                ex.last_heard = self.now  # heartbeat checks start once the handshake is answered

            host.on_ready = on_ready
            self._shell_hosts.append((task, host))
        self.hosts[task] = host
        ex.host = host
        ex.last_heard = self.now
        ex.ready = True
        host.start(handshake)
        if isinstance(ex, SpoutExecutor) and self.active and ex.active:
            ex.tell({"command": "activate"})  # a restarted spout is opened and activated again, as by Storm
        if isinstance(host, ShellHost) and host.alive:
            for fd in host.fds:
                self._selector.register(fd, selectors.EVENT_READ, host)
                self._fd_host[fd] = host

    # -- the Engine interface used by executors ------------------------------------------------------
    def deliver(
        self,
        task: int,
        comp: str,
        stream: str,
        src_task: int,
        values: Any,
        msgid: dict[int, int] | None,
        events: int = 1,
    ) -> None:
        self._deliver[task](comp, stream, src_task, values, msgid, events)

    def edge_id(self) -> int:
        return self._bits(64) or 1

    def finished(self, outcome: Outcome | None) -> None:
        if outcome is None:
            return
        spout = self._spout_tasks.get(outcome.spout_task)
        if spout is not None:
            spout.outcome(outcome)

    def trees_acked(self, trees: list[tuple[int, int, int]]) -> None:
        """`finished` for a run of completed trees, in order: (spout task, root, completed at ns)."""
        spouts = self._spout_tasks
        if len(spouts) == 1:  # every tree is that spout's (a spout ignores roots not its own)
            for spout in spouts.values():
                spout.trees_acked(trees)
            return
        by_task: dict[int, list[tuple[int, int, int]]] = {}
        for tree in trees:
            by_task.setdefault(tree[0], []).append(tree)
        for task, mine in by_task.items():
            spout = spouts.get(task)
            if spout is not None:
                spout.trees_acked(mine)

    def component_log(self, task: int, level: int, text: str) -> None:
        text = self._user_paths(text)
        rec = LogRecord(self.graph.task_component[task], task, level, text)
        if len(self.logs) < 10_000:
            self.logs.append(rec)
        if self.on_log is not None:
            self.on_log(rec)
        elif level >= 4 and has_traceback(text) and not self._first_showing(task, text):
            pass  # the same traceback from the same task, already printed in full: counted in the summary
        else:
            logging.getLogger(f"squall.component.{rec.component}").log(
                _LEVELS.get(level, logging.INFO), "[task %d] %s", task, text
            )

    def _report(self, err: TaskError) -> bool:
        """Record `err`; the same report as the task's previous one of its kind only counts again.
        True when it is new (worth logging)."""
        key = (err.task, err.kind)
        latest = self._latest_report.get(key)
        if latest is not None and latest.signature == err.signature:
            latest.count += 1
            return False
        self.errors.append(err)
        self._latest_report[key] = err
        return True

    def _first_showing(self, task: int, text: str) -> bool:
        """True the first time `task` shows a failure with this signature (print it in full), else False."""
        key = (task, last_line(text))
        if key in self._shown:
            return False
        self._shown.add(key)
        return True

    def component_error(self, task: int, text: str) -> None:
        text = self._user_paths(text)
        err = TaskError(self.graph.task_component[task], task, text)
        self._last_error[task] = text
        if self._report(err):
            if self._first_showing(task, text):
                log.error("%s[task %d] reported an error: %s", err.component, task, text)
            else:
                first = text.strip().splitlines()[0] if text.strip() else ""
                log.error(
                    "%s[task %d] reported an error: %s (traceback above): %s",
                    err.component,
                    task,
                    first,
                    err.signature,
                )

    def component_metric(self, task: int, name: str, value: Any) -> None:
        log.debug("metric %s[task %d] %s=%r", self.graph.task_component[task], task, name, value)

    def captured(
        self, component: str, stream: str, values: Any, anchors: list[Any] | None, task: int
    ) -> None:
        self.emitted.append(Emitted(component, stream, list(values), anchors, task))

    def task_died(self, task: int, reason: str) -> None:
        ex = self.executors[task]
        host = self.hosts.get(task)
        tail = self._user_paths(host.stderr_tail() if host is not None else "")
        reason = self._user_paths(reason)
        raised = last_line(reason) if has_traceback(reason) else ""
        if raised and not self._first_showing(task, reason):
            reason = f"{reason.strip().splitlines()[0].rstrip(':')} (traceback above)\n{raised}"
        text = f"{ex.name}[task {task}] died: {reason}"
        last = self._last_error.pop(task, None)
        cause = last_line(last) if last else ""
        if last and cause == raised:
            pass  # the exception it died of is the error it reported: shown once
        elif last and (task, cause) in self._shown:
            text += f"\n--- last error it reported (traceback above) ---\n{cause}"
        elif last:
            self._shown.add((task, cause))
            text += f"\n--- last error it reported ---\n{last}"
        if tail and not (cause and cause in tail and (task, cause) in self._shown):
            text += f"\n--- stderr (last lines) ---\n{tail}"
        err = TaskError(ex.name, task, text, kind="died")
        if self._report(err):
            log.error("%s", text)
        else:
            log.info("%s[task %d] died again, the same way: %s", ex.name, task, err.signature)
        self._retire(task)
        ex.died()
        ex.ready = False
        if self._stopped:
            return
        first = self._first_death.setdefault(task, self.now)
        if ex.metrics.restarts >= self.max_restarts:
            why = raised or cause or last_line(text) or reason
            latest = self._latest_report.get((task, "died"))
            if latest is not None and latest.count > 1 and latest.count >= ex.metrics.restarts:
                why = f"died {latest.count} times with the same error: {why}"
            gave_up = (
                f"{ex.name} task {task}: gave up after {ex.metrics.restarts} restarts in "
                f"{self.now - first:.0f} s: {why}"
            )
            self.gave_up.append(gave_up)
            self.fatal = gave_up
            log.error("%s", gave_up)
            return
        ex.metrics.restarts += 1
        self._to_restart.append(task)

    def _retire(self, task: int) -> None:
        host = self.hosts.pop(task, None)
        if host is None:
            return
        if isinstance(host, ShellHost):
            if host.proc is not None:
                for fd in host.fds:
                    if fd in self._fd_host:
                        self._selector.unregister(fd)
                        del self._fd_host[fd]
            host.stop()
            self._shell_hosts = [(t, h) for t, h in self._shell_hosts if h is not host]
        else:
            host.stop()
            self._inline_hosts = [(t, h) for t, h in self._inline_hosts if h is not host]

    # -- the loop ------------------------------------------------------------------------------------
    def backpressured(self) -> bool:
        """Storm 2 backpressure: some bolt task has a full receive queue (tuples queued for it and not yet
        handed to its component). Tuples it executed but has not acked yet do not count: they are bounded by
        topology.max.spout.pending only (a windowing bolt legitimately holds many)."""
        limit = self.receive_buffer
        hosts = self.hosts
        for b in self.bolts:
            host = hosts.get(b.task)
            if host is not None and host.queued() >= limit:
                return True
        return False

    def in_flight(self) -> int:
        """What a run is still waiting for, as Storm sees it: trees a spout waits on, plus tuples of no tree
        (unreliable emits, no ackers) a bolt holds for less than topology.message.timeout.secs. A tuple a bolt
        never acks once its tree timed out is held, not in flight (`Summary.held`). 0 = nothing."""
        n = self.acker.open_trees() if self.acker is not None else 0
        if n:
            return n
        now, timeout = self.now, self.timeout_secs
        for b in self.bolts:
            if b.loose and b.live_loose(now, timeout):
                n += 1
        return n

    def step(self, max_wait: float = 0.05) -> int:
        """One loop iteration. Returns how much work it did (0 = idle)."""
        self.now = self.clock.now()
        emits_before = self._spout_emits()
        work = 0
        for _, host in list(self._inline_hosts):
            if host.has_work():
                work += host.run(INLINE_BUDGET)
        if self._to_restart:
            pending, self._to_restart = self._to_restart, []
            for task in pending:
                self._launch(task)
                work += 1
        pressured = self.backpressured()
        if pressured:
            self.backpressure_pauses += 1
        wall = time.perf_counter()
        if wall >= self._next_sample and self.active:
            self._next_sample = wall + SAMPLE_PERIOD_SECS
            self.window.sample(self.task_metrics(), wall)
        for spout in self.spouts:
            if not spout.ready:
                continue
            if spout.commands:
                if spout.pump():
                    work += 1
                continue
            if not pressured and spout.can_next():
                if spout.last_next_empty and wall < spout.sleep_until:
                    continue  # Storm's sleep spout wait strategy: a `next` that emitted nothing waits 1 ms
                spout.pump()
                work += 1
        if self._inline_hosts:
            for _, host in list(self._inline_hosts):
                if host.has_work():
                    work += host.run(INLINE_BUDGET)
        work += self._io(0.0 if work else max_wait)
        self._timers()
        if self._spout_emits() != emits_before or self.in_flight() or self._to_restart or self._starting():
            self.last_busy = self.now
            self._busy_wall = wall
        self.last_work = work
        return work

    def _io(self, wait: float) -> int:
        if not self._shell_hosts:
            if wait > 0 and not any(h.has_work() for _, h in self._inline_hosts):
                time.sleep(min(wait, 0.002))
            return 0
        for _, host in self._shell_hosts:
            if host.wants_write():
                host.flush()
        for _, host in self._shell_hosts:
            if host.wants_write():
                wait = min(wait, 0.001)
                break
        work = 0
        events = self._selector.select(wait)
        for key, _ in events:
            host = key.data
            work += host.on_readable(key.fd) + 1
        # What the messages just read produced is written at the top of the next call, together with what
        # the spouts are sent in between: one write per pipe per loop step.
        return work

    def _timers(self) -> None:
        now = self.now
        if self.acker is not None and self.acker.due(now):
            for outcome in self.acker.tick(now):
                self.finished(outcome)
        for i, (freq, due, tasks) in enumerate(self._ticks):
            if now >= due:
                for ex in tasks:
                    if ex.ready:
                        ex.tick(freq)
                due += freq
                if due <= now:  # far behind (a long pause): skip missed ticks, as a timer would
                    due = now + freq
                self._ticks[i] = (freq, due, tasks)
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + HEARTBEAT_PERIOD_SECS
            self._heartbeats(now)

    def _heartbeats(self, now: float) -> None:
        limit = self.subprocess_timeout
        for task, host in list(self._shell_hosts):
            ex = self.executors[task]
            if not ex.ready or not host.alive:
                continue
            if host.pid is None:
                waited = time.monotonic() - host.started_wall
                if waited > max(limit, HANDSHAKE_WALL_SECS):
                    self.task_died(task, f"no pid reply to the handshake after {waited:.0f}s")
                continue
            if isinstance(ex, BoltExecutor):
                if now - ex.last_heard > limit:
                    self.task_died(
                        task,
                        f"subprocess heartbeat timeout: no message for {now - ex.last_heard:.1f}s "
                        f"(topology.subprocess.timeout.secs={limit:g})",
                    )
                    continue
                ex.heartbeat()
            elif isinstance(ex, SpoutExecutor):
                if ex.awaiting_sync and now - ex.waiting_since > limit and now - ex.last_heard > limit:
                    self.task_died(
                        task,
                        f"subprocess heartbeat timeout: no sync for {now - ex.waiting_since:.1f}s "
                        f"(topology.subprocess.timeout.secs={limit:g})",
                    )
        for task, host in self._inline_hosts:
            ex = self.executors[task]
            if isinstance(ex, BoltExecutor) and ex.ready and host.alive:
                ex.heartbeat()

    # -- running and stopping ------------------------------------------------------------------------
    def _spout_emits(self) -> int:
        return sum(s.metrics.emitted for s in self.spouts)

    def _starting(self) -> bool:
        """A subprocess has not answered its handshake yet, or a spout has commands (activate, acks, ...) not
        sent or not answered yet: a spout still working through its acks is not idle."""
        for _, host in self._shell_hosts:
            if host.alive and host.pid is None:
                return True
        return any(s.commands or s.answering_commands for s in self.spouts if s.ready)

    def idle_for(self) -> float:
        return self.now - self.last_busy

    def run(
        self,
        duration: float | None = None,
        until_idle: float | None = None,
        stop_when: Callable[[Cluster], bool] | None = None,
        on_step: Callable[[Cluster], None] | None = None,
    ) -> str:
        """Run until `duration` passed, nothing happened for `until_idle` seconds, `stop_when` says so, or a
        task keeps dying. Returns why it stopped. Time is the cluster's clock."""
        if not self.active:
            self.start()
        start = self.now
        while True:
            self.step()
            if on_step is not None:
                on_step(self)
            if self.fatal:
                return "fatal"
            if stop_when is not None and stop_when(self):
                return "condition"
            if duration is not None and self.now - start >= duration:
                return "duration"
            if until_idle is not None and self.idle_for() >= until_idle and self._spouts_quiet():
                # capacity and rates over the window that ended when the work did, not over the idle wait
                self.window.freeze(self.task_metrics(), busy_until=self._busy_wall)
                return "idle"

    def _spouts_quiet(self) -> bool:
        return all(not s.commands and not s.roots for s in self.spouts)

    def task_metrics(self) -> list[tuple[int, str, TaskMetrics]]:
        """(task, kind, its counters) for every task."""
        return [(t, ex.kind, ex.metrics) for t, ex in self.executors.items()]

    def deactivate(self) -> None:
        if self.active:
            self.window.freeze(self.task_metrics())  # capacity and rates: the window up to the stop
        self.active = False
        for spout in self.spouts:
            if spout.active:
                spout.active = False
                spout.tell({"command": "deactivate"})

    def drain(self, max_seconds: float = 5.0) -> bool:
        """Deactivate spouts and let in-flight tuples finish, for at most `max_seconds` of real time."""
        self.deactivate()
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline and not self.fatal:
            self.step(max_wait=0.01)
            if (
                not self.in_flight()
                and all(len(b.pending) == b.user_pending for b in self.bolts)  # ticks not taken yet
                and all(not s.commands and not s.awaiting_sync for s in self.spouts if s.ready)
            ):
                return True
        return False

    def close(self) -> None:
        """Stop every task (bounded: stdin closed, a short grace, then SIGKILL)."""
        self._stopped = True
        for _, host in list(self._shell_hosts):
            try:
                host.proc.stdin.close()  # type: ignore[union-attr]
            except (OSError, AttributeError):
                pass
        deadline = time.monotonic() + 1.0
        for task in list(self.hosts):
            host = self.hosts[task]
            if isinstance(host, ShellHost) and host.proc is not None:
                try:
                    host.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except Exception:  # noqa: BLE001 - any failure: it is killed below
                    pass
            self._retire(task)
        self._selector.close()
        self._piddir.cleanup()
        if self._gc_thresholds is not None:
            previous, ours = self._gc_thresholds
            self._gc_thresholds = None
            if gc.get_threshold() == ours:  # unless something else changed it meanwhile
                gc.set_threshold(*previous)

    def summary(self, reason: str) -> Summary:
        """Every component's figures so far; capacity and rates over the window (up to the stop, once the
        spouts were deactivated)."""
        secs, deltas = self.window.span(self.task_metrics())
        stats = []
        for name in sorted(self.graph.components):
            comp = self.graph.components[name]
            ids = [t for t in comp.tasks if t in self.executors]
            tasks = [self.executors[t].metrics for t in ids]
            spans = [deltas.get(t, (0, 0, 0)) for t in ids] if secs > 0 else None
            if spans is None:
                secs = time.perf_counter() - self._wall_started  # no sample yet: the whole run so far
            stats.append(roll_up(name, comp.kind, self.hosting(comp), tasks, secs, spans, task_ids=ids))
        held: dict[str, int] = {}
        untracked: dict[str, int] = {}
        for b in self.bolts:
            if b.user_pending:
                orphaned, loose = b.held(self.now, self.timeout_secs)
                if orphaned:
                    held[b.name] = held.get(b.name, 0) + orphaned
                if loose:
                    untracked[b.name] = untracked.get(b.name, 0) + loose
        return Summary(
            topology=self.graph.name,
            hosting="inline" if self.inline else "process",
            seconds=self.now - self.started_at,
            reason=reason,
            components=stats,
            errors=list(self.errors),
            pending_trees=self.acker.open_trees() if self.acker is not None else 0,
            held=held,
            held_untracked=untracked,
            gave_up=list(self.gave_up),
        )


def require_healthy(cluster: Cluster) -> None:
    if cluster.fatal:
        raise ComponentError(cluster.fatal)


__all__ = ["Cluster", "Summary", "TaskError", "LogRecord", "Emitted", "RoutingError"]
