"""The cassandra-driver Cluster arguments squall builds from `pipeline.cassandra`: auth provider and TLS."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cassandra.auth import PlainTextAuthProvider

from squall.cassandra.client import cluster_security
from squall.cassandra.settings import CassandraSettings
from squall.errors import ConfigError
from squall.infra.secure import ensure_material


def test_no_username_and_no_ssl_adds_nothing() -> None:
    assert cluster_security(CassandraSettings()) == {}


def test_password_authenticator_and_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    material = ensure_material(tmp_path / "state")
    monkeypatch.setenv("SQUALL_TEST_CASSANDRA_PASSWORD", "c4ss")
    settings = CassandraSettings.from_section(
        {
            "username": "pipeline",
            "password_env": "SQUALL_TEST_CASSANDRA_PASSWORD",
            "ssl": True,
            "ssl_cafile": str(material.ca_cert),
        }
    )
    out = cluster_security(settings)
    provider = out["auth_provider"]
    assert isinstance(provider, PlainTextAuthProvider)
    assert (provider.username, provider.password) == ("pipeline", "c4ss")
    assert "c4ss" not in repr(settings) and "c4ss" not in repr(out)
    ctx = out["ssl_context"]
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "squall local CA"),),)]


def test_client_certificate_and_no_hostname_check(tmp_path: Path) -> None:
    material = ensure_material(tmp_path / "state")
    settings = CassandraSettings.from_section(
        {
            "ssl": True,
            "ssl_cafile": "state/tls/ca.pem",
            "ssl_certfile": "state/tls/server.pem",
            "ssl_keyfile": "state/tls/server.key",
            "ssl_check_hostname": False,
        },
        root=tmp_path,
    )
    assert settings.ssl_certfile == str(material.server_cert)
    ctx = cluster_security(settings)["ssl_context"]
    assert not ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED


def test_an_unreadable_password_file_stops_before_connecting(tmp_path: Path) -> None:
    settings = CassandraSettings.from_section({"username": "u", "password_file": str(tmp_path / "none")})
    with pytest.raises(ConfigError) as info:
        cluster_security(settings)
    assert info.value.key == "pipeline.cassandra.password_file"


@pytest.mark.parametrize(
    ("section", "key", "words"),
    [
        ({"username": "u", "password": "hunter2"}, "pipeline.cassandra.password", "password_file"),
        ({"username": "u"}, "pipeline.cassandra.password_env", "password_env"),
        ({"password_env": "X"}, "pipeline.cassandra.username", "role name"),
        ({"ssl_cafile": "/ca.pem"}, "pipeline.cassandra.ssl_cafile", '"ssl": true'),
        ({"ssl": "yes"}, "pipeline.cassandra.ssl", "true/false"),
        ({"username": 3, "password_env": "X"}, "pipeline.cassandra.username", "not a string"),
        ({"ssl": True, "ssl_keyfile": "/k"}, "pipeline.cassandra.ssl_keyfile", "ssl_certfile"),
    ],
)
def test_bad_security_settings_name_the_key_and_the_fix(
    section: dict[str, object], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        CassandraSettings.from_section(section)
    assert info.value.key == key
    assert words in str(info.value)
    assert "hunter2" not in str(info.value)
