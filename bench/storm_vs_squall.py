"""The pass-through topology (numbers -> echo -> sink) under Storm 2.8 local mode, JSON and msgpack, vs `squall run`.

    python -m bench.storm_vs_squall [--count N] [--storm-secs S]

Same machine, same fixture project (tests/fixtures/storm_project), one run each, one after another. For each mode:
tuples/s at the sink (distinct tuples / span between first and last arrival), time from starting the command
to the first tuple at the sink (for `sparse run` this includes the jar build and the JVM cluster start), and the
peak resident memory of the whole process tree (JVM + Python subprocesses), sampled every 0.2 s.
Needs java and lein (not the running cluster). Results via bench.machine.write_result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.machine import write_result

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "storm_project"
BIN = Path(sys.executable).parent
SAMPLE_SECS = 0.2


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _tree_rss_kb(pid: int) -> int:
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
        stack.extend(_children(p))
    return total


def _run(cmd: list[str], timeout: float) -> tuple[float, int, int]:
    """Run `cmd` in the fixture project; (start wall time, exit code, peak tree RSS in kB)."""
    start = time.time()
    proc = subprocess.Popen(cmd, cwd=FIXTURE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kb(proc.pid))
        if time.monotonic() > deadline:
            proc.kill()
            break
        time.sleep(SAMPLE_SECS)
    return start, proc.wait(), peak


def _measure(label: str, cmd: list[str], out_dir: Path, count: int, timeout: float) -> dict[str, Any]:
    start, code, peak_kb = _run(cmd, timeout)
    arrivals = sorted(
        json.loads(line)["at"]
        for path in out_dir.glob("sink-*.jsonl")
        for line in path.read_text().splitlines()
        if line.strip()
    )
    distinct = len(arrivals)
    result: dict[str, Any] = {
        "mode": label,
        "command": " ".join(cmd),
        "exit_code": code,
        "tuples_expected": 2 * count,
        "tuples_at_sink": distinct,
        "peak_rss_mib": round(peak_kb / 1024, 1),
    }
    if len(arrivals) >= 2:
        span = arrivals[-1] - arrivals[0]
        result["tuples_per_s"] = round(distinct / span, 1) if span > 0 else None
        result["time_to_first_tuple_s"] = round(arrivals[0] - start, 2)
        result["sink_span_s"] = round(span, 2)
    print(json.dumps(result), flush=True)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="tuples the spout emits (sink gets 2x)")
    parser.add_argument(
        "--storm-secs", type=int, default=90, help="how long `sparse run` keeps LocalCluster up"
    )
    args = parser.parse_args(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    env = {**os.environ}
    if hasattr(os, "getuid") and os.getuid() == 0:
        env.setdefault("LEIN_ROOT", "1")
    os.environ.update(env)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-storm-") as tmp:
        for label, sparse_env in (("storm-local-json", "local"), ("storm-local-msgpack", "local-msgpack")):
            out = Path(tmp) / label
            cmd = [
                str(BIN / "sparse"), "run", "-e", sparse_env, "-n", "passthrough", "-t", str(args.storm_secs),
                "-o", f"squall.test.out={out}", "-o", f"squall.test.count={args.count}",
            ]  # fmt: skip
            results.append(_measure(label, cmd, out, args.count, timeout=args.storm_secs + 300))
        out = Path(tmp) / "squall-run"
        cmd = [
            str(BIN / "squall"), "run", "passthrough", "-e", "local", "--until-idle", "3",
            "-o", f"squall.test.out={out}", "-o", f"squall.test.count={args.count}",
        ]  # fmt: skip
        results.append(_measure("squall-run", cmd, out, args.count, timeout=600))
    path = write_result(
        "storm_vs_squall", {"count": args.count, "storm_secs": args.storm_secs, "runs": results}
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
