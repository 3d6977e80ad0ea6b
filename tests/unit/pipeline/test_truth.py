"""The truth check of stored window rows (squall.pipeline.truth.explain_rows)."""

from __future__ import annotations


def test_a_provisional_rows_state_must_hold_exactly_its_values() -> None:
    """What a restarted aggregate goes on from (a provisional row's stored values and event ids) is checked
    against the row's own count and sum."""
    from squall.pipeline.model import encode_state
    from squall.pipeline.truth import explain_rows

    key = ("acme", "d1", "t", 10, 0)
    want = {
        "count": 2,
        "sum": 3.0,
        "min": 1.0,
        "max": 2.0,
        "mean": 1.5,
        "window_end": 10_000,
        "p50": 1.0,
        "p95": 2.0,
    }
    good = {**want, "provisional": True, "state": encode_state(["e1", "e2"], [1.0, 2.0])}
    assert explain_rows({key: good}, {key: want}) == ""
    assert explain_rows({key: {**want, "provisional": False, "state": None}}, {key: want}) == ""
    short = {**want, "provisional": True, "state": encode_state(["e1"], [1.0])}
    assert "state" in explain_rows({key: short}, {key: want})
