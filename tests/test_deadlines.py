"""Business calendar and due times, with literal datetimes: DST, holidays, date line."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone

import pytest

from inboxd.config import DeadlineSettings
from inboxd.core.deadlines import (
    BusinessCalendar,
    add_business_minutes,
    business_minutes_between,
    calendar_from_settings,
    due_24h,
    due_business_day,
    parse_spans,
)

WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
NINE_TO_FIVE = {day: "09:00-17:00" for day in WORKDAYS}


def make(tz: str = "Europe/Stockholm", hours: dict[str, str] | None = None,
         holidays: str | None = "SE", closed: tuple[str, ...] = (),
         opened: tuple[str, ...] = ()) -> BusinessCalendar:
    hours = NINE_TO_FIVE if hours is None else hours
    settings = DeadlineSettings(timezone=tz, business_hours=dict(hours), holidays=holidays,
                                closed_dates=closed, open_dates=opened)
    return calendar_from_settings(settings)


STOCKHOLM = make()
SPLIT = make(hours={day: "09:00-12:00,13:00-17:00" for day in WORKDAYS})
SHORT_FRIDAY = make(hours={**NINE_TO_FIVE, "fri": "09:00-15:00"})
ALWAYS = make(hours={day: "00:00-24:00" for day in (*WORKDAYS, "sat", "sun")}, holidays=None)
CALIFORNIA = make("America/Los_Angeles", holidays="US-CA")
AUCKLAND = make("Pacific/Auckland", holidays="NZ")
KIRITIMATI = make("Pacific/Kiritimati", holidays=None)
PAGO_PAGO = make("Pacific/Pago_Pago", holidays=None)
EXTRA_CLOSED = make(closed=("2026-03-03",))
EXTRA_OPEN = make(opened=("2026-03-07", "2026-12-24"))
OPEN_WITH_MONDAY_HOURS = make(hours={**NINE_TO_FIVE, "mon": "08:00-16:00"}, opened=("2026-03-07",))
NEVER = make(hours={}, holidays=None)


def at(cal: BusinessCalendar, text: str) -> datetime:
    """A literal time: local to ``cal`` unless the text carries its own offset."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=cal.tz)


# --- one business day --------------------------------------------------------------------------

BUSINESS_DAY_CASES = [
    # (calendar, arrival, due as local ISO time with offset)
    (STOCKHOLM, "2026-03-02T10:30", "2026-03-03T10:30:00+01:00"),  # Mon -> Tue
    (STOCKHOLM, "2026-03-06T16:59:30", "2026-03-09T16:59:30+01:00"),  # Fri, 30 s before close
    (STOCKHOLM, "2026-03-07T12:00", "2026-03-09T17:00:00+01:00"),  # Sat -> Mon close
    (STOCKHOLM, "2026-03-09T07:00", "2026-03-09T17:00:00+01:00"),  # before opening
    (STOCKHOLM, "2026-03-09T09:00", "2026-03-09T17:00:00+01:00"),  # exactly at opening
    (STOCKHOLM, "2026-03-09T17:00", "2026-03-10T17:00:00+01:00"),  # exactly at closing
    (STOCKHOLM, "2026-03-02T10:30-05:00", "2026-03-03T16:30:00+01:00"),  # sent from New York
    (STOCKHOLM, "2026-12-23T10:00", "2026-12-28T10:00:00+01:00"),  # Christmas Eve, Day, 26th
    (STOCKHOLM, "2026-12-24T10:00", "2026-12-28T17:00:00+01:00"),  # arrives on Christmas Eve
    (STOCKHOLM, "2026-06-18T11:00", "2026-06-22T11:00:00+02:00"),  # Midsummer Eve (Fri)
    (STOCKHOLM, "2026-03-27T10:00", "2026-03-30T10:00:00+02:00"),  # over spring-forward
    (STOCKHOLM, "2026-10-23T10:00", "2026-10-26T10:00:00+01:00"),  # over fall-back
    (ALWAYS, "2026-03-28T12:00", "2026-03-29T13:00:00+02:00"),  # 24 real hours, clock +25
    (ALWAYS, "2026-03-29T10:00", "2026-03-30T09:00:00+02:00"),  # Sunday is 23 h long
    (ALWAYS, "2026-10-25T10:00", "2026-10-26T11:00:00+01:00"),  # Sunday is 25 h long
    (ALWAYS, "2026-10-24T12:00", "2026-10-25T11:00:00+01:00"),  # 24 real hours, clock +23
    (EXTRA_CLOSED, "2026-03-02T10:30", "2026-03-04T10:30:00+01:00"),
    (EXTRA_OPEN, "2026-03-06T16:00", "2026-03-07T16:00:00+01:00"),  # open Saturday
    (EXTRA_OPEN, "2026-12-23T10:00", "2026-12-24T10:00:00+01:00"),  # open Christmas Eve
    (OPEN_WITH_MONDAY_HOURS, "2026-03-07T10:00", "2026-03-09T10:00:00+01:00"),  # Sat 08-16
    (SPLIT, "2026-03-02T12:30", "2026-03-03T12:00:00+01:00"),  # lunch: starts 13:00, 7 h
    (SPLIT, "2026-03-02T10:00", "2026-03-03T10:00:00+01:00"),
    (SPLIT, "2026-03-02T16:00", "2026-03-03T16:00:00+01:00"),
    (SHORT_FRIDAY, "2026-03-06T10:00", "2026-03-09T10:00:00+01:00"),  # Friday is 6 h
    (SHORT_FRIDAY, "2026-03-05T16:59", "2026-03-09T10:59:00+01:00"),  # Thursday's 8 h
    (SHORT_FRIDAY, "2026-03-06T08:00", "2026-03-06T15:00:00+01:00"),  # earlier than the above
    (CALIFORNIA, "2026-11-25T10:00", "2026-11-30T10:00:00-08:00"),  # Thanksgiving + day after
    (AUCKLAND, "2026-03-01T19:30+00:00", "2026-03-02T17:00:00+13:00"),  # Sun UTC, Mon 08:30
    (AUCKLAND, "2026-03-02T03:00+00:00", "2026-03-03T16:00:00+13:00"),  # Mon 16:00 local
    (AUCKLAND, "2026-04-02T10:00", "2026-04-07T10:00:00+12:00"),  # Easter and DST end
    (KIRITIMATI, "2026-03-06T20:00+00:00", "2026-03-09T17:00:00+14:00"),  # Fri UTC, Sat local
    (PAGO_PAGO, "2026-03-09T03:00+00:00", "2026-03-09T17:00:00-11:00"),  # Mon UTC, Sun local
]


@pytest.mark.parametrize(("cal", "arrival", "expected"), BUSINESS_DAY_CASES)
def test_due_business_day(cal: BusinessCalendar, arrival: str, expected: str) -> None:
    due = due_business_day(at(cal, arrival), cal)
    assert due.isoformat() == expected
    assert due.tzinfo == cal.tz


def test_business_day_over_spring_forward_is_one_real_hour_shorter() -> None:
    arrival = at(STOCKHOLM, "2026-03-27T10:00").astimezone(timezone.utc)
    due = due_business_day(arrival, STOCKHOLM).astimezone(timezone.utc)
    assert due - arrival == timedelta(hours=71)


def test_calendar_without_hours_has_no_due_time() -> None:
    with pytest.raises(ValueError, match="366 days"):
        due_business_day(at(NEVER, "2026-03-02T10:00"), NEVER)


# --- 24 hours ----------------------------------------------------------------------------------

DUE_24H_CASES = [
    (STOCKHOLM, "2026-03-28T12:00", "2026-03-29T13:00:00+02:00"),  # clock shows 25 h
    (STOCKHOLM, "2026-10-24T12:00", "2026-10-25T11:00:00+01:00"),  # clock shows 23 h
    (STOCKHOLM, "2026-03-02T10:00", "2026-03-03T10:00:00+01:00"),
    (AUCKLAND, "2026-04-04T12:00", "2026-04-05T11:00:00+12:00"),
    (STOCKHOLM, "2026-03-28T12:00+00:00", "2026-03-29T12:00:00+00:00"),  # stays in its zone
]


@pytest.mark.parametrize(("cal", "arrival", "expected"), DUE_24H_CASES)
def test_due_24h(cal: BusinessCalendar, arrival: str, expected: str) -> None:
    due = due_24h(at(cal, arrival))
    assert due.isoformat() == expected
    assert due.astimezone(timezone.utc) - at(cal, arrival).astimezone(timezone.utc) \
        == timedelta(hours=24)


# --- business minutes --------------------------------------------------------------------------

BETWEEN_CASES = [
    (STOCKHOLM, "2026-03-02T10:00", "2026-03-02T11:30", 90),
    (STOCKHOLM, "2026-03-02T16:00", "2026-03-03T10:00", 120),
    (STOCKHOLM, "2026-03-06T16:00", "2026-03-09T10:00", 120),  # over a weekend
    (STOCKHOLM, "2026-03-06T16:59:30", "2026-03-09T09:00", 0.5),
    (STOCKHOLM, "2026-03-07T10:00", "2026-03-08T10:00", 0),
    (STOCKHOLM, "2026-03-02T11:30", "2026-03-02T10:00", -90),  # end before start
    (STOCKHOLM, "2026-03-02T11:30", "2026-03-02T11:30", 0),
    (STOCKHOLM, "2026-12-23T16:00", "2026-12-28T10:00", 120),  # over Christmas
    (SPLIT, "2026-03-02T11:00", "2026-03-02T14:00", 120),  # lunch does not count
    (ALWAYS, "2026-03-29T00:00", "2026-03-30T00:00", 23 * 60),
    (ALWAYS, "2026-10-25T00:00", "2026-10-26T00:00", 25 * 60),
    (AUCKLAND, "2026-03-01T20:00+00:00", "2026-03-02T04:00+00:00", 480),  # Mon 09-17 local
    (KIRITIMATI, "2026-03-08T19:00+00:00", "2026-03-08T20:00+00:00", 60),  # Mon 09-10 local
    (PAGO_PAGO, "2026-03-10T03:00+00:00", "2026-03-10T05:00+00:00", 60),  # Mon 16-18 local
    (NEVER, "2026-03-02T10:00", "2026-03-09T10:00", 0),
]


@pytest.mark.parametrize(("cal", "start", "end", "expected"), BETWEEN_CASES)
def test_business_minutes_between(cal: BusinessCalendar, start: str, end: str,
                                  expected: float) -> None:
    assert business_minutes_between(at(cal, start), at(cal, end), cal) == expected


ADD_CASES = [
    (STOCKHOLM, "2026-03-02T16:30", 60, "2026-03-03T09:30:00+01:00"),
    (STOCKHOLM, "2026-03-06T16:00", 60, "2026-03-06T17:00:00+01:00"),  # ends at closing
    (STOCKHOLM, "2026-03-06T16:00", 61, "2026-03-09T09:01:00+01:00"),
    (STOCKHOLM, "2026-03-07T10:00", 0, "2026-03-07T10:00:00+01:00"),
    (STOCKHOLM, "2026-03-07T10:00", 1, "2026-03-09T09:01:00+01:00"),
    (STOCKHOLM, "2026-03-02T10:00", 5 * 8 * 60, "2026-03-09T10:00:00+01:00"),
    (STOCKHOLM, "2026-03-02T10:00", 0.5, "2026-03-02T10:00:30+01:00"),
    (STOCKHOLM, "2026-03-02T10:00+00:00", 30, "2026-03-02T11:30:00+01:00"),
    (SPLIT, "2026-03-02T11:30", 60, "2026-03-02T13:30:00+01:00"),
    (ALWAYS, "2026-03-29T01:30", 60, "2026-03-29T03:30:00+02:00"),
]


@pytest.mark.parametrize(("cal", "start", "minutes", "expected"), ADD_CASES)
def test_add_business_minutes(cal: BusinessCalendar, start: str, minutes: float,
                              expected: str) -> None:
    assert add_business_minutes(at(cal, start), minutes, cal).isoformat() == expected


@pytest.mark.parametrize("minutes", [-1, math.nan, math.inf])
def test_add_business_minutes_rejects(minutes: float) -> None:
    with pytest.raises(ValueError, match="business minutes"):
        add_business_minutes(at(STOCKHOLM, "2026-03-02T10:00"), minutes, STOCKHOLM)


NAIVE = datetime(2026, 3, 2, 10, 0)


@pytest.mark.parametrize("call", [
    lambda: due_24h(NAIVE),
    lambda: due_business_day(NAIVE, STOCKHOLM),
    lambda: add_business_minutes(NAIVE, 10, STOCKHOLM),
    lambda: business_minutes_between(NAIVE, NAIVE, STOCKHOLM),
    lambda: STOCKHOLM.is_open(NAIVE),
    lambda: STOCKHOLM.next_opening(NAIVE),
])
def test_naive_datetimes_are_rejected(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="no time zone"):
        call()


# --- the calendar itself -----------------------------------------------------------------------

IS_OPEN_CASES = [
    (STOCKHOLM, "2026-03-02T09:00", True),
    (STOCKHOLM, "2026-03-02T16:59:59", True),
    (STOCKHOLM, "2026-03-02T17:00", False),
    (STOCKHOLM, "2026-03-02T08:59:59", False),
    (STOCKHOLM, "2026-03-07T12:00", False),  # Saturday
    (STOCKHOLM, "2026-12-25T12:00", False),  # Christmas Day
    (STOCKHOLM, "2026-12-24T12:00", False),  # Christmas Eve (de-facto holiday)
    (STOCKHOLM, "2026-03-02T08:30+00:00", True),  # 09:30 local
    (AUCKLAND, "2026-03-01T20:30+00:00", True),  # Sunday UTC, Monday 09:30 local
    (KIRITIMATI, "2026-03-08T19:30+00:00", True),  # Sunday UTC, Monday 09:30 local
    (PAGO_PAGO, "2026-03-10T03:00+00:00", True),  # Tuesday UTC, Monday 16:00 local
    (PAGO_PAGO, "2026-03-09T03:00+00:00", False),  # Monday UTC, Sunday 16:00 local
]


@pytest.mark.parametrize(("cal", "moment", "expected"), IS_OPEN_CASES)
def test_is_open(cal: BusinessCalendar, moment: str, expected: bool) -> None:
    assert cal.is_open(at(cal, moment)) is expected


@pytest.mark.parametrize(("moment", "expected"), [
    ("2026-03-02T10:00", "2026-03-02T10:00:00+01:00"),
    ("2026-03-02T17:00", "2026-03-03T09:00:00+01:00"),
    ("2026-12-23T18:00", "2026-12-28T09:00:00+01:00"),
    ("2026-03-02T07:00+00:00", "2026-03-02T09:00:00+01:00"),
])
def test_next_opening(moment: str, expected: str) -> None:
    assert STOCKHOLM.next_opening(at(STOCKHOLM, moment)).isoformat() == expected


@pytest.mark.parametrize(("hours", "day", "expected", "minutes"), [
    (NINE_TO_FIVE, "2026-03-07", [], 0),
    ({"mon": "00:00-24:00"}, "2026-03-02",
     [("2026-03-02T00:00:00+01:00", "2026-03-03T00:00:00+01:00")], 1440),
    # 02:30 does not exist on 2026-03-29: the span opens when the clocks jump to 03:00
    ({"sun": "02:30-04:00"}, "2026-03-29",
     [("2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00")], 60),
    ({"sun": "02:10-02:50,05:00-06:00"}, "2026-03-29",
     [("2026-03-29T05:00:00+02:00", "2026-03-29T06:00:00+02:00")], 60),
    # 02:30 happens twice on 2026-10-25: the first one counts
    ({"sun": "02:30-03:30"}, "2026-10-25",
     [("2026-10-25T02:30:00+02:00", "2026-10-25T03:30:00+01:00")], 120),
])
def test_spans_on(hours: dict[str, str], day: str, expected: list[tuple[str, str]],
                  minutes: float) -> None:
    cal = make(hours=hours, holidays=None)
    spans = cal.spans_on(date.fromisoformat(day))
    assert [(s.isoformat(), e.isoformat()) for s, e in spans] == expected
    assert cal.business_minutes_on(date.fromisoformat(day)) == minutes


def test_holidays_include_public_and_de_facto_days() -> None:
    closed = [d for d in ("2026-06-19", "2026-12-24", "2026-12-25", "2026-12-31", "2026-12-30")
              if date.fromisoformat(d) in STOCKHOLM.holidays]
    assert closed == ["2026-06-19", "2026-12-24", "2026-12-25", "2026-12-31"]


def test_holiday_subdivision_is_matched_case_insensitively() -> None:
    cal = make("America/Los_Angeles", holidays="us-ca")
    assert date(2026, 11, 27) in cal.holidays  # the day after Thanksgiving, a CA holiday
    assert date(2026, 11, 27) not in make("America/New_York", holidays="US-NY").holidays


def test_closed_date_wins_over_open_date() -> None:
    cal = make(closed=("2026-03-07",), opened=("2026-03-07",))
    assert cal.spans_on(date(2026, 3, 7)) == ()


@pytest.mark.parametrize(("changes", "named"), [
    ({"holidays": "XX"}, '"XX"'),
    ({"holidays": "US-ZZ"}, '"ZZ"'),
    ({"timezone": "Mars/Olympus"}, "Mars/Olympus"),
    ({"business_hours": {"monday": "09:00-17:00"}}, '"monday"'),
    ({"business_hours": {"mon": "09:00-17:60"}}, "17:60"),
])
def test_calendar_from_settings_rejects(changes: dict[str, object], named: str) -> None:
    settings = {"timezone": "Europe/Stockholm", "business_hours": NINE_TO_FIVE, **changes}
    with pytest.raises(ValueError, match=named):
        calendar_from_settings(DeadlineSettings(**settings))  # type: ignore[arg-type]


# --- parse_spans -------------------------------------------------------------------------------

T = time
ACCEPTED = [
    ("09:00-17:00", ((T(9), T(17)),)),
    ("09:00-12:00,13:00-17:00", ((T(9), T(12)), (T(13), T(17)))),
    (" 9:00 - 12:30 , 13:15-17:45 ", ((T(9), T(12, 30)), (T(13, 15), T(17, 45)))),
    ("13:00-17:00,09:00-12:00", ((T(9), T(12)), (T(13), T(17)))),  # sorted
    ("09:00-12:00,12:00-17:00", ((T(9), T(12)), (T(12), T(17)))),  # touching is fine
    ("00:00-24:00", ((T(0), T(0)),)),  # 24:00 closes the day
    ("18:00-24:00", ((T(18), T(0)),)),
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_parse_spans_accepts(text: str, expected: tuple[tuple[time, time], ...]) -> None:
    assert parse_spans(text) == expected


REJECTED = [
    ("", "no opening hours"),
    ("   ", "no opening hours"),
    ("09:00", '"09:00" is not a start-end pair'),
    ("09:00-12:00-17:00", '"09:00-12:00-17:00" is not a start-end pair'),
    ("9-17", '"9" in span "9-17"'),
    ("nine-five", '"nine"'),
    ("09:60-17:00", '"09:60"'),
    ("25:00-26:00", '"25:00"'),
    ("09:00-24:01", '"24:01"'),
    ("24:00-24:00", '"24:00-24:00" starts at 24:00'),
    ("17:00-09:00", '"17:00-09:00" does not end after it starts'),
    ("09:00-09:00", '"09:00-09:00" does not end after it starts'),
    ("12:00-00:00", "write 24:00"),
    ("09:00-12:00,11:00-17:00", '"09:00-12:00" and "11:00-17:00" overlap'),
    ("09:00-17:00,", "empty span"),
]


@pytest.mark.parametrize(("text", "named"), REJECTED)
def test_parse_spans_rejects(text: str, named: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_spans(text)
    assert named in str(caught.value)
