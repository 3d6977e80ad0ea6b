"""Secrets (passwords) named in config.json by where they live, never by value.

A section that needs a password says where to find it: `"password_env": "SQUALL_KAFKA_PASSWORD"` (an environment
variable of the process that connects) or `"password_file": "/run/secrets/kafka"` (a file holding it; one
trailing newline is dropped). A literal `"password"` is refused, so config.json can be committed and the Storm
conf that carries the pipeline section to every task holds only the variable's name or the file's path.

`SecretRef` is that reference; `Secret` is the value once read: a `str` whose repr is masked, so a dict of
client settings that holds it prints `'***'` when a client library logs its configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squall.errors import ConfigError

MASK = "***"


class Secret(str):
    """A password read from the environment or a file. `repr` (and so any container's repr) shows `***`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(MASK)


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives: an environment variable (`env`) or a file (`file`), exactly one of them."""

    key: str  # the config key prefix it was read from, e.g. "pipeline.kafka.password"
    env: str = ""
    file: str = ""

    @property
    def where(self) -> str:
        return f"{self.key}_env" if self.env else f"{self.key}_file"

    def describe(self) -> str:
        return f"${self.env}" if self.env else self.file

    def check(self) -> None:
        """ConfigError naming the key and the fix when the secret cannot be read now (nothing is returned)."""
        self.resolve()

    def resolve(self) -> Secret:
        if self.env:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(
                    self.where,
                    f"environment variable {self.env} is not set",
                    f"export {self.env}=... in the environment of the process that connects, "
                    f'or use "{self.key.rpartition(".")[2]}_file" with the path of a file holding it',
                )
            if not value:
                raise ConfigError(
                    self.where, f"environment variable {self.env} is empty", "set it to the password"
                )
            return Secret(value)
        path = Path(self.file)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(
                self.where,
                f"cannot read {self.file}: {exc.strerror or exc}",
                "point it at a readable file that holds only the password "
                "(for `squall infra up -e secure` envs, run that first: it writes the file)",
            ) from None
        value = text[:-1] if text.endswith("\n") else text
        if not value:
            raise ConfigError(self.where, f"{self.file} is empty", "write the password into it")
        return Secret(value)


def secret_ref(
    section: Mapping[str, Any], name: str, where: str, root: Path | None = None
) -> SecretRef | None:
    """The reference `section` gives for secret `name` (`<name>_env` or `<name>_file`), or None when neither.

    A literal `<name>` key, both keys at once, or a value that is not a non-empty string is a ConfigError.
    A relative `<name>_file` is taken relative to `root` (the project folder) when given."""
    key = f"{where}.{name}"
    if name in section:
        raise ConfigError(
            key,
            "a password is not accepted in config.json",
            f'use "{name}_env": "SQUALL_..._PASSWORD" (an environment variable) or '
            f'"{name}_file": "/run/secrets/..." (a file holding it)',
        )
    env, file = section.get(f"{name}_env"), section.get(f"{name}_file")
    for suffix, value in (("env", env), ("file", file)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(
                f"{key}_{suffix}", f"{value!r} is not a non-empty string", "give a name or a path"
            )
    if env and file:
        raise ConfigError(key, f"both {name}_env and {name}_file are set", "keep one of them")
    if env:
        return SecretRef(key, env=env)
    if file:
        return SecretRef(key, file=absolute(file, root))
    return None


def absolute(path: str, root: Path | None) -> str:
    """`path` as given when absolute (or when there is no root), else `root`/`path`."""
    if not path or root is None or Path(path).is_absolute():
        return path
    return str(root / path)


def check_credentials(
    settings: Any, password: SecretRef | None, file_keys: tuple[str, ...], section: str
) -> None:
    """ConfigError naming the key and the fix when `password` or a TLS file of `settings` (its attributes named in
    `file_keys`) cannot be read now: the check `squall run` makes before anything starts."""
    if password is not None:
        password.check()
    for key in file_keys:
        path = getattr(settings, key)
        if path and not Path(path).is_file():
            raise ConfigError(
                f"{section}.{key}", f"{path} is not a readable file", "give the path of the PEM file"
            )
