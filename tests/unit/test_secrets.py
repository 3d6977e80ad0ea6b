from __future__ import annotations

from pathlib import Path

import pytest

from squall.errors import ConfigError
from squall.secrets import Secret, SecretRef, secret_ref


def test_a_secret_is_its_text_but_its_repr_is_masked() -> None:
    secret = Secret("hunter2")
    assert secret == "hunter2" and secret.encode() == b"hunter2"
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in repr({"sasl_plain_password": secret})
    assert "hunter2" not in f"{ {'password': secret} }"


def test_from_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQUALL_T_PW", "s3cret")
    assert SecretRef("pipeline.kafka.password", env="SQUALL_T_PW").resolve() == "s3cret"


def test_a_missing_variable_names_the_key_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SQUALL_T_PW", raising=False)
    with pytest.raises(ConfigError) as info:
        SecretRef("pipeline.kafka.password", env="SQUALL_T_PW").resolve()
    assert info.value.key == "pipeline.kafka.password_env"
    assert "SQUALL_T_PW is not set" in str(info.value) and "export SQUALL_T_PW=" in str(info.value)


def test_an_empty_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQUALL_T_PW", "")
    with pytest.raises(ConfigError, match="is empty"):
        SecretRef("pipeline.kafka.password", env="SQUALL_T_PW").resolve()


def test_from_a_file_without_its_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("s3cret\n")
    assert SecretRef("k", file=str(path)).resolve() == "s3cret"


def test_an_unreadable_file_names_the_key_and_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError) as info:
        SecretRef("pipeline.cassandra.password", file=str(missing)).resolve()
    assert info.value.key == "pipeline.cassandra.password_file"
    assert str(missing) in str(info.value) and "fix:" in str(info.value)


def test_a_literal_password_is_refused_with_how_to_do_it_instead() -> None:
    with pytest.raises(ConfigError) as info:
        secret_ref({"password": "hunter2"}, "password", "pipeline.kafka")
    message = str(info.value)
    assert info.value.key == "pipeline.kafka.password"
    assert "password_env" in message and "password_file" in message
    assert "hunter2" not in message


def test_both_places_at_once_are_refused() -> None:
    with pytest.raises(ConfigError, match="both password_env and password_file"):
        secret_ref({"password_env": "A", "password_file": "/b"}, "password", "pipeline.kafka")


def test_a_relative_file_is_taken_from_the_project_folder(tmp_path: Path) -> None:
    ref = secret_ref({"password_file": "secrets/pw"}, "password", "pipeline.kafka", tmp_path)
    assert ref == SecretRef("pipeline.kafka.password", file=str(tmp_path / "secrets" / "pw"))
    assert secret_ref({}, "password", "pipeline.kafka") is None
