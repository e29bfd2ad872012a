"""Whether a server can be tried now, as the daemon and the outbox see it.

:class:`Availability` follows one server (IMAP or SMTP) through its outages with
``inboxd.core.outage``: it logs one line when the server goes away and one when it is back,
with how long it was gone, never one per retry, and says when it is worth trying again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from inboxd.core.outage import (REFUSED_RETRY_MAX_S, RETRY_MAX_S, Outage, after_failure,
                                format_duration)

log = logging.getLogger(__name__)


class Availability:
    def __init__(self, name: str, waiting: str, refused_hint: str = "",
                 clock_s: Callable[[], float] = time.monotonic) -> None:
        self.name = name  # e.g. "SMTP 127.0.0.1:25"
        self.waiting = waiting  # what waits meanwhile, for the log: "replies wait in the outbox"
        self.refused_hint = refused_hint  # what to do about a refusal, for the log
        self.clock_s = clock_s
        self.outage: Outage | None = None
        self.error: Exception | None = None  # the last failure, while the outage lasts
        self.returns = 0  # how often the server came back after an outage

    @property
    def down(self) -> bool:
        return self.outage is not None

    def may_try(self) -> bool:
        return self.outage is None or self.clock_s() >= self.outage.next_try_s

    def seconds_to_try(self) -> float:
        return 0.0 if self.outage is None else max(self.outage.next_try_s - self.clock_s(), 0.0)

    def retry_now(self) -> None:
        """Something changed that may end the outage (a new login): try at the next chance."""
        if self.outage is not None:
            self.outage = replace(self.outage, next_try_s=self.clock_s())

    def failed(self, exc: Exception, refused: bool = False) -> None:
        """A try failed: the server is unavailable (or, ``refused``, it refused us)."""
        before = self.outage
        self.outage, self.error = after_failure(before, self.clock_s(), refused), exc
        if before is not None and before.refused == refused:
            return  # the same outage goes on: said already
        if refused:
            log.error("%s; %s; %s; trying again every %s at most", exc, self.refused_hint,
                      self.waiting, format_duration(REFUSED_RETRY_MAX_S))
        else:
            log.warning("%s; %s; trying again every %s at most", exc, self.waiting,
                        format_duration(RETRY_MAX_S))

    def ok(self) -> None:
        """A try worked: the server is there (again)."""
        if self.outage is not None:
            log.info("%s is back after %s", self.name,
                     format_duration(self.clock_s() - self.outage.since_s))
            self.returns += 1
        self.outage, self.error = None, None

