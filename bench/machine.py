"""The machine a benchmark ran on, and the one way results are written."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def describe() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    try:
        java = subprocess.run(
            ["java", "-version"], capture_output=True, text=True, timeout=20
        ).stderr.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        java = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": java,
        "load_avg_at_start": os.getloadavg(),
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Write bench/results/<name>-<utc timestamp>.json and <name>-latest.json; return the dated path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    doc = {"benchmark": name, "when_utc": stamp, "machine": describe(), **result}
    path = RESULTS / f"{name}-{stamp}.json"
    text = json.dumps(doc, indent=2, sort_keys=True)
    path.write_text(text + "\n")
    (RESULTS / f"{name}-latest.json").write_text(text + "\n")
    return path
