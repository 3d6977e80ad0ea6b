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

from pystorm.component import Component
from pystorm.serializers.json_serializer import JSONSerializer
from pystorm.serializers.msgpack_serializer import MsgpackSerializer

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
            return self.inbound.popleft()
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
    ) -> None:
        """`serializer`: the topology's multilang serializer; each message is screened for what it could not
        encode (None: no screening). `metrics`: a bolt's counters, to which the time of each tuple inside the
        component (its `_run`) is added (execute latency; None: not timed)."""
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
            self.component.initialize(conf, context)
        except Exception:
            self.alive = False
            if self.raise_errors:
                raise
            self._on_death(f"raised during start:\n{traceback.format_exc()}")

    def send(self, message: Any) -> None:
        self.serializer.inbound.append(message)

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
        inbound = ser.inbound
        component = self.component
        m = self.metrics
        if m is None:
            return self._run_untimed(inbound, component, budget, done)
        # execute latency: the component's time on the tuples it takes in this call, two perf_counter_ns per
        # call (not per tuple: a per-tuple clock read and histogram update cost ~5% of an inline pass-through);
        # the histogram gets the call's average for each of its tuples. Heartbeats are not tuples.
        buckets = m.buckets
        beats = 0
        first = done
        t0 = _perf_ns()
        try:
            while inbound and done < budget and self.alive:
                head = inbound[0]
                if type(head) is list:
                    inbound.popleft()  # task ids nobody asked for (the emit did not want them): drop
                    continue
                if head.get("stream") == _HEARTBEAT:
                    beats += 1
                try:
                    component._run()
                except Exception as exc:
                    self._raised(component, exc)
                    if not self.alive:
                        return done + 1
                done += 1
        finally:
            n = done - first - beats
            if n > 0:
                took = _perf_ns() - t0
                m.exec_ns += took
                m.exec_count += n
                buckets[BUCKET_OF_BITS[(took // n - 1).bit_length()]] += n
        return done

    def _run_untimed(self, inbound: deque[Any], component: Any, budget: int, done: int) -> int:
        while inbound and done < budget and self.alive:
            if type(inbound[0]) is list:
                inbound.popleft()  # task ids nobody asked for (the emit did not want them): drop
                continue
            try:
                component._run()
            except Exception as exc:
                self._raised(component, exc)
                if not self.alive:
                    return done + 1
            done += 1
        return done

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
