"""Processes squall starts: detached JVMs with pid files, found again and stopped by pid, never by name.

A pid file holds the pid and the process's start time (field 22 of /proc/<pid>/stat), so a recycled pid
is never mistaken for ours. Each service starts as the leader of its own session and process group; the JVMs
and Python subprocesses it launches (Storm workers and their multilang bolts) stay in that group, so stopping
signals the group plus every descendant still alive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from squall.errors import InfraError
from squall.private_state import PRIVATE_UMASK, open_private, private_dir, write_private_text

_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    pgid: int
    state: str
    start_ticks: int


def proc_info(pid: int, proc_root: Path = _PROC) -> ProcInfo | None:
    """Parsed /proc/<pid>/stat, or None when there is no such process."""
    try:
        raw = (proc_root / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError):
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
    rest = raw[raw.rindex(")") + 2 :].split()
    return ProcInfo(pid=pid, state=rest[0], ppid=int(rest[1]), pgid=int(rest[2]), start_ticks=int(rest[19]))


def all_processes(proc_root: Path = _PROC) -> list[ProcInfo]:
    out = []
    for entry in proc_root.iterdir():
        if entry.name.isdigit():
            info = proc_info(int(entry.name), proc_root)
            if info is not None:
                out.append(info)
    return out


@dataclass(frozen=True)
class PidRecord:
    pid: int
    start_ticks: int

    def render(self) -> str:
        return f"{self.pid} {self.start_ticks}\n"

    @classmethod
    def parse(cls, text: str) -> PidRecord | None:
        parts = text.split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            return None
        return cls(pid=int(parts[0]), start_ticks=int(parts[1]))


def write_pid(path: Path, pid: int, proc_root: Path = _PROC) -> PidRecord:
    info = proc_info(pid, proc_root)
    if info is None:
        raise InfraError(f"process {pid} exited before its pid file {path} was written")
    record = PidRecord(pid=pid, start_ticks=info.start_ticks)
    private_dir(path.parent)
    write_private_text(path, record.render())
    return record


def read_pid(path: Path) -> PidRecord | None:
    try:
        return PidRecord.parse(path.read_text())
    except FileNotFoundError:
        return None


def is_alive(record: PidRecord, proc_root: Path = _PROC) -> bool:
    """True if the recorded process still runs (same start time, not a zombie)."""
    info = proc_info(record.pid, proc_root)
    return info is not None and info.start_ticks == record.start_ticks and info.state not in ("Z", "X")


def family(root_pid: int, processes: Iterable[ProcInfo]) -> set[int]:
    """`root_pid`'s process group plus all its descendants (zombies excluded)."""
    procs = [p for p in processes if p.state not in ("Z", "X")]
    members = {p.pid for p in procs if p.pgid == root_pid}
    children: dict[int, list[int]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p.pid)
    stack = [root_pid, *members]
    while stack:
        pid = stack.pop()
        for child in children.get(pid, []):
            if child not in members:
                members.add(child)
                stack.append(child)
    if any(p.pid == root_pid for p in procs):
        members.add(root_pid)
    return members


def spawn(argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path) -> int:
    """Start `argv` detached (own session, umask 077), stdout+stderr appended to `log` (0600). Returns the pid."""
    private_dir(log.parent)
    with os.fdopen(open_private(log, append=True), "ab") as out:
        out.write(f"\n--- squall starting: {' '.join(argv)}\n".encode())
        out.flush()
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                umask=PRIVATE_UMASK,
            )
        except FileNotFoundError as exc:
            raise InfraError(
                f"cannot start {argv[0]!r}: not found (fix: install it, e.g. apt-get install -y openjdk-17-jre-headless)"
            ) from exc
    return proc.pid


def _signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _alive(pids: Iterable[int], proc_root: Path) -> set[int]:
    out = set()
    for pid in pids:
        info = proc_info(pid, proc_root)
        if info is not None and info.state not in ("Z", "X"):
            out.add(pid)
    return out


def terminate(
    pids: set[int],
    grace: float = 30.0,
    proc_root: Path = _PROC,
    now: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> set[int]:
    """SIGTERM `pids`, wait up to `grace` seconds, SIGKILL what is left, wait up to 10 s more.

    Returns the pids that SIGKILL did not remove (normally none)."""
    _signal_all(pids, signal.SIGTERM)
    deadline = now() + grace
    left = _alive(pids, proc_root)
    while left and now() < deadline:
        sleep(0.2)
        left = _alive(left, proc_root)
    if left:
        _signal_all(left, signal.SIGKILL)
        deadline = now() + 10.0
        while left and now() < deadline:
            sleep(0.1)
            left = _alive(left, proc_root)
    return left
