"""RowBinder: binds squall's own rows to a prepared INSERT, with the driver's serializers, minus its per-value toll.

`PreparedStatement.bind` costs ~40 us a row here, most of it outside serialization: a column-encryption
lookup per value (a namedtuple built for every value, cassandra-driver 3.29+) and, for `timestamp` and `date`
columns, the serializers' exception-driven type probing (an int timestamp goes through two caught
AttributeErrors). The pipeline binds one row per raw event, so that toll alone holds persist to a few thousand
rows per second per core.

RowBinder makes the same BoundStatement (same `values` bytes, same routing key; tests compare both against a
real prepared statement) with each column's serializer looked up once: timestamps given as int ms and dates as
`datetime.date` are packed directly in the CQL wire format (int64 ms; uint32 days + 2^31), text, double, float,
bigint, int and blob values go straight to the C packer the driver's serializer calls, and every other type
goes through the driver's own `serialize`. With a column encryption policy the driver's `bind` is used as is.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Sequence
from typing import Any

from cassandra.cqltypes import (
    BytesType,
    DateType,
    DoubleType,
    FloatType,
    Int32Type,
    LongType,
    SimpleDateType,
    UTF8Type,
    VarcharType,
)
from cassandra.marshal import double_pack, float_pack, int32_pack, int64_pack, uint32_pack
from cassandra.query import BoundStatement, PreparedStatement

Serializer = Callable[[Any], bytes]
_EPOCH = dt.date(1970, 1, 1)
_DATE_OFFSET = (
    SimpleDateType.EPOCH_OFFSET_DAYS
)  # 2^31: CQL dates are unsigned days with the epoch in the middle


# Types whose driver serializer is one C call on the value: called directly (no Python frame per value).
# A value of another Python type raises TypeError here, and the driver's own bind then reports it.
_DIRECT: dict[Any, Serializer] = {
    UTF8Type: str.encode,  # the driver: ustr.encode('utf-8')
    VarcharType: str.encode,
    DoubleType: double_pack,
    FloatType: float_pack,
    LongType: int64_pack,
    Int32Type: int32_pack,
    BytesType: bytes,
}


def _serializer(col_type: Any, protocol_version: int) -> Serializer:
    direct = _DIRECT.get(col_type)
    if direct is not None:
        return direct
    generic: Callable[[Any, int], bytes] = col_type.serialize

    if col_type is DateType:  # CQL timestamp

        def timestamp(value: Any) -> bytes:
            if type(value) is int:
                return int64_pack(value)  # type: ignore[no-any-return]
            return generic(value, protocol_version)

        return timestamp
    if col_type is SimpleDateType:  # CQL date

        def date(value: Any) -> bytes:
            if type(value) is dt.date:
                return uint32_pack((value - _EPOCH).days + _DATE_OFFSET)  # type: ignore[no-any-return]
            return generic(value, protocol_version)

        return date
    return lambda value: generic(value, protocol_version)


class RowBinder:
    def __init__(self, prepared: PreparedStatement) -> None:
        self.prepared = prepared
        self._plain = prepared.column_encryption_policy is None
        self._serializers = [_serializer(c.type, prepared.protocol_version) for c in prepared.column_metadata]

    def bind(self, values: Sequence[Any]) -> BoundStatement:
        """A BoundStatement of `values` (all columns, in order; None binds null)."""
        if not self._plain or len(values) != len(self._serializers):
            return self.prepared.bind(values)
        bound = BoundStatement(self.prepared)
        bound.raw_values = values
        try:
            bound.values = [
                None if v is None else s(v) for s, v in zip(self._serializers, values, strict=True)
            ]
        except (TypeError, ValueError, struct.error):
            return self.prepared.bind(values)  # raises the driver's own error, naming the column
        return bound
