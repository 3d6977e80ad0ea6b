from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from squall.cli.main import cli


@pytest.mark.parametrize("command", ["install", "up", "down", "status", "logs"])
def test_every_infra_command_has_help(command: str) -> None:
    result = CliRunner().invoke(cli, ["infra", command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: cli infra" in result.output or "Usage: squall infra" in result.output


def test_unknown_service_is_a_clear_error() -> None:
    result = CliRunner().invoke(cli, ["infra", "logs", "kafak"])
    assert result.exit_code == 2
    assert "'kafak' is not a service" in result.output


def test_up_rejects_an_unknown_service_before_starting_anything() -> None:
    result = CliRunner().invoke(cli, ["infra", "up", "storm-ui"])
    assert result.exit_code == 2
    assert "use one of: zookeeper, kafka, cassandra, nimbus, supervisor, ui" in result.output


@pytest.mark.parametrize("command", ["up", "down", "status", "logs"])
def test_service_commands_take_an_environment(command: str) -> None:
    result = CliRunner().invoke(cli, ["infra", command, "--help"])
    assert "-e, --environment" in result.output and "[default: dev]" in result.output


def test_a_secure_env_offers_only_its_own_services() -> None:
    result = CliRunner().invoke(cli, ["infra", "logs", "nimbus", "-e", "secure"])
    assert result.exit_code == 2
    assert "'nimbus' is not a service (fix: use one of: kafka, cassandra)" in result.output


def test_an_unknown_environment_is_a_clear_error() -> None:
    result = CliRunner().invoke(cli, ["infra", "status", "-e", "staging"])
    assert result.exit_code == 2
    assert "envs.staging: no such environment" in result.output


def test_a_remote_host_without_allow_remote_is_refused_and_with_it_warned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "infra").mkdir()
    monkeypatch.chdir(tmp_path)
    services: dict[str, object] = {"kafka": "192.0.2.10:9092"}
    (tmp_path / "config.json").write_text(json.dumps({"envs": {"dev": {"services": services}}}))
    result = CliRunner().invoke(cli, ["infra", "logs", "kafka"])
    assert result.exit_code == 2
    assert "envs.dev.services.kafka: '192.0.2.10' is not a loopback address" in result.output

    services["allow_remote"] = True
    (tmp_path / "config.json").write_text(json.dumps({"envs": {"dev": {"services": services}}}))
    result = CliRunner().invoke(cli, ["infra", "logs", "kafka"])
    assert result.exit_code == 0, result.output
    assert "warning: envs.dev.services: the services listen on 192.0.2.10" in result.output
