"""Per-task semantics: what Storm's ShellBolt / ShellSpout and their executors do with each multilang message.

An executor does not know how its component is hosted (subprocess or in-process object): it receives the
component's messages through `handle` and talks back through its host's `send`. Routing goes to the
Router, tree bookkeeping to the Acker, both reached through the Engine (the cluster).
"""

from __future__ import annotations

import functools
import itertools
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from squall.protocol.carry import UNSERIALIZABLE, describe_lost
from squall.runner.acker import Acker, Outcome
from squall.runner.graph import HEARTBEAT_STREAM, SYSTEM_COMPONENT, SYSTEM_TASK, TICK_STREAM, ComponentDef
from squall.runner.metrics import (
    BUCKET_OF_BITS,
    EXECUTE_METRIC,
    EventCounter,
    TaskMetrics,
    custom_metric,
)

_perf = time.perf_counter
_perf_ns = time.perf_counter_ns
PIPELINED_COMMANDS = 1000
PYSTORM_SEND_FAILED = "Failed to send message: "  # what pystorm logs when its serializer raises
SPOUT_WAIT_SECS = 0.001  # Storm's topology.sleep.spout.wait.strategy.time.ms default


class Host(Protocol):
    """How a task's component is hosted: it accepts messages for the component."""

    def send(self, message: Any) -> None: ...

    def send_tuple(self, tid: str, comp: str, stream: str, task: int, values: Any) -> None:
        """Send the tuple message {"id": tid, "comp": comp, "stream": stream, "task": task, "tuple": values}."""
        ...

    def send_task_ids(self, task_ids: list[int]) -> None: ...


class Engine(Protocol):
    acker: Acker | None
    now: float
    timeout_secs: float

    def route(
        self, task: int, component: str, stream: str, values: Any, direct_task: int | None
    ) -> list[int]: ...

    def deliver(
        self,
        task: int,
        comp: str,
        stream: str,
        src_task: int,
        values: Any,
        msgid: dict[int, int] | None,
        events: int = 1,
    ) -> None: ...

    def edge_id(self) -> int: ...

    def finished(self, outcome: Outcome | None) -> None: ...

    def component_log(self, task: int, level: int, text: str) -> None: ...

    def component_error(self, task: int, text: str) -> None: ...

    def component_metric(self, task: int, name: str, value: Any) -> None: ...

    def task_died(self, task: int, reason: str) -> None: ...

    def captured(
        self, component: str, stream: str, values: Any, anchors: list[Any] | None, task: int
    ) -> None: ...


class _Through:
    """An engine without a `deliverers` map: its `deliver`, looked up by target task as that map is."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __getitem__(self, task: int) -> Callable[..., None]:
        return functools.partial(self._engine.deliver, task)


# A tuple delivered to a bolt task and not yet acked or failed is a plain list (nothing built per tuple but
# the list): [msgid (root -> edge id, or None), ackval (XOR of the edge ids of tuples emitted anchored to it),
# delivered at (perf_counter), user (0 for tick tuples: they do not keep a run from being idle; for a user
# tuple 1 + the events it carries)].
_MSGID, _ACKVAL, _RECEIVED, _USER = 0, 1, 2, 3


class TaskExecutor:
    kind = "task"

    def __init__(self, task: int, component: ComponentDef, engine: Engine, capture: bool = False) -> None:
        self.task = task
        self.component = component
        self.name = component.name
        self.engine = engine
        self._host: Host | None = None
        # A bolt's receive queue's append, when its host is the inline direct adapter (which sets it): a
        # delivered tuple goes there as (id, comp, stream, task, values, screened), without a call to the
        # host. `screened`: the values are plain ones the topology's serializer takes as they are (the
        # adapter's screen passed them on their way in; the component may emit them again unscreened)
        self._inbox: Callable[[tuple[str, str, str, int, Any, bool]], None] | None = None
        self.metrics = TaskMetrics()
        self.capture = capture
        self.count_events = EventCounter()  # events of each tuple this task emits
        self._batch_at = self.count_events.at  # stream -> index of its batch value, -1: none
        self.last_heard = engine.now  # any message from the component counts as a heartbeat (Storm does so)
        self.ready = False
        # The engine's bolt task -> its deliver (a cluster's map: one call less per delivered tuple), and its
        # source of random edge ids (`edge_bits(64) or 1` is what a cluster's `edge_id` returns)
        to = getattr(engine, "deliverers", None)  # filled in once every task exists
        self._to: Any = to if to is not None else _Through(engine)
        self._bits: Callable[[int], int] = getattr(engine, "edge_bits", None) or (lambda _: engine.edge_id())
        # stream -> (arity, tasks) for streams whose emits always go to the same tasks (the engine's
        # `fixed_route`, asked once per stream after its first emit; None: routed per emit). The lists are
        # shared: `emit` returns them, and whoever hands them to a component hands a copy.
        self._fixed_of: Callable[[int, str], tuple[int, list[int]] | None] | None = getattr(
            engine, "fixed_route", None
        )
        self._fixed: dict[str, tuple[int, list[int]] | None] = {}
        # bolt task -> its executor (the engine's `receivers`): a tuple of a tree, from a user component, to a
        # bolt whose host queues tuples as they are (`_inbox`) is delivered by the emitting executor itself,
        # as that bolt's `deliver` would (one call less per delivered tuple)
        rx = getattr(engine, "receivers", None)
        self._rx: dict[int, BoltExecutor] = (
            rx if rx is not None and component.name != SYSTEM_COMPONENT else {}
        )
        # A spout's host that takes an ack command as (id,) instead of {"command": "ack", "id": id} (the
        # inline direct adapter, which sets it; for the acks of a run of trees: `trees_acked`)
        self.ack_ids = False
        # execute totals (ns, count, buckets) of the component's earlier processes: a restarted process
        # reports its own totals from zero
        self._exec_base: tuple[int, int, list[int]] | None = None

    @property
    def host(self) -> Host | None:
        return self._host

    @host.setter
    def host(self, host: Host | None) -> None:
        self._host = host
        self._inbox = None
        self.ack_ids = False

    # -- from the component -------------------------------------------------------------------------
    def handle(self, msg: Any) -> None:
        try:
            handler = self._handlers[msg["command"]]  # type: ignore[attr-defined]
        except (KeyError, TypeError, IndexError):
            handler = None
        if handler is None or type(msg) is not dict:
            if not isinstance(msg, dict):
                raise_protocol(self, f"expected a command object, got {type(msg).__name__}: {msg!r:.120}")
            if handler is None:
                raise_protocol(self, f"unknown command {msg.get('command')!r} in {msg!r:.200}")
        self.last_heard = self.engine.now
        handler(self, msg)

    def handle_all(self, messages: list[Any]) -> None:
        """`handle` each of `messages` in order (what one read of a component's stdout carried)."""
        handlers = self._handlers  # type: ignore[attr-defined]
        self.last_heard = self.engine.now
        for msg in messages:
            try:
                handler = handlers[msg["command"]]
            except (KeyError, TypeError, IndexError):
                handler = None
            if handler is None or type(msg) is not dict:
                self.handle(msg)
            else:
                handler(self, msg)

    def _route(self, stream: str, values: Any, direct: int | None) -> list[int]:
        """The engine's `route` for an emit; the first emit on a stream whose targets never change makes the
        later ones skip it (`_fixed`)."""
        tasks = self.engine.route(self.task, self.name, stream, values, direct)
        if direct is None and stream not in self._fixed and self._fixed_of is not None:
            self._fixed[stream] = self._fixed_of(self.task, stream)
        return tasks

    def _error(self, msg: dict[str, Any]) -> None:
        self.metrics.errors += 1
        info = msg.get(UNSERIALIZABLE)
        if isinstance(info, dict):
            # The component's serializer could not encode a message (squall.protocol.carry): say so, and
            # fail the tuple it would have emitted, so that nothing is lost silently.
            consequence = self._lost(info) if info.get("command") == "emit" else "it was dropped"
            self.engine.component_error(self.task, describe_lost(info, consequence))
            return
        self.engine.component_error(self.task, str(msg.get("msg", "")))

    def _log(self, msg: dict[str, Any]) -> None:
        level = msg.get("level", 2)
        text = str(msg.get("msg", ""))
        self.engine.component_log(self.task, int(level) if isinstance(level, int) else 2, text)
        if PYSTORM_SEND_FAILED in text[:400]:
            # pystorm not started through squall's bootstrap (another environment's streamparse_run): its
            # serializer dropped a message. The runner cannot tell which tuple; it reports the loss.
            self.metrics.errors += 1
            self.engine.component_error(
                self.task,
                "a message was dropped: the component's serializer could not encode it and pystorm only "
                f"logged it ({text.splitlines()[0][:300]}); its tuple is neither acked nor failed here "
                "(fix: emit only values the topology's serializer can encode)",
            )

    def _lost(self, info: dict[str, Any]) -> str:
        """An emit the component's serializer could not encode: fail what it belonged to; say what happened."""
        if info.get("need_task_ids") and not info.get("direct"):
            self.host.send_task_ids([])  # type: ignore[union-attr]  # the component waits for them
        return "it was dropped"

    def _metrics(self, msg: dict[str, Any]) -> None:
        name = str(msg.get("name"))
        params = msg.get("params")
        if name == EXECUTE_METRIC:
            self._execute_totals(params)
            return
        custom_metric(self.metrics, name, params)
        self.engine.component_metric(self.task, name, params)

    def _execute_totals(self, params: Any) -> None:
        """The component process's execute totals so far: [ns, count, buckets] (squall.runner.bootstrap)."""
        try:
            ns, count, buckets = int(params[0]), int(params[1]), [int(b) for b in params[2]]
        except (TypeError, ValueError, IndexError, KeyError):
            return
        m = self.metrics
        base = self._exec_base
        if base is not None:
            ns += base[0]
            count += base[1]
            buckets = [a + b for a, b in zip(buckets, base[2], strict=False)]
        m.exec_ns, m.exec_count, m.exec_measured = ns, count, True
        if len(buckets) == len(m.buckets):
            m.buckets = buckets

    def keep_execute_totals(self) -> None:
        """The component process is gone: what it reported stays, and its successor's totals add to it."""
        m = self.metrics
        self._exec_base = (m.exec_ns, m.exec_count, list(m.buckets))

    def _sync(self, msg: dict[str, Any]) -> None:
        pass

    def died(self) -> None:
        """The component is gone: release what it held."""


def _roots(anchors: list[list[Any]]) -> set[int]:
    return {root for anchor in anchors for root in anchor[_MSGID]}


def raise_protocol(executor: TaskExecutor, text: str) -> None:
    from squall.errors import ProtocolError

    raise ProtocolError(f"{executor.name}[task {executor.task}]: {text}")


class BoltExecutor(TaskExecutor):
    kind = "bolt"

    def __init__(self, task: int, component: ComponentDef, engine: Engine, capture: bool = False) -> None:
        super().__init__(task, component, engine, capture)
        self.pending: dict[str, list[Any]] = {}  # tuple id -> [msgid, ackval, delivered at, user]
        self.user_pending = 0  # pending tuples that are not system (tick) tuples
        # (delivered at, id) of pending user tuples that belong to no tree (unreliable emits, no ackers),
        # oldest first; ids already acked are dropped lazily
        self.loose: deque[tuple[float, str]] = deque()
        self.aged: list[str] = []  # ids of such tuples held longer than the message timeout
        # the next tuple id's number (ids are "1", "2", ...: as a process-hosted component sees them)
        self._next_id: Callable[[], int] = itertools.count(1).__next__
        self.discarded = 0  # emits not delivered: every tree they belonged to had already failed

    def _new_id(self) -> str:
        return str(self._next_id())

    # -- to the component ---------------------------------------------------------------------------
    def deliver(
        self,
        comp: str,
        stream: str,
        src_task: int,
        values: Any,
        msgid: dict[int, int] | None,
        events: int = 1,
    ) -> None:
        """`events`: how many the tuple carries (its emitter counted them once for all its targets)."""
        tid = str(self._next_id())
        if comp is SYSTEM_COMPONENT or comp == SYSTEM_COMPONENT:
            self.pending[tid] = [msgid, 0, _perf(), 0]
        else:
            self.pending[tid] = [msgid, 0, _perf(), events + 1]
            self.user_pending += 1
            if not msgid:
                loose = self.loose
                loose.append((self.engine.now, tid))
                if len(loose) > 1024 + 2 * self.user_pending:
                    pending = self.pending
                    self.loose = deque(e for e in loose if e[1] in pending)
        inbox = self._inbox
        if inbox is not None:
            inbox((tid, comp, stream, src_task, values, False))
        else:
            self._host.send_tuple(tid, comp, stream, src_task, values)  # type: ignore[union-attr]

    def tick(self, freq: float) -> None:
        self.deliver(SYSTEM_COMPONENT, TICK_STREAM, SYSTEM_TASK, [freq], None)

    def heartbeat(self) -> None:
        self.host.send(  # type: ignore[union-attr]
            {
                "id": f"hb{self._next_id()}",
                "comp": None,
                "stream": HEARTBEAT_STREAM,
                "task": SYSTEM_TASK,
                "tuple": [],
            }
        )

    # -- from the component -------------------------------------------------------------------------
    def _emit(self, msg: dict[str, Any]) -> None:
        values = msg.get("tuple")
        if type(values) is not list and not isinstance(values, (list, tuple)):
            raise_protocol(self, f"emit without a 'tuple' list: {msg!r:.200}")
        direct = msg.get("task")
        anchors = msg.get("anchors")
        if direct is None and type(anchors) is list and len(anchors) == 1 and type(anchors[0]) is str:
            tasks = self.emit_anchored(msg.get("stream") or "default", values, anchors[0])  # the usual case
        else:
            tasks = self.emit(msg.get("stream") or "default", values, anchors, direct)
        if direct is None and msg.get("need_task_ids", True):
            self.host.send_task_ids(list(tasks))  # type: ignore[union-attr]

    def handle_all(self, messages: list[Any]) -> None:
        """`handle` each of `messages` in order; emits and acks (most of them) without the handler table."""
        self.last_heard = self.engine.now
        emit, ack, handle = self._emit, self.ack, self.handle
        for msg in messages:
            if type(msg) is dict:
                command = msg.get("command")
                if command == "ack":
                    ack(msg.get("id"))
                    continue
                if command == "emit":
                    emit(msg)
                    continue
            handle(msg)

    def emit(self, stream: str, values: Any, anchor_ids: Any, direct: int | None) -> list[int]:
        """An emit of the component (`values` a list or tuple), anchored to the pending tuples `anchor_ids`
        names; returns the tasks it went to (what the component gets when it asks for task ids: a list it must
        not change)."""
        engine = self.engine
        fixed = self._fixed.get(stream)
        if fixed is not None and direct is None and len(values) == fixed[0]:
            tasks = fixed[1]
        else:
            tasks = self._route(stream, values, direct)
        m = self.metrics
        m.emitted += 1
        m.transferred += len(tasks)
        events = 1 if self._batch_at.get(stream, -2) == -1 else self.count_events(stream, values)
        to = self._to
        name, task = self.name, self.task
        if anchor_ids and engine.acker is not None:
            pending = self.pending
            rooted = []
            for aid in anchor_ids:
                anchor = pending.get(aid if type(aid) is str else str(aid))
                if anchor is not None and anchor[0]:
                    rooted.append(anchor)
            if rooted:
                if not engine.acker.any_open(rooted[0][0] if len(rooted) == 1 else _roots(rooted)):
                    # Every tree it belongs to already failed (a task died, a timeout): the spouts replay
                    # them, so this tuple is dead work, and delivering it could put it ahead of the replays.
                    self.discarded += len(tasks)
                    targets: list[int] = []
                else:
                    targets = tasks
                bits = self._bits
                if len(rooted) == 1:
                    # The usual case: one anchor. Each target gets a fresh edge id under each of its roots.
                    anchor = rooted[0]
                    roots = anchor[0]
                    for target in targets:
                        edge = bits(64) or 1
                        anchor[1] ^= edge
                        to[target](name, stream, task, values, dict.fromkeys(roots, edge), events)
                else:
                    for target in targets:
                        out: dict[int, int] = {}
                        for anchor in rooted:
                            edge = bits(64) or 1
                            anchor[1] ^= edge
                            for root in anchor[0]:
                                out[root] = out.get(root, 0) ^ edge
                        to[target](name, stream, task, values, out, events)
            else:
                for target in tasks:
                    to[target](name, stream, task, values, None, events)
        else:
            for target in tasks:
                to[target](name, stream, task, values, None, events)
        if self.capture:
            engine.captured(self.name, stream, values, list(anchor_ids or []), self.task)
        return tasks

    def emit_anchored(self, stream: str, values: Any, aid: str) -> list[int]:
        """`emit(stream, values, [aid], None)` for one anchor named by its runner-made id (the inline
        adapter's auto-anchored emit): the same outcome, without the general case's loops."""
        anchor = self.pending.get(aid)
        engine = self.engine
        acker = engine.acker
        if anchor is None or not anchor[0] or acker is None or self.capture:
            return self.emit(stream, values, [aid], None)
        fixed = self._fixed.get(stream)
        if fixed is not None and len(values) == fixed[0]:
            tasks = fixed[1]
        else:
            tasks = self._route(stream, values, None)
        m = self.metrics
        m.emitted += 1
        m.transferred += len(tasks)
        events = 1 if self._batch_at.get(stream, -2) == -1 else self.count_events(stream, values)
        roots = anchor[0]
        to = self._to
        bits = self._bits
        name, task = self.name, self.task
        if len(roots) == 1:
            for root in roots:
                entry = acker.ledger.get(root)  # as `any_open`, inline
                if entry is None or entry[1] is None or entry[3]:
                    self.discarded += len(tasks)  # as `emit`: the tree it belongs to already failed
                    return tasks
                rx = self._rx
                for target in tasks:
                    edge = bits(64) or 1
                    anchor[1] ^= edge
                    bolt = rx.get(target)
                    if bolt is not None and (inbox := bolt._inbox) is not None:  # as its `deliver`, inline
                        tid = str(bolt._next_id())
                        bolt.pending[tid] = [{root: edge}, 0, _perf(), events + 1]
                        bolt.user_pending += 1
                        inbox((tid, name, stream, task, values, False))
                    else:
                        to[target](name, stream, task, values, {root: edge}, events)
            return tasks
        if not acker.any_open(roots):
            self.discarded += len(tasks)  # as `emit`: every tree it belongs to already failed
            return tasks
        for target in tasks:
            edge = bits(64) or 1
            anchor[1] ^= edge
            to[target](name, stream, task, values, dict.fromkeys(roots, edge), events)
        return tasks

    def _settle(self, tid: Any, acked: bool) -> list[Any] | None:
        """The pending entry [msgid, ackval, received, user] of tuple id `tid` (an ack or fail names it),
        counted as executed; None (reported) when no such tuple is pending."""
        tup = self.pending.pop(tid if type(tid) is str else str(tid), None)
        if tup is None:
            self._unknown(tid, acked)
            return None
        m = self.metrics
        user = tup[3]
        if user:
            self.user_pending -= 1
            m.events += user - 1
        m.executed += 1
        if acked:
            m.acked += 1
        else:
            m.failed += 1
        m.latency_sum += _perf() - tup[2]
        return tup

    def _ack(self, msg: dict[str, Any]) -> None:
        self.ack(msg.get("id"))

    def ack(self, tid: Any) -> None:
        """The component acked tuple `tid`."""
        tup = self.pending.pop(tid if type(tid) is str else str(tid), None)
        if tup is None:
            self._unknown(tid, True)
            return
        m = self.metrics  # as `_settle`, inline: an ack is the usual case
        user = tup[3]
        if user:
            self.user_pending -= 1
            m.events += user - 1
        m.executed += 1
        m.acked += 1
        m.latency_sum += _perf() - tup[2]
        msgid, ackval = tup[0], tup[1]
        if msgid:
            engine = self.engine
            acker = engine.acker
            if acker is not None:
                ledger = acker.ledger
                for root, edge in msgid.items():
                    entry = ledger.get(root)
                    if entry is not None:
                        left = entry[0] ^ edge ^ ackval
                        if left and not entry[3]:  # the tree stays open: the acker has nothing to say
                            entry[0] = left
                            continue
                    outcome = acker.ack(root, edge ^ ackval, engine.now)
                    if outcome is not None:
                        engine.finished(outcome)

    def run_paths(self) -> tuple[Callable[[str, Any, str], list[int] | None], list[Any], Callable[[], None]]:
        """(emit, acks, flush) for a host that hands its component one tuple after another and acks each (the
        inline direct adapter, its automatic anchoring and ack): the tuples' emits and acks are taken as they
        come and handled in one go by `flush`, with each counter updated once and one call to the spouts for
        the trees the run completed.

        `emit(stream, values, aid)` takes `emit_anchored(stream, values, aid)` on a stream with fixed targets
        and no batch value, and returns those targets; for any other emit it returns None, having done
        nothing (the caller calls `flush`, then `emit_anchored`). The host appends to `acks`, for each tuple
        acked, its runner-made id and the time of the ack (perf_counter_ns).

        `flush` handles the emits taken, in order, then the acks, in order: what `emit_anchored` and `ack`
        would have done one at a time (an emit is anchored to the tuple being processed, which is acked
        after it; an ack that completes a tree leaves no tuple of it that a later emit could be anchored to),
        a tuple emitted being delivered at the time of the flush, as a run of emits read from a component
        process is. The host calls `flush` before anything else can look at the task or the trees: at the
        end of its run, before any other emit, ack or fail, before the task's death and before any other
        message of the component (so spouts hear of their trees in the order they finished)."""
        engine = self.engine
        acker = engine.acker
        emits: list[tuple[str, Any, str]] = []  # (stream, values, anchor id) taken
        acks: list[Any] = []  # tuple id, acked at (ns), ...
        fast: dict[str, tuple[int, list[int]]] = {}  # stream -> (arity, targets) of streams `emit` takes
        fixed_of = self._fixed
        batch_at = self._batch_at
        take = emits.append

        def emit(stream: str, values: Any, aid: str) -> list[int] | None:
            route = fast.get(stream)
            if route is None:
                route = fixed_of.get(stream)
                if route is None or batch_at.get(stream, -2) != -1 or acker is None or self.capture:
                    return None
                fast[stream] = route
            if len(values) != route[0]:
                return None
            take((stream, values, aid))
            return route[1]

        def flush() -> None:
            if emits:
                run = emits.copy()
                emits.clear()
                self._emit_run(run, fast)
            if acks:
                run = acks.copy()
                acks.clear()
                self._ack_run(run)

        return emit, acks, flush

    def _emit_run(self, run: list[tuple[str, Any, str]], fast: dict[str, tuple[int, list[int]]]) -> None:
        """`emit_anchored` for each of `run` (see `run_paths`)."""
        pending = self.pending
        ledger = self.engine.acker.ledger  # type: ignore[union-attr]
        bits = self._bits
        rx = self._rx
        to = self._to
        name, task = self.name, self.task
        at = _perf()
        emitted = transferred = 0
        # The usual run: one stream whose one target is a bolt whose host queues tuples as they are; its
        # deliveries without a look-up per tuple (its user_pending added to at the end).
        one: Any = run[0][0]
        targets = fast[one][1]
        sink = rx.get(targets[0]) if len(targets) == 1 else None
        inbox = sink._inbox if sink is not None else None
        if inbox is None:
            one = None
        else:
            next_id = sink._next_id  # type: ignore[union-attr]
            sink_pending = sink.pending  # type: ignore[union-attr]
        sunk = 0
        for stream, values, aid in run:
            anchor = pending.get(aid)
            if anchor is not None and (roots := anchor[0]) and len(roots) == 1:
                (root,) = roots
                entry = ledger.get(root)
                if entry is not None and entry[1] is not None and not entry[3]:  # an open tree
                    if stream is one:
                        edge = bits(64) or 1
                        anchor[1] ^= edge
                        tid = str(next_id())
                        sink_pending[tid] = [{root: edge}, 0, at, 2]  # as the bolt's `deliver`
                        inbox((tid, name, stream, task, values, True))  # type: ignore[misc]
                        sunk += 1
                        continue
                    tasks = fast[stream][1]
                    emitted += 1
                    transferred += len(tasks)
                    for target in tasks:  # as `emit_anchored`
                        edge = bits(64) or 1
                        anchor[1] ^= edge
                        bolt = rx.get(target)
                        if bolt is not None and (to_inbox := bolt._inbox) is not None:  # as its `deliver`
                            tid = str(bolt._next_id())
                            bolt.pending[tid] = [{root: edge}, 0, at, 2]
                            bolt.user_pending += 1
                            to_inbox((tid, name, stream, task, values, True))
                        else:
                            to[target](name, stream, task, values, {root: edge}, 1)
                    continue
            self.emit_anchored(stream, values, aid)  # not the usual case: as it is
        if sunk:
            sink.user_pending += sunk  # type: ignore[union-attr]
        m = self.metrics
        m.emitted += emitted + sunk
        m.transferred += transferred + sunk

    def _ack_run(self, run: list[Any]) -> None:
        """`ack` for each (tuple id, acked at ns) of `run` (see `run_paths`); the spouts hear of the trees it
        completed in one go."""
        pop = self.pending.pop
        engine = self.engine
        acker = engine.acker
        ledger = acker.ledger if acker is not None else {}
        done: list[tuple[int, int, int]] = []  # (spout task, root, completed at ns)
        unknown = ticks = user_sum = at_sum = 0
        received = 0.0
        it = iter(run)
        for tid, at in zip(it, it, strict=False):  # (id, time) pairs
            tup = pop(tid, None)
            if tup is None:
                unknown += 1
                self._unknown(tid, True)
                continue
            msgid, ackval, delivered, user = tup
            if user:
                user_sum += user
            else:
                ticks += 1
            at_sum += at
            received += delivered
            if msgid:  # a tuple of a tree: there are ackers
                for root, edge in msgid.items():
                    entry = ledger.get(root)
                    if entry is not None and not entry[3]:
                        left = entry[0] ^ edge ^ ackval
                        if left:  # the tree stays open
                            entry[0] = left
                            continue
                        if entry[1] is not None:  # complete: as `Acker.ack`; its spout told below
                            del ledger[root]
                            entry[4].discard(root)
                            done.append((entry[1], root, at))
                            continue
                    outcome = acker.ack(root, edge ^ ackval, engine.now)  # type: ignore[union-attr]
                    if outcome is not None:  # a failed tree: its spout hears of what finished before
                        self._trees_done(done)
                        done = []
                        engine.finished(outcome)
        count = len(run) // 2 - unknown
        users = count - ticks
        m = self.metrics
        m.executed += count
        m.acked += count
        m.events += user_sum - users  # a user tuple's entry holds 1 + its events
        m.latency_sum += at_sum * 1e-9 - received
        self.user_pending -= users
        self._trees_done(done)

    def _trees_done(self, done: list[tuple[int, int, int]]) -> None:
        if not done:
            return
        self.engine.acker.completed(len(done))  # type: ignore[union-attr]
        trees_acked = getattr(self.engine, "trees_acked", None)
        if trees_acked is not None:
            trees_acked(done)
            return
        for spout_task, root, _ in done:  # an engine without it: each tree through its `finished`
            self.engine.finished(Outcome(spout_task, root, True, self.engine.now))

    def _fail(self, msg: dict[str, Any]) -> None:
        self.fail(msg.get("id"))

    def fail(self, tid: Any) -> None:
        """The component failed tuple `tid`."""
        tup = self._settle(tid, False)
        if tup is None:
            return
        msgid = tup[0]
        acker = self.engine.acker
        if msgid and acker is not None:
            for root in msgid:
                self.engine.finished(acker.fail(root))

    def _unknown(self, tid: Any, ok: bool) -> None:
        self.engine.component_error(
            self.task,
            f"{'acked' if ok else 'failed'} a non-existent or already acked/failed tuple id {tid!r}",
        )

    def _lost(self, info: dict[str, Any]) -> str:
        super()._lost(info)
        acker = self.engine.acker
        anchors = [self.pending.get(a) for a in info.get("anchors") or []]
        roots: set[int] = set()
        for tup in anchors:
            if tup is not None and tup[_MSGID]:
                roots.update(tup[_MSGID])
        if roots and acker is not None:
            live = [root for root in roots if acker.is_open(root)]
            for root in live:
                self.engine.finished(acker.fail(root))
            if live:
                return (
                    f"the {len(live)} tuple tree(s) it was anchored to failed at once "
                    "(their spouts get fail and may replay them)"
                )
            return "the tuple trees it was anchored to had already finished"
        if anchors:
            return "its anchors belong to no tuple tree (unreliable emits or no ackers): nothing to replay"
        return "it was dropped (an unanchored emit: nothing to replay)"

    def live_loose(self, now: float, timeout: float) -> bool:
        """A pending user tuple that belongs to no tree was delivered less than `timeout` ago (after that it
        counts as held, as a tree would have timed out)."""
        loose = self.loose
        pending = self.pending
        while loose:
            at, tid = loose[0]
            if tid in pending:
                if now - at < timeout:
                    return True
                self.aged.append(tid)
                if len(self.aged) > 1024 + 2 * self.user_pending:
                    self.aged = [t for t in self.aged if t in pending]
            loose.popleft()
        return False

    def held(self, now: float, timeout: float) -> tuple[int, int]:
        """(tuples whose trees already finished, tuples without a tree older than `timeout`) among the user
        tuples this task holds without having acked or failed them."""
        acker = self.engine.acker
        orphaned = untracked = 0
        for tup in self.pending.values():
            if not tup[_USER]:
                continue
            if tup[_MSGID]:
                if acker is None or not any(acker.is_open(root) for root in tup[_MSGID]):
                    orphaned += 1
        pending = self.pending
        untracked = len({tid for tid in self.aged if tid in pending})
        untracked += sum(1 for at, tid in self.loose if tid in pending and now - at >= timeout)
        return orphaned, untracked

    def died(self) -> None:
        """Every tuple the dead task held fails its trees, so spouts replay them; and so does every other tree
        those spouts have open (see `Acker.fail_spouts`): a replay must not be overtaken by newer tuples of the
        same source that are still on their way to the restarted task (an event-time bolt would take the
        replayed events for late ones). Tuples of failed trees are no longer delivered (`_emit`)."""
        self.keep_execute_totals()
        acker = self.engine.acker
        held = list(self.pending.values())
        self.pending.clear()
        self.user_pending = 0
        self.loose.clear()
        self.aged.clear()
        if acker is None:
            return
        spouts = acker.spouts_of(root for tup in held if tup[_MSGID] for root in tup[_MSGID])
        if spouts:
            finished = self.engine.finished
            for outcome in acker.fail_spouts(spouts, self.engine.now):
                finished(outcome)

    _handlers = {
        "emit": _emit,
        "ack": _ack,
        "fail": _fail,
        "sync": TaskExecutor._sync,
        "log": TaskExecutor._log,
        "error": TaskExecutor._error,
        "metrics": TaskExecutor._metrics,
    }


class SpoutExecutor(TaskExecutor):
    kind = "spout"

    def __init__(
        self,
        task: int,
        component: ComponentDef,
        engine: Engine,
        capture: bool = False,
        max_pending: int | None = None,
    ) -> None:
        super().__init__(task, component, engine, capture)
        self.max_pending = max_pending
        self.roots: dict[int, tuple[Any, int]] = {}  # root id -> (the spout's message id, emitted at, ns)
        self.commands: deque[Any] = deque()  # command dicts; an ack may be (id,) (`ack_ids`)
        self.outstanding = 0  # commands sent and not yet answered by `sync`
        self.waiting_since = 0.0
        self.active = False
        self._emitted_this_call = 0
        self.last_next_empty = False
        self.sleep_until = 0.0
        self._in_next = False

    @property
    def awaiting_sync(self) -> bool:
        return self.outstanding > 0

    @property
    def answering_commands(self) -> bool:
        """Commands other than `next` (ack, fail, activate, ...) were sent and are not all answered yet."""
        return self.outstanding > 0 and not self._in_next

    def can_next(self) -> bool:
        return (
            self.ready
            and self.active
            and not self.outstanding
            and not self.commands
            and (self.max_pending is None or len(self.roots) < self.max_pending)
        )

    def query(self, command: dict[str, Any]) -> None:
        """Send one command; the component answers each with `sync` (Storm's ShellSpout.querySubprocess)."""
        if not self.outstanding:
            self.waiting_since = self.engine.now
        self.outstanding += 1
        self.host.send(command)  # type: ignore[union-attr]

    def pump(self) -> bool:
        """Send the queued commands (ack/fail/activate/deactivate), else `next`. True when something was sent.

        `next` goes only to a spout that answered everything it was sent. ack/fail are pipelined: the
        component still sees them one at a time, in order, and answers each with `sync`, as under Storm,
        but the runner does not wait a round trip per ack.
        """
        if not self.ready:
            return False
        if self.commands:
            if self._in_next:
                return False  # let the current `next` finish first
            commands = self.commands
            n = min(len(commands), PIPELINED_COMMANDS)
            if not self.outstanding:
                self.waiting_since = self.engine.now
            self.outstanding += n
            send_all = getattr(self._host, "send_all", None)
            if send_all is not None:
                if n == len(commands):  # all of them (the usual case): taken in one go
                    batch = list(commands)
                    commands.clear()
                    send_all(batch)  # as `query` does, for each
                    return True
                popleft = commands.popleft
                send_all([popleft() for _ in range(n)])  # as `query` does, for each
                return True
            send = self.host.send  # type: ignore[union-attr]
            for _ in range(n):
                send(commands.popleft())  # as `query` does, for each
            return True
        if self.can_next():
            self._emitted_this_call = 0
            self._in_next = True
            self.query({"command": "next"})
            return True
        return False

    def tell(self, command: dict[str, Any]) -> None:
        self.commands.append(command)

    def trees_acked(self, trees: list[tuple[int, int, int]]) -> None:
        """`outcome` for each of a run of completed trees: (spout task, root, completed at perf_counter_ns)."""
        roots = self.roots
        m = self.metrics
        buckets = m.buckets
        append = self.commands.append
        ids = self.ack_ids  # the host takes (id,) for an ack command
        n = took_ns = 0
        for _, root, at in trees:
            entry = roots.pop(root, None)
            if entry is None:
                continue
            msg_id, started = entry
            took = at - started
            took_ns += took
            buckets[BUCKET_OF_BITS[(took - 1).bit_length()]] += 1
            append((msg_id,) if ids else {"command": "ack", "id": msg_id})
            n += 1
        m.acked += n
        m.executed += n
        m.latency_sum += took_ns * 1e-9

    def outcome(self, outcome: Outcome) -> None:
        entry = self.roots.pop(outcome.root, None)
        if entry is None:
            return
        msg_id, started = entry
        m = self.metrics
        if outcome.ok:
            m.acked += 1
            took = _perf_ns() - started
            m.latency_sum += took * 1e-9
            m.buckets[BUCKET_OF_BITS[(took - 1).bit_length()]] += 1
            m.executed += 1
            self.commands.append({"command": "ack", "id": msg_id})
        else:
            m.failed += 1
            self.commands.append({"command": "fail", "id": msg_id})

    # -- from the component -------------------------------------------------------------------------
    def _emit(self, msg: dict[str, Any]) -> None:
        values = msg.get("tuple")
        if type(values) is not list and not isinstance(values, (list, tuple)):
            raise_protocol(self, f"emit without a 'tuple' list: {msg!r:.200}")
        direct = msg.get("task")
        tasks = self.emit(msg.get("stream") or "default", values, msg.get("id"), direct)
        if direct is None and msg.get("need_task_ids", True):
            self.host.send_task_ids(list(tasks))  # type: ignore[union-attr]

    def emit(self, stream: str, values: Any, msg_id: Any, direct: int | None) -> list[int]:
        """An emit of the spout (`values` a list or tuple; `msg_id` None: unreliable); returns the tasks it
        went to (what the component gets when it asks for task ids: a list it must not change)."""
        engine = self.engine
        fixed = self._fixed.get(stream)
        if fixed is not None and direct is None and len(values) == fixed[0]:
            tasks = fixed[1]
        else:
            tasks = self._route(stream, values, direct)
        m = self.metrics
        m.emitted += 1
        m.transferred += len(tasks)
        events = 1 if self._batch_at.get(stream, -2) == -1 else self.count_events(stream, values)
        m.events += events
        self._emitted_this_call += 1
        acker = engine.acker
        to = self._to
        name, task = self.name, self.task
        if msg_id is not None and acker is not None and tasks:
            bits = self._bits
            root = bits(64) or 1
            val = 0
            rx = self._rx
            for target in tasks:
                edge = bits(64) or 1
                val ^= edge
                bolt = rx.get(target)
                if bolt is not None and (inbox := bolt._inbox) is not None:  # as its `deliver`, inline
                    tid = str(bolt._next_id())
                    bolt.pending[tid] = [{root: edge}, 0, _perf(), events + 1]
                    bolt.user_pending += 1
                    inbox((tid, name, stream, task, values, False))
                else:
                    to[target](name, stream, task, values, {root: edge}, events)
            self.roots[root] = (msg_id, _perf_ns())
            outcome = acker.init(root, val, task, engine.now)
            if outcome is not None:
                engine.finished(outcome)
        else:
            for target in tasks:
                to[target](name, stream, task, values, None, events)
            if msg_id is not None:
                # No ackers, or nobody subscribed: Storm acks the spout message right away.
                m.acked += 1
                self.tell({"command": "ack", "id": msg_id})
        if self.capture:
            engine.captured(self.name, stream, values, None, self.task)
        return tasks

    def run_emitter(self) -> tuple[Callable[[str, Any, Any], list[int] | None], Callable[[], None]]:
        """(emit, flush) for a host whose component emits one tuple after another while nothing else runs
        (the inline direct adapter, inside `next_tuple`, `ack` or `fail`). `emit(stream, values, msg_id)`
        takes a reliable emit on a stream whose targets are fixed (`_fixed`) and returns those targets;
        it returns None for any other, which the caller hands to `emit` after `flush`. The emits taken are
        handled as `emit` would, in order, by `flush`, in one go: edge ids, deliveries, roots, the acker's
        ledger and the counters (delivered and started at the time of the flush, as a run of emits read from
        a component process is). The host calls `flush` before anything else can look at them: at the end of
        the component's call, before its sync, and before any other message of the component or its death."""
        run: list[tuple[Any, Any]] = []  # (values, msg_id) taken, not yet handled; all on `stream`
        stream: Any = None  # the stream of the emits taken (None: none yet)
        arity = 0
        tasks: list[int] = []
        fixed_of = self._fixed
        engine = self.engine
        acker = engine.acker
        emit_one = self.emit
        take = run.append

        def emit(on: str, values: Any, msg_id: Any) -> list[int] | None:
            nonlocal stream, arity, tasks
            if on is not stream:
                fixed = fixed_of.get(on)
                if fixed is None or not fixed[1] or msg_id is None or acker is None or self.capture:
                    return None
                if run:
                    flush()
                stream = on
                arity, tasks = fixed
            if msg_id is None or len(values) != arity:
                return None
            take((values, msg_id))
            return tasks

        def flush() -> None:
            if not run:
                return
            items = run.copy()
            run.clear()
            on = stream
            bolt = self._rx.get(tasks[0]) if len(tasks) == 1 else None
            inbox = bolt._inbox if bolt is not None else None
            if inbox is None or self._batch_at.get(on, -2) != -1:
                for values, msg_id in items:  # not the usual case: one emit at a time
                    emit_one(on, values, msg_id, None)
                return
            # The usual case: one target, a bolt whose host queues tuples as they are; one event per tuple.
            n = len(items)
            m = self.metrics
            m.emitted += n
            m.transferred += n
            m.events += n
            self._emitted_this_call += n
            bits = self._bits
            roots = self.roots
            pending = bolt.pending  # type: ignore[union-attr]
            next_id = bolt._next_id  # type: ignore[union-attr]
            name, task = self.name, self.task
            at, started = _perf(), _perf_ns()
            now = engine.now
            ledger, bucket = acker.opening()  # type: ignore[union-attr]
            add = bucket.add
            seen: list[tuple[int, int]] = []  # (root, val) of roots already in the ledger
            for values, msg_id in items:
                root = bits(64) or 1
                edge = bits(64) or 1
                tid = str(next_id())
                pending[tid] = [{root: edge}, 0, at, 2]  # as the bolt's `deliver`
                inbox((tid, name, on, task, values, True))
                roots[root] = (msg_id, started)
                if root in ledger:
                    seen.append((root, edge))
                else:  # as the acker's `init` for a new root
                    ledger[root] = [edge, task, now, False, bucket]
                    add(root)
            bolt.user_pending += n  # type: ignore[union-attr]
            acker.opened(n - len(seen))  # type: ignore[union-attr]
            for root, edge in seen:
                engine.finished(acker.init(root, edge, task, now))  # type: ignore[union-attr]

        return emit, flush

    def _lost(self, info: dict[str, Any]) -> str:
        super()._lost(info)
        if not info.get("has_id"):
            return "it was dropped (an unreliable emit: nothing to replay)"
        if not info.get("id_carried"):
            return "it was dropped, and its message id cannot be sent back either: the spout gets no fail"
        self.metrics.failed += 1
        self.tell({"command": "fail", "id": info.get("id")})
        return "the tuple failed (the spout gets fail for its message id and may replay it)"

    def handle_all(self, messages: list[Any]) -> None:
        """`handle` each of `messages` in order; syncs and emits (most of them) without the handler table."""
        now = self.last_heard = self.engine.now
        emit, sync, handle = self._emit, self._spout_sync, self.handle
        for msg in messages:
            if type(msg) is dict:
                command = msg.get("command")
                if command == "sync":
                    if self._in_next:
                        sync(msg)
                    else:  # an ack's or fail's: as `_spout_sync`, inline
                        if self.outstanding:
                            self.outstanding -= 1
                        self.waiting_since = now
                    continue
                if command == "emit":
                    emit(msg)
                    continue
            handle(msg)

    def _spout_sync(self, msg: dict[str, Any]) -> None:
        if self.outstanding:
            self.outstanding -= 1
        self.waiting_since = self.engine.now
        if self._in_next and not self.outstanding:
            self._in_next = False
            self.last_next_empty = self._emitted_this_call == 0
            if self.last_next_empty:
                self.sleep_until = _perf() + SPOUT_WAIT_SECS

    def synced(self, n: int) -> None:
        """`n` syncs at once, each answering an ack or fail command (what `_spout_sync` does for each)."""
        self.outstanding = max(0, self.outstanding - n)
        self.waiting_since = self.engine.now

    def died(self) -> None:
        """A restarted spout is a new instance: trees of the dead one are forgotten, not replayed to it."""
        if self.engine.acker is not None:
            self.engine.acker.forget(set(self.roots))
        self.roots.clear()
        self.commands.clear()
        self.outstanding = 0
        self._in_next = False

    _handlers = {
        "emit": _emit,
        "sync": _spout_sync,
        "log": TaskExecutor._log,
        "error": TaskExecutor._error,
        "metrics": TaskExecutor._metrics,
    }
