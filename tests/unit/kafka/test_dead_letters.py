from __future__ import annotations

import pytest

from squall.kafka.dead_letters import (
    DeadLetterDecodeError,
    dead_letter_key,
    decode_dead_letter,
    encode_dead_letter,
)
from squall.pipeline.model import DeadLetter


def test_round_trip_keeps_original_bytes() -> None:
    dl = DeadLetter(
        "max_retries", "failed 4 times", b"\xff\x00{not json", "iot.events", 3, 1234, 1_700_000_000_000
    )
    assert decode_dead_letter(encode_dead_letter(dl)) == dl
    assert dead_letter_key(dl) == b"iot.events:3:1234"


def test_garbage_is_a_clear_error() -> None:
    with pytest.raises(DeadLetterDecodeError):
        decode_dead_letter(b"\xc1")
    with pytest.raises(DeadLetterDecodeError, match="lacks fields"):
        decode_dead_letter(b"\x80")  # empty msgpack map
