"""Certificates and credentials of a secured env (`"secure": true` in `envs.<env>.services`), made at `infra up`.

Everything lands in the env's state folder (mode 0700), files mode 0600, never in the repository:

    tls/ca.pem  tls/ca.key            a throw-away certificate authority (clients trust ca.pem)
    tls/server.pem  tls/server.key     the services' certificate (SAN 127.0.0.1 and localhost) and key
    tls/server.p12                     the same as a PKCS#12 keystore for the JVMs
    secrets/keystore.password          that keystore's password
    secrets/kafka-admin.password       the broker's own SCRAM user (inter-broker traffic)
    secrets/kafka-squall.password      the SCRAM user `squall` the pipeline connects as
    secrets/cassandra-admin.password   the new password of Cassandra's default superuser `cassandra`
    secrets/cassandra-squall.password  the role `squall` the pipeline connects as

Each file is made once and then reused, so a restart keeps the credentials the services were set up with.
Made with the `cryptography` package (a dependency of squall, see requirements.lock).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

KAFKA_ADMIN = "admin"
PIPELINE_USER = "squall"  # the Kafka SCRAM user and the Cassandra role the pipeline connects as
CASSANDRA_DEFAULT_SUPERUSER = "cassandra"
CERT_DAYS = 825


@dataclass(frozen=True)
class Material:
    """Paths of a secured env's certificates and credential files (see the module docstring)."""

    state: Path

    @property
    def tls(self) -> Path:
        return self.state / "tls"

    @property
    def secrets(self) -> Path:
        return self.state / "secrets"

    @property
    def ca_cert(self) -> Path:
        return self.tls / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.tls / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.tls / "server.key"

    @property
    def keystore(self) -> Path:
        return self.tls / "server.p12"

    def password_file(self, name: str) -> Path:
        return self.secrets / f"{name}.password"

    def password(self, name: str) -> str:
        return self.password_file(name).read_text().strip()

    @property
    def complete(self) -> bool:
        files = [self.ca_cert, self.server_cert, self.server_key, self.keystore]
        files += [self.password_file(n) for n in PASSWORDS]
        return all(f.is_file() for f in files)


PASSWORDS = ("keystore", "kafka-admin", "kafka-squall", "cassandra-admin", "cassandra-squall")


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path`, readable by this user only (created 0600, never world-readable in between)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)


def ensure_material(state: Path) -> Material:
    """The env's certificates and passwords, made where missing (idempotent). The state folder becomes 0700."""
    material = Material(state)
    _private_dir(state)
    _private_dir(material.tls)
    _private_dir(material.secrets)
    for name in PASSWORDS:
        path = material.password_file(name)
        if not path.is_file():
            # URL-safe letters and digits only: they go into Kafka's JAAS line and CQL string literals as is.
            _write_private(path, (secrets.token_urlsafe(24) + "\n").encode())
    if not (material.ca_cert.is_file() and material.server_cert.is_file() and material.keystore.is_file()):
        _make_certificates(material)
    return material


def _make_certificates(material: Material) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=CERT_DAYS)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "squall local CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    _write_private(
        material.tls / "ca.key",
        ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    _write_private(
        material.server_key,
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    _write_private(material.server_cert, cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    store_password = material.password("keystore").encode()
    _write_private(
        material.keystore,
        pkcs12.serialize_key_and_certificates(
            b"server", key, cert, [ca_cert], serialization.BestAvailableEncryption(store_password)
        ),
    )
    _write_private(material.ca_cert, ca_cert.public_bytes(pem))  # last: its presence means "all made"
