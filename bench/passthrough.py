"""Pass-through throughput of `squall run`: spout -> bolt -> bolt, every tuple anchored and acked.

    python -m bench.passthrough [--count N] [--quick] [--baseline GIT_REV]

With --baseline, each case also runs on the runner of GIT_REV (its squall/ and bench/, extracted with
`git archive` into a temporary folder and run in a subprocess), interleaved with the current code in the same
invocation, so before/after are measured on the same (shared, noisy) machine at the same time.

For each hosting (process, inline) and serializer (json, msgpack): tuples/s end to end (spout emit to the
tree's ack reaching the spout), and resident memory per task. For comparison, in the same run: a bare pystorm
hop (`bare_hop`), the passthrough's middle bolt as its own `streamparse_run` process fed ready-made tuples
over a pipe by a driver that only counts its acks: what one pystorm bolt process can take, with no runner.
Results via bench.machine.write_result.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.machine import write_result
from squall.config import load_project
from squall.protocol import framing_for
from squall.runner.cluster import Cluster
from squall.runner.loader import load_topology
from squall.runner.session import execute, plan_for
from squall.runner.shell import python_command

PROJECT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "projects" / "passthrough"


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_secs(pid: int) -> float:
    """utime + stime of a process so far, from /proc (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu(cluster: Cluster) -> tuple[float, float]:
    """(runner process CPU, CPU of every task subprocess) in seconds."""
    children = sum(cpu_secs(h.proc.pid) for h in cluster.hosts.values() if getattr(h, "proc", None))
    return time.process_time(), children


def one(count: int, inline: bool, serializer: str, batch: int, max_pending: int) -> dict[str, Any]:
    project = load_project(PROJECT)
    _, topology = load_topology(project, "passthrough")
    conf = {
        "pt.count": count,
        "pt.batch": batch,
        "topology.max.spout.pending": max_pending,
        "topology.message.timeout.secs": 300,
    }
    plan = plan_for(topology, project, "local", extra_conf=conf)
    marks: dict[str, Any] = {}

    def done(cluster: Cluster) -> bool:
        spout = cluster.executors[cluster.graph.components["source"].tasks[0]]
        if "t0" not in marks and spout.metrics.emitted:
            marks["t0"] = time.perf_counter()
            marks["cpu0"] = _cpu(cluster)
        if spout.metrics.acked >= count:
            marks["t1"] = time.perf_counter()
            marks["cpu1"] = _cpu(cluster)
            marks["rss"] = {
                cluster.graph.task_component[t]: rss_kib(h.proc.pid)
                if getattr(h, "proc", None)
                else rss_kib(os.getpid())
                for t, h in cluster.hosts.items()
            }
            return True
        return False

    summary, _ = execute(
        plan, inline=inline, serializer=serializer, stop_when=done, duration=600, drain_secs=1
    )
    seconds = marks.get("t1", time.perf_counter()) - marks.get("t0", time.perf_counter())
    acked = next(c.acked for c in summary.components if c.name == "source")
    cpu0, cpu1 = marks.get("cpu0", (0.0, 0.0)), marks.get("cpu1", (0.0, 0.0))
    per = 1e6 / max(acked, 1)
    return {
        "hosting": "inline" if inline else "process",
        "serializer": serializer,
        "tuples": count,
        "acked": acked,
        "seconds": round(seconds, 3),
        "tuples_per_s": round(acked / seconds) if seconds > 0 else None,
        "runner_cpu_us_per_tuple": round((cpu1[0] - cpu0[0]) * per, 1),
        "components_cpu_us_per_tuple": round((cpu1[1] - cpu0[1]) * per, 1) if not inline else None,
        "rss_kib_per_task": marks.get("rss", {}),
        "spout_batch": batch,
        "max_spout_pending": max_pending,
        "errors": [e.message for e in summary.errors],
    }


def bare_hop(count: int, serializer: str) -> dict[str, Any]:
    """One pystorm bolt (the passthrough's `middle`, run by `streamparse_run` as Storm would) fed `count`
    tuples over its stdin by this process, which writes them pre-encoded and only counts the acks coming
    back: tuples/s from the first tuple written to the last ack read, and the bolt process's CPU per tuple."""
    project = load_project(PROJECT)
    _, topology = load_topology(project, "passthrough")
    plan = plan_for(topology, project, "local")
    graph = plan.graph
    task = graph.components["middle"].tasks[0]
    source_task = graph.components["source"].tasks[0]
    framing = framing_for(serializer)
    argv = [python_command("streamparse_run"), f"-s {serializer} pt.components.PassBolt"]
    env = dict(os.environ, PYTHONPATH=str(PROJECT / "src"))
    payload = "x" * 32
    with tempfile.TemporaryDirectory(prefix="squall-bare-hop-") as piddir:
        proc = subprocess.Popen(
            argv,
            cwd=PROJECT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            handshake = {"conf": dict(plan.conf), "context": graph.context(task), "pidDir": piddir}
            proc.stdin.write(framing.encode(handshake))
            proc.stdin.flush()
            decoder = framing.decoder()
            while True:  # the pid reply
                data = os.read(proc.stdout.fileno(), 65536)
                if not data:
                    raise RuntimeError("the bare pystorm bolt exited before answering the handshake")
                if decoder.feed(data):
                    break
            wire = b"".join(
                framing.encode(
                    {
                        "id": str(i),
                        "comp": "source",
                        "stream": "default",
                        "task": source_task,
                        "tuple": [i, payload],
                    }
                )
                for i in range(count)
            )
            out_fd, in_fd = proc.stdin.fileno(), proc.stdout.fileno()
            os.set_blocking(out_fd, False)
            selector = selectors.DefaultSelector()
            selector.register(in_fd, selectors.EVENT_READ)
            selector.register(out_fd, selectors.EVENT_WRITE)  # waits, never spins, while the pipe is full
            acked = written = 0
            cpu0 = cpu_secs(proc.pid)
            t0 = time.perf_counter()
            deadline = t0 + 600
            view = memoryview(wire)
            while acked < count:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"the bare pystorm bolt acked only {acked} of {count} tuples in 600 s")
                for key, _ in selector.select(1.0):
                    if key.fd == out_fd:
                        try:
                            written += os.write(out_fd, view[written:])  # as much as the pipe takes
                        except BlockingIOError:
                            pass
                        if written >= len(wire):
                            selector.unregister(out_fd)
                        continue
                    data = os.read(in_fd, 1 << 20)
                    if not data:
                        raise RuntimeError("the bare pystorm bolt exited")
                    for msg in decoder.feed(data):
                        if isinstance(msg, dict) and msg.get("command") == "ack":
                            acked += 1
            seconds = time.perf_counter() - t0
            cpu = cpu_secs(proc.pid) - cpu0
            selector.close()
        finally:
            proc.kill()
            proc.wait(timeout=10)
    return {
        "hosting": "bare_hop",
        "serializer": serializer,
        "tuples": count,
        "acked": acked,
        "seconds": round(seconds, 3),
        "tuples_per_s": round(acked / seconds) if seconds > 0 else None,
        "runner_cpu_us_per_tuple": None,
        "components_cpu_us_per_tuple": round(cpu * 1e6 / max(acked, 1), 1),
    }


def extract(rev: str, into: Path) -> None:
    """squall/, bench/ and the passthrough fixture of git revision `rev`, into `into`."""
    root = Path(__file__).resolve().parents[1]
    paths = ["squall", "bench", "tests/fixtures/projects/passthrough"]
    archive = subprocess.run(
        ["git", "archive", rev, *paths], cwd=root, check=True, capture_output=True, timeout=60
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True, timeout=60)


# Runs `one` of another tree and adds the runner's CPU per tuple, measured as `one` does (process time from
# the first spout emit to the last ack) by wrapping the stop condition it hands to `execute`.
_BASELINE_CODE = """
import json, sys, time
import bench.passthrough as bp
marks = {{}}
original = bp.execute
def execute(plan, **kw):
    done = kw["stop_when"]
    def wrapped(cluster):
        if "c0" not in marks and cluster.spouts[0].metrics.emitted:
            marks["c0"] = time.process_time()
        finished = done(cluster)
        if finished and "c1" not in marks:
            marks["c1"] = time.process_time()
        return finished
    kw["stop_when"] = wrapped
    return original(plan, **kw)
bp.execute = execute
r = bp.one({count}, {inline}, {serializer!r}, {batch}, {max_pending})
r["runner_cpu_us_per_tuple"] = round((marks["c1"] - marks["c0"]) * 1e6 / max(r["acked"], 1), 1)
sys.stdout.write("RESULT " + json.dumps(r))
"""


def one_at(
    tree: Path, count: int, inline: bool, serializer: str, batch: int, max_pending: int
) -> dict[str, Any]:
    """`one(...)` of another source tree, in a subprocess."""
    code = _BASELINE_CODE.format(
        count=count, inline=inline, serializer=serializer, batch=batch, max_pending=max_pending
    )
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, timeout=900
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"baseline run failed:\n{done.stderr[-2000:]}")
    return json.loads(line[len("RESULT ") :])  # type: ignore[no-any-return]


def show(label: str, result: dict[str, Any]) -> None:
    print(
        f"{label:>8} {result['hosting']:>7} {result['serializer']:>7}: {result['tuples_per_s']} tuples/s "
        f"({result['acked']} in {result['seconds']}s; CPU us/tuple: runner "
        f"{result.get('runner_cpu_us_per_tuple')}, component processes "
        f"{result.get('components_cpu_us_per_tuple')})",
        flush=True,
    )


def _ratio(runs: list[dict[str, Any]], bare: list[dict[str, Any]]) -> float | None:
    """Process + msgpack pass-through tuples/s over a bare pystorm hop's, both from this run."""
    mine = next((r for r in runs if r["hosting"] == "process" and r["serializer"] == "msgpack"), None)
    hop = next((r for r in bare if r["serializer"] == "msgpack"), None)
    if not mine or not hop or not mine["tuples_per_s"] or not hop["tuples_per_s"]:
        return None
    return round(mine["tuples_per_s"] / hop["tuples_per_s"], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--max-pending", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="20k tuples per case")
    parser.add_argument("--baseline", metavar="GIT_REV", help="also run GIT_REV's runner, interleaved")
    args = parser.parse_args()
    count = 20_000 if args.quick else args.count
    runs = []
    baseline_runs = []
    bare: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="squall-baseline-") as tmp:
        if args.baseline:
            extract(args.baseline, Path(tmp))
        for inline in (False, True):
            for serializer in ("msgpack", "json"):
                n = count * (3 if inline else 1)
                if args.baseline:
                    before = one_at(Path(tmp), n, inline, serializer, args.batch, args.max_pending)
                    show("baseline", before)
                    baseline_runs.append(before)
                result = one(n, inline, serializer, args.batch, args.max_pending)
                show("current", result)
                runs.append(result)
                if not inline:
                    hop = bare_hop(n, serializer)
                    show("pystorm", hop)
                    bare.append(hop)
    path = write_result(
        "passthrough",
        {
            "description": "spout -> bolt -> bolt, anchored + acked, end to end (spout emit to spout ack)",
            "targets": {
                "process_msgpack_tuples_per_s": 80_000,
                "process_msgpack_vs_bare_hop": 0.5,
                "inline_tuples_per_s": 250_000,
            },
            "runs": runs,
            "bare_pystorm_hop": bare,
            "process_msgpack_vs_bare_hop": _ratio(runs, bare),
            "baseline": {"rev": args.baseline, "runs": baseline_runs} if args.baseline else None,
        },
    )
    ratio = _ratio(runs, bare)
    if ratio is not None:
        print(f"process + msgpack pass-through / bare pystorm hop: {ratio}")
    print(f"written {path}")


if __name__ == "__main__":
    main()
