"""Storm semantics of `squall run`, end to end, in both hostings."""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import pytest

from squall.clock import ManualClock
from squall.config import load_project
from squall.runner.grouping import stable_hash
from squall.runner.loader import load_topology
from squall.runner.view import format_summary
from squall.testing import RunResult, run_topology

pytestmark = pytest.mark.timeout(120)


def topology(project: Path, name: str) -> type:
    return load_topology(load_project(project), name)[1]


def run(project: Path, name: str, mode: str, conf: dict | None = None, **kw) -> RunResult:
    kw.setdefault("until_idle", 0.5)
    kw.setdefault("duration", 60)
    return run_topology(topology(project, name), conf or {}, inline=mode == "inline", project=project, **kw)


def manual(step: float = 0.1) -> tuple[ManualClock, object]:
    """A clock that moves `step` seconds each time the runner had nothing to do (it waited on its tasks),
    so fake time never outruns the real subprocesses. It stands still until every subprocess answered its
    handshake: on a loaded machine starting them takes seconds of waiting, which must not count as fake time
    (a clean-clone run saw a spout emit nothing before fake second 5 that way)."""
    clock = ManualClock()

    def tick(cluster) -> None:
        if cluster.last_work:
            return
        if any(getattr(host, "pid", 0) is None for host in cluster.hosts.values()):
            return
        clock.advance(step)

    return clock, tick


def run_manual(project: Path, name: str, mode: str, conf: dict, step: float, **kw) -> RunResult:
    """`run` on a `manual(step)` clock: fake time moves only while the runner waits on its tasks."""
    clock, tick = manual(step)
    return run(project, name, mode, conf, clock=clock, on_step=tick, **kw)


def died(result: RunResult) -> list:
    """The run's task deaths (crash, hang, garbage on stdout), in order."""
    return [e for e in result.errors if e.kind == "died"]


def received(result: RunResult, component: str) -> dict[int, list[int]]:
    """task id -> n values it processed (EchoBolt emits [task, n])."""
    out: dict[int, list[int]] = defaultdict(list)
    for task, n in result.emitted(component):
        out[task].append(n)
    return out


def task_ids(result: RunResult, component: str) -> list[int]:
    context_tasks = sorted({e.task for e in result.emits(component)})
    return context_tasks


def test_every_grouping_routes_as_storm_does(semantics_project: Path, mode: str) -> None:
    r = run(semantics_project, "groupings", mode, seed=7)
    assert not r.errors
    n_all = list(range(40))
    # Storm numbers tasks by sorted component id from 1: anyone(1-2) by_key(3-5) direct_target(6-8)
    # director(9) evens(10) everyone(11-12) local(13-14) numbers(15) shuffled(16-17) single(18-20)
    shuffled = received(r, "shuffled")
    assert sorted(shuffled) == [16, 17] and all(len(v) == 20 for v in shuffled.values())
    assert sorted(sum(shuffled.values(), [])) == n_all
    local = received(r, "local")
    assert sorted(local) == [13, 14] and all(len(v) == 20 for v in local.values())
    by_key = received(r, "by_key")
    for task, ns in by_key.items():
        for n in ns:
            assert task == [3, 4, 5][stable_hash([f"k{n % 5}"]) % 3]
    assert sorted(sum(by_key.values(), [])) == n_all
    everyone = received(r, "everyone")
    assert {t: sorted(v) for t, v in everyone.items()} == {11: n_all, 12: n_all}
    assert {t: sorted(v) for t, v in received(r, "single").items()} == {18: n_all}
    anyone = received(r, "anyone")
    assert set(anyone) <= {1, 2} and sorted(sum(anyone.values(), [])) == n_all
    assert {t: sorted(v) for t, v in received(r, "evens").items()} == {10: list(range(0, 40, 2))}
    direct = received(r, "direct_target")
    assert sorted(direct) == [6, 7, 8]
    for task, ns in direct.items():
        assert all([6, 7, 8][n % 3] == task for n in ns)
    assert r.stats("numbers").acked == 40 and r.stats("numbers").failed == 0


def test_fields_grouping_is_the_same_in_both_hostings(semantics_project: Path) -> None:
    a = received(run(semantics_project, "groupings", "inline", seed=1), "by_key")
    b = received(run(semantics_project, "groupings", "process", seed=2), "by_key")
    assert {t: sorted(v) for t, v in a.items()} == {t: sorted(v) for t, v in b.items()}


def test_inline_runs_are_deterministic_for_a_seed(semantics_project: Path) -> None:
    first = run(semantics_project, "groupings", "inline", seed=42)
    again = run(semantics_project, "groupings", "inline", seed=42)
    assert [(e.component, e.task, e.values) for e in first.captured] == [
        (e.component, e.task, e.values) for e in again.captured
    ]


def test_failed_trees_are_replayed_until_acked(semantics_project: Path, mode: str) -> None:
    r = run(semantics_project, "reliability", mode, {"worker.fail_mod": 3})
    spout = r.stats("numbers")
    assert spout.failed == 7  # n = 0, 3, ..., 18 failed once each
    assert spout.acked == 20
    assert sorted(v[0] for v in r.emitted("sink")) == list(range(20))
    assert r.stats("worker").failed == 7 and r.stats("worker").acked == 20


def test_trees_time_out_and_are_replayed(semantics_project: Path, mode: str) -> None:
    r = run_manual(
        semantics_project,
        "reliability",
        mode,
        {"worker.hold_mod": 4, "topology.message.timeout.secs": 5},
        step=0.1,
        until_idle=1.0,
    )
    spout = r.stats("numbers")
    assert spout.failed == 5  # n = 0, 4, 8, 12, 16 held once, timed out, replayed
    assert spout.acked == 20
    assert sorted(v[0] for v in r.emitted("sink")) == list(range(20))


def test_max_spout_pending_stops_next(semantics_project: Path, mode: str) -> None:
    r = run_manual(
        semantics_project,
        "reliability",
        mode,
        {"worker.hold_all": True, "topology.max.spout.pending": 3, "topology.message.timeout.secs": 1000},
        step=0.5,
        stop_when=lambda c: c.now > 20,
        until_idle=None,
        drain_secs=0.5,
    )
    assert r.stats("numbers").emitted == 3
    assert r.stats("numbers").acked == 0


def test_no_ackers_means_immediate_ack(semantics_project: Path, mode: str) -> None:
    r = run(semantics_project, "reliability", mode, {"worker.hold_all": True, "topology.acker.executors": 0})
    assert r.stats("numbers").acked == 20
    assert r.stats("numbers").failed == 0
    assert r.summary.pending_trees == 0


def test_unreliable_spout_emits_are_not_tracked(semantics_project: Path, mode: str) -> None:
    r = run(semantics_project, "reliability", mode, {"numbers.unreliable": True, "worker.fail_mod": 2})
    spout = r.stats("numbers")
    assert spout.emitted == 20 and spout.acked == 0 and spout.failed == 0
    assert r.stats("worker").failed == 10  # the bolt failed them, but no tree existed to replay


def test_tick_tuples_follow_per_component_config(semantics_project: Path, mode: str) -> None:
    r = run_manual(
        semantics_project,
        "ticking",
        mode,
        {"numbers.count": 0},
        step=0.25,
        stop_when=lambda c: c.now >= 9.0,
        until_idle=None,
    )
    ticks_by_task: dict[int, int] = defaultdict(int)
    for e in r.emits("ticker"):
        if e.values[1] == "tick":
            ticks_by_task[e.task] += 1
    assert dict(ticks_by_task) == {3: 4, 4: 4}  # every 2 s for 9 s, on each ticker task (tasks 3, 4)
    assert not [e for e in r.emits("plain") if e.values[1] == "tick"]


def test_crashing_task_is_restarted_and_its_trees_replayed(
    semantics_project: Path, mode: str, tmp_path: Path
) -> None:
    r = run(semantics_project, "reliability", mode, {"worker.crash_on": 5, "state_dir": str(tmp_path)})
    deaths = died(r)
    assert len(deaths) == 1 and deaths[0].component == "worker"
    assert "probe crash on 5" in deaths[0].message  # the traceback / stderr tail names the cause
    assert r.stats("worker").restarts == 1
    assert r.stats("numbers").acked == 20
    assert r.stats("numbers").failed >= 1
    assert set(v[0] for v in r.emitted("sink")) == set(range(20))


def test_hung_task_is_killed_after_subprocess_timeout(
    semantics_project: Path, mode: str, tmp_path: Path, storm_multilang: list[Path]
) -> None:
    # The hung component is a storm.py subprocess in both hostings (an inline component cannot be preempted).
    r = run_manual(
        semantics_project,
        "multilang_hang",
        mode,
        {
            "hang_on": 3,
            "state_dir": str(tmp_path),
            "topology.subprocess.timeout.secs": 3,
            "numbers.count": 10,
        },
        step=0.1,
        until_idle=2.0,
        extra_resources=storm_multilang,
    )
    deaths = died(r)
    assert len(deaths) == 1 and deaths[0].component == "hanger"
    assert "heartbeat timeout" in deaths[0].message
    assert r.stats("numbers").acked == 10
    assert sorted(set(v[0] for v in r.emitted("sink"))) == list(range(10))


def test_healthy_subprocesses_answer_heartbeats(
    semantics_project: Path, mode: str, storm_multilang: list[Path]
) -> None:
    r = run_manual(
        semantics_project,
        "multilang",
        mode,
        {"topology.subprocess.timeout.secs": 2, "storm_numbers.count": 3},
        step=0.25,
        stop_when=lambda c: c.now >= 12,
        until_idle=None,
        extra_resources=storm_multilang,
    )
    assert not died(r), r.errors
    assert r.stats("storm_numbers").acked == 3


def test_storm_multilang_adapters_run_unchanged(
    semantics_project: Path, mode: str, storm_multilang: list[Path]
) -> None:
    r = run(semantics_project, "multilang", mode, extra_resources=storm_multilang)
    assert not r.errors, [e.message for e in r.errors]
    assert r.stats("storm_numbers").acked == 10
    assert sorted(v[0] for v in r.emitted("sink")) == list(range(10))
    hosting = {c.name: c.hosting for c in r.summary.components}
    assert hosting["py_echo"] == "process" and hosting["js_echo"] == "process"
    assert hosting["sink"] == ("inline" if mode == "inline" else "process")
    assert any("acked" in rec.message for rec in r.logs if rec.component == "storm_numbers")


def test_msgpack_serializer_in_process_mode(semantics_project: Path) -> None:
    r = run(semantics_project, "reliability", "process", {"worker.fail_mod": 4}, serializer="msgpack")
    assert r.stats("numbers").acked == 20 and r.stats("numbers").failed == 5


def test_spouts_are_activated_and_deactivated(semantics_project: Path, mode: str) -> None:
    r = run(semantics_project, "reliability", mode, {"numbers.count": 3})
    said = [rec.message for rec in r.logs if rec.component == "numbers" and "activated" in rec.message]
    assert [m.split()[-1] for m in said] == ["activated", "deactivated"]


def test_task_writing_garbage_is_restarted(semantics_project: Path, tmp_path: Path) -> None:
    r = run(semantics_project, "reliability", "process", {"worker.garbage_on": 4, "state_dir": str(tmp_path)})
    deaths = died(r)
    assert len(deaths) == 1 and deaths[0].component == "worker"
    assert (
        "wrote garbage on stdout" in deaths[0].message
        and "this is not a multilang message" in deaths[0].message
    )
    assert r.stats("numbers").acked == 20
    assert set(v[0] for v in r.emitted("sink")) == set(range(20))


def test_crashing_spout_is_reopened_and_reactivated(
    semantics_project: Path, mode: str, tmp_path: Path
) -> None:
    r = run(semantics_project, "reliability", mode, {"numbers.crash_at": 7, "state_dir": str(tmp_path)})
    deaths = died(r)
    assert len(deaths) == 1 and deaths[0].component == "numbers" and "spout crash at 7" in deaths[0].message
    said = [
        rec.message.split()[-1] for rec in r.logs if rec.component == "numbers" and "activated" in rec.message
    ]
    assert said == ["activated", "activated", "deactivated"]  # the new instance is activated again
    assert set(v[0] for v in r.emitted("sink")) == set(range(20))  # a fresh spout starts over from 0
    assert r.summary.pending_trees == 0


@pytest.mark.parametrize("max_pending", [11_000, 20_000])
def test_unacked_tuples_held_by_a_bolt_do_not_stall_spouts(
    semantics_project: Path, mode: str, max_pending: int
) -> None:
    """A bolt holding > 10k executed-but-unacked tuples (a window) is bounded by max.spout.pending only;
    backpressure is about tuples queued for a task, not tuples it holds. Ticks every 5 s ack them (the 2nd tick the last 1000 when max pending is 11k)."""
    clock, tick = manual(0.5)
    before_tick: dict[str, int] = {}

    def watch(cluster) -> None:
        if cluster.now < 5.0:
            before_tick["emitted"] = cluster.spouts[0].metrics.emitted
        tick(cluster)

    r = run(
        semantics_project,
        "holding",
        mode,
        {
            "holder.hold_until_tick": True,
            "numbers.count": 12_000,
            "numbers.batch": 200,
            "topology.max.spout.pending": max_pending,
            "topology.message.timeout.secs": 1000,
        },
        clock=clock,
        on_step=watch,
        stop_when=lambda c: c.spouts[0].metrics.acked >= 12_000,
        until_idle=None,
        drain_secs=2,
    )
    assert not r.errors
    assert before_tick["emitted"] == min(12_000, max_pending)  # all before the first tick: no stall
    spout = r.stats("numbers")
    assert spout.emitted == 12_000 and spout.acked == 12_000  # the tick acked what the bolt held


def test_full_receive_queue_pauses_spouts_without_losing_tuples(semantics_project: Path, mode: str) -> None:
    """topology.executor.receive.buffer.size bounds what is queued for a task: beyond it spouts wait."""
    seen: dict[str, int] = {"pauses": 0}

    def watch(cluster) -> None:
        seen["pauses"] = cluster.backpressure_pauses

    r = run(
        semantics_project,
        "reliability",
        mode,
        {"numbers.count": 10_000, "numbers.batch": 5_000, "topology.executor.receive.buffer.size": 100},
        on_step=watch,
    )
    assert not r.errors
    assert seen["pauses"] > 0
    assert r.stats("numbers").acked == 10_000 and r.stats("numbers").failed == 0
    assert sorted(v[0] for v in r.emitted("sink")) == list(range(10_000))


# -- nothing is lost silently ----------------------------------------------------------------------------


def reports(result: RunResult, component: str, kind: str = "error") -> list:
    return [e for e in result.errors if e.component == component and e.kind == kind]


def test_an_emit_the_serializer_cannot_encode_fails_and_the_spout_replays_it(
    semantics_project: Path, mode: str
) -> None:
    # n = 4's first emit carries a set, which JSON cannot carry; its replay is a plain [n, key]
    r = run(semantics_project, "reliability", mode, {"numbers.bad_at": 4, "numbers.bad_value": "set"})
    assert r.reason == "idle"
    spout = r.stats("numbers")
    assert spout.failed == 1 and spout.acked == 20 and spout.errors == 1
    assert sorted(v[0] for v in r.emitted("sink")) == list(range(20))  # the replay went through
    [err] = r.errors
    assert err.component == "numbers" and err.task == 1
    assert "emit on stream 'default' cannot be serialized with json" in err.message
    assert "tuple[1] is of type set" in err.message and "the tuple failed" in err.message
    assert "fix: " in err.message


def test_a_bolt_emit_the_serializer_cannot_encode_fails_its_tree_at_once(
    semantics_project: Path, mode: str
) -> None:
    # A message timeout far beyond the run: only failing the tree at once gets n = 6 replayed in time.
    r = run(
        semantics_project,
        "reliability",
        mode,
        {"worker.bad_on": 6, "worker.bad_value": "object", "topology.message.timeout.secs": 1000},
    )
    assert r.reason == "idle"
    assert r.stats("numbers").failed == 1 and r.stats("numbers").acked == 20
    assert r.stats("worker").errors == 1
    assert sorted(v[0] for v in r.emitted("sink")) == list(range(20))
    [err] = reports(r, "worker")
    assert err.task in (3, 4)
    assert (
        "emit on stream 'default' cannot be serialized with json: tuple[1] is of type object" in err.message
    )
    assert "failed at once" in err.message


@pytest.mark.parametrize(
    "serializer, bad_value, lost",
    [("msgpack", "bigint", True), ("msgpack", "surrogate", True), ("json", "bigint", False)],
)
def test_both_hostings_check_values_against_the_topology_serializer(
    semantics_project: Path, mode: str, serializer: str, bad_value: str, lost: bool
) -> None:
    """An int beyond 64 bits is fine under JSON and lost under msgpack, in both hostings alike."""
    r = run(
        semantics_project,
        "reliability",
        mode,
        {"numbers.bad_at": 2, "numbers.bad_value": bad_value},
        serializer=serializer,
    )
    spout = r.stats("numbers")
    assert spout.acked == 20
    assert sorted(v[0] for v in r.emitted("sink")) == list(range(20))
    if lost:
        assert spout.failed == 1 and spout.errors == 1
        [err] = r.errors
        assert f"cannot be serialized with {serializer}: tuple[1] is of type " in err.message
    else:
        assert spout.failed == 0 and not r.errors


def test_until_idle_ends_when_only_tuples_whose_trees_timed_out_are_held(
    semantics_project: Path, mode: str
) -> None:
    """worker never acks the first sight of n = 0, 4, ...: their trees time out, the replays are acked, and the
    run is idle (Storm waits for nothing more) although worker still holds 5 tuples."""
    r = run_manual(
        semantics_project,
        "reliability",
        mode,
        {"worker.hold_mod": 4, "topology.message.timeout.secs": 5},
        step=0.1,
        until_idle=1.0,
        duration=300,
    )
    assert r.reason == "idle" and r.summary.seconds < 60
    assert r.stats("numbers").failed == 5 and r.stats("numbers").acked == 20
    assert sorted(v[0] for v in r.emitted("sink")) == list(range(20))
    assert r.summary.held == {"worker": 5} and r.summary.pending_trees == 0
    assert "held: worker=5 (never acked; their trees timed out or failed)" in format_summary(r.summary)


def test_until_idle_ends_when_tuples_without_a_tree_are_held_past_the_timeout(
    semantics_project: Path, mode: str
) -> None:
    r = run_manual(
        semantics_project,
        "reliability",
        mode,
        {"numbers.unreliable": True, "worker.hold_all": True, "topology.message.timeout.secs": 5},
        step=0.1,
        until_idle=1.0,
        duration=300,
    )
    assert r.reason == "idle" and r.summary.seconds < 60
    assert r.stats("numbers").emitted == 20
    assert r.summary.held_untracked == {"worker": 20} and not r.summary.held


def test_a_deterministic_start_up_failure_is_reported_once_and_fails_the_run(
    semantics_project: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="squall.runner")
    r = run(semantics_project, "reliability", mode, {"worker.init_fail": True})
    assert r.reason == "fatal" and r.summary.failed
    cause = "ValueError: worker.init_fail is set: refusing to start"
    assert r.summary.gave_up  # worker's two tasks die alike: the run gives up on the first (or both at once)
    for gave_up in r.summary.gave_up:
        assert gave_up.startswith("worker task ") and ": gave up after 10 restarts in " in gave_up
        assert gave_up.endswith(cause)
    deaths = died(r)
    assert {e.task for e in deaths} <= {3, 4} and len(deaths) == len({e.task for e in deaths})
    assert all(e.signature == cause for e in deaths)
    assert max(e.count for e in deaths) == 11  # the task given up on: started, then restarted 10 times
    tracebacks = [
        rec for rec in caplog.records if rec.levelno >= logging.ERROR and "died:" in rec.getMessage()
    ]
    assert len(tracebacks) == len(deaths)  # each task's traceback is logged once, not once per restart
    text = format_summary(r.summary)
    assert "died (11 times): worker[task" in text and r.summary.gave_up[0] in text
