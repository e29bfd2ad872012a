"""Business hours, holidays and due times. Pure: every function is handed the time it works on.

Each ticket has two deadlines:

* 24 hours: due 24 real hours after the mail arrived. Across a daylight-saving change the local
  clock shows 23 or 25 hours between the two.
* One business day: the clock starts when the mail arrives, or at the next opening if the
  business is closed then. The ticket is due once as much business time has passed as the
  business day on which the clock started has in total: 8 h for "09:00-17:00", 7 h for
  "09:00-12:00,13:00-17:00". With equal days that is the same local time on the next business
  day (Mon 10:30 -> Tue 10:30); mail that arrives while closed is due at closing time of the
  first business day after it (Sat 12:00 -> Mon 17:00). When days differ in length, a later mail
  can be due before an earlier one: with Thu "09:00-17:00" and Fri "09:00-15:00", mail from
  Thu 16:59 is due Mon 10:59 (8 h, Thursday's length) but mail from Fri 08:00 is due Fri 15:00.

The calendar ([deadlines]):

* business_hours gives each weekday's opening hours in local time: "09:00-17:00" or split,
  "09:00-12:00,13:00-17:00". "24:00" ends a span at midnight. A weekday without hours is closed.
  Spans must not overlap or run backwards; to stay open past midnight end one day at "24:00"
  and start the next at "00:00".
* holidays ("SE", "US-CA": a country code, optionally "-" and a subdivision) closes the public
  holidays of that place as the `holidays` package lists them, plus the de-facto holidays it
  lists for some countries (Sweden: Midsummer Eve, Christmas Eve, New Year's Eve).
* closed_dates closes more days. open_dates opens days that would be closed (a holiday, a
  weekend) with the hours of their weekday, or, if that weekday has none, the hours of the
  first weekday that has some (Monday in a usual week). A date in both lists is closed.
* Daylight saving: every span lasts its real length. A local time the clocks skip (02:30 when
  they jump from 02:00 to 03:00) means the moment of the jump (03:00); a local time that
  occurs twice means its first occurrence.
* Times are compared as instants, so the sender's time zone does not matter: mail sent Sunday
  19:30 UTC is Monday 08:30 in Pacific/Auckland and counts as Monday morning there. Results are
  in the calendar's time zone.
* A due time that would need more than 366 days in a row without business hours is refused
  (ValueError): the calendar is then effectively never open.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from types import MappingProxyType
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

Span = tuple[time, time]
Spans = tuple[Span, ...]
UtcSpans = tuple[tuple[datetime, datetime], ...]

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_CLOSED_DAYS = 366
HOLIDAY_CATEGORIES = ("public", "de_facto")

_UTC = timezone.utc
_DAY = timedelta(days=1)
_MINUTE = timedelta(minutes=1)
_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_SPANS_EXAMPLE = 'write spans like "09:00-17:00" or "09:00-12:00,13:00-17:00"'


# --- opening hours -----------------------------------------------------------------------------

def parse_spans(text: str) -> Spans:
    """Parse "09:00-12:00,13:00-17:00" into sorted (start, end) local times.

    An end of "24:00" (midnight closing the day) is returned as ``time(0)``; no other span can
    end at 00:00, since spans must not run backwards. Raises ValueError naming the bad part.
    """
    if not text.strip():
        raise ValueError(f"no opening hours given; {_SPANS_EXAMPLE}")
    minutes = sorted(_parse_span(part.strip()) for part in text.split(","))
    for (prev_start, prev_end), (start, end) in zip(minutes, minutes[1:]):
        if start < prev_end:
            raise ValueError(f'spans "{_format(prev_start, prev_end)}" and '
                             f'"{_format(start, end)}" overlap')
    return tuple((_clock(start), _clock(end)) for start, end in minutes)


def _parse_span(part: str) -> tuple[int, int]:
    """One "HH:MM-HH:MM" as minutes since midnight."""
    if not part:
        raise ValueError(f"empty span (a stray comma?); {_SPANS_EXAMPLE}")
    pieces = part.split("-")
    if len(pieces) != 2:
        raise ValueError(f'span "{part}" is not a start-end pair; {_SPANS_EXAMPLE}')
    start, end = (_parse_clock(piece.strip(), part) for piece in pieces)
    if start == 24 * 60:
        raise ValueError(f'span "{part}" starts at 24:00; 24:00 can only end a span')
    if end <= start:
        hint = " (write 24:00 for midnight at the end of the day)" if end == 0 else ""
        raise ValueError(f'span "{part}" does not end after it starts{hint}')
    return start, end


def _parse_clock(text: str, part: str) -> int:
    match = _CLOCK.fullmatch(text)
    hour, minute = (int(match[1]), int(match[2])) if match else (-1, -1)
    if not (0 <= hour <= 23 and 0 <= minute <= 59) and (hour, minute) != (24, 0):
        raise ValueError(f'"{text}" in span "{part}" is not a time from 00:00 to 24:00 (HH:MM)')
    return hour * 60 + minute


def _clock(minutes: int) -> time:
    return time(minutes // 60 % 24, minutes % 60)


def _format(start: int, end: int) -> str:
    return f"{start // 60:02}:{start % 60:02}-{end // 60:02}:{end % 60:02}"


# --- holidays ----------------------------------------------------------------------------------

class HolidayDates(Container[date]):
    """Holidays of one country (and subdivision), loaded a year at a time on first use."""

    def __init__(self, code: str) -> None:
        self.country, self.subdiv = _resolve_place(code)
        sample = holidays_lib.country_holidays(self.country, subdiv=self.subdiv, years=())
        self.categories = tuple(c for c in HOLIDAY_CATEGORIES if c in sample.supported_categories)
        self._years: dict[int, frozenset[date]] = {}
        self._lock = threading.Lock()

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and day in self.year(day.year)

    def year(self, year: int) -> frozenset[date]:
        """This place's holidays in ``year``."""
        with self._lock:
            if year not in self._years:
                found = holidays_lib.country_holidays(self.country, subdiv=self.subdiv,
                                                      years=year, categories=self.categories)
                self._years[year] = frozenset(found)
            return self._years[year]

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, HolidayDates)
                and (self.country, self.subdiv) == (other.country, other.subdiv))

    def __hash__(self) -> int:
        return hash((self.country, self.subdiv))

    def __repr__(self) -> str:
        return f"HolidayDates({self.country + ('-' + self.subdiv if self.subdiv else '')!r})"


def _resolve_place(code: str) -> tuple[str, str | None]:
    """"se" or "US-ca" -> ("SE", None) or ("US", "CA"), as the holidays package spells them."""
    country, _, subdiv = code.strip().partition("-")
    known = holidays_lib.list_supported_countries()
    if country.upper() not in known:
        raise ValueError(f'unknown country code "{country}" (use an ISO 3166 code like "SE", '
                         f'or with a subdivision like "US-CA")')
    country = country.upper()
    if not subdiv:
        return country, None
    for name in known[country]:
        if name.upper() == subdiv.upper():
            return country, name
    choices = ", ".join(known[country]) or "none"
    raise ValueError(f'unknown subdivision "{subdiv}" of {country} (known: {choices})')


# --- the calendar ------------------------------------------------------------------------------

@dataclass(frozen=True)
class BusinessCalendar:
    """Weekly opening hours in ``tz`` with holidays and the operator's closed and open dates.

    Precedence for a date: ``closed`` > ``opened`` > ``holidays`` > weekly ``hours``.
    """

    tz: ZoneInfo
    hours: Mapping[int, Spans]  # weekday, 0 = Monday -> local spans; absent = closed
    closed: frozenset[date] = frozenset()
    opened: frozenset[date] = frozenset()
    holidays: Container[date] = field(default=frozenset())

    def hours_on(self, day: date) -> Spans:
        """The local opening hours of ``day``, after holidays and operator dates."""
        if day in self.closed:
            return ()
        weekly = self.hours.get(day.weekday(), ())
        if day in self.opened:
            return weekly or next((self.hours[d] for d in range(7) if self.hours.get(d)), ())
        return () if day in self.holidays else weekly

    def spans_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """Open spans of the local ``day`` as aware datetimes in ``tz``; empty when closed."""
        tz = self.tz
        return tuple((s.astimezone(tz), e.astimezone(tz)) for s, e in self._instants(day))

    def business_minutes_on(self, day: date) -> float:
        """Real minutes of business time on the local ``day``."""
        return _length(self._instants(day)) / _MINUTE

    def is_open(self, at: datetime) -> bool:
        """True if ``at`` lies in an open span (spans include their start, not their end)."""
        at = _utc(at)
        return any(s <= at < e for s, e in self._instants(_local_date(at, self.tz)))

    def next_opening(self, at: datetime) -> datetime:
        """``at`` itself if open, else the start of the next open span, in ``tz``."""
        start, _ = next(_open_intervals(self, _utc(at)))
        return start.astimezone(self.tz)

    def _instants(self, day: date) -> UtcSpans:
        return _utc_spans(self.tz, self.hours_on(day), day)


class CalendarSettings(Protocol):
    """What a calendar is built from: the fields of ``[deadlines]`` (``DeadlineSettings``)."""

    @property
    def timezone(self) -> str: ...
    @property
    def business_hours(self) -> Mapping[str, str]: ...
    @property
    def holidays(self) -> str | None: ...
    @property
    def closed_dates(self) -> Sequence[str]: ...
    @property
    def open_dates(self) -> Sequence[str]: ...


def calendar_from_settings(settings: CalendarSettings,
                           years: Iterable[int] | None = None) -> BusinessCalendar:
    """Build the calendar from ``[deadlines]``; holidays load lazily, ``years`` up front.

    Raises ValueError for an unknown time zone, weekday, spans, date, country or subdivision.
    """
    try:
        tz = ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'unknown time zone "{settings.timezone}"') from None
    hours = {_weekday(name): parse_spans(text) for name, text in settings.business_hours.items()}
    holiday_dates: Container[date] = frozenset()
    if settings.holidays:
        holiday_dates = HolidayDates(settings.holidays)
        for year in years or ():
            holiday_dates.year(year)
    return BusinessCalendar(tz=tz, hours=MappingProxyType(hours),
                            closed=frozenset(map(date.fromisoformat, settings.closed_dates)),
                            opened=frozenset(map(date.fromisoformat, settings.open_dates)),
                            holidays=holiday_dates)


def _weekday(name: str) -> int:
    if name not in WEEKDAY_NAMES:
        raise ValueError(f'"{name}" is not a weekday; use {", ".join(WEEKDAY_NAMES)}')
    return WEEKDAY_NAMES.index(name)


# --- due times ---------------------------------------------------------------------------------

def due_24h(arrival: datetime) -> datetime:
    """24 real hours after ``arrival``, in ``arrival``'s time zone."""
    return (_utc(arrival) + timedelta(hours=24)).astimezone(arrival.tzinfo)


def due_business_day(arrival: datetime, cal: BusinessCalendar) -> datetime:
    """Due once the starting business day's total business time has passed (see module doc)."""
    start = cal.next_opening(arrival)
    total = _length(cal._instants(start.date()))
    return _add_business(_utc(start), total, cal).astimezone(cal.tz)


def add_business_minutes(start: datetime, minutes: float, cal: BusinessCalendar) -> datetime:
    """The first instant by which ``minutes`` of business time have passed since ``start``.

    That is the end of a span when the time runs out exactly there (Fri 16:00 + 60 -> Fri
    17:00); 0 minutes gives ``start`` itself.
    """
    if not math.isfinite(minutes) or minutes < 0:
        raise ValueError(f"business minutes must be a finite number >= 0, got {minutes!r}")
    return _add_business(_utc(start), timedelta(minutes=minutes), cal).astimezone(cal.tz)


def business_minutes_between(start: datetime, end: datetime, cal: BusinessCalendar) -> float:
    """Business minutes from ``start`` to ``end``; negative if ``end`` is earlier."""
    begin, finish = _utc(start), _utc(end)
    if finish < begin:
        return -business_minutes_between(end, start, cal)
    total, day, last_day = timedelta(), _local_date(begin, cal.tz), _local_date(finish, cal.tz)
    while day <= last_day:
        for s, e in cal._instants(day):
            total += max(min(e, finish) - max(s, begin), timedelta())
        day += _DAY
    return total / _MINUTE


def _add_business(start: datetime, amount: timedelta, cal: BusinessCalendar) -> datetime:
    if amount <= timedelta():
        return start
    for s, e in _open_intervals(cal, start):
        if amount <= e - s:
            return s + amount
        amount -= e - s
    raise AssertionError("unreachable: _open_intervals never ends")


def _open_intervals(cal: BusinessCalendar, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Open (start, end) UTC intervals from ``start`` on, day by day, the first one clipped."""
    day, closed_days = _local_date(start, cal.tz), 0
    while closed_days <= MAX_CLOSED_DAYS:
        spans = [(max(s, start), e) for s, e in cal._instants(day) if e > start]
        closed_days = 0 if spans else closed_days + 1
        yield from spans
        day += _DAY
    raise ValueError(f"the business calendar has no business hours for more than "
                     f"{MAX_CLOSED_DAYS} days after {start.astimezone(cal.tz):%Y-%m-%d}")


# --- local times and instants ------------------------------------------------------------------

@lru_cache(maxsize=8192)
def _utc_spans(tz: ZoneInfo, spans: Spans, day: date) -> UtcSpans:
    """Local spans of ``day`` as UTC instants; spans swallowed by a DST gap are dropped."""
    instants = ((_instant(day, s, tz), _instant(day + _DAY if e == time(0) else day, e, tz))
                for s, e in spans)
    return tuple((s, e) for s, e in instants if e > s)


def _instant(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """The UTC instant the local clock in ``tz`` shows ``day`` ``clock`` (first one; see doc)."""
    local = datetime.combine(day, clock, tzinfo=tz)
    instant = local.astimezone(_UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    return _transition(tz, local.replace(fold=1).astimezone(_UTC), instant)


def _transition(tz: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The instant between ``before`` and ``after`` at which ``tz`` changes its UTC offset."""
    low, high = math.floor(before.timestamp()), math.ceil(after.timestamp())
    offset = before.astimezone(tz).utcoffset()
    while high - low > 1:
        mid = (low + high) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == offset:
            low = mid
        else:
            high = mid
    return datetime.fromtimestamp(high, _UTC)


def _length(spans: UtcSpans) -> timedelta:
    return sum((e - s for s, e in spans), timedelta())


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no time zone; pass an aware datetime")
    return at.astimezone(_UTC)


def _local_date(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()
