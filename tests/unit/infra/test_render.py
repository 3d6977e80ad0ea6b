from __future__ import annotations

import stat
from pathlib import Path

import pytest

from squall.errors import InfraError
from squall.infra.render import read_jvm_options, render_file, render_text

INFRA = Path(__file__).resolve().parents[3] / "infra"


def test_placeholders_are_filled() -> None:
    assert render_text("port=${port}\n", {"port": 9092}) == "port=9092\n"


def test_missing_placeholder_names_it() -> None:
    with pytest.raises(InfraError, match=r"\$\{data_dir\} has no value"):
        render_text("dir=${data_dir}", {}, "server.properties")


def test_render_file_writes_only_on_change(tmp_path: Path) -> None:
    src = tmp_path / "t.cfg"
    src.write_text("a=${a}\n")
    out = render_file(src, tmp_path / "out" / "t.cfg", {"a": 1})
    assert out.read_text() == "a=1\n"
    mtime = out.stat().st_mtime_ns
    render_file(src, out, {"a": 1})
    assert out.stat().st_mtime_ns == mtime
    render_file(src, out, {"a": 2})
    assert out.read_text() == "a=2\n"
    # Rendered configs live in the state folder and are private to their owner.
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("template", "values"),
    [
        ("zookeeper/zoo.cfg", {"data_dir": "/d", "port": 2181, "host": "127.0.0.1"}),
        (
            "kafka/server.properties",
            {"host": "127.0.0.1", "port": 9092, "controller_port": 9093, "data_dir": "/d"},
        ),
        (
            "cassandra/cassandra.yaml",
            {
                "host": "127.0.0.1",
                "port": 9042,
                "storage_port": 7000,
                "ssl_storage_port": 7001,
                "data_dir": "/d",
                "authenticator": "AllowAllAuthenticator",
            },
        ),
        (
            "kafka/secure.properties",
            {
                "host": "127.0.0.1",
                "port": 9192,
                "controller_port": 9193,
                "admin_user": "admin",
                "admin_password": "pw",
                "keystore": "/s/server.p12",
                "keystore_password": "pw",
                "ca_cert": "/s/ca.pem",
            },
        ),
        (
            "storm/storm.yaml",
            {
                "host": "127.0.0.1",
                "zookeeper_port": 2181,
                "nimbus_port": 6627,
                "supervisor_port": 6628,
                "ui_port": 8080,
                "logviewer_port": 8000,
                "slots": "  - 6700",
                "local_dir": "/d",
                "log_dir": "/l",
                "transport_plugin": "p.T",
                "messaging_context": "p.M",
            },
        ),
    ],
)
def test_project_templates_render_completely(template: str, values: dict[str, object]) -> None:
    text = render_text((INFRA / template).read_text(), values, template)
    assert "${" not in text.replace("%HEAP-MEM%", "")
    assert "127.0.0.1" in text


def test_cassandra_secure_overlay_turns_client_tls_on_with_the_keystore() -> None:
    text = render_text(
        (INFRA / "cassandra" / "secure.yaml").read_text(),
        {"keystore": "/s/server.p12", "keystore_password": "pw"},
        "secure.yaml",
    )
    assert (
        "client_encryption_options:\n  enabled: true\n  optional: false\n  keystore: /s/server.p12\n" in text
    )


def test_zookeeper_admin_server_is_off_and_ruok_whitelisted() -> None:
    text = (INFRA / "zookeeper" / "zoo.cfg").read_text()
    assert "admin.enableServer=false" in text
    assert "4lw.commands.whitelist=ruok" in text


def test_cassandra_jvm_options_carry_the_java17_module_flags() -> None:
    opts = read_jvm_options(INFRA / "cassandra" / "jvm17-server.options")
    assert "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED" in opts
    assert "-Xmx1024m" in opts
    assert not any(o.startswith("#") for o in opts)
