"""The security keyword arguments of every cassandra-driver Cluster squall makes, from one CassandraSettings.

`squall.cassandra.store.connect` (the store, `squall db init`, `squall dlq show --source cassandra`, the tests
and benchmarks) and the infra health check build their Cluster with `cluster_security`: a PlainTextAuthProvider
for PasswordAuthenticator when a username is set, an `ssl.SSLContext` when `ssl` is true. The password is read
here, when a Cluster is made, from the environment variable or file the settings name.
"""

from __future__ import annotations

import ssl
from typing import Any

from cassandra.auth import PlainTextAuthProvider

from squall.cassandra.settings import CassandraSettings


def ssl_context(settings: CassandraSettings) -> ssl.SSLContext:
    """A client TLS context: the CA file (else the system's CAs), the client certificate if given, and the
    hostname check as configured (the certificate is verified either way)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = settings.ssl_check_hostname
    if settings.ssl_cafile:
        ctx.load_verify_locations(settings.ssl_cafile)
    else:
        ctx.load_default_certs()
    if settings.ssl_certfile:
        ctx.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile or None)
    return ctx


def cluster_security(settings: CassandraSettings) -> dict[str, Any]:
    """`auth_provider` and `ssl_context` for `cassandra.cluster.Cluster` (empty without auth and TLS)."""
    settings.check_credentials()
    out: dict[str, Any] = {}
    ref = settings.password
    if ref is not None:
        out["auth_provider"] = PlainTextAuthProvider(username=settings.username, password=ref.resolve())
    if settings.ssl:
        out["ssl_context"] = ssl_context(settings)
    return out
