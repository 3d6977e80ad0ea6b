"""Decoding and validating device events against the event contract (docs/events.md).

`decode_event(payload)` turns the ORIGINAL message bytes into a normalised `Event`, or raises `InvalidEvent`
with a machine-readable `reason` (stable, used as the dead-letter reason) and a human `detail`.
Encoding is auto-detected from the first byte: a msgpack payload starts with a byte >= 0x80 (a map is 0x80-0x8f,
0xde or 0xdf); anything else, and a UTF-8 byte order mark, is JSON. Whatever the format, everything a later stage
could not carry is rejected here: nesting deeper than `max_depth`, duplicate keys, strings that are not valid
Unicode, integers outside 64 bits, control characters in identifiers and non-object top levels.

Two paths give one answer. `EventDecoder.decode` first tries a fast path: one C pass (orjson for JSON, msgpack
without a Python object hook), then validation with cheap checks that prove what the strict path would find (no
key repeats: a JSON payload's `:` bytes all separate keys, or a msgpack payload re-encodes to the same bytes; no
float that could have been an integer beyond 64 bits; attrs small enough by a bound). Anything the fast path cannot
prove, valid or not, goes to the strict path (`decode_raw` + `validate`), which alone names reasons and details.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgpack
import orjson

from squall.pipeline.model import Event, event_dict

if TYPE_CHECKING:
    from squall.pipeline.settings import ParseSettings

TENANT_RE = re.compile(r"[a-z0-9_-]{1,64}")
METRIC_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
TYPE_RE = re.compile(r"[a-z0-9_-]{1,32}")
MAX_ID_CHARS = 128
# Event times outside [2000-01-01, 2100-01-01) are certainly a unit mistake (seconds or microseconds).
MIN_TS_MS = 946_684_800_000
MAX_TS_MS = 4_102_444_800_000
REQUIRED = ("tenant", "device_id", "event_id", "ts", "type", "metrics")
UTF8_BOM = b"\xef\xbb\xbf"
MIN_INT = -(
    2**63
)  # attrs integers must fit 64 bits (signed or unsigned), as msgpack and the stores carry them
MAX_INT = 2**64 - 1


@dataclass(frozen=True)
class Limits:
    """Size limits of the contract; configurable under `pipeline.parse`."""

    max_payload_bytes: int = 65_536
    max_metrics: int = 64
    max_attrs_bytes: int = 4_096
    max_depth: int = 32  # objects/arrays inside one another; the event itself is depth 1, attrs depth 2

    @classmethod
    def from_settings(cls, parse: ParseSettings) -> Limits:
        return cls(
            max_payload_bytes=parse.max_payload_bytes,
            max_metrics=parse.max_metrics,
            max_attrs_bytes=parse.max_attrs_bytes,
            max_depth=parse.max_depth,
        )


class InvalidEvent(ValueError):
    """A payload that breaks the contract. `reason` is machine-readable, e.g. `missing_field:tenant`."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def detect_format(payload: bytes) -> str:
    """`msgpack` when the first byte is >= 0x80 (every msgpack map starts so) and not a UTF-8 byte order mark;
    else `json` (an object, but also an array, a string, a number, null or a BOM: JSON that is then reported
    precisely instead of as broken msgpack)."""
    if payload[:1] >= b"\x80" and not payload.startswith(UTF8_BOM):
        return "msgpack"
    return "json"


class _DuplicateKey(Exception):
    def __init__(self, key: Any) -> None:
        self.key = key


def _object(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    """Both decoders' object hook: a JSON object / msgpack map whose keys repeat is refused, so no two parsers
    (this one and any other reading the same bytes) can see two different values for one field."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[Any] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def decode_raw(payload: bytes) -> Any:
    """Bytes -> Python object (JSON or msgpack), or InvalidEvent(invalid_json | invalid_msgpack | empty |
    duplicate_key | too_deep)."""
    if not payload:
        raise InvalidEvent("empty", "the message has no bytes")
    try:
        if detect_format(payload) == "json":
            try:
                return _JSON.decode(payload.removeprefix(UTF8_BOM).decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise InvalidEvent("invalid_json", str(exc)[:200]) from exc
        try:
            return msgpack.unpackb(payload, raw=False, strict_map_key=True, object_pairs_hook=_object)
        except (_DuplicateKey, RecursionError, msgpack.StackError):
            raise
        except Exception as exc:  # msgpack raises several unrelated types on garbage
            raise InvalidEvent("invalid_msgpack", f"{type(exc).__name__}: {exc}"[:200]) from exc
    except _DuplicateKey as exc:
        raise InvalidEvent(
            "duplicate_key", f"the key {_preview(exc.key)} appears twice in one object"
        ) from None
    except (RecursionError, msgpack.StackError):
        raise InvalidEvent("too_deep", "objects and arrays nest deeper than the decoder allows") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


# One decoder for every message: json.loads with any keyword argument builds a new JSONDecoder per call.
_JSON = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_object)


def decode_event(payload: bytes, limits: Limits | None = None) -> Event:
    """Decode and validate one message; the normalised Event or InvalidEvent naming the field."""
    return event_from_dict(EventDecoder(limits or Limits()).decode(payload))


def decode_strict(payload: bytes, limits: Limits) -> dict[str, Any]:
    """The strict path: the event's dict form (`Event.to_dict()`), or InvalidEvent with its reason."""
    if len(payload) > limits.max_payload_bytes:
        raise InvalidEvent(
            "too_large", f"{len(payload)} bytes > max_payload_bytes {limits.max_payload_bytes}"
        )
    return event_dict(validate(decode_raw(payload), limits))


BIG_FLOAT = 2.0**63  # a float this large may be an integer literal beyond 64 bits that orjson read as a float
FAST_MAX_DEPTH = 256  # deeper limits: the strict path, where the decoders' own depth limits are the same
NAMES_REMEMBERED = 4_096  # tenants, types and metric names known to match their pattern


class EventDecoder:
    """Decodes and validates messages into the event's dict form (`Event.to_dict()`), with `limits`.

    `decode` gives exactly what `decode_strict` gives (the same dict, or InvalidEvent with the same reason and
    detail); most valid events take the fast path. The names (tenant, type, metric) that matched their patterns
    are remembered, a few thousand at most, so the regular expressions run once per name."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._fast = limits.max_depth <= FAST_MAX_DEPTH
        self._tenants: set[str] = set()
        self._types: set[str] = set()
        self._metric_names: set[str] = set()

    def decode(self, payload: bytes) -> dict[str, Any]:
        if self._fast and len(payload) <= self.limits.max_payload_bytes:
            data = self.fast(payload)
            if data is not None:
                return data
        return decode_strict(payload, self.limits)

    def fast(self, payload: bytes) -> dict[str, Any] | None:
        """The event's dict when the fast path can prove it valid; None when the strict path must decide."""
        first = payload[:1]
        try:
            if first >= b"\x80" and not payload.startswith(UTF8_BOM):
                obj = msgpack.unpackb(payload, raw=False, strict_map_key=True)
                binary = True
            elif first:
                obj = orjson.loads(payload)
                binary = False
            else:
                return None
        except Exception:  # noqa: BLE001 - any decoder error: the strict path names it
            return None
        if type(obj) is not dict:
            return None
        data, keys = self._fields(obj)
        if data is None:
            return None
        if binary:
            # unpacked without the duplicate check: the same bytes again prove no map repeated a key
            try:
                same = msgpack.packb(obj, use_bin_type=True) == payload
            except Exception:  # noqa: BLE001
                return None
            return data if same else None
        # Valid JSON: every ':' outside strings separates a key from its value, so with no ':' inside strings
        # the count is the keys written; fewer decoded keys means a key repeated.
        colons = payload.count(b":")
        if colons != keys and (b"\\" in payload or colons - _colons_in_strings(obj) != keys):
            return None
        return data

    def _fields(self, obj: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        """Validated fields of a decoded object as `validate` would give them (or None), and the number of keys
        of every object in it."""
        limits = self.limits
        try:
            tenant = obj["tenant"]
            device_id = obj["device_id"]
            event_id = obj["event_id"]
            ts = obj["ts"]
            etype = obj["type"]
            metrics = obj["metrics"]
        except KeyError:
            return None, 0
        if type(tenant) is not str or tenant not in self._tenants and not self._name(tenant, TENANT_RE, 0):
            return None, 0
        if type(etype) is not str or etype not in self._types and not self._name(etype, TYPE_RE, 1):
            return None, 0
        if (
            type(device_id) is not str
            or not 0 < len(device_id) <= MAX_ID_CHARS
            or not device_id.isprintable()
            or type(event_id) is not str
            or not 0 < len(event_id) <= MAX_ID_CHARS
            or not event_id.isprintable()
            or type(ts) is not int
            or not MIN_TS_MS <= ts < MAX_TS_MS
            or type(metrics) is not dict
            or not 0 < len(metrics) <= limits.max_metrics
        ):
            return None, 0
        names = self._metric_names
        out = metrics
        for name, number in metrics.items():
            if type(name) is not str or name not in names and not self._name(name, METRIC_RE, 2):
                return None, 0
            kind = type(number)
            if kind is float:
                if not -BIG_FLOAT < number < BIG_FLOAT:  # NaN and infinities fail this too
                    return None, 0
            elif kind is int and -BIG_FLOAT < number < BIG_FLOAT:
                if out is metrics:
                    out = dict(metrics)
                out[name] = float(number)
            else:
                return None, 0
        keys = len(obj) + len(metrics)
        attrs = obj.get("attrs")
        known = 6
        if "attrs" in obj:
            known = 7
            if attrs is None:
                attrs = {}
            elif type(attrs) is not dict:
                return None, 0
            elif attrs:
                counted = _attrs_keys(attrs, 2, limits.max_depth)
                if counted < 0 or not _attrs_small(attrs, limits.max_attrs_bytes):
                    return None, 0
                keys += counted
        else:
            attrs = {}
        if len(obj) > known:  # fields the contract does not know: dropped, but counted and depth-limited
            for name, value in obj.items():
                if type(value) is dict or type(value) is list:
                    if name == "metrics" or name == "attrs":
                        continue
                    counted = _nested_keys(value, 2, limits.max_depth)
                    if counted < 0:
                        return None, 0
                    keys += counted
        data = {
            "tenant": tenant,
            "device_id": device_id,
            "event_id": event_id,
            "ts": ts,
            "type": etype,
            "metrics": out,
            "attrs": attrs,
        }
        return data, keys

    def _name(self, name: str, pattern: re.Pattern[str], which: int) -> bool:
        if not pattern.fullmatch(name):
            return False
        known = (self._tenants, self._types, self._metric_names)[which]
        if len(known) >= NAMES_REMEMBERED:
            known.clear()
        known.add(name)
        return True


def _attrs_keys(value: Any, depth: int, max_depth: int) -> int:
    """The keys of the objects in attrs, or -1 when `_check_attrs` would refuse them or a float in them could
    stand for an integer beyond 64 bits (the strict path decides those)."""
    if depth > max_depth:
        return -1
    if type(value) is dict:
        keys = len(value)
        items: Any = value.items()
    else:
        keys = 0
        items = enumerate(value)
    for key, item in items:
        if type(key) is str and not key.isascii() and not _valid_unicode(key):
            return -1
        kind = type(item)
        if kind is str:
            if not item.isascii() and not _valid_unicode(item):
                return -1
        elif kind is int:
            if not MIN_INT <= item <= MAX_INT:
                return -1
        elif kind is float:
            if not -BIG_FLOAT < item < BIG_FLOAT:
                return -1
        elif kind is dict or kind is list:
            counted = _attrs_keys(item, depth + 1, max_depth)
            if counted < 0:
                return -1
            keys += counted
    return keys


def _valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _attrs_small(attrs: dict[str, Any], max_bytes: int) -> bool:
    """Whether attrs' size as `validate` measures it (ASCII-escaped JSON) is surely within `max_bytes`: orjson
    writes the same JSON with UTF-8 text, and escaping a character takes at most 3 times its UTF-8 bytes."""
    try:
        return 3 * len(orjson.dumps(attrs)) <= max_bytes
    except Exception:  # noqa: BLE001 - not JSON-representable (bytes, big ints): the strict path says why
        return False


def _nested_keys(value: Any, depth: int, max_depth: int) -> int:
    """The keys of the objects in `value`, or -1 when they nest deeper than `max_depth`."""
    if depth > max_depth:
        return -1
    keys = len(value) if type(value) is dict else 0
    for item in value.values() if type(value) is dict else value:
        if type(item) is dict or type(item) is list:
            counted = _nested_keys(item, depth + 1, max_depth)
            if counted < 0:
                return -1
            keys += counted
    return keys


def _colons_in_strings(value: Any) -> int:
    """The ':' characters in every string (keys and values) of a decoded JSON value."""
    if type(value) is str:
        return value.count(":")
    if type(value) is dict:
        return sum(key.count(":") + _colons_in_strings(item) for key, item in value.items())
    if type(value) is list:
        return sum(_colons_in_strings(item) for item in value)
    return 0


def validate(obj: Any, limits: Limits | None = None) -> Event:
    limits = limits or Limits()
    if not isinstance(obj, dict):
        raise InvalidEvent(
            "not_an_object", f"an event must be a JSON object / msgpack map, got {type(obj).__name__}"
        )
    for name in REQUIRED:
        if name not in obj:
            raise InvalidEvent(f"missing_field:{name}", f"the event has no {name!r}")
    tenant = obj["tenant"]
    if not isinstance(tenant, str) or not TENANT_RE.fullmatch(tenant):
        raise InvalidEvent("invalid_field:tenant", f"{_preview(tenant)} does not match [a-z0-9_-]{{1,64}}")
    device_id = _text(obj["device_id"], "device_id")
    if not device_id.isprintable():
        raise InvalidEvent("invalid_field:device_id", f"{_preview(device_id)} has non-printable characters")
    event_id = _text(obj["event_id"], "event_id")
    if not event_id.isprintable():
        raise InvalidEvent("invalid_field:event_id", f"{_preview(event_id)} has non-printable characters")
    ts = obj["ts"]
    if isinstance(ts, bool) or not isinstance(ts, int):
        raise InvalidEvent("invalid_field:ts", f"{_preview(ts)} is not an integer (ms since the epoch)")
    if not MIN_TS_MS <= ts < MAX_TS_MS:
        raise InvalidEvent("invalid_field:ts", f"{ts} is outside years 2000..2099 in ms; seconds or µs?")
    etype = obj["type"]
    if not isinstance(etype, str) or not TYPE_RE.fullmatch(etype):
        raise InvalidEvent("invalid_field:type", f"{_preview(etype)} does not match [a-z0-9_-]{{1,32}}")
    metrics = _metrics(obj["metrics"], limits)
    attrs = obj.get("attrs", {})
    if attrs is None:
        attrs = {}
    if not isinstance(attrs, dict):
        raise InvalidEvent("invalid_field:attrs", f"must be an object, got {type(attrs).__name__}")
    for name, value in obj.items():  # fields the contract does not know are dropped, but not nested at will
        if name != "attrs" and name != "metrics" and isinstance(value, dict | list):
            _check_depth(value, 2, limits.max_depth, name)
    if attrs:
        _check_attrs(attrs, 2, limits.max_depth)
    try:
        attrs_size = len(json.dumps(attrs, allow_nan=False, separators=(",", ":")).encode()) if attrs else 0
    except (TypeError, ValueError) as exc:
        raise InvalidEvent("invalid_field:attrs", f"not JSON-representable: {exc}"[:200]) from exc
    if attrs_size > limits.max_attrs_bytes:
        raise InvalidEvent(
            "too_large:attrs", f"{attrs_size} bytes > max_attrs_bytes {limits.max_attrs_bytes}"
        )
    return Event(
        tenant=tenant, device_id=device_id, event_id=event_id, ts=ts, type=etype, metrics=metrics, attrs=attrs
    )


def _check_attrs(value: Any, depth: int, max_depth: int) -> None:
    """Everything in attrs must survive every later stage: msgpack (64-bit integers, valid Unicode), JSON (finite
    numbers, checked by the size measurement) and the stores; and nest at most `max_depth`."""
    if depth > max_depth:
        raise InvalidEvent("too_deep", f"attrs nest deeper than max_depth {max_depth}")
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if isinstance(key, str):
            _check_string(key)
        if isinstance(item, str):
            _check_string(item)
        elif isinstance(item, int):
            if not MIN_INT <= item <= MAX_INT:
                raise InvalidEvent(
                    "invalid_field:attrs", f"the integer at {_preview(key)} is outside 64 bits"
                )
        elif isinstance(item, dict | list):
            _check_attrs(item, depth + 1, max_depth)


def _check_string(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidEvent(
                "invalid_field:attrs", f"{_preview(text)} is not valid Unicode (a lone surrogate)"
            ) from None


def _check_depth(value: Any, depth: int, max_depth: int, name: str) -> None:
    if depth > max_depth:
        raise InvalidEvent("too_deep", f"{name!r} nests deeper than max_depth {max_depth}")
    for item in value.values() if isinstance(value, dict) else value:
        if isinstance(item, dict | list):
            _check_depth(item, depth + 1, max_depth, name)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_CHARS:
        raise InvalidEvent(
            f"invalid_field:{name}", f"{_preview(value)} is not a string of 1..{MAX_ID_CHARS} chars"
        )
    return value


def _metrics(value: Any, limits: Limits) -> dict[str, float]:
    if not isinstance(value, dict):
        raise InvalidEvent(
            "invalid_field:metrics", f"must be an object of name -> number, got {type(value).__name__}"
        )
    if not value:
        raise InvalidEvent("invalid_field:metrics", "has no metrics")
    if len(value) > limits.max_metrics:
        raise InvalidEvent("too_large:metrics", f"{len(value)} metrics > max_metrics {limits.max_metrics}")
    out: dict[str, float] = {}
    for name, number in value.items():
        if not isinstance(name, str) or not METRIC_RE.fullmatch(name):
            raise InvalidEvent(
                "invalid_metric_name", f"{_preview(name)} does not match [A-Za-z0-9_.:-]{{1,64}}"
            )
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise InvalidEvent(f"invalid_metric:{name}", f"{_preview(number)} is not a number")
        try:
            as_float = float(number)
        except OverflowError:
            as_float = math.inf
        if not math.isfinite(as_float):
            raise InvalidEvent(f"invalid_metric:{name}", f"{number!r} is not finite")
        out[name] = as_float
    return out


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def event_from_dict(data: dict[str, Any]) -> Event:
    """An Event from its `to_dict()` form (as it travels inside a tuple); trusted, already validated."""
    return Event(
        tenant=data["tenant"],
        device_id=data["device_id"],
        event_id=data["event_id"],
        ts=int(data["ts"]),
        type=data["type"],
        metrics={k: float(v) for k, v in data["metrics"].items()},
        attrs=dict(data.get("attrs") or {}),
    )
