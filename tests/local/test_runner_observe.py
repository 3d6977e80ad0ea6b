"""What an operator sees of a `squall run` (a subprocess, stdout to a pipe), on the observe fixture project
(a spout of packed micro-batches -> a cheap bolt -> a bolt that sleeps per event): Storm's figures in both
hostings, status lines and log lines on stderr, SIGTERM, and the Prometheus endpoint scraped during the run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.timeout(240)
OBSERVE = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "observe"
SQUALL = [sys.executable, "-m", "squall"]
TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z"


def squall_run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SQUALL, "run", "observe", "-e", "local", *args],
        cwd=OBSERVE,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "80"},
    )


class Running:
    """`squall run observe` in the background; its stderr lines collected as they come."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*SQUALL, "run", "observe", "-e", "local", *args],
            cwd=OBSERVE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = re.search(pattern, line)
                if found:
                    return found
            assert self.proc.poll() is None, f"squall run exited {self.proc.returncode}: {self.lines[-20:]}"
            time.sleep(0.1)
        raise AssertionError(f"no stderr line matches {pattern!r} in {timeout}s: {self.lines[-20:]}")

    def stop(self, timeout: float = 60) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=timeout)
        self._reader.join(timeout=5)
        return self.proc.returncode, out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for run in started:
        run.kill()


def components(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in doc["components"]}


@pytest.mark.parametrize("hosting", ["inline", "process"])
def test_figures_follow_storm_definitions(hosting: str) -> None:
    extra = ["--inline"] if hosting == "inline" else []
    r = squall_run(
        *extra,
        "-o",
        "ob.count=150",
        "-o",
        "ob.batch=5",
        "-o",
        "ob.slow_ms=2",
        "--until-idle",
        "2.5",
        "--json",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    c = components(doc)
    fast, slow, source = c["fast"], c["slow"], c["source"]
    assert source["emitted"] == source["acked"] == 150 and slow["executed"] == 150
    # events: each tuple carries a packed batch of 5
    assert source["events"] == fast["events"] == slow["events"] == 750
    # execute latency: the slow bolt sleeps 2 ms per event, 10 ms per tuple
    assert 9.5 <= slow["execute_ms"] <= 30, slow
    assert fast["execute_ms"] is not None and fast["execute_ms"] < 2, fast
    # process latency (delivered -> acked) includes execute; complete latency (spout) includes both bolts
    assert slow["process_ms"] >= slow["execute_ms"] * 0.95
    assert source["complete_ms"] >= slow["execute_ms"] * 0.95 and source["execute_ms"] is None
    # capacity = executed x execute latency / window (one task: the busiest is it)
    window = slow["window_s"]
    assert 1.0 < window <= 10.5
    expected = slow["executed"] * slow["execute_ms"] / 1000 / window
    assert slow["capacity"] == pytest.approx(expected, rel=0.25), (slow, expected)
    assert slow["capacity"] > 10 * fast["capacity"]
    assert source["capacity"] is None
    # rates over the same window
    assert slow["events_per_s"] == pytest.approx(5 * slow["tuples_per_s"], rel=0.01)
    assert slow["tuples_per_s"] == pytest.approx(150 / window, rel=0.05)
    # metrics messages, per task, as the components sent them
    [(fast_task, fast_metrics)] = fast["metrics"].items()
    assert fast_metrics["seen"] == {"value": 100, "count": 1}
    [(_, source_metrics)] = source["metrics"].items()
    assert source_metrics["kafka_lag"]["value"] == {"ob.events/0": 0, "ob.events/1": 0}
    assert source_metrics["kafka_lag"]["count"] == 3


def test_status_lines_and_timestamped_logs_when_stdout_is_a_pipe() -> None:
    r = squall_run("-v", "-o", "ob.rate=100", "--duration", "3", "--status-interval", "0.5")
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stderr.splitlines()
    status = [line for line in lines if re.match(rf"^{TS} observe running \d+s pending=\d+ \| ", line)]
    assert len(status) >= 3, lines
    assert all("slow: " in line and " ev/s " in line and "cap=" in line for line in status)
    logs = [line for line in lines if "fast bolt ready" in line]
    assert logs and all(
        re.match(rf"^{TS} INFO squall\.component\.fast: \[task \d+\] .*fast bolt ready$", x) for x in logs
    )
    # the summary comes once, at the end, on stdout, within 80 columns when COLUMNS is not a terminal's
    assert r.stdout.count("stopped because: duration") == 1
    assert "events/s" in r.stdout and "capacity" in r.stdout


def test_json_status_and_json_logs() -> None:
    r = squall_run(
        "-v",
        "-o",
        "ob.rate=100",
        "--duration",
        "2.5",
        "--status-interval",
        "0.5",
        "--json",
        "--log-format",
        "json",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    records = [json.loads(line) for line in r.stderr.splitlines()]  # every stderr line is one JSON object
    status = [rec for rec in records if rec.get("type") == "status"]
    assert len(status) >= 2
    assert {c["name"] for c in status[-1]["components"]} == {"source", "fast", "slow"}
    assert status[-1]["stopped_because"] == "running" and re.fullmatch(TS, status[-1]["ts"])
    logs = [rec for rec in records if rec.get("message", "").endswith("fast bolt ready")]
    assert logs and logs[0]["level"] == "INFO" and logs[0]["logger"] == "squall.component.fast"
    assert re.fullmatch(TS, logs[0]["ts"])
    assert json.loads(r.stdout)["stopped_because"] == "duration"


def test_sigterm_drains_and_summarises_like_ctrl_c(running: list[Running]) -> None:
    run = Running("-o", "ob.rate=200", "-o", "ob.slow_ms=0.2", "--status-interval", "0.5", "--json")
    running.append(run)
    run.wait_for(r'"type": "status"')
    time.sleep(2.0)
    code, out = run.stop()
    assert code == 0, run.lines[-20:]
    doc = json.loads(out)
    assert doc["stopped_because"] == "interrupted" and doc["pending_trees"] == 0
    c = components(doc)
    assert c["source"]["emitted"] > 0 and c["source"]["acked"] == c["source"]["emitted"]
    assert c["slow"]["executed"] == c["source"]["emitted"]


def _scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(url, timeout=20) as resp:
        text = resp.read().decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def _by_component(samples: list[tuple[dict[str, str], float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for labels, value in samples:
        assert labels["topology"] == "observe" and labels["task"].isdigit()
        out[labels["component"]] = out.get(labels["component"], 0.0) + value
    return out


@pytest.mark.parametrize("hosting", ["inline", "process"])
def test_prometheus_endpoint_during_a_run(running: list[Running], hosting: str) -> None:
    extra = ["--inline"] if hosting == "inline" else []
    run = Running(
        *extra, "-o", "ob.rate=200", "-o", "ob.slow_ms=0.5", "--metrics-port", "0", "--status-interval", "1"
    )
    running.append(run)
    url = run.wait_for(r"Prometheus metrics at (http://127\.0\.0\.1:\d+/metrics)")[1]
    run.wait_for(r"observe running \d+s")
    first = _scrape(url)
    time.sleep(1.5)
    m = _scrape(url)
    emitted = _by_component(m["squall_tuples_emitted_total"])
    assert emitted["source"] > _by_component(first["squall_tuples_emitted_total"])["source"] > 0
    assert set(_by_component(m["squall_tuples_acked_total"])) == {"source", "fast", "slow"}
    assert "squall_tuples_failed_total" in m
    events = _by_component(m["squall_events_total"])
    assert events["source"] == 10 * emitted["source"]  # 10 events per tuple
    capacity = _by_component(m["squall_capacity"])
    assert set(capacity) == {"fast", "slow"} and capacity["slow"] > capacity["fast"]
    lag = {(lb["topic"], lb["partition"]): v for lb, v in m["squall_kafka_lag"]}
    assert set(lag) == {("ob.events", "0"), ("ob.events", "1")}
    buckets = [(lb, v) for lb, v in m["squall_execute_latency_seconds_bucket"] if lb["component"] == "slow"]
    counts = [v for _, v in buckets]
    assert counts == sorted(counts) and buckets[-1][0]["le"] == "+Inf" and counts[-1] > 0
    # 0.5 ms per event, 10 events: every execute of the slow bolt takes over 5 ms
    assert max(v for lb, v in buckets if float(lb["le"]) <= 0.0025) == 0
    assert _by_component(m["squall_complete_latency_seconds_count"])["source"] > 0
    code, _ = run.stop()
    assert code == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=5)  # served for the run only


def test_a_metrics_port_in_use_stops_the_run_before_it_starts() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = squall_run("--metrics-port", str(port), "--duration", "30")
    assert r.returncode == 2
    assert f"error: --metrics-port: 127.0.0.1:{port} is in use (fix: choose a free port" in r.stderr
    assert "components" not in r.stdout and "stopped because" not in r.stdout
