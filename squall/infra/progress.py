"""Long installer commands (apt-get, mvn) that say how far they got: their output read line by line, the lines
worth showing turned into one short progress line each, the tail kept for the error message."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping

Report = Callable[[str], None]
Condense = Callable[[str], "str | None"]

# apt-get's own lines: "Get:2 http://deb.debian.org/debian bookworm/main amd64 libcdt5 amd64 2.42.2-7 [39.6 kB]",
# "Fetched 98.2 MB in 12s (8,140 kB/s)", "Need to get 98.2 MB of archives.", "Setting up maven (3.8.7-1) ..."
_APT_GET = re.compile(r"^Get:\d+ \S+ \S+ \S+ (?P<pkg>\S+) \S+ (?P<version>\S+) \[(?P<size>[^\]]+)\]")
_APT_KEEP = re.compile(r"^(Fetched .*|Need to get .*|After this operation, .*)$")
_APT_SETUP = re.compile(r"^Setting up (?P<pkg>\S+) \((?P<version>[^)]*)\)")
# Maven's transfer lines in batch mode: "[INFO] Downloaded from central: https://.../x-1.0.jar (12 kB at 45 kB/s)"
_MVN_DONE = re.compile(r"Downloaded from (?P<repo>\S+): (?P<url>\S+) \((?P<size>[^)]*?) at (?P<rate>[^)]*)\)")


def apt_line(line: str) -> str | None:
    """The progress line for one line of apt-get's output, or None (not worth showing)."""
    line = line.strip()
    got = _APT_GET.match(line)
    if got:
        return f"apt: downloaded {got['pkg']} {got['version']} [{got['size']}]"
    setup = _APT_SETUP.match(line)
    if setup:
        return f"apt: set up {setup['pkg']} {setup['version']}"
    if _APT_KEEP.match(line):
        return f"apt: {line}"
    return None


def maven_line(line: str) -> str | None:
    """The progress line for one line of `mvn -B` output: each finished download with its size and rate."""
    done = _MVN_DONE.search(line)
    if done:
        return f"maven: {done['url'].rsplit('/', 1)[-1]} ({done['size']} at {done['rate']})"
    return None


def run_reporting(
    cmd: list[str],
    condense: Condense,
    report: Report,
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    keep: int = 15,
) -> tuple[int, str]:
    """Run `cmd`, reporting `condense(line)` for each output line that has one. Returns (exit code, the last
    `keep` lines of output); a command still running after `timeout` seconds is killed (exit code -9)."""
    proc = subprocess.Popen(  # noqa: S603 - a fixed command line built by squall
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        env=dict(env) if env is not None else dict(os.environ),
    )
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.daemon = True
    watchdog.start()
    tail: deque[str] = deque(maxlen=keep)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip("\n"))
            shown = condense(line)
            if shown:
                report(shown)
        code = proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, "\n".join(tail)
