"""Drive `sparse` against a real cluster from tests and benchmarks: submit, wait, kill — every wait bounded.

with SparseProject(root).submitted("passthrough", env="dev", name="pt_1", options={...}) as topo:
    topo.wait_until(lambda: ..., timeout=120, what="tuples reached the sink")
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from squall.errors import InfraError
from squall.storm import nimbus as nimbus_api

SPARSE_TIMEOUT_SECS = 600


def sparse_executable() -> str:
    """The project's `sparse` next to the running interpreter (the venv's), so the compat layer is used."""
    candidate = Path(sys.executable).parent / "sparse"
    return str(candidate) if candidate.exists() else "sparse"


@dataclass
class Deployed:
    """A topology `sparse submit` deployed: its Storm name and id, and a Nimbus client to ask about it."""

    name: str
    topo_id: str
    nimbus: Any
    poll_secs: float = 1.0

    def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float,
        what: str,
        explain: Callable[[], str] | None = None,
    ) -> None:
        wait_until(predicate, timeout, what, self.poll_secs, explain)


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    poll_secs: float = 1.0,
    explain: Callable[[], str] | None = None,
) -> None:
    """Poll `predicate` until true; InfraError naming `what` after `timeout` seconds (real progress, real time).
    `explain()`, when given, is asked once on timeout and its text is appended to the error: say *why* there."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            message = f"timed out after {timeout:.0f}s waiting until {what}"
            if explain is not None:
                try:
                    message += "\n" + explain()
                except Exception as exc:  # noqa: BLE001 - a broken diagnosis must not hide the timeout
                    message += f"\n(diagnosis failed: {type(exc).__name__}: {exc})"
            raise InfraError(message)
        time.sleep(poll_secs)


def listed_topologies(table: str) -> set[str]:
    """Topology names in `sparse list` output (a texttable whose narrow cells wrap over several lines)."""
    rows: list[list[str]] = []
    block: list[list[str]] = []
    for line in table.splitlines() + ["+"]:
        if line.startswith("+") or line.startswith("="):
            if block:
                rows.append(["".join(parts).strip() for parts in zip(*block, strict=True)])
            block = []
        elif line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    if not rows or "name" not in rows[0]:
        return set()
    col = rows[0].index("name")
    return {row[col] for row in rows[1:]}


@dataclass
class SparseProject:
    root: Path
    nimbus_address: str = "127.0.0.1:6627"
    env_vars: Mapping[str, str] = field(default_factory=dict)
    # A config.json to use instead of the project's own (`--config`), e.g. one naming another Nimbus.
    config: Path | None = None

    def sparse(
        self, *args: str, timeout: float = SPARSE_TIMEOUT_SECS, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.env_vars}
        res = subprocess.run(
            [sparse_executable(), *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and res.returncode != 0:
            raise InfraError(
                f"sparse {' '.join(args)} exited {res.returncode}:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
            )
        return res

    def submit_args(
        self, topology: str, env: str, name: str, options: Mapping[str, Any], config: Path | None = None
    ) -> list[str]:
        args = ["submit", "-e", env, "-n", topology, "-N", name, "--force", "--wait", "0"]
        if config is not None:
            args += ["--config", str(config)]
        for key, value in options.items():
            args += ["-o", f"{key}={value}"]
        return args

    def kill(self, name: str, env: str, timeout: float = 120) -> None:
        """`sparse kill`, then wait until Nimbus no longer lists it (no-op if it is not running)."""
        client = nimbus_api.client(self.nimbus_address)
        if nimbus_api.topology_id(client, name) is None:
            return
        extra = ["--config", str(self.config)] if self.config is not None else []
        self.sparse("kill", "-e", env, "-n", name, "--wait", "0", *extra, check=False)
        wait_until(
            lambda: nimbus_api.topology_id(client, name) is None, timeout, f"{name} is gone from Nimbus"
        )

    @contextlib.contextmanager
    def submitted(
        self,
        topology: str,
        env: str,
        name: str,
        options: Mapping[str, Any] | None = None,
        config: Path | None = None,
    ) -> Iterator[Deployed]:
        """Submit, yield the deployed topology, and always kill it afterwards."""
        try:
            self.sparse(*self.submit_args(topology, env, name, options or {}, config or self.config))
            client = nimbus_api.client(self.nimbus_address)
            topo_id = nimbus_api.topology_id(client, name)
            if topo_id is None:
                raise InfraError(f"sparse submit returned but Nimbus does not list {name}")
            yield Deployed(name=name, topo_id=topo_id, nimbus=client)
        finally:
            self.kill(name, env)


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _ppid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def worker_jvm_pids(topo_id: str) -> list[int]:
    """Pids of the worker JVMs (main class org.apache.storm.daemon.worker.Worker) running `topo_id`."""
    out = []
    for pid in _pids():
        cmd = _cmdline(pid)
        # The Supervisor starts each worker under org.apache.storm.LogWriter, whose command line holds the worker's.
        if (
            "org.apache.storm.daemon.worker.Worker" in cmd
            and topo_id in cmd
            and "org.apache.storm.LogWriter" not in cmd
        ):
            out.append(pid)
    return sorted(out)


def shell_component_pids(worker_pid: int, component_class: str) -> list[int]:
    """Pids of the Python subprocesses of one worker JVM that run `component_class` (e.g. bolts.x.XBolt)."""
    out = []
    for pid in _pids():
        if _ppid(pid) != worker_pid:
            continue
        cmd = " ".join(_cmdline(pid))
        if "streamparse_run" in cmd and component_class in cmd:
            out.append(pid)
    return sorted(out)


def storm_log_dirs() -> list[Path]:
    """Storm's log folders (`-Dstorm.log.dir=`) of the running Storm JVMs: the cluster may have been started
    from another checkout, so ask the processes rather than this project's layout."""
    found: list[Path] = []
    for pid in _pids():
        for arg in _cmdline(pid):
            if arg.startswith("-Dstorm.log.dir="):
                path = Path(arg.partition("=")[2])
                if path not in found:
                    found.append(path)
    return found


def worker_log_tail(topo_id: str, lines: int = 60, grep: str | None = None, width: int = 400) -> str:
    """The last `lines` lines of every worker log of `topo_id` (worker.log and worker.log.err, per slot port);
    with `grep` (a regex), only the matching lines; each cut to `width` characters."""
    pattern = re.compile(grep) if grep else None
    parts = []
    for log_dir in storm_log_dirs():
        for path in sorted((log_dir / "workers-artifacts" / topo_id).glob("*/worker.log*")):
            if path.name not in ("worker.log", "worker.log.err") or not path.stat().st_size:
                continue
            try:
                text = path.read_text(errors="replace").splitlines()
            except OSError as exc:
                parts.append(f"==> {path} <==\n(cannot read: {exc})")
                continue
            kept = [line[:width] for line in text if pattern is None or pattern.search(line)]
            parts.append(f"==> {path} <==\n" + "\n".join(kept[-lines:]))
    return (
        "\n\n".join(parts) or f"(no worker logs of {topo_id} under {storm_log_dirs() or 'any storm.log.dir'})"
    )
