"""How `squall run` starts a Python component process: `streamparse_run`'s own `main`, with the same
arguments, after changes to pystorm's serializers. First: a message its serializer cannot encode is replaced by an `error`
command that names it (`squall.protocol.carry`), instead of being logged ("Failed to send message") and
dropped. The runner then fails the tuple, so nothing is lost silently. The component's code is untouched.

Per-tuple messages (emit, ack, fail, sync) are written in batches, before the component waits for input,
instead of one write per message (`buffer_output`); the serializers read and encode with less Python per
message (`faster_serializers`), and a bolt makes each tuple it reads with less Python (`faster_read_tuple`).
Same bytes, same order.

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
import select
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
_KEPT_COMMANDS = frozenset({"emit", "ack", "fail", "sync"})  # buffer_output: the per-tuple messages
_KEEP_BYTES = 1 << 16
_END = b"\nend\n"
# One read of stdin (pystorm's msgpack reader asks for 1 MiB): a pipe holds 64 KiB, and os.read allocates the
# size asked for (from 128 KiB on an mmap and munmap with page faults, ~15-20 us a read against ~1 us).
_READ_CHUNK = 1 << 16
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


def _simplejson_encode() -> Callable[[Any], str]:
    """`simplejson.JSONEncoder(namedtuple_as_object=False).encode` (what pystorm's `json.dumps(msg,
    namedtuple_as_object=False)` does), the same text, with simplejson's C encoder made once instead of once
    per call, as its `iterencode` makes it (its markers and key memo emptied after each call, as there)."""
    import decimal

    import simplejson  # type: ignore[import-untyped]
    import simplejson.encoder as sje  # type: ignore[import-untyped]

    standard = simplejson.JSONEncoder(namedtuple_as_object=False)
    make = getattr(sje, "c_make_encoder", None)
    if make is None or not standard.ensure_ascii or standard.encoding not in ("utf-8", None):
        return standard.encode  # type: ignore[no-any-return]
    markers: dict[int, Any] = {}
    key_memo: dict[Any, Any] = {}
    bits = 53 if standard.bigint_as_string else standard.int_as_string_bitcount
    try:
        encoder = make(
            markers,
            standard.default,
            sje.encode_basestring_ascii,
            standard.indent,
            standard.key_separator,
            standard.item_separator,
            standard.sort_keys,
            standard.skipkeys,
            standard.allow_nan,
            key_memo,
            standard.use_decimal,
            standard.namedtuple_as_object,
            standard.tuple_as_array,
            bits,
            standard.item_sort_key,
            standard.encoding,
            standard.for_json,
            standard.ignore_nan,
            decimal.Decimal,
            standard.iterable_as_array,
        )
    except TypeError:  # another simplejson's C encoder: the standard encode
        return standard.encode  # type: ignore[no-any-return]
    fallback = standard.encode
    join = "".join

    def encode(message: Any) -> str:
        if type(message) is not dict:
            return fallback(message)  # type: ignore[no-any-return]
        try:
            chunks = encoder(message, 0)
        finally:
            key_memo.clear()
            markers.clear()
        return join(chunks)

    return encode


def faster_serializers(json_cls: type | None = None, msgpack_cls: type | None = None) -> None:
    """Less Python per message in pystorm's serializers, with the same bytes on the wire and the same
    results (the component's code and pystorm's loop are untouched):

    * JSON `read_message`: reads what is there on stdin (one `os.read`) and splits it at "\\nend\\n",
      instead of reading line by line through a text wrapper and joining the lines; each message is decoded
      with `simplejson.loads`, as pystorm does.
    * msgpack `read_message`: pystorm's reader (one msgpack Unpacker fed what one `os.read` returns), as a
      method instead of a generator.
    * Both readers write what `buffer_output` kept before they wait for input.
    * `serialize_dict`: one msgpack Packer / simplejson encoder for the main thread instead of one per
      message (the same bytes as `msgpack.packb` / `json.dumps(msg, namedtuple_as_object=False)`); other
      threads (a batching bolt's timer) use pystorm's own calls.

    `json_cls`, `msgpack_cls`: the classes to change (pystorm's JSONSerializer and MsgpackSerializer)."""
    import msgpack
    import simplejson
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
        write_kept = getattr(self, "_squall_write_kept", None)  # buffer_output's, when installed
        if fd is None:  # not a file (a test's in-memory stream): pystorm's own reader
            if write_kept is not None:
                write_kept()
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
            if write_kept is not None:
                write_kept()  # what the component sent goes out before it waits for input
            with self._reader_lock:
                data = os.read(fd, _READ_CHUNK)
            if not data:
                raise StormWentAwayError()
            buf += data

    def msgpack_read_message(self: Any) -> Any:
        unpacker = self.__dict__.get("_squall_unpacker")
        if unpacker is None:
            unpacker = self._squall_unpacker = msgpack.Unpacker()  # pystorm's reader's settings
            try:
                self._squall_fd = self.input_stream.fileno()
            except (io.UnsupportedOperation, AttributeError, ValueError):
                self._squall_fd = None
        while True:
            try:
                return next(unpacker)
            except StopIteration:
                pass
            write_kept = getattr(self, "_squall_write_kept", None)  # buffer_output's, when installed
            if write_kept is not None:
                write_kept()  # what the component sent goes out before it waits for input
            fd = self._squall_fd
            with self._reader_lock:
                data = os.read(fd, _READ_CHUNK) if fd is not None else self.input_stream.read(_READ_CHUNK)
            if not data:
                raise StormWentAwayError()
            unpacker.feed(data)

    packb = msgpack.packb
    pack = msgpack.Packer().pack

    def msgpack_serialize_dict(self: Any, msg_dict: Any) -> Any:
        return pack(msg_dict) if get_ident() == main else packb(msg_dict)

    dumps = simplejson.dumps
    encode = _simplejson_encode()

    def json_serialize_dict(self: Any, msg_dict: Any) -> Any:
        if get_ident() == main:
            return encode(msg_dict) + "\nend\n"
        return dumps(msg_dict, namedtuple_as_object=False) + "\nend\n"

    setattr(json_read_message, _FAST, True)
    json_to.read_message = json_read_message
    json_to.serialize_dict = json_serialize_dict
    msgpack_to.serialize_dict = msgpack_serialize_dict
    msgpack_to.read_message = msgpack_read_message


def write_all(out: Any, data: bytes | str) -> None:
    """Write all of `data` to `out` and flush. Under PYTHONUNBUFFERED (`python -u`, many containers) stdout's
    binary layer is the raw file, whose `write` may take only part of the data when a signal interrupts a
    write into a full pipe (pystorm ignores the count; so do text wrappers over it): the rest would be lost
    and the runner would read a broken message. Text (JSON) goes to the binary layer under `out`."""
    if isinstance(data, str):
        binary = getattr(out, "buffer", None)
        if binary is None:
            out.write(data)
            out.flush()
            return
        out.flush()  # whatever was written through the text layer goes first
        out, data = binary, data.encode("utf-8")
    n = out.write(data)
    if n is not None and n >= len(data):
        out.flush()
        return
    view = memoryview(data)[n or 0 :]
    while view:
        n = out.write(view)
        if n is None:  # a non-blocking stream that took nothing: wait until it takes more
            select.select([], [out], [], 1.0)
            continue
        view = view[n:]
    out.flush()


def buffer_output(serializer_cls: type | None = None, component_cls: type | None = None) -> None:
    """Write a component's per-tuple messages in batches: an emit, ack, fail or sync sent from the main
    thread of a component that reads through its serializer (pystorm's read_message) is kept (encoded) until the component is about to wait for input (its serializer reads stdin),
    exits, has kept 64 KiB, or sends something else (the pid reply, a log, an error, metrics) or sends from
    another thread; then everything kept goes out in one write, in order, followed by that message. The
    bytes on the wire are the same, in the same order; a component process makes one write per batch of
    tuples instead of one per message (pystorm writes and flushes each message; with PYTHONUNBUFFERED, as in
    many containers, even its buffered stream is a write per message).

    `serializer_cls`, `component_cls`: the classes to change (pystorm's Serializer and Component)."""
    from pystorm.component import Component
    from pystorm.exceptions import StormWentAwayError
    from pystorm.serializers.serializer import Serializer

    ser_to: Any = serializer_cls or Serializer
    comp_to: Any = component_cls or Component
    if getattr(ser_to.send_message, _FAST, False):
        return
    log = logging.getLogger("pystorm.serializers.serializer")  # where pystorm logs a failed send
    main = threading.main_thread().ident
    get_ident = threading.get_ident
    kept_commands = _KEPT_COMMANDS
    limit = _KEEP_BYTES

    def flush(self: Any, last: Any = None) -> None:
        """Write what is kept (and `last`, encoded) and flush; the caller holds the writer lock."""
        kept = self.__dict__.get("_squall_kept")
        if kept:
            if last is not None:
                kept.append(last)
            data = kept[0][:0].join(kept)  # bytes (msgpack) or str (JSON)
            kept.clear()
            self._squall_kept_size = 0
        elif last is not None:
            data = last
        else:
            return
        write_all(self.output_stream, data)

    def send_message(self: Any, msg_dict: Any) -> None:
        with self._writer_lock:
            try:
                data = self.serialize_dict(msg_dict)
                if (
                    get_ident() == main
                    and msg_dict.get("command") in kept_commands
                    and self.__dict__.get("_squall_keep")
                ):
                    kept = self.__dict__.get("_squall_kept")
                    if kept is None:
                        kept = self._squall_kept = []
                        self._squall_kept_size = 0
                    kept.append(data)
                    self._squall_kept_size += len(data)
                    if self._squall_kept_size >= limit:
                        flush(self)
                else:
                    flush(self, data)
            except OSError as exc:
                raise StormWentAwayError() from exc
            except Exception:  # noqa: BLE001 - as pystorm's send_message
                log.exception("Failed to send message: %r", msg_dict)

    def write_kept(self: Any) -> None:
        """Write what is kept now (before waiting for input, before exiting)."""
        if self.__dict__.get("_squall_kept"):
            with self._writer_lock:
                try:
                    flush(self)
                except OSError as exc:
                    raise StormWentAwayError() from exc

    exit_ = comp_to._exit
    setup = comp_to._setup_component
    own_read = Component.read_message

    def _setup_component(self: Any, storm_conf: Any, context: Any) -> None:
        setup(self, storm_conf, context)
        # Keep messages only where the component reads through its serializer (which writes what is kept
        # before it waits): a class with its own read_message might wait for input with messages kept.
        self.serializer._squall_keep = getattr(type(self), "read_message", None) is own_read

    def _exit(self: Any, status_code: int) -> None:
        try:
            write_kept(self.serializer)
        except Exception:  # noqa: BLE001 - exiting anyway (the runner may be gone)
            pass
        exit_(self, status_code)

    setattr(send_message, _FAST, True)
    ser_to.send_message = send_message
    ser_to._squall_write_kept = write_kept
    comp_to._exit = _exit
    comp_to._setup_component = _setup_component


def faster_read_tuple(bolt_cls: type | None = None) -> None:
    """pystorm's `Bolt.read_tuple` with the `Tuple` and the stream's namedtuple of values made by
    `tuple.__new__` (what their namedtuple `__new__` does, without that Python call for each), the arity
    checked first: a tuple of another arity goes to the namedtuple's own call, which raises as pystorm's
    does. Same results. `bolt_cls`: the class to change (pystorm's Bolt)."""
    from pystorm.bolt import Bolt
    from pystorm.component import Tuple

    to: Any = bolt_cls or Bolt
    if getattr(to.read_tuple, _FAST, False):
        return
    new = tuple.__new__

    def read_tuple(self: Any) -> Any:
        cmd = self.read_command()
        source = cmd["comp"]
        stream = cmd["stream"]
        values = cmd["tuple"]
        val_type = self._source_tuple_types[source].get(stream)
        if val_type is None:
            values = tuple(values)
        elif len(values) == len(val_type._fields):
            values = new(val_type, values)
        else:
            values = val_type(*values)
        return new(Tuple, (cmd["id"], source, stream, cmd["task"], values))

    setattr(read_tuple, _FAST, True)
    to.read_tuple = read_tuple


def install() -> None:
    """Guard every serializer streamparse_run can choose (`-s json`, `-s msgpack`), made faster first
    (`faster_serializers`), with the component's per-tuple messages written in batches (`buffer_output`);
    time bolts' execute."""
    from pystorm.component import _SERIALIZERS  # the table streamparse_run chooses from

    faster_serializers()
    faster_read_tuple()
    buffer_output()
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
