from __future__ import annotations

import os
import time
from pathlib import Path

from squall.infra import process
from squall.infra.process import PidRecord, ProcInfo, family


def _p(pid: int, ppid: int, pgid: int, state: str = "S") -> ProcInfo:
    return ProcInfo(pid=pid, ppid=ppid, pgid=pgid, state=state, start_ticks=1)


def test_family_is_the_group_plus_descendants_without_zombies() -> None:
    procs = [
        _p(100, 1, 100),  # the service (session leader)
        _p(101, 100, 100),  # a worker JVM in its group
        _p(102, 101, 102),  # a worker's subprocess that made its own group: found as a descendant
        _p(103, 102, 102),  # and its child
        _p(104, 100, 100, "Z"),  # zombie: nothing to signal
        _p(200, 1, 200),  # someone else's process
        _p(105, 1, 100),  # orphan that stayed in the group
    ]
    assert family(100, procs) == {100, 101, 102, 103, 105}


def test_family_of_a_dead_leader_still_finds_its_group() -> None:
    assert family(100, [_p(101, 1, 100), _p(300, 1, 300)]) == {101}


def test_pid_record_round_trip_and_garbage() -> None:
    rec = PidRecord(pid=42, start_ticks=123456)
    assert PidRecord.parse(rec.render()) == rec
    assert PidRecord.parse("not a pid") is None
    assert PidRecord.parse("12") is None


def test_proc_info_handles_names_with_spaces_and_parens(tmp_path: Path) -> None:
    (tmp_path / "77").mkdir()
    fields = ["S", "1", "77", "77"] + ["0"] * 15 + ["9999"] + ["0"] * 10
    (tmp_path / "77" / "stat").write_text("77 (java (a) b) " + " ".join(fields) + "\n")
    info = process.proc_info(77, tmp_path)
    assert info == ProcInfo(pid=77, ppid=1, pgid=77, state="S", start_ticks=9999)
    assert process.proc_info(78, tmp_path) is None


def _wait_for(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_spawn_pidfile_and_terminate_kill_the_whole_tree(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "console.log"
    # A leader with two children in its group and one grandchild in a session of its own (like a
    # subprocess that called setsid): terminate must remove all four.
    script = "sleep 300 & sleep 300 & setsid sleep 300 & echo started; wait"
    pid = process.spawn(["sh", "-c", script], tmp_path, dict(os.environ), log)
    record = process.write_pid(tmp_path / "svc.pid", pid)
    assert process.read_pid(tmp_path / "svc.pid") == record
    assert process.is_alive(record)
    assert _wait_for(lambda: len(family(pid, process.all_processes())) >= 4)
    members = family(pid, process.all_processes())
    left = process.terminate(members, grace=10)
    assert left == set()
    assert not process.is_alive(record)
    assert all(process.proc_info(p) is None or process.proc_info(p).state == "Z" for p in members)
    assert "squall starting: sh -c" in log.read_text()


def test_sigterm_ignoring_process_is_killed_after_grace(tmp_path: Path) -> None:
    pid = process.spawn(
        ["sh", "-c", "trap '' TERM; echo ready; sleep 300"], tmp_path, dict(os.environ), tmp_path / "c.log"
    )
    assert _wait_for(lambda: "ready" in (tmp_path / "c.log").read_text())
    members = family(pid, process.all_processes())
    assert process.terminate(members, grace=0.5) == set()


def test_a_recycled_pid_is_not_ours() -> None:
    me = process.proc_info(os.getpid())
    assert me is not None
    assert process.is_alive(PidRecord(os.getpid(), me.start_ticks))
    assert not process.is_alive(PidRecord(os.getpid(), me.start_ticks + 1))
