"""Properties of the due-time maths over random arrivals, time zones and calendars."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from inboxd.config import DeadlineSettings
from inboxd.core.deadlines import (
    WEEKDAY_NAMES,
    BusinessCalendar,
    add_business_minutes,
    business_minutes_between,
    calendar_from_settings,
    due_24h,
    due_business_day,
)

UTC = timezone.utc
SECOND = timedelta(seconds=1)
ZONES = [
    "UTC", "Europe/Stockholm", "America/Los_Angeles", "Asia/Kolkata", "Asia/Kathmandu",
    "America/Santiago",  # DST changes at midnight
    "America/Havana",  # DST changes at midnight
    "Australia/Lord_Howe",  # 30-minute DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "Pacific/Auckland", "Pacific/Kiritimati", "Pacific/Pago_Pago",  # near the date line
]
FAST = settings(max_examples=100, deadline=None)
THOROUGH = settings(max_examples=200, deadline=None)


@cache
def transitions(zone: str) -> tuple[datetime, ...]:
    """Hours (UTC) in which ``zone`` changed its offset in 2026 and 2031."""
    tz, found = ZoneInfo(zone), []
    for first in (datetime(2026, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)):
        days = [first + timedelta(days=n) for n in range(367)]
        for a, b in zip(days, days[1:]):
            if a.astimezone(tz).utcoffset() != b.astimezone(tz).utcoffset():
                hours = [a + timedelta(hours=h) for h in range(25)]
                found += [y for x, y in zip(hours, hours[1:])
                          if x.astimezone(tz).utcoffset() != y.astimezone(tz).utcoffset()]
    return tuple(found)


def clock(minutes: int) -> str:
    return f"{minutes // 60:02}:{minutes % 60:02}"


# Span boundaries in minutes; small ones and midnight often, where DST changes happen.
boundaries = st.one_of(st.integers(0, 1440), st.sampled_from([0, 30, 60, 120, 150, 180, 1440]))


@st.composite
def day_hours(draw: st.DrawFn) -> str | None:
    count = draw(st.integers(0, 3))
    if count == 0:
        return None
    ends = sorted(draw(st.lists(boundaries, min_size=2 * count, max_size=2 * count, unique=True)))
    return ",".join(f"{clock(a)}-{clock(b)}" for a, b in zip(ends[::2], ends[1::2]))


@st.composite
def arrivals(draw: st.DrawFn, zone: str) -> datetime:
    """Whole-second arrivals, 2020-2035, half of them within three days of a DST change."""
    changes = transitions(zone)
    if changes and draw(st.booleans()):
        offset_s = draw(st.integers(-3 * 86400, 3 * 86400))
        return draw(st.sampled_from(changes)) + timedelta(seconds=offset_s)
    moment = draw(st.datetimes(datetime(2020, 1, 1), datetime(2035, 12, 31)))
    return moment.replace(microsecond=0, tzinfo=UTC)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[BusinessCalendar, datetime]:
    """A calendar with some open hours and an arrival (in UTC or the calendar's zone)."""
    zone = draw(st.sampled_from(ZONES))
    arrival = draw(arrivals(zone))
    hours = draw(st.lists(day_hours(), min_size=7, max_size=7)
                 .filter(lambda days: any(days)))
    near = st.integers(-2, 20).map(lambda n: (arrival.date() + timedelta(days=n)).isoformat())
    settings_ = DeadlineSettings(
        timezone=zone,
        business_hours={name: spans for name, spans in zip(WEEKDAY_NAMES, hours) if spans},
        holidays=draw(st.sampled_from([None, "SE", "US-CA", "NZ"])),
        closed_dates=tuple(draw(st.lists(near, max_size=6))),
        open_dates=tuple(draw(st.lists(near, max_size=3))))
    cal = calendar_from_settings(settings_)
    return cal, arrival.astimezone(cal.tz) if draw(st.booleans()) else arrival


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def starting_day_minutes(arrival: datetime, cal: BusinessCalendar) -> float:
    return cal.business_minutes_on(cal.next_opening(arrival).date())


@THOROUGH
@given(scenarios())
def test_due_is_one_starting_day_of_business_time_later(
        scenario: tuple[BusinessCalendar, datetime]) -> None:
    cal, arrival = scenario
    due = due_business_day(arrival, cal)
    assert utc(due) > utc(arrival)
    assert due.tzinfo == cal.tz
    assert cal.is_open(utc(due) - SECOND)  # inside or at the end of an open span
    elapsed = business_minutes_between(arrival, due, cal)
    assert abs(elapsed - starting_day_minutes(arrival, cal)) < 1e-6


@FAST
@given(scenarios(), st.integers(0, 10 * 86400))
def test_later_arrival_is_not_due_earlier(scenario: tuple[BusinessCalendar, datetime],
                                         later_s: int) -> None:
    # Holds whenever the later mail's starting day is not shorter; see the module docstring
    # for why a long day followed by a short one can reverse the order.
    cal, first = scenario
    second = utc(first) + timedelta(seconds=later_s)
    if starting_day_minutes(first, cal) <= starting_day_minutes(second, cal):
        assert utc(due_business_day(first, cal)) <= utc(due_business_day(second, cal))


@FAST
@given(scenarios())
def test_equal_days_make_due_times_monotonic(scenario: tuple[BusinessCalendar, datetime]
                                             ) -> None:
    cal, first = scenario
    same = {day: cal.hours[min(cal.hours)] for day in range(7)}
    cal = BusinessCalendar(ZoneInfo("UTC"), same, cal.closed, cal.opened, cal.holidays)
    later = [utc(first) + timedelta(hours=h) for h in (0, 1, 7, 23, 24, 25, 71, 200)]
    dues = [due_business_day(moment, cal) for moment in later]
    assert dues == sorted(dues)


@FAST
@given(st.sampled_from(ZONES).flatmap(lambda zone: st.tuples(st.just(zone), arrivals(zone))))
def test_due_24h_is_24_real_hours(zone_and_arrival: tuple[str, datetime]) -> None:
    zone, arrival = zone_and_arrival
    local = arrival.astimezone(ZoneInfo(zone))
    due = due_24h(local)
    assert utc(due) - utc(local) == timedelta(hours=24)
    assert due.tzinfo == local.tzinfo
    assert due.utcoffset() == utc(due).astimezone(ZoneInfo(zone)).utcoffset()


@FAST
@given(scenarios(), st.floats(0, 2), st.integers(-5 * 86400, 5 * 86400))
def test_business_minutes_add_up(scenario: tuple[BusinessCalendar, datetime], fortnights: float,
                                 other_s: int) -> None:
    cal, start = scenario
    fortnight_min = business_minutes_between(start, utc(start) + timedelta(days=14), cal)
    seconds = int(fortnights * fortnight_min * 60)  # up to about four weeks of business time
    end = add_business_minutes(start, seconds / 60, cal)
    assert abs(business_minutes_between(start, end, cal) - seconds / 60) < 1e-6
    if seconds:
        assert cal.is_open(utc(end) - SECOND)  # no closed time is added at the end
    other = utc(start) + timedelta(seconds=other_s)  # before, between or after
    total = business_minutes_between(start, other, cal) + business_minutes_between(other, end, cal)
    assert abs(business_minutes_between(start, end, cal) - total) < 1e-6


@FAST
@given(scenarios())
def test_opening_and_spans_agree(scenario: tuple[BusinessCalendar, datetime]) -> None:
    cal, arrival = scenario
    opening = cal.next_opening(arrival)
    assert cal.is_open(opening)
    assert utc(opening) >= utc(arrival)
    assert business_minutes_between(arrival, opening, cal) == 0
    assert cal.is_open(arrival) == (utc(opening) == utc(arrival))
    day = opening.date()
    spans = cal.spans_on(day)
    assert any(utc(s) <= utc(opening) < utc(e) for s, e in spans)
    for start, end in spans:
        assert utc(start) < utc(end)
        assert start.date() == day
        assert (utc(end) - timedelta(microseconds=1)).astimezone(cal.tz).date() == day
    assert all(utc(a[1]) <= utc(b[0]) for a, b in zip(spans, spans[1:]))
