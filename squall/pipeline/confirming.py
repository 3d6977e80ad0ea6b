"""A bolt mixin for tuples acked only once their asynchronous side effects (store writes, broker publishes) are
confirmed.

The bolt keeps a `WriteWindow` in `self.sends` (`sends.add(futures, tup.id)`); every tick settles it, so a
confirmation is never waited for longer than one tick after it arrived. A send that fails (or is not confirmed
within the window's timeout) fails its tuple, which Storm replays."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from squall.pipeline.persisting import WriteWindow


class AckOnConfirm:
    sends: WriteWindow
    confirming = "publish"  # what is confirmed, for the log line
    # streamparse's Bolt, which every bolt using this mixin also extends, provides these three
    logger: logging.Logger
    ack: Callable[[Any], None]
    fail: Callable[[Any], None]

    def process_tick(self, tup: Any) -> None:
        self.sends.settle()
        self.ack(tup)

    def _failed(self, token: Any, exc: BaseException) -> None:
        self.logger.warning("%s failed, tuple %s fails and will be replayed: %s", self.confirming, token, exc)
        self.fail(token)
