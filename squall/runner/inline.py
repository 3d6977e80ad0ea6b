"""In-process hosting: a pystorm/streamparse component object driven with the same multilang messages.

The component gets an in-memory serializer: what it sends (emit, ack, fail, log, sync, ...) goes straight
to its executor; what the runner sends (tuples, commands, task ids) is queued and consumed by the
component's own `_run()`, exactly as in a subprocess. stdin/stdout stay the user's terminal, so
`breakpoint()` works and tracebacks point at user code.
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import queue
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from pystorm.bolt import Bolt
from pystorm.component import Component
from pystorm.component import Tuple as PystormTuple
from pystorm.serializers.json_serializer import JSONSerializer
from pystorm.serializers.msgpack_serializer import MsgpackSerializer
from pystorm.spout import Spout

from squall.errors import ProtocolError
from squall.protocol.carry import SCREENED, Screen
from squall.runner.metrics import BUCKET_OF_BITS, TaskMetrics

_perf_ns = time.perf_counter_ns
_HEARTBEAT = "__heartbeat"


class InlineSerializer:
    """Stands in for pystorm's Serializer: no bytes, just messages. With `screen`, a message the topology's
    serializer could not encode is replaced by the same error report a component process sends
    (`squall.protocol.carry`), so inline and process mode lose and report the same messages."""

    def __init__(self, on_message: Callable[[Any], None], screen: Screen | None = None) -> None:
        self.screen = screen
        self.inbound: deque[Any] = deque()
        self.foreign: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.input_stream = None
        self.output_stream = None
        self._on_message = on_message
        self._owner = threading.get_ident()
        # The component's own send_message, when this serializer's is bound in its place (`bind`): a
        # message that is not a dict goes to it, which logs and drops it as pystorm does.
        self._component_send: Callable[[Any], None] | None = None

    def read_message(self) -> Any:
        if self.inbound:
            msg = self.inbound.popleft()
            if type(msg) is tuple:  # queued for the direct adapter (`_bind_direct`), read the usual way
                if len(msg) == 1:  # a spout's ack (`SpoutExecutor.trees_acked`)
                    return {"command": "ack", "id": msg[0]}
                tid, comp, stream, task, values, _ = msg
                return {"id": tid, "comp": comp, "stream": stream, "task": task, "tuple": values}
            return msg
        raise ProtocolError(
            "component read a message the runner never sent (it waited for task ids it will not get?)"
        )

    def send_message(self, msg: Any) -> None:
        if type(msg) is not dict and self._component_send is not None and not isinstance(msg, dict):
            self._component_send(msg)
            return
        if self.screen is not None and type(msg) is dict and msg.get("command") in SCREENED:
            msg = self.screen(msg)
        if threading.get_ident() != self._owner:
            self.foreign.put(msg)  # e.g. TicklessBatchingBolt's batcher thread; the loop drains it
            return
        self._on_message(msg)

    def bind(self, component: Any) -> None:
        """Take the place of `component.send_message` where it is pystorm's own (which checks the message is
        a dict and passes it here): one call less for every message the component sends. A component class
        with its own send_message keeps it."""
        if getattr(type(component), "send_message", None) is not Component.send_message:
            return
        self._component_send = component.send_message
        component.send_message = self.send_message

    def drain_foreign(self) -> int:
        n = 0
        while True:
            try:
                msg = self.foreign.get_nowait()
            except queue.Empty:
                return n
            self._on_message(msg)
            n += 1


class InlineJSONSerializer(InlineSerializer, JSONSerializer):
    """Inline stand-in for pystorm's JSON serializer (an instance of its class, as a component sees it)."""


class InlineMsgpackSerializer(InlineSerializer, MsgpackSerializer):
    """Inline stand-in for pystorm's msgpack serializer."""


_INLINE = {"json": InlineJSONSerializer, "msgpack": InlineMsgpackSerializer}


def inline_serializer(on_message: Callable[[Any], None], serializer: str | None) -> InlineSerializer:
    """An InlineSerializer; with `serializer` (the topology's), one that screens messages as that serializer
    would, and that is an instance of pystorm's class for it, so a component that looks at its serializer
    (e.g. to emit bytes only where they can travel) sees what it would see in a process."""
    if serializer is None:
        return InlineSerializer(on_message)
    if serializer not in _INLINE:
        raise ProtocolError(f"unknown multilang serializer {serializer!r}: use json or msgpack")
    return _INLINE[serializer](on_message, Screen(serializer))


def load_class(class_path: str) -> type:
    module_name, _, cls_name = class_path.rpartition(".")
    module = importlib.import_module(module_name)
    return getattr(module, cls_name)  # type: ignore[no-any-return]


def make_component(cls: type, serializer: InlineSerializer) -> Any:
    component = cls(input_stream=io.BytesIO(), output_stream=io.BytesIO(), rdb_signal=None)
    component.serializer = serializer
    return component


def _same(cls: type, name: str, owner: type) -> bool:
    return getattr(cls, name, None) is getattr(owner, name)


def direct_kind(cls: type) -> str | None:
    """ "bolt" or "spout" when `cls` runs pystorm's own loop (pystorm's `_run`, reading and sending through
    pystorm's own methods), so the direct adapter (`InlineHost` with an executor) can drive it without
    multilang messages; None for any other class (e.g. BatchingBolt, with its own `_run`), which is fed the
    messages as in a process."""
    if not all(_same(cls, name, Component) for name in ("read_message", "read_command", "send_message")):
        return None
    if (
        issubclass(cls, Bolt)
        and _same(cls, "_run", Bolt)
        and _same(cls, "read_tuple", Bolt)
        and _same(cls, "is_heartbeat", Component)
        and _same(cls, "is_tick", Bolt)
    ):
        return "bolt"
    if issubclass(cls, Spout) and _same(cls, "_run", Spout):
        return "spout"
    return None


def _nothing() -> None:
    pass


_SYNC = {"command": "sync"}
_TICK_COMPONENT, _TICK_STREAM = "__system", "__tick"


class InlineHost:
    """Hosts one task's component object. `on_message(msg)` receives everything it sends;
    `on_death(reason)` is called when it raises (after pystorm's own error/fail handling ran)."""

    hosting = "inline"

    def __init__(
        self,
        cls: type,
        on_message: Callable[[Any], None],
        on_death: Callable[[str], None],
        label: str,
        raise_errors: bool = False,
        serializer: str | None = None,
        metrics: TaskMetrics | None = None,
        executor: Any = None,
    ) -> None:
        """`serializer`: the topology's multilang serializer; each message is screened for what it could not
        encode (None: no screening). `metrics`: a bolt's counters, to which the time of each tuple inside the
        component (its `_run`) is added (execute latency; None: not timed).

        `executor` (the task's BoltExecutor or SpoutExecutor): when the component runs pystorm's own loop
        (`direct_kind`), drive it directly: tuples are queued as they are and become pystorm `Tuple`s for
        `process`, commands call `next_tuple`/`ack`/`fail`/..., and its `emit`, `ack` and `fail` (pystorm's
        own) call the executor instead of building multilang messages. What the component sees, and every
        outcome, is what pystorm's `_run` gives; an emit the screen cannot pass as plain values, or one from
        another thread, still goes the message way. Without `executor`, everything is a message."""
        self.cls = cls
        self.raise_errors = raise_errors
        self.label = label
        self._on_message = on_message
        self._on_death = on_death
        self.serializer = inline_serializer(self._receive, serializer)
        self.component: Any = None
        self.pid: int | None = None
        self.alive = False
        self.metrics = metrics
        if metrics is not None:
            metrics.exec_measured = True
        self.executor = executor
        self.direct: str | None = None  # "bolt" / "spout" once the direct adapter drives the component
        # The direct adapter's Bolt.ack (None: not installed), and [the `_current_tups` list it set for the tuple
        # in `process`, that tuple's id, its values if they were screened on their way in (else None)]: an emit
        # that anchors to exactly that list anchors to that id. Emitting those values again needs no screen:
        # plain values of a tuple a component process received were decoded, so they encode again (a
        # namedtuple of immutable values: the component cannot have changed them).
        self._direct_ack: Any = None
        self._current: list[Any] = [None, None, None]
        self._steps = self._steps_messages
        # a direct bolt's automatic acks, taken as they come, and the flush of its run or of a direct spout's
        # emits (`BoltExecutor.run_paths`, `SpoutExecutor.run_emitter`)
        self._acks: list[Any] | None = None
        self._flush: Callable[[], None] = _nothing

    def _receive(self, msg: Any) -> None:
        if self.pid is None and isinstance(msg, dict) and "pid" in msg:
            self.pid = int(msg["pid"])
            self.serializer._on_message = self._on_message  # from now on straight to the executor
            return
        self._on_message(msg)

    def start(self, handshake: dict[str, Any]) -> None:
        self.alive = True
        try:
            self.component = make_component(self.cls, self.serializer)
            self.serializer.inbound.append(handshake)
            root = logging.getLogger()
            before = list(root.handlers)
            conf, context = self.component.read_handshake()
            self.component._setup_component(conf, context)
            # pystorm puts its Storm log handler on the root logger; with many tasks in one process that
            # would send every task's logs to every task. Keep each handler on its own component's logger.
            # Each task gets its own logger (pystorm's is shared by every task of a component).
            shared = self.component.logger
            own = logging.getLogger(f"{shared.name}.task{self.component.task_id}.{id(self)}")
            own.setLevel(shared.level)
            own.propagate = False
            for handler in [h for h in root.handlers if h not in before]:
                root.removeHandler(handler)
                own.addHandler(handler)
            self.component.logger = own
            self._logger = own
            self.serializer.bind(self.component)
            if self.executor is not None:
                self._bind_direct()
            self.component.initialize(conf, context)
        except Exception:
            self.alive = False
            if self.raise_errors:
                raise
            self._on_death(f"raised during start:\n{traceback.format_exc()}")

    def send(self, message: Any) -> None:
        self.serializer.inbound.append(message)

    def send_all(self, messages: list[Any]) -> None:
        self.serializer.inbound.extend(messages)

    def send_tuple(self, tid: str, comp: str, stream: str, task: int, values: Any) -> None:
        self.serializer.inbound.append(
            {"id": tid, "comp": comp, "stream": stream, "task": task, "tuple": values}
        )

    def send_task_ids(self, task_ids: list[int]) -> None:
        # The emit that asked for them is running right now and reads them next.
        self.serializer.inbound.appendleft(task_ids)

    def queued(self) -> int:
        """Messages sent to the component and not yet taken by it (its receive queue)."""
        return len(self.serializer.inbound)

    def has_work(self) -> bool:
        return bool(self.serializer.inbound) or not self.serializer.foreign.empty()

    def run(self, budget: int) -> int:
        """Let the component consume up to `budget` queued messages. Returns how many it consumed."""
        ser = self.serializer
        done = ser.drain_foreign() if not ser.foreign.empty() else 0
        m = self.metrics
        if m is None:
            return self._steps(budget, done)[0]
        # execute latency: the component's time on the tuples it takes in this call, two perf_counter_ns per
        # call (not per tuple: a per-tuple clock read and histogram update cost ~5% of an inline pass-through);
        # the histogram gets the call's average for each of its tuples. Heartbeats are not tuples.
        first = done
        t0 = _perf_ns()
        done, beats = self._steps(budget, done)
        n = done - first - beats
        if n > 0:
            took = _perf_ns() - t0
            m.exec_ns += took
            m.exec_count += n
            m.buckets[BUCKET_OF_BITS[(took // n - 1).bit_length()]] += n
        return done

    def _steps_messages(self, budget: int, done: int) -> tuple[int, int]:
        """The component's own `_run` for each queued message: (messages consumed, heartbeats among them)."""
        inbound = self.serializer.inbound
        component = self.component
        beats = 0
        while inbound and done < budget and self.alive:
            head = inbound[0]
            if type(head) is list:
                inbound.popleft()  # task ids nobody asked for (the emit did not want them): drop
                continue
            if type(head) is dict and head.get("stream") == _HEARTBEAT:
                beats += 1
            try:
                component._run()
            except Exception as exc:
                self._raised(component, exc)
                if not self.alive:
                    return done + 1, beats
            done += 1
        return done, beats

    def _steps_bolt(self, budget: int, done: int) -> tuple[int, int]:
        """pystorm's `Bolt._run` for each queued tuple, without the messages: the tuple becomes the `Tuple`
        pystorm's `read_tuple` makes, then `process` (`process_tick` for a tick) and the automatic ack."""
        inbound = self.serializer.inbound
        popleft = inbound.popleft
        c = self.component
        types = c._source_tuple_types
        make = PystormTuple
        new = tuple.__new__  # a namedtuple made as its own __new__ makes it, without that call
        # The component's ack is the adapter's (pystorm's Bolt.ack, straight to the executor): the automatic
        # ack is taken into the run's acks without it (id, time), handled by `flush` at the end of the run or
        # before anything else reaches the executor (see `_bind_direct`).
        direct_ack = self._direct_ack
        acks = self._acks if direct_ack is not None and c.__dict__.get("ack") is direct_ack else None
        acked = acks.append if acks is not None else None
        flush = self._flush
        perf_ns = _perf_ns
        current = self._current
        beats = 0
        # the (source component, stream) of the last tuple, and its value type, arity (-1: none) and tick-ness
        last_comp = last_stream = None
        val_type: Any = None
        arity = -1
        tick = False
        # what pystorm read while waiting for task ids (its own deque, never replaced): its loop takes it first
        pending_commands = c._pending_commands
        if not self.alive:
            return done, beats
        try:
            # `alive` changes only when the component raised (below, which returns)
            while inbound and done < budget:
                entry = popleft()
                if type(entry) is not tuple or pending_commands:
                    if type(entry) is list:
                        continue  # task ids nobody asked for (the emit did not want them): dropped
                    inbound.appendleft(entry)  # for pystorm's own loop to read
                    if type(entry) is dict and entry.get("stream") == _HEARTBEAT:
                        beats += 1
                    try:
                        c._run()  # a heartbeat: pystorm's own loop answers it
                    except Exception as exc:
                        flush()
                        self._raised(c, exc)
                        if not self.alive:
                            return done + 1, beats
                    done += 1
                    continue
                tid, comp, stream, task, values, screened = entry
                try:
                    if stream is not last_stream or comp is not last_comp:
                        val_type = types[comp].get(stream)
                        arity = -1 if val_type is None else len(val_type._fields)
                        tick = stream == _TICK_STREAM and comp == _TICK_COMPONENT
                        last_comp, last_stream = comp, stream
                    if len(values) == arity:
                        values = new(val_type, values)
                    elif val_type is None:
                        values = tuple(values)
                    else:
                        values = val_type(*values)  # raises as pystorm's read_tuple does
                    tup = new(make, (tid, comp, stream, task, values))
                    current[0] = c._current_tups = [tup]
                    current[1] = tid
                    current[2] = values if screened else None
                    if tick:
                        c.process_tick(tup)
                    else:
                        c.process(tup)
                    if c.auto_ack:
                        if acked is not None:
                            acked(tid)
                            acked(perf_ns())
                        else:
                            c.ack(tup)
                    c._current_tups = []
                except Exception as exc:
                    flush()
                    self._raised(c, exc)
                    if not self.alive:
                        return done + 1, beats
                done += 1
            return done, beats
        finally:
            flush()

    def _steps_spout(self, budget: int, done: int) -> tuple[int, int]:
        """pystorm's `Spout._run` for each queued command, its `sync` answered straight to the executor (the
        syncs of a run of acks and fails at once, after the last of them)."""
        inbound = self.serializer.inbound
        popleft = inbound.popleft
        c = self.component
        ex = self.executor
        sync = ex._spout_sync
        synced = ex.synced
        ex.last_heard = ex.engine.now
        flush = self._flush  # the emits of the component's calls so far (`SpoutExecutor.run_emitter`)
        pending_commands = c._pending_commands  # pystorm's own deque, never replaced
        settled = 0  # acks and fails answered and not yet synced
        try:
            while inbound and done < budget and self.alive:
                cmd = inbound[0]
                kind = type(cmd)
                if (kind is not dict and kind is not tuple) or pending_commands:
                    if type(cmd) is list:
                        popleft()  # task ids nobody asked for (the emit did not want them): drop
                        continue
                    if settled:
                        flush()
                        synced(settled)
                        settled = 0
                    try:
                        c._run()
                    except Exception as exc:
                        flush()
                        self._raised(c, exc)
                        if not self.alive:
                            return done + 1, 0
                    done += 1
                    continue
                popleft()
                try:
                    if kind is tuple:  # an ack as `SpoutExecutor.trees_acked` queues it: (id,)
                        c.ack(cmd[0])
                        settled += 1
                        done += 1
                        while inbound and done < budget:  # the rest of a run of them
                            head = inbound[0]
                            if type(head) is not tuple or pending_commands:
                                break
                            popleft()
                            c.ack(head[0])
                            settled += 1
                            done += 1
                        continue
                    name = cmd["command"]
                    if name == "ack":
                        c.ack(cmd["id"])
                        settled += 1
                        done += 1
                        while inbound and done < budget:  # the rest of a run of acks, in a tighter loop
                            cmd = inbound[0]
                            if type(cmd) is not dict or cmd.get("command") != "ack" or pending_commands:
                                break
                            popleft()
                            c.ack(cmd["id"])
                            settled += 1
                            done += 1
                        continue
                    if name == "fail":
                        c.fail(cmd["id"])
                        settled += 1
                        done += 1
                        continue
                    flush()
                    if settled:
                        synced(settled)
                        settled = 0
                    if name == "next":
                        c.next_tuple()
                    elif name == "activate":
                        c.activate()
                    elif name == "deactivate":
                        c.deactivate()
                    else:
                        c.logger.error("Received invalid command from Storm: %r", cmd)
                    flush()
                    sync(_SYNC)
                except Exception as exc:
                    flush()
                    if settled:
                        synced(settled)
                        settled = 0
                    self._raised(c, exc)
                    if not self.alive:
                        return done + 1, 0
                done += 1
            flush()
            if settled:
                synced(settled)
            return done, 0
        finally:
            flush()

    def _bind_direct(self) -> None:
        """Drive the component without multilang messages where it runs pystorm's own code (`direct_kind`)."""
        c = self.component
        cls = type(c)
        kind = direct_kind(cls)
        if kind is None:
            return
        ex = self.executor
        owner = threading.get_ident()
        get_ident = threading.get_ident
        screen = self.serializer.screen
        flat = screen.flat if screen is not None else None
        make = PystormTuple
        self.direct = kind
        if kind == "bolt":
            append = self.serializer.inbound.append

            def send_tuple(tid: str, comp: str, stream: str, task: int, values: Any) -> None:
                append((tid, comp, stream, task, values, False))

            self.send_tuple = send_tuple  # type: ignore[method-assign]
            ex._inbox = append  # the executor's deliver queues tuples itself
            self._steps = self._steps_bolt
            # the run's emits and automatic acks; whatever else reaches the executor handles them first
            run_emit, self._acks, flush = ex.run_paths()
            self._flush_before_messages(flush)
            if _same(cls, "emit", Bolt):
                slow_emit = cls.emit
                emit_values = ex.emit
                emit_anchored = ex.emit_anchored
                current = self._current

                def bolt_emit(
                    tup: Any,
                    stream: str | None = None,
                    anchors: Any = None,
                    direct_task: int | None = None,
                    need_task_ids: bool = False,
                ) -> Any:
                    """pystorm's Bolt.emit, straight to the executor."""
                    if anchors is None:
                        if (
                            c._current_tups is current[0]
                            and direct_task is None
                            and c.auto_anchor
                            and isinstance(tup, (list, tuple))
                            and get_ident() == owner
                            # the anchor id is the runner's; the default stream, None, needs no look
                            and (
                                flat is None
                                # its values as they came, screened on their way in
                                or (tup is current[2] and stream is None)
                                or flat(tup, stream)
                            )
                        ):
                            # auto-anchored to the tuple in `process` (the usual case)
                            tasks = run_emit(stream or "default", tup, current[1])
                            if tasks is None:
                                flush()
                                tasks = emit_anchored(stream or "default", tup, current[1])
                            return list(tasks) if need_task_ids else None
                        anchors = c._current_tups if c.auto_anchor else []
                    ids = [a.id if isinstance(a, make) else a for a in anchors]
                    if (
                        isinstance(tup, (list, tuple))
                        and get_ident() == owner
                        and (flat is None or flat((*tup, stream, *ids)))
                    ):
                        flush()
                        tasks = emit_values(stream or "default", tup, ids, direct_task)
                        if not need_task_ids:
                            return None
                        return [direct_task] if direct_task is not None else list(tasks)
                    return slow_emit(
                        c,
                        tup,
                        stream=stream,
                        anchors=anchors,
                        direct_task=direct_task,
                        need_task_ids=need_task_ids,
                    )

                c.emit = bolt_emit
            for name, settle in (("ack", ex.ack), ("fail", ex.fail)):
                if _same(cls, name, Bolt):
                    c.__dict__[name] = self._settler(name, settle, owner, flush)
            self._direct_ack = c.__dict__.get("ack")
        else:
            self._steps = self._steps_spout
            ex.ack_ids = True  # a run of completed trees queues each ack as (id,): see `_steps_spout`
            # emits taken into a run, handled in one go by `flush`; whatever else reaches the executor
            # handles the run first
            run_emit, flush = ex.run_emitter()
            self._flush_before_messages(flush)
            if _same(cls, "emit", Spout):
                slow_emit = cls.emit
                emit_values = ex.emit

                def spout_emit(
                    tup: Any,
                    tup_id: Any = None,
                    stream: str | None = None,
                    direct_task: int | None = None,
                    need_task_ids: bool = False,
                ) -> Any:
                    """pystorm's Spout.emit, straight to the executor (into its run when it takes it)."""
                    if (
                        isinstance(tup, (list, tuple))
                        and get_ident() == owner
                        and (
                            flat is None
                            or (flat(tup, tup_id) if stream is None else flat((*tup, stream), tup_id))
                        )
                    ):
                        if direct_task is None:
                            tasks = run_emit(stream or "default", tup, tup_id)
                            if tasks is not None:
                                return list(tasks) if need_task_ids else None
                        flush()
                        tasks = emit_values(stream or "default", tup, tup_id, direct_task)
                        if not need_task_ids:
                            return None
                        return [direct_task] if direct_task is not None else list(tasks)
                    flush()
                    return slow_emit(
                        c,
                        tup,
                        tup_id=tup_id,
                        stream=stream,
                        direct_task=direct_task,
                        need_task_ids=need_task_ids,
                    )

                c.emit = spout_emit

    def _flush_before_messages(self, flush: Callable[[], None]) -> None:
        """Keep `flush` (the run's collected emits and acks) and make every message the component sends outside
        a run handle the run first, so their order is the order of the calls."""
        self._flush = flush
        handle = self._on_message

        def on_message(msg: Any) -> None:
            flush()
            handle(msg)

        self._on_message = on_message
        if self.serializer._on_message is handle:
            self.serializer._on_message = on_message

    def _settler(
        self, command: str, settle: Callable[[Any], None], owner: int, flush: Callable[[], None]
    ) -> Callable[[Any], None]:
        """pystorm's Bolt.ack / Bolt.fail, straight to the executor (from the component's own thread), after
        the acks of the run so far (`flush`)."""
        make = PystormTuple
        get_ident = threading.get_ident
        send = self.component.send_message

        def settler(tup: Any) -> None:
            tup_id = tup.id if isinstance(tup, make) else tup
            if get_ident() == owner:
                flush()
                settle(tup_id)
            else:
                send({"command": command, "id": tup_id})

        return settler

    def _raised(self, component: Any, exc: Exception) -> None:
        """The component raised: pystorm's own handling, then (unless it keeps going) the task is dead."""
        text = traceback.format_exc()
        try:
            component._handle_run_exception(exc)
        except Exception:
            text += "\nwhile reporting it:\n" + traceback.format_exc()
        if self.raise_errors:
            raise exc
        if getattr(component, "exit_on_exception", True):
            self.alive = False
            self._on_death(f"raised:\n{text}")

    def stop(self) -> None:
        self.alive = False
        logger = getattr(self, "_logger", None)
        if logger is not None:
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logging.Logger.manager.loggerDict.pop(logger.name, None)
        inbound = self.serializer.inbound
        inbound.clear()

    def stderr_tail(self) -> str:
        return ""

    @property
    def os_pid(self) -> int:
        return os.getpid()
