"""How `squall run` starts a Python component process: `streamparse_run`'s own `main`, with the same
arguments, after one change to pystorm: a message its serializer cannot encode is replaced by an `error`
command that names it (`squall.protocol.carry`), instead of being logged ("Failed to send message") and
dropped. The runner then fails the tuple, so nothing is lost silently. The component's code is untouched.

A bolt's execute latency is timed here too (the runner cannot see inside a process): around each tuple's
`process` (its emits included) and automatic ack, with `time.perf_counter_ns`, heartbeats left out
(`time_execute`). The totals go to the runner in a `metrics` message
(`squall.runner.metrics.EXECUTE_METRIC`) at most every REPORT_SECS while tuples flow, and at the next
heartbeat after the last of them.

    python -P -m squall.runner.bootstrap "-s json module.Class"
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from squall.protocol.carry import lost_message_report
from squall.runner.metrics import BUCKET_OF_BITS, EXECUTE_METRIC, new_buckets

_GUARDED = "_squall_guarded"
_TIMED = "_squall_timed"
_FAST = "_squall_fast"
_END = b"\nend\n"
_READ_CHUNK = 1024**2  # as pystorm's msgpack reader
REPORT_SECS = 0.2
_HEARTBEAT = "__heartbeat"


class ExecuteTimer:
    """This process's execute totals as last reported: ns, tuples, a count per latency bucket."""

    __slots__ = ("ns", "count", "buckets", "period_ns")

    def __init__(self, period_secs: float = REPORT_SECS) -> None:
        self.ns = 0
        self.count = 0
        self.buckets = new_buckets()
        self.period_ns = int(period_secs * 1e9)

    def message(self) -> dict[str, Any]:
        return {"command": "metrics", "name": EXECUTE_METRIC, "params": [self.ns, self.count, self.buckets]}


def time_execute(cls: type, timer: ExecuteTimer | None = None) -> ExecuteTimer:
    """Time each tuple's execute in bolts of class `cls` (pystorm's Bolt) and report the totals to the runner
    (`timer` holds what was reported) through the bolt's own `send_message`.

    A bolt that keeps `cls._run` gets a `_run` doing what pystorm's does (read a tuple; a heartbeat is answered
    with `sync`, a tick goes to `process_tick`, any other tuple to `process`; then the automatic ack) with the
    clock read around the tuple's `process` and ack. A bolt with its own `_run` (pystorm's BatchingBolt) is
    timed from `read_tuple` handing it a tuple to its next `read_tuple` call. The running totals are local
    variables of this function: a few integer operations per tuple."""
    timer = timer or ExecuteTimer()
    read: Callable[[Any], Any] = cls.read_tuple  # type: ignore[attr-defined]
    if getattr(read, _TIMED, False):
        return timer
    perf_ns = time.perf_counter_ns
    bucket_of_bits = BUCKET_OF_BITS
    buckets = timer.buckets
    period = timer.period_ns
    started = ns = count = reported_count = next_report = 0

    def report(component: Any, now: int) -> None:
        nonlocal reported_count, next_report
        reported_count, next_report = count, now + period
        timer.ns, timer.count = ns, count
        component.send_message(timer.message())

    def _run(self: Any) -> None:
        nonlocal ns, count
        tup = read(self)
        self._current_tups = [tup]
        if self.is_heartbeat(tup):
            self.send_message({"command": "sync"})
            if count != reported_count:
                report(self, perf_ns())
        else:
            t0 = perf_ns()
            if self.is_tick(tup):
                self.process_tick(tup)
            else:
                self.process(tup)
            if self.auto_ack:
                self.ack(tup)
            now = perf_ns()
            took = now - t0
            ns += took
            count += 1
            buckets[bucket_of_bits[(took - 1).bit_length()]] += 1
            if now >= next_report:
                report(self, now)
        self._current_tups = []

    def read_tuple(self: Any) -> Any:
        nonlocal started, ns, count
        now = perf_ns()
        if started:
            took = now - started
            started = 0
            ns += took
            count += 1
            buckets[bucket_of_bits[(took - 1).bit_length()]] += 1
        if count != reported_count and now >= next_report:
            report(self, now)
        tup = read(self)
        if tup.stream != _HEARTBEAT:
            started = perf_ns()
        return tup

    setattr(read_tuple, _TIMED, True)
    cls._run = _run  # type: ignore[attr-defined]
    cls.read_tuple = read_tuple  # type: ignore[attr-defined]
    return timer


def guard(cls: type, name: str) -> None:
    """Make `cls.serialize_dict` (a pystorm serializer, called `name`) encode the report of a message it
    cannot encode instead of raising (pystorm's `send_message` would log the error and drop the message)."""
    original: Callable[[Any, Any], Any] = cls.serialize_dict  # type: ignore[attr-defined]
    if getattr(original, _GUARDED, False):
        return

    def serialize_dict(self: Any, msg_dict: Any) -> Any:
        try:
            return original(self, msg_dict)
        except Exception as exc:  # noqa: BLE001 - pystorm's send_message catches everything here too
            encode: Callable[[Any], Any] = lambda m: original(self, m)  # noqa: E731
            return original(self, lost_message_report(msg_dict, exc, name, encode))

    setattr(serialize_dict, _GUARDED, True)
    cls.serialize_dict = serialize_dict  # type: ignore[attr-defined]


def faster_serializers(json_cls: type | None = None, msgpack_cls: type | None = None) -> None:
    """Less Python per message in pystorm's serializers, with the same bytes on the wire and the same
    results (the component's code and pystorm's loop are untouched; every message is still written and
    flushed as it is sent):

    * JSON `read_message`: reads what is there on stdin (one `os.read`) and splits it at "\\nend\\n",
      instead of reading line by line through a text wrapper and joining the lines; each message is decoded
      with `simplejson.loads`, as pystorm does.
    * `serialize_dict`: one msgpack Packer / simplejson encoder for the main thread instead of one per
      message (the same bytes as `msgpack.packb` / `json.dumps(msg, namedtuple_as_object=False)`); other
      threads (a batching bolt's timer) use pystorm's own calls.

    `json_cls`, `msgpack_cls`: the classes to change (pystorm's JSONSerializer and MsgpackSerializer)."""
    import msgpack
    import simplejson  # type: ignore[import-untyped]
    from pystorm.exceptions import StormWentAwayError
    from pystorm.serializers.json_serializer import JSONSerializer
    from pystorm.serializers.msgpack_serializer import MsgpackSerializer

    json_to: Any = json_cls or JSONSerializer
    msgpack_to: Any = msgpack_cls or MsgpackSerializer
    if getattr(json_to.read_message, _FAST, False):
        return
    log = logging.getLogger("pystorm.serializers.json_serializer")  # where pystorm logs a decode error
    main = threading.main_thread().ident
    get_ident = threading.get_ident
    original_read = json_to.read_message
    loads = simplejson.loads

    def json_read_message(self: Any) -> Any:
        buf = self.__dict__.get("_squall_in")
        if buf is None:
            try:
                self._squall_fd = self.input_stream.fileno()
            except (io.UnsupportedOperation, AttributeError, ValueError):
                self._squall_fd = None
            buf = self._squall_in = bytearray()
        fd = self._squall_fd
        if fd is None:  # not a file (a test's in-memory stream): pystorm's own reader
            return original_read(self)
        while True:
            if buf.startswith(b"end\n"):  # an empty message (pystorm fails to decode it too)
                end, skip = 0, 4
            else:
                end, skip = buf.find(_END), 5
            if end >= 0:
                text = buf[:end].decode("utf-8")
                del buf[: end + skip]
                try:
                    return loads(text)
                except Exception:
                    log.error("JSON decode error for message: %r", text, exc_info=True)
                    raise
            with self._reader_lock:
                data = os.read(fd, _READ_CHUNK)
            if not data:
                raise StormWentAwayError()
            buf += data

    packb = msgpack.packb
    pack = msgpack.Packer().pack

    def msgpack_serialize_dict(self: Any, msg_dict: Any) -> Any:
        return pack(msg_dict) if get_ident() == main else packb(msg_dict)

    dumps = simplejson.dumps
    encode = simplejson.JSONEncoder(namedtuple_as_object=False).encode

    def json_serialize_dict(self: Any, msg_dict: Any) -> Any:
        if get_ident() == main:
            return encode(msg_dict) + "\nend\n"
        return dumps(msg_dict, namedtuple_as_object=False) + "\nend\n"

    setattr(json_read_message, _FAST, True)
    json_to.read_message = json_read_message
    json_to.serialize_dict = json_serialize_dict
    msgpack_to.serialize_dict = msgpack_serialize_dict


def install() -> None:
    """Guard every serializer streamparse_run can choose (`-s json`, `-s msgpack`), made faster first
    (`faster_serializers`); time bolts' execute."""
    from pystorm.component import _SERIALIZERS  # the table streamparse_run chooses from

    faster_serializers()
    for name, cls in _SERIALIZERS.items():
        guard(cls, name)
    from pystorm.bolt import Bolt

    time_execute(Bolt)


def main(argv: list[str]) -> int:
    install()
    from streamparse.run import main as streamparse_run

    sys.argv = ["streamparse_run", *argv]
    result = streamparse_run()
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
