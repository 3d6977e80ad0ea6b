"""A bolt mixin for tuples acked only once their asynchronous side effects (store writes, broker publishes) are
confirmed.

The bolt keeps a `WriteWindow` in `self.sends` (`sends.add(futures, tup.id)`); every tick settles it, so a
confirmation is never waited for longer than one tick after it arrived. A send that fails (or is not confirmed
within the window's timeout) fails its tuple, which Storm replays."""

from __future__ import annotations

from typing import Any

from squall.pipeline.persisting import WriteWindow


class AckOnConfirm:
    sends: WriteWindow
    confirming = "publish"  # what is confirmed, for the log line

    def process_tick(self, tup: Any) -> None:
        self.sends.settle()
        self.ack(tup)  # type: ignore[attr-defined]

    def _failed(self, token: Any, exc: BaseException) -> None:
        self.logger.warning(  # type: ignore[attr-defined]
            "%s failed, tuple %s fails and will be replayed: %s", self.confirming, token, exc
        )
        self.fail(token)  # type: ignore[attr-defined]
