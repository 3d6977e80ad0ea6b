"""The component process's writes (squall.runner.bootstrap.buffer_output): per-tuple messages are kept and
written in one go before the component waits for input; everything else goes out at once, in order."""

from __future__ import annotations

import io
import os
import threading
from collections import namedtuple
from typing import Any

import pytest
from pystorm.component import Component
from pystorm.serializers.json_serializer import JSONSerializer
from pystorm.serializers.msgpack_serializer import MsgpackSerializer

from squall.protocol import framing_for
from squall.runner.bootstrap import buffer_output, faster_serializers


def _classes(serializer: str) -> tuple[type, type]:
    class Json(JSONSerializer):  # type: ignore[misc]
        pass

    class Msgpack(MsgpackSerializer):  # type: ignore[misc]
        pass

    class Comp(Component):  # type: ignore[misc]
        exits: list[int] = []

        def _exit(self, status_code: int) -> None:  # pystorm's would exit the process
            self.exits.append(status_code)

        def _setup_component(self, storm_conf: Any, context: Any) -> None:
            pass  # pystorm's sets up logging for the whole process

    faster_serializers(Json, Msgpack)
    ser = Json if serializer == "json" else Msgpack
    buffer_output(ser, Comp)
    return ser, Comp


def _written(fd: int) -> bytes:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 1 << 20)
    except BlockingIOError:
        return b""


@pytest.mark.parametrize("serializer", ["msgpack", "json"])
def test_per_tuple_messages_wait_for_the_next_read_and_keep_their_order(serializer: str) -> None:
    ser_cls, _ = _classes(serializer)
    framing = framing_for(serializer)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    lock = threading.RLock()
    with open(in_r, "rb", buffering=0) as stdin, open(out_w, "wb") as stdout:
        ser = ser_cls(stdin, stdout, lock, lock)
        ser._squall_keep = True  # set by Component._setup_component for a class reading through it
        emit = {"command": "emit", "tuple": ["a", 1], "anchors": ["3"], "need_task_ids": False}
        ser.send_message(emit)
        ser.send_message({"command": "ack", "id": "3"})
        assert _written(out_r) == b""  # kept
        log = {"command": "log", "msg": "hello", "level": 2}
        ser.send_message(log)  # not a per-tuple message: out at once, after what was kept
        assert framing.decoder().feed(_written(out_r)) == [emit, {"command": "ack", "id": "3"}, log]
        ser.send_message({"command": "sync"})
        os.write(in_w, framing.encode({"command": "next"}))
        assert ser.read_message() == {"command": "next"}  # the read wrote the sync first
        assert framing.decoder().feed(_written(out_r)) == [{"command": "sync"}]

        def from_another_thread() -> None:
            ser.send_message({"command": "emit", "tuple": ["t"], "need_task_ids": False})

        ser.send_message({"command": "ack", "id": "4"})
        worker = threading.Thread(target=from_another_thread)
        worker.start()
        worker.join()
        got = framing.decoder().feed(_written(out_r))
        assert got == [
            {"command": "ack", "id": "4"},
            {"command": "emit", "tuple": ["t"], "need_task_ids": False},
        ]
    os.close(in_w)
    os.close(out_r)


def test_a_full_buffer_and_the_exit_write_what_is_kept() -> None:
    ser_cls, comp_cls = _classes("msgpack")
    out = io.BytesIO()
    lock = threading.RLock()
    ser = ser_cls(io.BytesIO(), out, lock, lock)
    ser._squall_keep = True
    big = {"command": "emit", "tuple": ["x" * 40_000], "need_task_ids": False}
    ser.send_message(big)
    assert out.getvalue() == b""
    ser.send_message(big)  # 80 KB kept: over the 64 KiB limit
    assert len(framing_for("msgpack").decoder().feed(out.getvalue())) == 2
    ser.send_message({"command": "sync"})
    comp = comp_cls.__new__(comp_cls)
    comp.serializer = ser
    comp._exit(3)  # buffer_output's: writes what is kept, then the class's own _exit
    assert comp.exits == [3]
    assert framing_for("msgpack").decoder().feed(out.getvalue())[-1] == {"command": "sync"}


def test_nothing_is_kept_for_a_component_that_reads_by_itself() -> None:
    ser_cls, comp_cls = _classes("msgpack")

    class OwnReader(comp_cls):  # type: ignore[misc,valid-type]
        def read_message(self) -> Any:
            return {}

    out = io.BytesIO()
    comp = OwnReader(input_stream=io.BytesIO(), output_stream=io.BytesIO(), rdb_signal=None)
    lock = threading.RLock()
    comp.serializer = ser_cls(io.BytesIO(), out, lock, lock)
    comp._setup_component(
        {"topology.name": "t", "pystorm.log.path": "/tmp"}, {"taskid": 1, "componentid": "c"}
    )
    comp.serializer.send_message({"command": "sync"})
    assert framing_for("msgpack").decoder().feed(out.getvalue()) == [{"command": "sync"}]


class _Skimpy(io.RawIOBase):
    """A raw stream that takes at most `step` bytes a write (as a pipe write cut short by a signal)."""

    def __init__(self, step: int) -> None:
        self.data = bytearray()
        self.step = step

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        chunk = bytes(b[: self.step])
        self.data += chunk
        return len(chunk)


@pytest.mark.parametrize("serializer", ["msgpack", "json"])
def test_a_write_cut_short_is_completed(serializer: str) -> None:
    """PYTHONUNBUFFERED makes stdout's binary layer the raw file: a write may take only part of a batch."""
    ser_cls, _ = _classes(serializer)
    raw = _Skimpy(7)
    lock = threading.RLock()
    ser = ser_cls(io.BytesIO(), raw, lock, lock)  # JSON: pystorm wraps it in a text layer, as stdout
    ser._squall_keep = True
    sent = [{"command": "emit", "tuple": ["é" * 30, n], "need_task_ids": False} for n in range(50)]
    for msg in sent:
        ser.send_message(msg)
    ser.send_message({"command": "log", "msg": "flushes", "level": 2})
    assert framing_for(serializer).decoder().feed(bytes(raw.data)) == [
        *sent,
        {"command": "log", "msg": "flushes", "level": 2},
    ]


def test_faster_read_tuple_makes_what_pystorm_makes() -> None:
    from pystorm.bolt import Bolt

    from squall.runner.bootstrap import faster_read_tuple

    class Plain(Bolt):  # type: ignore[misc]
        pass

    class Fast(Bolt):  # type: ignore[misc]
        pass

    faster_read_tuple(Fast)
    faster_read_tuple(Fast)  # once only
    assert Fast.read_tuple is not Bolt.read_tuple and Plain.read_tuple is Bolt.read_tuple
    src_default = namedtuple("SrcDefaultTuple", ["word", "n"])
    messages = [
        {"id": "1", "comp": "src", "stream": "default", "task": 3, "tuple": ["a", 1]},
        {"id": "2", "comp": "other", "stream": "s", "task": 4, "tuple": ["b", 2, 3]},
        {"id": "3", "comp": "__system", "stream": "__tick", "task": -1, "tuple": [5]},
        {"id": "4", "comp": "src", "stream": "default", "task": 3, "tuple": ["too", "many", "values"]},
    ]
    bolts = []
    for cls in (Plain, Fast):
        bolt = cls(input_stream=io.BytesIO(), output_stream=io.BytesIO(), rdb_signal=None)
        bolt._source_tuple_types["src"]["default"] = src_default  # as _setup_component makes it
        queue = list(messages)
        bolt.read_command = lambda queue=queue: queue.pop(0)  # type: ignore[method-assign]
        bolts.append(bolt)
    plain, fast = bolts
    for _ in range(3):
        a, b = plain.read_tuple(), fast.read_tuple()
        assert a == b and type(a) is type(b) and type(a.values) is type(b.values)
    with pytest.raises(TypeError) as plain_error:
        plain.read_tuple()
    with pytest.raises(TypeError) as fast_error:
        fast.read_tuple()
    assert str(plain_error.value) == str(fast_error.value)
