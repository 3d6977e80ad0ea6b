"""`make run` is the README's first command: it must work on a machine with no JVM at all."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JVM_TOOLS = {"java", "javac", "jar", "jshell", "keytool", "mvn", "lein", "storm", "jps", "jstack", "jcmd"}


def path_without_java(tmp_path: Path) -> str:
    """A PATH with every executable of the current PATH except the JVM tools, as symlinks in one folder."""
    shim = tmp_path / "bin"
    shim.mkdir()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not folder or not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            if entry.name in JVM_TOOLS or (shim / entry.name).exists():
                continue
            if entry.is_file() and os.access(entry.path, os.X_OK):
                (shim / entry.name).symlink_to(entry.path)
    return str(shim)


@pytest.mark.timeout(900)
def test_make_run_needs_no_jvm(tmp_path: Path) -> None:
    path = path_without_java(tmp_path)
    assert shutil.which("java", path=path) is None
    assert shutil.which("make", path=path) is not None
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "JDK_HOME", "CLASSPATH")}
    env["PATH"] = path
    db = ROOT / ".state" / "squall.db"
    proc = subprocess.run(
        ["make", "-s", "run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
        stdin=subprocess.DEVNULL,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "stopped because: idle; trees still pending: 0" in out
    rows = re.search(r"metric_windows=(\d+), events=(\d+), alerts=(\d+), dead_letters=(\d+)", out)
    assert rows, out[-4000:]
    windows, events, _alerts, dead = (int(g) for g in rows.groups())
    assert windows > 0 and dead > 0
    assert events == 0 and "the archive is opt-in" in out  # the default config keeps no raw-event rows
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM metric_windows").fetchone()[0] == windows
