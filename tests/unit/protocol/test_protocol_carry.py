"""What a component's serializer can carry: the inline screen agrees with pystorm's own serializers, the
report names the offending value, and the process-mode guard writes that report instead of dropping."""

from __future__ import annotations

import io
import json
import math
import os
import threading
from collections import namedtuple
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pystorm.exceptions import StormWentAwayError
from pystorm.serializers.json_serializer import JSONSerializer
from pystorm.serializers.msgpack_serializer import MsgpackSerializer

from squall.protocol import framing_for
from squall.protocol.carry import (
    UNSERIALIZABLE,
    Screen,
    component_encoder,
    describe_lost,
    find_offender,
    lost_message_report,
)
from squall.protocol.framing import JsonFraming
from squall.runner.bootstrap import faster_serializers, guard

odd = st.sampled_from([{1, 2}, object(), b"\xff", b"ok", float("nan"), 2**70, -(2**64), "\ud800", (1, 2)])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=8), odd
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


def encodes(encode: Any, message: dict[str, Any]) -> bool:
    try:
        encode(message)
    except Exception:  # noqa: BLE001
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(tup=st.lists(values, max_size=4), msg_id=st.one_of(st.none(), st.text(max_size=4), odd))
@pytest.mark.parametrize("serializer", ["json", "msgpack"])
def test_the_screen_passes_exactly_what_pystorm_can_encode(serializer: str, tup: list, msg_id: Any) -> None:
    screen = Screen(serializer)
    message: dict[str, Any] = {"command": "emit", "tuple": tup, "need_task_ids": False}
    if msg_id is not None:
        message["id"] = msg_id
    out = screen(message)
    if encodes(screen.encode, message):
        assert out is message
    else:
        assert out["command"] == "error" and out[UNSERIALIZABLE]["serializer"] == serializer
        screen.encode(out)  # the report itself always travels


@pytest.mark.parametrize(
    "serializer, value, where, kind",
    [
        ("json", [1, {2, 3}], "tuple[1]", "set"),
        ("json", [{"a": [0, float("nan")]}], "tuple[0]['a'][1]", "float"),
        ("json", [{(1, 2): 3}], "tuple[0] key (1, 2)", "tuple"),
        ("json", [b"\xff"], "tuple[0]", "bytes"),
        ("msgpack", ["ok", "\ud800"], "tuple[1]", "str"),
        ("msgpack", [[2**64]], "tuple[0][0]", "int"),
    ],
)
def test_the_offender_is_named_by_path_and_type(serializer: str, value: list, where: str, kind: str) -> None:
    assert find_offender(value, component_encoder(serializer)) == (where, kind)
    report = Screen(serializer)({"command": "emit", "tuple": value, "stream": "s", "id": "7"})
    info = report[UNSERIALIZABLE]
    assert (info["where"], info["type"], info["stream"], info["id"]) == (where, kind, "s", "7")
    text = describe_lost(info, "the tuple failed")
    assert text.startswith(
        f"emit on stream 's' cannot be serialized with {serializer}: {where} is of type {kind} ("
    )
    assert "the tuple failed (fix: " in text


def test_an_id_the_serializer_cannot_carry_is_reported_as_such() -> None:
    encode = component_encoder("json")
    report = lost_message_report(
        {"command": "emit", "tuple": [1], "id": {1}}, TypeError("set"), "json", encode
    )
    info = report[UNSERIALIZABLE]
    assert info["where"] == "id" and info["has_id"] and not info["id_carried"] and info["id"] is None


def test_plain_tuples_are_not_encoded_at_all() -> None:
    calls: list[Any] = []
    screen = Screen("json", encode=lambda m: calls.append(m))
    screen({"command": "emit", "tuple": ["a", 1, 2.5, None, True], "anchors": ["3"], "id": "x"})
    screen({"command": "ack", "id": "1"})
    assert calls == []
    screen({"command": "emit", "tuple": [math.inf]})
    assert len(calls) == 1


@pytest.mark.parametrize(
    "cls, serializer, bad",
    [(JSONSerializer, "json", {1, 2}), (MsgpackSerializer, "msgpack", 2**70)],
)
def test_the_guarded_pystorm_serializer_writes_the_report_instead_of_dropping(
    cls: type, serializer: str, bad: Any
) -> None:
    class Guarded(cls):  # type: ignore[misc,valid-type]
        pass

    guard(Guarded, serializer)
    out = io.BytesIO()
    lock = threading.RLock()
    ser = Guarded(io.BytesIO(), out, lock, lock)
    ser.send_message({"command": "emit", "tuple": [1, bad], "id": "9", "need_task_ids": False})
    ser.output_stream.flush()
    [msg] = framing_for(serializer).decoder().feed(out.getvalue())
    assert msg["command"] == "error" and "cannot be serialized with" in msg["msg"]
    assert msg[UNSERIALIZABLE]["id"] == "9" and msg[UNSERIALIZABLE]["where"] == "tuple[1]"
    assert not msg[UNSERIALIZABLE]["need_task_ids"]


def _fast_classes() -> tuple[type, type]:
    class FastJSON(JSONSerializer):  # type: ignore[misc]
        pass

    class FastMsgpack(MsgpackSerializer):  # type: ignore[misc]
        pass

    faster_serializers(FastJSON, FastMsgpack)
    return FastJSON, FastMsgpack


_Pair = namedtuple("_Pair", "word n")
_MESSAGES: list[Any] = [
    {"conf": {"topology.name": "t", "a.b": [1, 2.5, None, True]}, "context": {}, "pidDir": "/tmp"},
    {"id": "1", "comp": "source", "stream": "default", "task": 3, "tuple": ["dog", 1]},
    {"command": "emit", "tuple": _Pair("caf\u00e9 \u2603", 2**40), "anchors": ["1"], "need_task_ids": False},
    [4, 5],
    {"command": "next"},
    {
        "id": "x",
        "comp": "a",
        "stream": "s",
        "task": 1,
        "tuple": ["line\nend\nnot an end", "\\nend\\n", {"k": []}],
    },
]


@pytest.mark.parametrize("index", [0, 1])
def test_faster_serializers_encode_the_same_bytes_as_pystorm(index: int) -> None:
    fast = _fast_classes()[index]
    plain = (JSONSerializer, MsgpackSerializer)[index]
    lock = threading.RLock()
    for msg in _MESSAGES:
        if isinstance(msg, dict):
            got = fast(io.BytesIO(), io.BytesIO(), lock, lock).serialize_dict(msg)
            assert got == plain(io.BytesIO(), io.BytesIO(), lock, lock).serialize_dict(msg)


@pytest.mark.parametrize("piece", [1, 7, 4096])
def test_the_faster_json_reader_reads_what_pystorms_reads(piece: int) -> None:
    fast_json, _ = _fast_classes()
    lock = threading.RLock()
    encode = JsonFraming().encode
    wire = b"".join(encode(m) for m in _MESSAGES) + b"\n\n" + encode({"after": "blank lines"})
    read_fd, write_fd = os.pipe()

    def write() -> None:
        for i in range(0, len(wire), piece):
            os.write(write_fd, wire[i : i + piece])
        os.close(write_fd)

    writer = threading.Thread(target=write)
    writer.start()
    with open(read_fd, "rb", buffering=0) as stdin:
        ser = fast_json(stdin, io.BytesIO(), lock, lock)
        got = [ser.read_message() for _ in range(len(_MESSAGES) + 1)]
        with pytest.raises(StormWentAwayError):
            ser.read_message()
    writer.join()
    expected = [json.loads(json.dumps(m)) for m in _MESSAGES] + [{"after": "blank lines"}]
    assert got == expected
    plain = JSONSerializer(io.BytesIO(wire), io.BytesIO(), lock, lock)
    assert [plain.read_message() for _ in expected] == expected


@pytest.mark.parametrize("index", [0, 1])
@pytest.mark.parametrize("bad", [{1, 2}, float("nan"), 2**70, b"\xff", "\ud800", {(1,): 2}])
def test_faster_serializers_fail_as_pystorm_does(index: int, bad: Any) -> None:
    fast = _fast_classes()[index]
    plain = (JSONSerializer, MsgpackSerializer)[index]
    lock = threading.RLock()
    msg = {"command": "emit", "tuple": [1, bad], "need_task_ids": False}

    def outcome(cls: type) -> Any:
        try:
            return cls(io.BytesIO(), io.BytesIO(), lock, lock).serialize_dict(msg)
        except Exception as exc:  # noqa: BLE001 - what pystorm's send_message would log
            return f"{type(exc).__name__}: {exc}"

    assert outcome(fast) == outcome(plain)
    assert outcome(fast) == outcome(plain)  # and again: nothing left over from the failure
