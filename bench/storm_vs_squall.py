"""The pass-through topology (numbers -> echo -> sink) and the reference pipeline `iot_pipeline` under Storm 2.8
local mode, JSON and msgpack, vs `squall run`.

    python -m bench.storm_vs_squall [--count N] [--storm-secs S]
                                    [--no-pipeline] [--devices D] [--rate R] [--duration S] [--pipeline-storm-secs S]

Same machine, one run each, one after another. Needs java and lein (not the running cluster).
Results (both parts in one JSON) via bench.machine.write_result.

Pass-through: same fixture project (tests/fixtures/storm_project), `sparse run` (json, msgpack) and `squall run`.
For each mode: tuples/s at the sink (distinct tuples / span between first and last arrival), time from starting
the command to the first tuple at the sink (for `sparse run` this includes the jar build and the JVM cluster
start), and the peak resident memory of the whole process tree (JVM + Python subprocesses), sampled every 0.2 s.

Pipeline (default on, `--no-pipeline` skips it): `iot_pipeline` on env `local` (simulator source -> SQLite sink)
with the same simulated input for all three runs (default 100 devices, 500 events/s of event time, 60 s => 30k
events; one parse task and a 1 s window idle timeout, as tests/integration/test_storm_local_vs_squall.py).
Each run gets its own throw-away project (squall.testing.isolated_pipeline_project) and SQLite file:
`sparse run -n iot_pipeline -e local -t S --config <project>/config.json` (from the repo root, which holds
project.clj) with the top-level `serializer` set to json, then msgpack; and `squall run iot_pipeline -e local
--until-idle 3` in the project folder (json serializer). While a run goes, its SQLite file is polled every 0.2 s
(read-only, WAL): events/s = rows in `events` at the end / (time the count last changed - time it was first
non-zero), i.e. the rate at which the archive sink stored events; time to first result = command start -> first
row in `events` (includes the jar build and JVM start for `sparse run`); peak RSS of the process tree as above.
Resolution of these times is the 0.2 s poll. A `sparse run` is stopped early (SIGTERM to its process group) once
`events` and metric_windows hold the truth's row counts and nothing was committed for 5 s (PRAGMA data_version);
else it ends after -t seconds (LocalCluster keeps running until then even when the input is done).
CPU per event by process (`cpu_us_per_event_by_process`, bench.cpu's roles: `java` for the Storm JVM (and
lein's), a component by its class, `runner` for the command's own process: `sparse` or `squall run`): the
process tree's CPU seconds between the first and the last change of the `events` count, over the events stored
in between (start-up, the jar build and the wait for the last windows are left out).
`identical` is whether the final metric_windows rows of the three runs are equal (row dicts, exactly), and
`matches_truth` per run whether they equal squall.pipeline.truth's rows (compare_rows).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.cpu import CpuMeter
from bench.machine import write_result
from squall.config import Project, pipeline_settings
from squall.pipeline.report import window_rows
from squall.pipeline.routing import ARCHIVE_RULES
from squall.pipeline.simulator import SimulatorSettings, generate
from squall.pipeline.truth import Truth, compare_rows, truth_for_settings
from squall.testing import isolated_pipeline_project

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "storm_project"
BIN = Path(sys.executable).parent
SAMPLE_SECS = 0.2
SETTLE_SECS = 5.0


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


def _run(
    cmd: list[str],
    timeout: float,
    cwd: Path = FIXTURE,
    on_sample: Callable[[], bool] | None = None,
    log: Path | None = None,
    on_spawn: Callable[[int], None] | None = None,
) -> tuple[float, int, int]:
    """Run `cmd` in `cwd`; (start wall time, exit code, peak tree RSS in kB). `on_sample` is called every sample;
    when it returns True the command's process group is stopped (SIGTERM, then SIGKILL after 20 s)."""
    out = open(log, "wb") if log is not None else None  # noqa: SIM115 - closed below
    start = time.time()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        stdout=out if out is not None else subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    if on_spawn is not None:
        on_spawn(proc.pid)
    peak = 0
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None:
            peak = max(peak, _tree_rss_kb(proc.pid))
            if time.monotonic() > deadline:
                _stop(proc, signal.SIGKILL)
                break
            if on_sample is not None and on_sample():
                _stop(proc, signal.SIGTERM)
                break
            time.sleep(SAMPLE_SECS)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            _stop(proc, signal.SIGKILL)
            code = proc.wait()
    finally:
        _stop(proc, signal.SIGKILL)  # anything left in the group (a JVM's Python subprocesses), or on Ctrl-C
        if out is not None:
            out.close()
    return start, code, peak


def _stop(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


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


class _SqliteWatch:
    """Polls a run's SQLite file (read-only) at every RSS sample: when the `events` row count was first non-zero
    and last changed, the same for `metric_windows`; `settled()` once both tables hold the truth's row counts and
    no other connection committed anything (PRAGMA data_version: upserts too) for SETTLE_SECS."""

    def __init__(self, path: Path, truth_events: int, truth_windows: int) -> None:
        self.path = path
        self.truth_events = truth_events
        self.truth_windows = truth_windows
        self.data_version: int | None = None
        self.last_write: float | None = None
        self.counts = {"events": 0, "metric_windows": 0}
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is None and self.path.exists():
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        return self._db

    def sample(self) -> None:
        now = time.time()
        try:
            db = self._connect()
            if db is None:
                return
            version = db.execute("PRAGMA data_version").fetchone()[0]
            if version != self.data_version:
                self.data_version = version
                self.last_write = now
            for table in self.counts:
                n = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                if n != self.counts[table]:
                    self.counts[table] = n
                    self.first.setdefault(table, now)
                    self.last[table] = now
        except sqlite3.Error:  # not created yet, or busy: next sample
            return

    def settled(self) -> bool:
        self.sample()
        return (
            self.counts["events"] >= self.truth_events
            and self.counts["metric_windows"] >= self.truth_windows
            and self.last_write is not None
            and time.time() - self.last_write >= SETTLE_SECS
        )

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


def _pipeline_project(dest: Path, run: str, serializer: str, simulator: dict[str, Any]) -> Path:
    """A throw-away project for one run (own SQLite file); the top-level serializer set; returns its SQLite path.
    topology.max.spout.pending is raised to 120 s of events: the spout refuses a limit below the events of the
    longest window + allowed lateness (65 s at the simulated rate), and config.json's 30000 is below that at 500/s."""
    made = isolated_pipeline_project(
        dest,
        run,
        prefix="bench.svs",
        source=ROOT,
        env="local",
        options={"topology.max.spout.pending": max(30_000, int(simulator["rate"] * 120))},
        # the raw-event archive (opt-in) is what this benchmark counts: rows in `events` over time
        pipeline={
            "simulator": simulator,
            "windows": {"idle_timeout_s": 1},
            "routing": {"rules": ARCHIVE_RULES},
        },
        parallelism={"parse": 1},
    )
    config = json.loads(made.config_path.read_text())
    config["serializer"] = serializer
    made.config_path.write_text(json.dumps(config, indent=2))
    made.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return made.sqlite_path


def _measure_pipeline(
    label: str,
    cmd: list[str],
    cwd: Path,
    db_path: Path,
    truth: Truth,
    timeout: float,
    stop_when_settled: bool,
) -> tuple[dict[str, Any], dict[Any, dict[str, Any]]]:
    watch = _SqliteWatch(db_path, truth.unique_events, len(truth.rows))
    stopped: list[float] = []
    meters: list[CpuMeter] = []
    # (CPU seconds by role, events stored) when the events count first moved and when it last did
    marks: dict[str, tuple[dict[str, float], int]] = {}

    def on_spawn(pid: int) -> None:
        meter = CpuMeter(lambda: pid, interval_s=1.0, service_ports={})
        meter.start()
        meters.append(meter)

    def on_sample() -> bool:
        before = watch.counts["events"]
        done = stop_when_settled and watch.settled()
        if not done:
            watch.sample()
        after = watch.counts["events"]
        if after != before and meters:
            mark = (meters[0].snapshot(), after)
            marks.setdefault("first", mark)
            marks["last"] = mark
        if done:
            stopped.append(time.time())
        return done

    log = db_path.parent / "run.log"
    start, code, peak_kb = _run(cmd, timeout, cwd=cwd, on_sample=on_sample, log=log, on_spawn=on_spawn)
    for meter in meters:
        meter.stop()
    watch.sample()
    watch.close()
    rows = window_rows(db_path) if db_path.exists() else {}
    problems = compare_rows(rows, truth.rows)
    events = watch.counts["events"]
    result: dict[str, Any] = {
        "mode": label,
        "command": " ".join(cmd),
        "cwd": str(cwd),
        "exit_code": code,
        "stopped_when_settled": bool(stopped),
        "events_stored": events,
        "metric_windows_rows": len(rows),
        "truth_windows_rows": len(truth.rows),
        "matches_truth": not problems,
        "truth_problems": problems[:5],
        "peak_rss_mib": round(peak_kb / 1024, 1),
    }
    if code != 0 and not stopped:
        result["output_tail"] = log.read_text(errors="replace")[-1500:]
    if "events" in watch.first:
        span = watch.last["events"] - watch.first["events"]
        result["events_per_s"] = round(events / span, 1) if span > 0 else None
        result["events_span_s"] = round(span, 2)
        result["time_to_first_result_s"] = round(watch.first["events"] - start, 2)
    if "first" in marks and marks["last"][1] > marks["first"][1]:
        (cpu0, n0), (cpu1, n1) = marks["first"], marks["last"]
        per = 1e6 / (n1 - n0)
        by_role = {role: cpu1[role] - cpu0.get(role, 0.0) for role in cpu1}
        result["cpu_us_per_event_by_process"] = {
            role: round(cpu * per, 1)
            for role, cpu in sorted(by_role.items(), key=lambda kv: -kv[1])
            if cpu > 0
        }
        result["cpu_us_per_event_total"] = round(sum(by_role.values()) * per, 1)
        result["cpu_measured_events"] = n1 - n0
    if "metric_windows" in watch.first:
        result["time_to_first_window_s"] = round(watch.first["metric_windows"] - start, 2)
        result["time_to_last_window_s"] = round(watch.last["metric_windows"] - start, 2)
    print(json.dumps(result), flush=True)
    return result, rows


def _pipeline(tmp: Path, simulator: dict[str, Any], storm_secs: int) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    all_rows: list[dict[Any, dict[str, Any]]] = []
    truth = None
    for label, serializer in (("storm-local-json", "json"), ("storm-local-msgpack", "msgpack")):
        dest = tmp / f"pipeline-{label}"
        db_path = _pipeline_project(dest, label.replace("-", "_"), serializer, simulator)
        if truth is None:
            config = json.loads((dest / "config.json").read_text())
            settings = pipeline_settings(Project(root=dest, raw=config), "local")
            truth = truth_for_settings(generate(SimulatorSettings.from_settings(settings)), settings)
        cmd = [
            str(BIN / "sparse"), "run", "-n", "iot_pipeline", "-e", "local", "-t", str(storm_secs),
            "--config", str(dest / "config.json"),
        ]  # fmt: skip
        # From the repo root: `sparse run` builds the jar from its project.clj.
        result, rows = _measure_pipeline(label, cmd, ROOT, db_path, truth, storm_secs + 300, True)
        result["serializer"] = serializer
        runs.append(result)
        all_rows.append(rows)
    assert truth is not None
    dest = tmp / "pipeline-squall-run"
    db_path = _pipeline_project(dest, "squall_run", "json", simulator)
    cmd = [str(BIN / "squall"), "run", "iot_pipeline", "-e", "local", "--until-idle", "3"]
    result, rows = _measure_pipeline("squall-run", cmd, dest, db_path, truth, 600, False)
    result["serializer"] = "json"
    runs.append(result)
    all_rows.append(rows)
    identical = bool(all_rows[0]) and all(rows == all_rows[0] for rows in all_rows[1:])
    return {
        "topology": "iot_pipeline",
        "env": "local",
        "simulator": simulator,
        "messages_produced": truth.produced,
        "unique_valid_events": truth.unique_events,
        "storm_secs": storm_secs,
        "identical": identical,
        "differences": [] if identical else compare_rows(all_rows[-1], all_rows[0], limit=5),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="tuples the spout emits (sink gets 2x)")
    parser.add_argument(
        "--storm-secs", type=int, default=90, help="how long `sparse run` keeps LocalCluster up"
    )
    parser.add_argument("--no-pipeline", dest="pipeline", action="store_false", help="skip iot_pipeline")
    parser.add_argument("--devices", type=int, default=100, help="pipeline: simulated devices")
    parser.add_argument("--rate", type=float, default=500, help="pipeline: events/s of event time")
    parser.add_argument("--duration", type=float, default=60, help="pipeline: seconds of event time")
    parser.add_argument(
        "--pipeline-storm-secs",
        type=int,
        default=240,
        help="pipeline: `sparse run -t` (the run is stopped earlier once its SQLite file settled)",
    )
    args = parser.parse_args(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    env = {**os.environ}
    if hasattr(os, "getuid") and os.getuid() == 0:
        env.setdefault("LEIN_ROOT", "1")
    os.environ.update(env)
    results = []
    pipeline = None
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
        if args.pipeline:
            simulator = {"devices": args.devices, "rate": args.rate, "duration_s": args.duration}
            pipeline = _pipeline(Path(tmp), simulator, args.pipeline_storm_secs)
    doc: dict[str, Any] = {"count": args.count, "storm_secs": args.storm_secs, "runs": results}
    if pipeline is not None:
        doc["pipeline"] = pipeline
    path = write_result("storm_vs_squall", doc)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
