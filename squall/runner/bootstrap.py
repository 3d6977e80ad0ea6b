"""How `squall run` starts a Python component process: `streamparse_run`'s own `main`, with the same
arguments, after one change to pystorm: a message its serializer cannot encode is replaced by an `error`
command that names it (`squall.protocol.carry`), instead of being logged ("Failed to send message") and
dropped. The runner then fails the tuple, so nothing is lost silently. The component's code is untouched.

    python -P -m squall.runner.bootstrap "-s json module.Class"
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from squall.protocol.carry import lost_message_report

_GUARDED = "_squall_guarded"


def guard(cls: type, name: str) -> None:
    """Make `cls.serialize_dict` (a pystorm serializer, called `name`) encode the report of a message it
    cannot encode instead of raising (pystorm's `send_message` would log the error and drop the message)."""
    original: Callable[[Any, Any], Any] = cls.serialize_dict  # type: ignore[attr-defined]
    if getattr(original, _GUARDED, False):
        return

    def serialize_dict(self: Any, msg_dict: Any) -> Any:
        try:
            return original(self, msg_dict)
        except Exception as exc:  # noqa: BLE001 - pystorm's send_message catches everything here too
            encode: Callable[[Any], Any] = lambda m: original(self, m)  # noqa: E731
            return original(self, lost_message_report(msg_dict, exc, name, encode))

    setattr(serialize_dict, _GUARDED, True)
    cls.serialize_dict = serialize_dict  # type: ignore[attr-defined]


def install() -> None:
    """Guard every serializer streamparse_run can choose (`-s json`, `-s msgpack`)."""
    from pystorm.component import _SERIALIZERS  # the table streamparse_run chooses from

    for name, cls in _SERIALIZERS.items():
        guard(cls, name)


def main(argv: list[str]) -> int:
    install()
    from streamparse.run import main as streamparse_run

    sys.argv = ["streamparse_run", *argv]
    result = streamparse_run()
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
