"""The keyword arguments of every kafka-python client squall makes, from one KafkaSettings.

The spout's consumer, the dead-letter and alert publishers, the admin helpers, `squall simulate`, `squall dlq`
and the benchmarks all build their KafkaConsumer / KafkaProducer / KafkaAdminClient with `client_config`, so a
secured cluster (SASL SCRAM, TLS) needs its settings in one place: `pipeline.kafka`.

The password is read here, when a client is made, from the environment variable or file the settings name; it
is a `squall.secrets.Secret`, whose repr is masked, so kafka-python's debug log of its configuration shows
`'***'`.
"""

from __future__ import annotations

from typing import Any

from squall.errors import InfraError
from squall.kafka.settings import KafkaSettings


def security_config(settings: KafkaSettings) -> dict[str, Any]:
    """kafka-python's security keyword arguments for `settings` (empty for PLAINTEXT)."""
    out: dict[str, Any] = {}
    if settings.security_protocol == "PLAINTEXT":
        return out
    settings.check_credentials()
    out["security_protocol"] = settings.security_protocol
    if settings.sasl:
        ref = settings.password
        assert ref is not None  # validated: SASL has a password reference
        out["sasl_mechanism"] = settings.sasl_mechanism
        out["sasl_plain_username"] = settings.username
        out["sasl_plain_password"] = ref.resolve()
    if settings.tls:
        out["ssl_check_hostname"] = settings.ssl_check_hostname
        if settings.ssl_cafile:
            out["ssl_cafile"] = settings.ssl_cafile
        if settings.ssl_certfile:
            out["ssl_certfile"] = settings.ssl_certfile
        if settings.ssl_keyfile:
            out["ssl_keyfile"] = settings.ssl_keyfile
    return out


def client_config(settings: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for KafkaConsumer / KafkaProducer / KafkaAdminClient: the brokers, the request timeout
    and the security settings of `settings`, then `overrides` (client id, acks, group, ...)."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.servers,
        "request_timeout_ms": int(settings.request_timeout_s * 1000),
        **security_config(settings),
    }
    config.update(overrides)
    return config


def unreachable(settings: KafkaSettings, exc: Exception) -> InfraError:
    """The error for a client that could not talk to the brokers. With SASL or TLS a refused login or handshake
    looks the same to kafka-python as a broker that is down ("Unable to bootstrap"), so the fix names both."""
    fix = "start it with `squall infra up`, or correct the setting"
    if settings.security_protocol != "PLAINTEXT":
        fix += (
            f"; {settings.security_protocol} to a running broker fails this way too when the credentials or TLS "
            "settings are wrong: check pipeline.kafka.security_protocol, sasl_mechanism, username, "
            "password_env/password_file and ssl_cafile"
        )
    return InfraError(
        f"cannot reach Kafka at {settings.bootstrap_servers} (pipeline.kafka.bootstrap_servers): {exc} (fix: {fix})"
    )
