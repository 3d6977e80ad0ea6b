"""When CassandraStore sends a failed write again: transient errors only, doubling backoff, never past the
deadline (squall.cassandra.store.retry_delay). The retries themselves run against a real Cassandra in
tests/integration/test_pipeline_faults.py (Cassandra stopped for 30 s mid-stream)."""

from __future__ import annotations

import pytest
from cassandra import OperationTimedOut, Unavailable, WriteTimeout
from cassandra.cluster import NoHostAvailable
from cassandra.protocol import SyntaxException

from squall.cassandra.store import RETRY_FIRST_S, RETRY_MAX_S, retry_delay
from squall.errors import InfraError


@pytest.mark.parametrize(
    "error",
    [
        NoHostAvailable("Unable to complete the operation against any hosts", {}),
        OperationTimedOut("timed out"),
        Unavailable("not enough replicas"),
        WriteTimeout("replicas timed out", write_type=1),
    ],
)
def test_transient_errors_are_retried_with_a_doubling_backoff(error: BaseException) -> None:
    delays = [retry_delay(error, attempt, now=0.0, deadline=60.0) for attempt in range(1, 8)]
    assert delays[0] == RETRY_FIRST_S
    assert delays == sorted(delays) and delays[1] == 2 * RETRY_FIRST_S
    assert max(d for d in delays if d is not None) == RETRY_MAX_S


def test_no_retry_past_the_deadline_and_none_beyond_it() -> None:
    error = NoHostAvailable("down", {})
    assert retry_delay(error, 10, now=59.5, deadline=60.0) == pytest.approx(0.5)
    assert retry_delay(error, 1, now=60.0, deadline=60.0) is None
    assert retry_delay(error, 1, now=0.0, deadline=0.0) is None  # write_retry_s = 0: fail at once


@pytest.mark.parametrize(
    "error", [SyntaxException(0x2000, "bad cql", None), InfraError("store closed"), ValueError("bad value")]
)
def test_errors_about_the_write_itself_are_not_retried(error: BaseException) -> None:
    assert retry_delay(error, 1, now=0.0, deadline=60.0) is None
