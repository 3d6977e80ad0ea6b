"""CPU seconds by process during a benchmark: what limits a CPU-bound run, in µs of CPU per event.

Wall-clock rates on a 2-core machine shared by the pipeline, Kafka and Cassandra move with every other process;
CPU time per event does not (much). `CpuMeter` samples /proc/<pid>/stat (utime + stime) of a process tree (the
`squall run` process and its components) and of the service JVMs every `interval_s`, keeps each process's
last reading (components exit at the end of a run), and reports per-role CPU seconds between `start()` and
`stop()`. Linux only; read-only (it never signals anything).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from squall.infra.process import all_processes, family

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_and_cmdline(pid: int) -> tuple[float, str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / _TICK, cmd


COMPONENT_LAUNCHERS = ("squall.runner.bootstrap", "streamparse_run", "pystorm")
SERVICES = ("kafka", "cassandra")


def role_of(cmd: str, root: bool) -> str:
    """A short name for a process of a run: the runner, a component (by its class: `bolts.parse.ParseBolt` ->
    "parse"), the Quix Streams job, or a service JVM."""
    if root and "bench.quix_job" not in cmd:
        return "runner"
    words = cmd.split()
    if any(launcher in cmd for launcher in COMPONENT_LAUNCHERS) and words:
        cls = words[-1]  # python -P -m squall.runner.bootstrap -s json bolts.parse.ParseBolt
        short = cls.rsplit(".", 1)[-1]
        if short.endswith("Spout") and short != "Spout":
            return f"{short.removesuffix('Spout').lower()}_spout"  # EventSpout -> event_spout
        return short.removesuffix("Bolt").lower() or short.lower()
    if "bench.quix_job" in cmd:
        return "quix"
    if "CassandraDaemon" in cmd:
        return "cassandra"
    if "kafka.Kafka" in cmd:
        return "kafka"
    return words[0].rsplit("/", 1)[-1] if words else "?"


def listening_inodes(table: str, port: int) -> set[str]:
    """Socket inodes listening (state 0A) on `port` in a /proc/net/tcp or tcp6 table."""
    found = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            found.add(fields[9])
    return found


def pid_listening_on(port: int, candidates: list[int]) -> int | None:
    """Which of `candidates` listens on TCP `port` on this host (None: none of them)."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            inodes |= listening_inodes(Path(f"/proc/net/{table}").read_text(), port)
        except OSError:
            continue
    for pid in candidates:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return pid
    return None


class CpuMeter:
    """CPU seconds by role of a process tree (rooted at `root_pid()`) and of the Kafka and Cassandra JVMs.

    `service_ports` (e.g. {"kafka": 9092, "cassandra": 9042}) picks the service JVMs the run uses among others on
    the host (another Kafka on another port is not counted); without it, every Kafka and Cassandra JVM counts.
    Processes alive at `start()` count from their CPU then; processes that start later count from 0."""

    def __init__(
        self,
        root_pid: Callable[[], int | None],
        interval_s: float = 0.5,
        service_ports: dict[str, int] | None = None,
    ) -> None:
        self._root_pid = root_pid
        self._interval = interval_s
        self._first: dict[int, tuple[float, str]] = {}
        self._last: dict[int, tuple[float, str, bool]] = {}
        self._started = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)
        jvms = [p.pid for p in all_processes() if self._is_service(p.pid)]
        self._service_role: dict[int, str] = {}  # pid -> role, when picked by port
        if service_ports is None:
            self._services = jvms
        else:
            for role, port in service_ports.items():
                pid = pid_listening_on(port, jvms)
                if pid is not None:
                    self._service_role[pid] = role
            self._services = list(self._service_role)

    @staticmethod
    def _is_service(pid: int) -> bool:
        got = _cpu_and_cmdline(pid)
        return got is not None and ("CassandraDaemon" in got[1] or "kafka.Kafka" in got[1])

    def start(self) -> None:
        self._sample()
        self._started = True
        self._thread.start()

    def snapshot(self) -> dict[str, float]:
        """CPU seconds per role since start, now (the meter goes on)."""
        self._sample()
        with self._lock:
            return self._by_role()

    def processes(self) -> dict[str, int]:
        """How many processes of each role were seen."""
        with self._lock:
            counts = Counter(
                self._service_role.get(pid) or role_of(cmd, root)
                for pid, (_, cmd, root) in self._last.items()
            )
        return dict(sorted(counts.items()))

    def stop(self) -> dict[str, float]:
        """CPU seconds per role since start."""
        self._sample()
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with self._lock:
            return self._by_role()

    def _by_role(self) -> dict[str, float]:
        by_role: dict[str, float] = {}
        for pid, (cpu, cmd, root) in self._last.items():
            before = self._first.get(pid, (0.0, cmd))[0]
            role = self._service_role.get(pid) or role_of(cmd, root)
            by_role[role] = by_role.get(role, 0.0) + cpu - before
        return {k: round(v, 2) for k, v in sorted(by_role.items(), key=lambda kv: -kv[1])}

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def _sample(self) -> None:
        root = self._root_pid()
        tree = family(root, all_processes()) if root else set()
        with self._lock:
            for pid in [*tree, *self._services]:
                got = _cpu_and_cmdline(pid)
                if got is None:
                    continue
                cpu, cmd = got
                if not cmd.strip() and pid in self._last:
                    cmd = self._last[pid][
                        1
                    ]  # an exiting process has no command line left: keep the one it had
                counts_from_now = pid in self._services or not self._started
                self._first.setdefault(pid, (cpu, cmd) if counts_from_now else (0.0, cmd))
                self._last[pid] = (cpu, cmd, pid == root)


def net_of_idle(
    busy: dict[str, float], busy_s: float, idle: dict[str, float], idle_s: float
) -> dict[str, float]:
    """CPU seconds per role over `busy_s` less what each role burns doing nothing (`idle` over `idle_s`, e.g.
    polling Kafka, ticks, heartbeats, Cassandra's compaction and gossip), never below 0."""
    if idle_s <= 0:
        return dict(busy)
    return {
        role: round(max(0.0, cpu - idle.get(role, 0.0) / idle_s * busy_s), 2) for role, cpu in busy.items()
    }


def squall_total(cpu_s: dict[str, float]) -> float:
    """CPU seconds of squall's own processes (runner, spout, bolts): every role but the services."""
    return round(sum(v for role, v in cpu_s.items() if role not in SERVICES), 2)


def per_event_us(cpu_s: dict[str, float], events: int) -> dict[str, float]:
    return {role: round(seconds / events * 1e6, 1) for role, seconds in cpu_s.items()} if events else {}


def cpu_seconds_now() -> float:
    """This machine's busy CPU seconds so far (all processes), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values) - idle) / _TICK
