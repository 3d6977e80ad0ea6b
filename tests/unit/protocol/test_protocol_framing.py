"""Multilang framing over in-memory streams: round trips, any split, garbage."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from squall.errors import ProtocolError
from squall.protocol import JsonFraming, MsgpackFraming, framing_for, read_messages, write_message

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=20))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
messages = st.one_of(
    st.dictionaries(st.text(min_size=1, max_size=10), values, max_size=6),
    st.lists(st.integers(-1, 10_000), max_size=8),  # task id replies
)


@pytest.mark.parametrize("framing", [JsonFraming(), MsgpackFraming()], ids=["json", "msgpack"])
@given(batch=st.lists(messages, max_size=8), cut=st.integers(1, 64))
def test_round_trip_any_split(framing, batch, cut) -> None:
    data = b"".join(framing.encode(m) for m in batch)
    decoder = framing.decoder()
    out = []
    for i in range(0, len(data), cut):
        out.extend(decoder.feed(data[i : i + cut]))
    assert out == batch


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
def test_streams_are_injected(serializer: str) -> None:
    framing = framing_for(serializer)
    buf = io.BytesIO()
    write_message(buf, framing, {"command": "emit", "tuple": [1, "a"]})
    write_message(buf, framing, [3, 4])
    buf.seek(0)
    assert list(read_messages(buf, framing, chunk=3)) == [{"command": "emit", "tuple": [1, "a"]}, [3, 4]]


def test_json_frame_is_storm_multilang() -> None:
    assert JsonFraming().encode({"command": "sync"}) == b'{"command":"sync"}\nend\n'


def test_json_tolerates_blank_lines_like_pystorm() -> None:
    assert JsonFraming().decoder().feed(b'\nend\n{"a":1}\nend\n') == [{"a": 1}]


def test_json_garbage_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="not a JSON multilang message: 'hello world'"):
        JsonFraming().decoder().feed(b"hello world\nend\n")


def test_partial_message_at_eof_is_an_error() -> None:
    with pytest.raises(ProtocolError, match="ended inside a message"):
        list(read_messages(io.BytesIO(b'{"a": 1}\nen'), JsonFraming()))


def test_unknown_serializer() -> None:
    with pytest.raises(ProtocolError, match="use json or msgpack"):
        framing_for("xml")


@pytest.mark.parametrize("framing", [JsonFraming(), MsgpackFraming()], ids=["json", "msgpack"])
@given(
    tuples=st.lists(
        st.tuples(
            st.text(max_size=6),
            st.sampled_from(["src", "__system", "é"]),
            st.text(max_size=6),
            st.integers(-1, 50),
            st.lists(values, max_size=4),
        ),
        max_size=6,
    )
)
def test_tuple_encoder_writes_what_encode_writes(framing, tuples) -> None:
    encode_tuple = framing.tuple_encoder()
    data = b"".join(encode_tuple(tid, comp, stream, task, vals) for tid, comp, stream, task, vals in tuples)
    expected = [{"id": t, "comp": c, "stream": s, "task": k, "tuple": v} for t, c, s, k, v in tuples]
    assert framing.decoder().feed(data) == expected


@pytest.mark.parametrize("framing", [JsonFraming(), MsgpackFraming()], ids=["json", "msgpack"])
@given(batch=st.lists(messages, min_size=1, max_size=8))
def test_encode_all_writes_what_encode_writes(framing, batch) -> None:
    assert framing.encode_all(batch) == b"".join(framing.encode(m) for m in batch)


@pytest.mark.parametrize("framing", [JsonFraming(), MsgpackFraming()], ids=["json", "msgpack"])
def test_encode_all_refuses_what_the_wire_cannot_carry(framing) -> None:
    with pytest.raises(ProtocolError, match=f"(?i)cannot encode message as {framing.name}"):
        framing.encode_all([{"command": "ack", "id": 1}, {"command": "ack", "id": object()}])


@pytest.mark.parametrize("framing", [JsonFraming(), MsgpackFraming()], ids=["json", "msgpack"])
def test_tuple_encoder_refuses_what_the_wire_cannot_carry(framing) -> None:
    with pytest.raises(ProtocolError, match=f"(?i)cannot encode message as {framing.name}"):
        framing.tuple_encoder()("1", "src", "default", 1, [object()])


json_values = st.recursive(
    st.one_of(scalars, st.floats(), st.integers()),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.one_of(st.text(max_size=8), st.integers(), st.none()), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(value=json_values)
def test_the_json_framing_writes_what_the_standard_encoder_writes(value) -> None:
    import json

    from squall.protocol.framing import _compact_dumps

    assert _compact_dumps()(value) == json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode(
        value
    )
