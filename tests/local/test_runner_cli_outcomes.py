"""`squall run`'s exit code and printed summary when a tuple could not be sent, when a bolt holds tuples it
never acks, and when a task keeps failing at start-up (click's CliRunner, the semantics fixture project)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from squall.cli.main import cli

pytestmark = pytest.mark.timeout(180)
SEMANTICS = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "semantics"


@pytest.fixture()
def in_semantics():
    """In the semantics project; sys.path as before afterwards."""
    old = os.getcwd()
    path = sys.path[:]
    os.chdir(SEMANTICS)
    try:
        yield
    finally:
        os.chdir(old)
        sys.path[:] = path


@pytest.fixture(params=["inline", "process"])
def hosting(request: pytest.FixtureRequest) -> list[str]:
    return ["--inline"] if request.param == "inline" else []


def invoke(*args: str):
    return CliRunner().invoke(cli, ["run", "reliability", "-e", "local", *args])


def test_an_emit_that_cannot_be_sent_is_an_error_in_the_summary(in_semantics, hosting: list[str]) -> None:
    r = invoke(*hosting, "--until-idle", "0.5", "--duration", "120", "--json", "-o", "numbers.bad_at=4")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["stopped_because"] == "idle"
    numbers = next(c for c in summary["components"] if c["name"] == "numbers")
    assert (numbers["errors"], numbers["failed"], numbers["acked"]) == (1, 1, 20)
    [err] = summary["errors"]
    assert err["component"] == "numbers" and err["task"] == 1 and err["count"] == 1
    assert (
        "emit on stream 'default' cannot be serialized with json: tuple[1] is of type set" in err["message"]
    )


def test_a_run_ends_idle_and_names_the_tuples_a_bolt_never_acked(in_semantics, hosting: list[str]) -> None:
    # Real time here: trees time out after 1-2 s, are replayed, and the run ends half a second later.
    r = invoke(
        *hosting,
        "--until-idle",
        "0.5",
        "--duration",
        "120",
        "-o",
        "worker.hold_mod=4",
        "-o",
        "topology.message.timeout.secs=1",
    )
    assert r.exit_code == 0, r.output
    assert "stopped because: idle; trees still pending: 0" in r.stdout
    assert "held: worker=5 (never acked; their trees timed out or failed)" in r.stdout


def test_a_task_given_up_on_fails_the_run_and_says_why(in_semantics, hosting: list[str]) -> None:
    r = invoke(*hosting, "--until-idle", "0.5", "--duration", "120", "-o", "worker.init_fail=true")
    assert r.exit_code == 1, r.output
    cause = "ValueError: worker.init_fail is set: refusing to start"
    assert "stopped because: fatal" in r.stdout
    assert "gave up after 10 restarts in " in r.stdout and r.stdout.rstrip().endswith(cause)
    assert "died (11 times): worker[task" in r.stdout
    assert r.stdout.count(cause) <= 4  # two tasks: one summary line each, and one "gave up" line each
