"""A secured env's certificates and credentials (squall.infra.secure) and its services section."""

from __future__ import annotations

import json
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from squall.errors import ConfigError
from squall.infra import api
from squall.infra.secure import PASSWORDS, ensure_material

INFRA = Path(__file__).resolve().parents[3] / "infra"


def test_material_is_private_and_made_once(tmp_path: Path) -> None:
    state = tmp_path / "secure"
    first = ensure_material(state)
    assert first.complete
    for folder in (state, first.tls, first.secrets):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in [*first.tls.iterdir(), *first.secrets.iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    passwords = {n: first.password(n) for n in PASSWORDS}
    assert len(set(passwords.values())) == len(PASSWORDS) and all(len(p) >= 24 for p in passwords.values())
    cert = first.server_cert.read_bytes()
    again = ensure_material(state)
    assert {n: again.password(n) for n in PASSWORDS} == passwords
    assert again.server_cert.read_bytes() == cert


def test_the_server_certificate_is_trusted_through_the_ca_for_the_loopback_address(tmp_path: Path) -> None:
    material = ensure_material(tmp_path)
    leaf = x509.load_pem_x509_certificates(material.server_cert.read_bytes())[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    # A real TLS handshake over a socket pair: server with the generated key, client trusting only ca.pem.
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(material.server_cert, material.server_key)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(material.ca_cert)
    import socket
    import threading

    a, b = socket.socketpair()
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            with server.wrap_socket(b, server_side=True) as s:
                s.sendall(b"ok")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    t = threading.Thread(target=serve)
    t.start()
    with client.wrap_socket(a, server_hostname="127.0.0.1") as c:
        assert c.recv(2) == b"ok"
    t.join(10)
    assert not errors


def _project(tmp_path: Path, services: dict[str, object]) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "infra").symlink_to(INFRA, target_is_directory=True)
    (root / "config.json").write_text(json.dumps({"envs": {"s": {"services": services}}}))
    return root


def test_an_env_runs_its_own_services_in_its_own_state_folder(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {"run": ["kafka", "cassandra"], "secure": True, "state": ".state/s", "kafka": "127.0.0.1:9192"},
    )
    ctx = api.make_context("s", root)
    assert ctx.secure and ctx.env == "s" and ctx.layout.state == root / ".state" / "s"
    assert list(api.env_services(ctx)) == ["kafka", "cassandra"]
    assert [r.name for r in api.down(ctx=ctx)] == ["kafka", "cassandra"]  # nothing started, nothing stopped
    with pytest.raises(ConfigError, match="is not a service"):
        api.status(["nimbus"], ctx=ctx)


@pytest.mark.parametrize(
    ("services", "key"),
    [
        ({"secure": True}, "envs.s.services.run"),
        ({"secure": True, "run": ["zookeeper", "kafka"]}, "envs.s.services.run"),
        ({"secure": "yes", "run": ["kafka"]}, "envs.s.services.secure"),
        ({"run": ["kafak"]}, "envs.s.services.run"),
        ({"state": ""}, "envs.s.services.state"),
    ],
)
def test_bad_env_services_name_the_key(tmp_path: Path, services: dict[str, object], key: str) -> None:
    root = _project(tmp_path, services)
    with pytest.raises(ConfigError) as info:
        api.make_context("s", root)
    assert info.value.key == key


def test_status_of_a_secured_env_never_started_makes_no_certificates(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {"run": ["kafka", "cassandra"], "secure": True, "state": ".state/s", "kafka": "127.0.0.1:1"},
    )
    ctx = api.make_context("s", root)
    rows = api.status(ctx=ctx)
    assert [(r.name, r.healthy) for r in rows] == [("kafka", False), ("cassandra", False)]
    assert all("squall infra up -e s" in r.detail for r in rows)
    assert not (root / ".state" / "s" / "tls").exists()
