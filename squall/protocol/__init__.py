"""Storm's multilang wire: message framing for JSON and msgpack over injected byte streams."""

from squall.protocol.framing import (
    Decoder,
    Framing,
    JsonFraming,
    MsgpackFraming,
    framing_for,
    read_messages,
    write_message,
)

__all__ = [
    "Decoder",
    "Framing",
    "JsonFraming",
    "MsgpackFraming",
    "framing_for",
    "read_messages",
    "write_message",
]
