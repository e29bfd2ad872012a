"""[report]: who gets the weekly report mail, when, and what an automatic answer saves."""

from __future__ import annotations

import re
from dataclasses import dataclass

from inboxd.config.notify import address_list
from inboxd.config.policy import WEEKDAYS
from inboxd.config.table import Table, positive
from inboxd.errors import ConfigError

_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class ReportSettings:
    """The weekly report mail goes to ``to`` (none: no mail) on ``weekday`` at ``time`` in the
    deadline time zone; ``minutes_per_ticket`` is what one automatic answer that stuck saves."""

    to: tuple[str, ...] = ()
    weekday: str = "mon"
    time: str = "08:00"
    minutes_per_ticket: float = 6.0

    @property
    def hour(self) -> int:
        return int(self.time[:2])

    @property
    def minute(self) -> int:
        return int(self.time[3:])


def report_settings(t: Table) -> ReportSettings:
    time = t.get("time", str, "08:00")
    if not _CLOCK.fullmatch(time):
        raise ConfigError(t.key("time"), f'must be a time of day like "08:00", got {time!r}')
    settings = ReportSettings(
        to=address_list(t, "to"),
        weekday=t.get("weekday", str, "mon", choices=WEEKDAYS),
        time=time,
        minutes_per_ticket=positive(t, "minutes_per_ticket", 6.0))
    t.reject_unknown()
    return settings
