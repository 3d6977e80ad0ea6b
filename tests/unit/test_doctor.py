"""`squall doctor`, `sparse --version`, `sparse visualize`, and the check every `squall` command makes that the
Storm 2.8 compatibility layer is still in place."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from squall.cli.doctor import addresses, java_major
from squall.cli.main import cli
from squall.storm import layer

BIN = Path(sys.executable).parent
STREAMPARSE_SCRIPT = """#!/usr/bin/python3
import re
import sys
from streamparse.cli.sparse import main
if __name__ == '__main__':
    sys.exit(main())
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("text", "major"),
    [
        ('openjdk version "17.0.9" 2023-10-17', 17),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ("no version here", None),
    ],
)
def test_java_major(text: str, major: int | None) -> None:
    assert java_major(text) == major


def test_addresses_follow_the_services_section() -> None:
    assert addresses({}) == {
        "zookeeper": "127.0.0.1:2181",
        "kafka": "127.0.0.1:9092",
        "cassandra": "127.0.0.1:9042",
        "nimbus": "127.0.0.1:6627",
        "storm_ui": "127.0.0.1:8080",
    }
    section = {"run": ["kafka", "cassandra"], "kafka": "k1:9192,k2:9192", "cassandra": 9142}
    assert addresses(section) == {"kafka": "k1:9192", "cassandra": "127.0.0.1:9142"}


@pytest.fixture()
def in_project(tmp_path: Path):
    down = closed_port()
    config = {
        "topology_specs": "topologies/",
        "envs": {"down": {"services": {"run": ["kafka"], "kafka": down}}},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield down
    finally:
        os.chdir(old)


def test_doctor_fails_on_a_named_env_whose_service_is_down(in_project: int) -> None:
    r = CliRunner().invoke(cli, ["doctor", "-e", "down"])
    assert r.exit_code == 1, r.output
    line = next(x for x in r.output.splitlines() if x.startswith("FAIL down: kafka"))
    assert f"127.0.0.1:{in_project} does not answer" in line and line.endswith(
        "(fix: squall infra up -e down)"
    )
    assert "OK   python:" in r.output and "OK   streamparse: 5.0.1" in r.output
    assert "OK   sparse command:" in r.output and "OK   compatibility layer:" in r.output


def test_doctor_without_e_only_warns_about_services(in_project: int) -> None:
    r = CliRunner().invoke(cli, ["doctor"])
    assert "WARN down: kafka" in r.output
    assert r.exit_code == (1 if "FAIL " in r.output else 0), r.output


def test_doctor_names_an_unknown_env(in_project: int) -> None:
    r = CliRunner().invoke(cli, ["doctor", "-e", "nosuch"])
    assert r.exit_code == 1
    assert "FAIL services of nosuch: envs.nosuch: no such environment (fix: use one of: down)" in r.output


def test_a_reinstalled_streamparse_script_is_seen_and_fixed(tmp_path: Path, monkeypatch) -> None:
    script = tmp_path / "sparse"
    script.write_text(STREAMPARSE_SCRIPT)
    monkeypatch.setattr(layer, "sparse_script", lambda: script)
    (problem,) = layer.problems()
    assert problem.startswith(f"{script} is streamparse's own `sparse` (streamparse was reinstalled)")
    assert problem.endswith("(run `squall doctor --fix`, or reinstall squall)")
    layer.write_sparse_script(script)
    assert layer.script_is_ours(script) and os.access(script, os.X_OK) and layer.problems() == []
    # the rewritten script is a working `sparse`
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "Storm 2.8 compatibility layer" in out.stdout


def test_sparse_version_mentions_the_layer_and_no_dependency_warns() -> None:
    out = subprocess.run([str(BIN / "sparse"), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert out.stdout.startswith("sparse 5.0.1 (streamparse) with squall ")
    help_out = subprocess.run([str(BIN / "sparse"), "--help"], capture_output=True, text=True, timeout=120)
    assert help_out.returncode == 0 and "visualize" in help_out.stdout
    assert help_out.stderr == ""  # paramiko's CryptographyDeprecationWarnings are filtered


def test_sparse_visualize_draws_the_topology_or_says_what_is_missing(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "quickstart"
    out = subprocess.run(
        [str(BIN / "sparse"), "visualize", "-n", "wordcount", "-f", "svg", "-o", str(tmp_path / "wc")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode == 0:
        svg = (tmp_path / "wc.svg").read_text()
        assert "<svg" in svg and "count_bolt" in svg and "word_spout" in svg
    else:
        assert out.returncode == 2, out.stderr
        assert out.stderr.startswith("error: sparse visualize needs "), out.stderr
        assert "(fix: " in out.stderr
