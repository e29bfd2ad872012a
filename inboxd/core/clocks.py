"""Response clocks: what the deadline sweep should notice at ``now``, and response times.

Pure: every function is handed the time, the calendar and the tickets it looks at.

A ticket waiting for a person (state "open") has a response clock that starts at
``awaiting_since`` (its arrival, or the customer's first message after a human answer) and two
deadlines, ``24h`` and ``business_day``. For each clock:

* **Warn** the team ``warn_before`` before the *earlier* deadline, once, and only while the
  business is open: a window that starts while closed sends its warning at the next opening,
  provided the deadline has not passed by then.
* **Breach** each deadline separately once ``now`` is at or past it. Every breach escalates;
  the clock's first breach (the earlier deadline, the one the customer was promised) also
  marks the customer's message overdue (flagged, copied to the Overdue folder).
* **Courtesy** (when the policy asks for it) with the first breach: the customer is told a new
  time, the later deadline if it is still ahead, else one business day from ``now``.

Each notice is sent once per ticket, kind, deadline and clock: the caller passes the notices
already recorded for the current clock in ``Waiting.sent``. On a tie the business-day
deadline counts as the earlier one.

A breach noticed more than ``max_age`` after its deadline is **stale** (the first sweep after
notices were enabled on a store of old tickets, or after the daemon was stopped for weeks): it
is listed in one digest mail with the other stale ones instead of an escalation of its own, and
its courtesy mail is not sent (a new promise weeks late helps nobody).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from inboxd.core.deadlines import BusinessCalendar, business_minutes_between, due_business_day

DEADLINE_24H = "24h"
DEADLINE_BUSINESS_DAY = "business_day"
DEADLINE_LABELS = {DEADLINE_24H: "24 hours", DEADLINE_BUSINESS_DAY: "one business day"}

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_MINUTE = timedelta(minutes=1)


LONGEST_DURATION = timedelta(days=3660)  # ten years: anything longer is a typo, and dates overflow


def parse_duration(text: str) -> timedelta:
    """"2h", "90m", "1h30m", "1d", "45s" -> timedelta. Raises ValueError for anything else."""
    compact = "".join(text.split()).lower()
    match = _DURATION.fullmatch(compact)
    if not compact or match is None:
        raise ValueError(f'{text!r} is not a duration; write it like "2h", "90m" or "1h30m"')
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    try:
        value = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        value = LONGEST_DURATION * 2
    if value > LONGEST_DURATION:
        raise ValueError(f"{text!r} is longer than {LONGEST_DURATION.days} days (ten years)")
    return value


# --- response times ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ResponseMinutes:
    """How long a customer waited for the first response, in real and in business minutes."""

    wall_min: float
    business_min: float


def response_minutes(clock_start: datetime, at: datetime,
                     cal: BusinessCalendar) -> ResponseMinutes:
    """Minutes from ``clock_start`` to the response ``at`` (0 if ``at`` is earlier)."""
    end = max(at, clock_start)
    wall = (end - clock_start) / _MINUTE
    return ResponseMinutes(round(wall, 2), round(business_minutes_between(clock_start, end, cal), 2))


# --- the sweep ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class NotifyPolicy:
    warn_before: timedelta = timedelta(hours=2)
    courtesy_on_breach: bool = False
    max_age: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class Waiting:
    """A ticket waiting for a person, as the sweep sees it."""

    ticket_id: int
    clock_start: datetime
    due_24h: datetime | None
    due_business_day: datetime | None
    sent: frozenset[tuple[str, str]] = field(default=frozenset())  # (kind, deadline) this clock

    def deadlines(self) -> list[tuple[str, datetime]]:
        """(deadline kind, due_at), earliest first; on a tie the business day first."""
        found = [(DEADLINE_BUSINESS_DAY, self.due_business_day), (DEADLINE_24H, self.due_24h)]
        return sorted(((k, d) for k, d in found if d is not None), key=lambda kd: kd[1])


@dataclass(frozen=True)
class Warn:
    """Tell the team the ticket is due soon."""

    ticket: Waiting
    deadline_kind: str
    due_at: datetime
    kind = "warning"


@dataclass(frozen=True)
class Breach:
    """A deadline has passed: escalate; on the clock's ``first`` breach mark the message too."""

    ticket: Waiting
    deadline_kind: str
    due_at: datetime
    first: bool
    kind = "breach"


@dataclass(frozen=True)
class Courtesy:
    """Tell the customer they are not forgotten, with the new expected time."""

    ticket: Waiting
    deadline_kind: str
    due_at: datetime
    expected_at: datetime
    kind = "courtesy"


Notice = Warn | Breach | Courtesy


def plan_notices(now: datetime, cal: BusinessCalendar, policy: NotifyPolicy,
                 tickets: Iterable[Waiting]) -> list[Notice]:
    """The notices due at ``now`` for the given waiting tickets, in ticket order."""
    return [n for t in tickets for n in ticket_notices(now, cal, policy, t)]


def ticket_notices(now: datetime, cal: BusinessCalendar, policy: NotifyPolicy,
                   t: Waiting) -> list[Notice]:
    deadlines = t.deadlines()
    if not deadlines:
        return []
    first_kind, first_due = deadlines[0]
    notices: list[Notice] = [Breach(t, kind, due, first=(kind == first_kind))
                             for kind, due in deadlines
                             if now >= due and ("breach", kind) not in t.sent]
    if _warning_due(now, cal, policy, t, first_kind, first_due):
        notices.append(Warn(t, first_kind, first_due))
    first_breach = any(isinstance(n, Breach) and n.first for n in notices)
    if policy.courtesy_on_breach and first_breach and ("courtesy", first_kind) not in t.sent:
        notices.append(Courtesy(t, first_kind, first_due, expected_after(now, cal, deadlines)))
    return notices


def is_stale(n: Notice, now: datetime, policy: NotifyPolicy) -> bool:
    """A breach (or its courtesy mail) whose deadline passed more than ``max_age`` before
    ``now``: it goes in the digest instead of a mail of its own. A warning is never stale."""
    return not isinstance(n, Warn) and n.due_at < now - policy.max_age


def format_duration(duration: timedelta) -> str:
    """``timedelta(days=7)`` -> "7 days"; ``timedelta(hours=36)`` -> "1 day 12 hours"."""
    minutes = int(duration.total_seconds()) // 60
    parts = [(minutes // 1440, "day"), (minutes // 60 % 24, "hour"), (minutes % 60, "minute")]
    text = " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n)
    return text or f"{int(duration.total_seconds())} seconds"


def clock_finished(t: Waiting, notices: Iterable[Notice]) -> bool:
    """Whether every deadline of the clock has breached, counting ``notices`` as sent."""
    breached = {k for kind, k in t.sent if kind == "breach"} | \
        {n.deadline_kind for n in notices if isinstance(n, Breach)}
    return all(kind in breached for kind, _ in t.deadlines())


def _warning_due(now: datetime, cal: BusinessCalendar, policy: NotifyPolicy, t: Waiting,
                 kind: str, due: datetime) -> bool:
    in_window = due - policy.warn_before <= now < due
    return in_window and ("warning", kind) not in t.sent and cal.is_open(now)


def expected_after(now: datetime, cal: BusinessCalendar,
                   deadlines: Sequence[tuple[str, datetime]]) -> datetime:
    """The time promised after a breach: the next deadline still ahead, else a business day."""
    ahead = [due for _, due in deadlines if due > now]
    return min(ahead) if ahead else due_business_day(now, cal)


# --- who hears about it ------------------------------------------------------------------------

def notice_recipients(team: str | None, team_addresses: Mapping[str, Sequence[str]],
                      default: Sequence[str]) -> tuple[str, ...]:
    """The team's addresses, else the default ones; empty when none are configured."""
    return tuple(team_addresses.get(team, ()) if team else ()) or tuple(default)


def customer_zone(stated: datetime | None, business_tz: ZoneInfo, at: datetime) -> tzinfo:
    """The zone to show a customer ``at`` in: the business zone when the customer's own mail
    had the same UTC offset (or none), else the fixed offset their mail's Date header gave."""
    offset = stated.utcoffset() if stated is not None else None
    if offset is None or offset == at.astimezone(business_tz).utcoffset():
        return business_tz
    return timezone(offset)
