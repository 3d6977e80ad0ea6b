"""Options, parallelism and the Python command squall decides before streamparse submits (pure logic)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamparse import Bolt, Grouping, Spout, Topology

from squall.config import Project
from squall.errors import ConfigError
from squall.storm import options as opts


class _Spout(Spout):
    outputs = ["n"]


class _Bolt(Bolt):
    outputs = ["n"]


class _Topo(Topology):
    config = {"topology.message.timeout.secs": 10, "topology.max.spout.pending": 5}
    src = _Spout.spec(par=1)
    work = _Bolt.spec(inputs=[src], par={"dev": 3, "prod": 8})
    out = _Bolt.spec(inputs={work: Grouping.fields("n")}, par=2)


def _project(env: dict, **top: object) -> Project:
    return Project(root=Path("/proj"), raw={"serializer": "json", **top, "envs": {"dev": env}})


def test_topology_parallelism_reads_par_and_per_env_dicts() -> None:
    assert opts.topology_parallelism(_Topo, "dev") == {"src": 1, "work": 3, "out": 2}
    assert opts.topology_parallelism(_Topo, "staging") == {"src": 1, "work": 1, "out": 2}


def test_env_parallelism_overrides_topology_and_lands_in_thrift() -> None:
    project = _project({"parallelism": {"out": 4}})
    par = opts.resolve_topology_parallelism(_Topo, project, "dev")
    assert par == {"src": 1, "work": 3, "out": 4}
    opts.apply_parallelism(_Topo, par)
    assert _Topo.thrift_bolts["out"].common.parallelism_hint == 4
    assert _Topo.thrift_bolts["work"].common.parallelism_hint == 3
    assert _Topo.thrift_spouts["src"].common.parallelism_hint == 1


@pytest.mark.parametrize(
    ("parallelism", "key"),
    [
        ({"nope": 2}, "envs.dev.parallelism.nope"),
        ({"out": 0}, "envs.dev.parallelism.out"),
        ({"out": "x"}, "envs.dev.parallelism.out"),
    ],
)
def test_bad_parallelism_is_a_config_error_naming_the_key(parallelism: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        opts.resolve_topology_parallelism(_Topo, _project({"parallelism": parallelism}), "dev")
    assert info.value.key == key


def test_storm_options_precedence_topology_env_cli_and_pipeline_settings() -> None:
    project = _project(
        {
            "options": {"topology.max.spout.pending": 50, "topology.workers": 2},
            "pipeline": {"sink": "cassandra"},
        },
        pipeline={"source": "kafka", "sink": "sqlite"},
    )
    streamparse_own = {"topology.workers": 1, "pystorm.log.level": "info", "topology.max.spout.pending": 1}
    merged = opts.storm_options(
        streamparse_own, _Topo.config, project, "dev", {"topology.workers": 3}, serializer="json"
    )
    assert merged["topology.message.timeout.secs"] == 10  # topology only
    assert merged["topology.max.spout.pending"] == 50  # env beats topology (and streamparse's own)
    assert merged["topology.workers"] == 3  # CLI beats env
    assert merged["pystorm.log.level"] == "info"  # streamparse bookkeeping kept
    assert merged["squall.pipeline"]["source"] == "kafka"
    assert merged["squall.pipeline"]["sink"] == "cassandra"
    assert opts.SERIALIZER_OPTION not in merged


def test_msgpack_selects_squalls_java_serializer_unless_overridden() -> None:
    project = _project({})
    merged = opts.storm_options({}, {}, project, "dev", None, serializer="msgpack")
    assert merged[opts.SERIALIZER_OPTION] == "squall.multilang.MsgpackSerializer"
    custom = opts.storm_options(
        {}, {}, project, "dev", {opts.SERIALIZER_OPTION: "my.Ser"}, serializer="msgpack"
    )
    assert custom[opts.SERIALIZER_OPTION] == "my.Ser"


@pytest.mark.parametrize(
    ("where", "options", "key"),
    [
        ("env", {"topology.workers": 0}, "envs.dev.options.topology.workers"),
        ("env", {"topology.acker.executors": "two"}, "envs.dev.options.topology.acker.executors"),
        ("cli", {"topology.message.timeout.secs": -1}, "-o.topology.message.timeout.secs"),
    ],
)
def test_bad_options_are_refused(where: str, options: dict, key: str) -> None:
    env = {"options": options} if where == "env" else {}
    cli = options if where == "cli" else None
    with pytest.raises(ConfigError) as info:
        opts.storm_options({}, {}, _project(env), "dev", cli, serializer="json")
    assert info.value.key == key


def test_serializer_for_env_override_and_validation() -> None:
    project = _project({"serializer": "msgpack"})
    assert opts.serializer_for(project, {"serializer": "msgpack"}, "dev") == "msgpack"
    assert opts.serializer_for(project, {}, "dev") == "json"
    with pytest.raises(ConfigError):
        opts.serializer_for(project, {"serializer": "protobuf"}, "dev")


def test_relative_virtualenv_root_resolves_against_project_root(tmp_path: Path) -> None:
    env = {"use_virtualenv": True, "virtualenv_root": "..", "virtualenv_name": ".venv"}
    out = opts.absolute_env_config(env, tmp_path / "proj")
    assert out["virtualenv_root"] == str(tmp_path.resolve())
    assert env["virtualenv_root"] == ".."  # the caller's dict is not changed
    assert opts.absolute_env_config({"virtualenv_root": "/abs"}, tmp_path)["virtualenv_root"] == "/abs"


def test_runner_command_from_virtualenv_settings() -> None:
    venv = {"use_virtualenv": True, "virtualenv_root": "/data/venvs", "virtualenv_name": "shared"}
    assert opts.runner_command(venv, "topo") == "/data/venvs/shared/bin/streamparse_run"
    assert (
        opts.runner_command({"virtualenv_root": "/data/venvs"}, "topo")
        == "/data/venvs/topo/bin/streamparse_run"
    )
    assert opts.runner_command({"use_virtualenv": False}, "topo") == "streamparse_run"
    with pytest.raises(ConfigError):
        opts.runner_command({"use_virtualenv": True}, "topo")


def test_set_runner_command_rewrites_every_python_component() -> None:
    class _T(Topology):
        src = _Spout.spec()
        work = _Bolt.spec(inputs=[src])

    opts.set_runner_command(_T, "/v/bin/streamparse_run")
    shells = [c.bolt_object.shell for c in _T.thrift_bolts.values()] + [
        c.spout_object.shell for c in _T.thrift_spouts.values()
    ]
    assert [s.execution_command for s in shells] == ["/v/bin/streamparse_run"] * 2
