"""One root exception for everything squall raises on purpose.

Messages name the key, the value and the fix, so a user can act without reading code.
The CLI turns a SquallError into a one-line message and exit code 2; anything else is a bug.
"""

from __future__ import annotations


class SquallError(Exception):
    """Root of every error squall raises deliberately."""


class ConfigError(SquallError):
    """config.json, a CLI option or a topology definition is invalid. Nothing was started."""

    def __init__(self, key: str, message: str, fix: str | None = None) -> None:
        self.key = key
        self.message = message
        self.fix = fix
        text = f"{key}: {message}"
        if fix:
            text += f" (fix: {fix})"
        super().__init__(text)


class SquallWarning(UserWarning):
    """Root of the warnings squall gives on purpose (the CLI prints them as one `warning:` line)."""


class TopologyError(SquallError):
    """A topology cannot be loaded or wired (unknown component, bad grouping, missing stream)."""


class ComponentError(SquallError):
    """A task failed in a way the runner cannot recover from."""


class InfraError(SquallError):
    """A real service (ZooKeeper, Kafka, Cassandra, Storm) could not be installed, started or reached."""


class ProtocolError(SquallError):
    """A multilang peer sent something that is not a valid message."""
