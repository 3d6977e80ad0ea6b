"""Which env a command acts on without -e: streamparse's rule (the only one; several is an error listing them),
for `squall run`, the pipeline commands and `sparse`; and shell completion of topology, env and component names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from squall.cli.main import cli
from squall.config import Project
from squall.errors import ConfigError

BIN = Path(sys.executable).parent
TOPOLOGY = """
from streamparse import Grouping, Topology

from bolts.count import CountBolt
from spouts.words import WordSpout


class WordCount(Topology):
    word_spout = WordSpout.spec()
    count_bolt = CountBolt.spec(inputs={word_spout: Grouping.fields("word")}, par=2)
"""
SPOUT = """
from itertools import cycle

from streamparse import Spout


class WordSpout(Spout):
    outputs = ["word"]

    def initialize(self, stormconf, context):
        self.words = cycle(["dog", "cat"])

    def next_tuple(self):
        self.emit([next(self.words)])
"""
BOLT = """
from streamparse import Bolt


class CountBolt(Bolt):
    outputs = ["word", "count"]

    def process(self, tup):
        self.emit([tup.values[0], 1])
"""


def make_project(root: Path, envs: dict[str, dict]) -> Path:
    for rel, text in {
        "topologies/wordcount.py": TOPOLOGY,
        "topologies/other.py": TOPOLOGY,
        "src/spouts/__init__.py": "",
        "src/spouts/words.py": SPOUT,
        "src/bolts/__init__.py": "",
        "src/bolts/count.py": BOLT,
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    config = {"serializer": "json", "topology_specs": "topologies/", "envs": envs}
    (root / "config.json").write_text(json.dumps(config))
    return root


def project(envs: dict[str, dict]) -> Project:
    return Project(root=Path("/nonexistent"), raw={"envs": envs})


def test_the_only_env_is_chosen() -> None:
    assert project({"prod": {"user": "storm"}}).env(None) == ("prod", {"user": "storm"})


@pytest.mark.parametrize("names", [("staging", "prod"), ("local", "prod")])
def test_several_envs_and_no_choice_is_an_error_listing_them(names: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError) as err:
        project({n: {} for n in names}).env(None)
    listed = ", ".join(sorted(names))
    assert str(err.value) == (
        f"-e/--environment: not given, and config.json has 2 environments ({listed}) "
        f"(fix: choose one, e.g. -e {sorted(names)[0]})"
    )


def test_a_named_env_is_used_even_among_several() -> None:
    assert project({"staging": {"a": 1}, "prod": {}}).env("staging") == ("staging", {"a": 1})


def test_no_envs_runs_as_local() -> None:
    assert project({}).env(None) == ("local", {})


@pytest.fixture()
def two_envs(tmp_path: Path):
    old = os.getcwd()
    os.chdir(make_project(tmp_path, {"staging": {}, "prod": {}}))
    try:
        yield tmp_path
    finally:
        os.chdir(old)


@pytest.mark.parametrize(
    "args",
    [["run", "wordcount", "-t", "1"], ["db", "init"], ["dlq", "show"], ["simulate", "--duration", "1"]],
    ids=["run", "db init", "dlq show", "simulate"],
)
def test_every_command_taking_e_refuses_an_ambiguous_env(two_envs: Path, args: list[str]) -> None:
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, r.output
    assert "-e/--environment: not given, and config.json has 2 environments (prod, staging)" in r.output


def test_sparse_refuses_an_ambiguous_env(two_envs: Path) -> None:
    r = subprocess.run(
        [str(BIN / "sparse"), "list"], cwd=two_envs, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2, r.stderr
    assert "-e/--environment: not given, and config.json has 2 environments (prod, staging)" in r.stderr


def complete(cwd: Path, words: str) -> list[str]:
    """What bash completion offers for the last word of `words` (click's protocol)."""
    env = {**os.environ, "_SQUALL_COMPLETE": "bash_complete", "COMP_WORDS": words}
    parts = words.split(" ")
    env["COMP_CWORD"] = str(len(parts) - 1)
    r = subprocess.run([str(BIN / "squall")], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [line.split(",", 1)[1] for line in r.stdout.splitlines() if "," in line]


def test_completion_of_topology_env_and_component_names(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"staging": {}, "prod": {}})
    assert complete(root, "squall run ") == ["other", "wordcount"]
    assert complete(root, "squall run -n w") == ["wordcount"]
    assert complete(root, "squall run -e ") == ["prod", "staging"]
    assert complete(root, "squall run wordcount --par c") == ["count_bolt="]
    assert complete(root, "squall run -n wordcount --par ") == ["count_bolt=", "word_spout="]
    assert complete(root, "squall run -e prod -t 3 -d wordcount --par w") == ["word_spout="]


def test_completion_in_a_broken_project_offers_nothing(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    assert complete(tmp_path, "squall run -e ") == []
