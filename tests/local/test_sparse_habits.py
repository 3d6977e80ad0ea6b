"""What a streamparse user types, on a project made by `sparse quickstart wordcount`: sparse's run flags
(-n, -t, --config, -d), tracebacks that name the user's files, and a crashing bolt reported once."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
SQUALL = str(BIN / "squall")
SPARSE = str(BIN / "sparse")


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh `sparse quickstart wordcount` (its config.json has one env, `prod`)."""
    where = tmp_path_factory.mktemp("quickstart")
    done = subprocess.run(
        [SPARSE, "quickstart", "wordcount"], cwd=where, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return where / "wordcount"


@pytest.fixture()
def project(quickstart: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "wordcount"
    shutil.copytree(quickstart, copy)
    return copy


def squall(cwd: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    return subprocess.run([SQUALL, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def counted(summary: dict) -> int:
    (bolt,) = [c for c in summary["components"] if c["name"] == "count_bolt"]
    return int(bolt["executed"])


@pytest.mark.parametrize("hosting", [[], ["--inline"]], ids=["process", "inline"])
def test_sparse_run_flags_run_the_named_topology_for_the_given_time(
    project: Path, hosting: list[str]
) -> None:
    r = squall(project, "run", "-n", "wordcount", "-t", "2", "--json", *hosting)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["topology"] == "wordcount" and summary["stopped_because"] == "duration"
    assert 1.5 <= summary["seconds"] < 30
    assert counted(summary) > 0
    assert "Warning" not in r.stderr  # no deprecation warnings from dependencies on an ordinary run


def test_config_flag_reads_that_file(project: Path) -> None:
    other = project / "elsewhere.json"
    raw = json.loads((project / "config.json").read_text())
    raw["envs"] = {"mine": {"options": {"topology.acker.executors": 0}}}
    other.write_text(json.dumps(raw))
    r = squall(project, "run", "-n", "wordcount", "-t", "1", "--json", "--config", str(other), "-e", "mine")
    assert r.returncode == 0, r.stderr
    r = squall(project, "run", "-n", "wordcount", "-t", "1", "-e", "mine")
    assert r.returncode == 2 and "envs.mine: no such environment" in r.stderr


def test_name_twice_and_time_with_duration_are_refused(project: Path) -> None:
    r = squall(project, "run", "wordcount", "-n", "other", "-t", "1")
    assert r.returncode == 2 and "-n/--name: 'other' disagrees with NAME 'wordcount'" in r.stderr
    r = squall(project, "run", "-n", "wordcount", "-t", "1", "--duration", "1")
    assert r.returncode == 2 and "-t/--time: given together with --duration" in r.stderr


EMIT = re.compile(r"Emitting Tuple: taskId=(\d+) componentId=(\w+) stream=default values=\[")


@pytest.mark.parametrize("hosting", [[], ["--inline"]], ids=["process", "inline"])
@pytest.mark.parametrize("flag", [["-d"], ["-o", "topology.debug=true"]], ids=["-d", "-o"])
def test_debug_logs_every_emitted_tuple_as_storm_does(
    project: Path, hosting: list[str], flag: list[str]
) -> None:
    r = squall(project, "run", "-n", "wordcount", "-t", "4", "--json", *flag, *hosting)
    assert r.returncode == 0, r.stderr[-2000:]
    emits = EMIT.findall(r.stderr)
    by_component = {c for _, c in emits}
    assert by_component == {"word_spout", "count_bolt"}
    summary = json.loads(r.stdout)
    emitted = sum(c["emitted"] for c in summary["components"])
    assert len(emits) == emitted  # one line per emit, no more, no fewer


def test_without_debug_no_tuple_is_logged(project: Path) -> None:
    r = squall(project, "run", "-n", "wordcount", "-t", "1", "--json")
    assert r.returncode == 0 and "Emitting Tuple" not in r.stderr


RAISING = """
        if word == "dog":
            raise ValueError(f"no dogs allowed: {word}")
"""


@pytest.mark.parametrize("hosting", [[], ["--inline"]], ids=["process", "inline"])
def test_a_crashing_bolt_is_reported_once_with_the_users_file(project: Path, hosting: list[str]) -> None:
    bolt = project / "src" / "bolts" / "wordcount.py"
    text = bolt.read_text()
    bolt.write_text(
        text.replace("        word = tup.values[0]\n", "        word = tup.values[0]\n" + RAISING)
    )
    r = squall(project, "run", "-n", "wordcount", "-t", "60", *hosting)
    assert r.returncode == 1, r.stderr[-3000:]
    err = r.stderr
    assert "squall-resources-" not in err and "squall-resources-" not in r.stdout
    line = text.splitlines().index("        word = tup.values[0]") + 4  # the `raise`, 1-based
    assert f'File "{bolt.resolve()}", line {line}, in process' in err
    assert err.count("Traceback (most recent call last)") == 1, err
    assert err.count(f'File "{bolt.resolve()}"') == 1
    (last,) = [x for x in err.splitlines() if "gave up after" in x]
    assert re.search(
        r"count_bolt task \d: gave up after 10 restarts in \d+ s: died 11 times with the same error: "
        r"ValueError: no dogs allowed: dog$",
        last,
    ), err
    assert len(err.splitlines()) < 40, err
