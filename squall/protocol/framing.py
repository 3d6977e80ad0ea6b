"""Multilang framing: how one message becomes bytes and back.

JSON (Storm's `JsonSerializer`, pystorm's `JSONSerializer`): the JSON text of the message followed by
"\\nend\\n". msgpack (pystorm's `MsgpackSerializer`): one msgpack object per message, no delimiter.
A message is a dict (a command, a tuple, the handshake) or, from Storm to a component, a list of task ids.

Encoders and decoders are pure: `encode(msg) -> bytes`, `Decoder.feed(bytes) -> [msg, ...]`, so tests
feed frames from memory. `read_messages`/`write_message` work over any injected binary stream.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable, Iterator
from typing import IO, Any, Protocol

import msgpack

from squall.errors import ProtocolError

_END = b"\nend\n"
_RAW_DECODE = json.JSONDecoder().raw_decode


class Decoder(Protocol):
    def feed(self, data: bytes) -> list[Any]:
        """Bytes in (any split), complete messages out. Raises ProtocolError on garbage."""
        ...

    def pending(self) -> int:
        """Bytes held that do not yet form a whole message."""
        ...


# (id, comp, stream, task, values) -> the bytes of the tuple message Storm sends a bolt:
# {"id": id, "comp": comp, "stream": stream, "task": task, "tuple": values}
TupleEncoder = Callable[[str, str, str, int, Any], bytes]
# The same, handing the bytes to a sink (e.g. the append of a list of parts to write) instead of returning them
TupleSender = Callable[[str, str, str, int, Any], Any]


class Framing(Protocol):
    name: str

    def encode(self, message: Any) -> bytes: ...

    def decoder(self) -> Decoder: ...

    def encode_all(self, messages: list[Any]) -> bytes:
        """`encode` of each of `messages`, joined."""
        ...

    def tuple_encoder(self) -> TupleEncoder:
        """An encoder of tuple messages, the same bytes' worth as `encode` of the message dict but cheaper:
        the part that depends only on (comp, stream, task) is encoded once per source."""
        ...

    def tuple_sender(self, sink: Callable[[bytes], Any]) -> TupleSender:
        """`tuple_encoder`, its bytes given to `sink` (one call less per tuple for a host that collects
        them)."""
        ...


def _bytes_of(data: bytes) -> bytes:
    return data


def _snippet(data: bytes, limit: int = 120) -> str:
    text = data[:limit].decode("utf-8", errors="replace")
    return repr(text) + ("..." if len(data) > limit else "")


class JsonDecoder:
    def __init__(self) -> None:
        self._buf = b""  # the tail of the input that does not end with a delimiter yet

    def feed(self, data: bytes) -> list[Any]:
        parts = (self._buf + data if self._buf else bytes(data)).split(_END)
        self._buf = parts.pop()  # after the last delimiter: a partial message (or b"")
        out: list[Any] = []
        raw = _RAW_DECODE
        for i, chunk in enumerate(parts):
            if not chunk or chunk.isspace():
                continue  # blank lines between messages are tolerated, as pystorm and Storm do
            try:
                text = chunk.decode("utf-8")
                try:
                    value, end = raw(text)  # the usual case: exactly one JSON value, no padding
                except ValueError:
                    end = -1
                out.append(value if end == len(text) else json.loads(text))
            except ValueError as exc:
                # Drop the bad message, keep what follows it for the next feed.
                self._buf = b"".join(p + _END for p in parts[i + 1 :]) + self._buf
                raise ProtocolError(f"not a JSON multilang message: {_snippet(chunk)} ({exc})") from exc
        return out

    def pending(self) -> int:
        return len(self._buf)


def _compact_dumps() -> Callable[[Any], str]:
    """`json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode`, the same text, with the C encoder
    made once instead of once per call (what `encode` does for every list or dict: about 1 us). It skips the
    circular-reference check: a message (decoded JSON, or made by the runner) has no cycles."""
    standard = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the standard encoder
        return standard.encode
    basestring = json.encoder.encode_basestring
    encoder = make(None, standard.default, basestring, None, ":", ",", False, False, True)
    join = "".join

    def dumps(value: Any) -> str:
        if type(value) is str:
            return basestring(value)
        return join(encoder(value, 0))

    return dumps


class JsonFraming:
    name = "json"

    def __init__(self) -> None:
        self._dumps = _compact_dumps()

    def encode(self, message: Any) -> bytes:
        try:
            return self._dumps(message).encode("utf-8") + _END
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"cannot encode message as JSON: {exc}") from exc

    def decoder(self) -> JsonDecoder:
        return JsonDecoder()

    def encode_all(self, messages: list[Any]) -> bytes:
        dumps = self._dumps
        try:
            return "".join([dumps(m) + "\nend\n" for m in messages]).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"cannot encode message as JSON: {exc}") from exc

    def tuple_encoder(self) -> TupleEncoder:
        return self.tuple_sender(_bytes_of)

    def tuple_sender(self, sink: Callable[[bytes], Any]) -> TupleSender:
        dumps = self._dumps
        heads: dict[tuple[str, str, int], str] = {}

        def send(tid: str, comp: str, stream: str, task: int, values: Any) -> Any:
            try:
                head = heads.get((comp, stream, task))
                if head is None:
                    head = f'{{"comp":{dumps(comp)},"stream":{dumps(stream)},"task":{dumps(task)},"id":'
                    heads[(comp, stream, task)] = head
                return sink(f'{head}{dumps(tid)},"tuple":{dumps(values)}}}'.encode() + _END)
            except (TypeError, ValueError) as exc:
                raise ProtocolError(f"cannot encode message as JSON: {exc}") from exc

        return send


class MsgpackDecoder:
    def __init__(self) -> None:
        self._unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)

    def feed(self, data: bytes) -> list[Any]:
        self._unpacker.feed(data)
        try:
            return list(self._unpacker)
        except (ValueError, msgpack.UnpackException) as exc:
            raise ProtocolError(f"not a msgpack multilang message ({exc})") from exc

    def pending(self) -> int:
        # msgpack keeps the partial message internally; report whether anything is held.
        return 0


class MsgpackFraming:
    name = "msgpack"

    def __init__(self) -> None:
        self._pack = msgpack.Packer().pack  # same defaults as msgpack.packb, without a Packer per message

    def encode(self, message: Any) -> bytes:
        try:
            return self._pack(message)  # type: ignore[no-any-return]
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"cannot encode message as msgpack: {exc}") from exc

    def decoder(self) -> MsgpackDecoder:
        return MsgpackDecoder()

    def encode_all(self, messages: list[Any]) -> bytes:
        try:
            return b"".join(map(self._pack, messages))
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"cannot encode message as msgpack: {exc}") from exc

    def tuple_encoder(self) -> TupleEncoder:
        return self.tuple_sender(_bytes_of)

    def tuple_sender(self, sink: Callable[[bytes], Any]) -> TupleSender:
        pack = self._pack
        tuple_key = pack("tuple")
        heads: dict[tuple[str, str, int], bytes] = {}

        def send(tid: str, comp: str, stream: str, task: int, values: Any) -> Any:
            try:
                head = heads.get((comp, stream, task))
                if head is None:  # a map of 5 entries, the last two (id, tuple) vary
                    parts = ("comp", comp, "stream", stream, "task", task, "id")
                    head = b"\x85" + b"".join(pack(p) for p in parts)
                    heads[(comp, stream, task)] = head
                return sink(b"".join((head, pack(tid), tuple_key, pack(values))))
            except (TypeError, ValueError) as exc:
                raise ProtocolError(f"cannot encode message as msgpack: {exc}") from exc

        return send


def framing_for(serializer: str) -> Framing:
    if serializer == "json":
        return JsonFraming()
    if serializer == "msgpack":
        return MsgpackFraming()
    raise ProtocolError(f"unknown multilang serializer {serializer!r}: use json or msgpack")


def write_message(stream: IO[bytes], framing: Framing, message: Any) -> None:
    stream.write(framing.encode(message))


def read_messages(stream: IO[bytes], framing: Framing, chunk: int = 65536) -> Iterator[Any]:
    """Every message on `stream` until EOF; a partial message at EOF is a ProtocolError."""
    decoder = framing.decoder()
    while True:
        data = stream.read(chunk)
        if not data:
            if decoder.pending():
                raise ProtocolError(f"stream ended inside a message ({decoder.pending()} bytes left)")
            return
        yield from decoder.feed(data)
