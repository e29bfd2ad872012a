"""Response clocks, pure: which notices are due at a given time, and response minutes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from inboxd.config import DeadlineSettings
from inboxd.core.clocks import (Breach, Courtesy, NotifyPolicy, Waiting, Warn, clock_finished,
                                customer_zone, format_duration, is_stale,
                                notice_recipients, parse_duration, plan_notices,
                                response_minutes)
from inboxd.core.deadlines import calendar_from_settings, due_24h, due_business_day
from inboxd.core.notice_mail import excerpt, notice_subject

STHLM = ZoneInfo("Europe/Stockholm")
WEEKDAYS = {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}
CAL = calendar_from_settings(DeadlineSettings(timezone="Europe/Stockholm",
                                              business_hours=WEEKDAYS))
POLICY = NotifyPolicy(warn_before=timedelta(hours=2))
COURTESY = NotifyPolicy(warn_before=timedelta(hours=2), courtesy_on_breach=True)


def at(text: str) -> datetime:
    """Local Stockholm time: "2026-11-24 09:00" (2026-11-23 is a Monday)."""
    return datetime.fromisoformat(text).replace(tzinfo=STHLM)


def ticket(arrival: str, sent: set[tuple[str, str]] = frozenset()) -> Waiting:  # type: ignore[assignment]
    start = at(arrival)
    return Waiting(ticket_id=1, clock_start=start, due_24h=due_24h(start),
                   due_business_day=due_business_day(start, CAL), sent=frozenset(sent))


MON_10 = "2026-11-23 10:00"  # both deadlines Tue 10:00
FRI_10 = "2026-11-27 10:00"  # 24h Sat 10:00, business day Mon 10:00
MON_18 = "2026-11-23 18:00"  # arrived closed: business day Tue 17:00, 24h Tue 18:00
BD, H24 = "business_day", "24h"


def summary(notices: list) -> list[tuple]:
    out = []
    for n in notices:
        row: tuple = (type(n).__name__, n.deadline_kind, n.due_at.astimezone(STHLM)
                      .strftime("%a %H:%M"))
        if isinstance(n, Breach):
            row += (n.first,)
        if isinstance(n, Courtesy):
            row += (n.expected_at.astimezone(STHLM).strftime("%a %d %H:%M"),)
        out.append(row)
    return out


CASES = [
    # (name, arrival, now, notices already sent this clock, policy, expected)
    ("before the warning window", MON_10, "2026-11-24 07:59", set(), POLICY, []),
    ("window open but business closed", MON_10, "2026-11-24 08:30", set(), POLICY, []),
    ("warning at the next opening", MON_10, "2026-11-24 09:00", set(), POLICY,
     [("Warn", BD, "Tue 10:00")]),
    ("warning inside business hours", MON_18, "2026-11-24 15:00", set(), POLICY,
     [("Warn", BD, "Tue 17:00")]),
    ("warning only once", MON_10, "2026-11-24 09:30", {("warning", BD)}, POLICY, []),
    ("tie: both deadlines breach, business day first", MON_10, "2026-11-24 10:00", set(), POLICY,
     [("Breach", BD, "Tue 10:00", True), ("Breach", H24, "Tue 10:00", False)]),
    ("breaches only once", MON_10, "2026-11-24 10:05",
     {("warning", BD), ("breach", BD), ("breach", H24)}, POLICY, []),
    ("window closed all through: no warning, breach on Saturday", FRI_10, "2026-11-28 08:30",
     set(), POLICY, []),
    ("24h breaches first", FRI_10, "2026-11-28 10:00", set(), POLICY,
     [("Breach", H24, "Sat 10:00", True)]),
    ("no warning for the later deadline", FRI_10, "2026-11-30 09:00", {("breach", H24)}, POLICY,
     []),
    ("business day breaches separately", FRI_10, "2026-11-30 10:00", {("breach", H24)}, POLICY,
     [("Breach", BD, "Mon 10:00", False)]),
    ("business day first for mail while closed", MON_18, "2026-11-24 17:00", {("warning", BD)},
     POLICY, [("Breach", BD, "Tue 17:00", True)]),
    ("then 24h", MON_18, "2026-11-24 18:00", {("warning", BD), ("breach", BD)}, POLICY,
     [("Breach", H24, "Tue 18:00", False)]),
    ("both at once after downtime", MON_18, "2026-11-25 12:00", set(), POLICY,
     [("Breach", BD, "Tue 17:00", True), ("Breach", H24, "Tue 18:00", False)]),
    ("courtesy promises the later deadline", FRI_10, "2026-11-28 10:00", set(), COURTESY,
     [("Breach", H24, "Sat 10:00", True), ("Courtesy", H24, "Sat 10:00", "Mon 30 10:00")]),
    ("courtesy promises one more business day", MON_10, "2026-11-24 10:00", set(), COURTESY,
     [("Breach", BD, "Tue 10:00", True), ("Breach", H24, "Tue 10:00", False),
      ("Courtesy", BD, "Tue 10:00", "Wed 25 10:00")]),
    ("no courtesy after the first breach", FRI_10, "2026-11-30 10:00", {("breach", H24)},
     COURTESY, [("Breach", BD, "Mon 10:00", False)]),
    ("new clock after a human answer: notices again", "2026-11-25 11:00", "2026-11-26 09:00",
     set(), POLICY, [("Warn", BD, "Thu 11:00")]),
]


@pytest.mark.parametrize("name, arrival, now, sent, policy, expected", CASES,
                         ids=[c[0] for c in CASES])
def test_plan_notices(name: str, arrival: str, now: str, sent: set[tuple[str, str]],
                      policy: NotifyPolicy, expected: list[tuple]) -> None:
    assert summary(plan_notices(at(now), CAL, policy, [ticket(arrival, sent)])) == expected


@pytest.mark.parametrize("arrival, sent, now, finished", [
    (MON_10, set(), "2026-11-24 09:00", False),  # a warning only
    (MON_10, set(), "2026-11-24 10:00", True),  # both breach at once
    (FRI_10, set(), "2026-11-28 10:00", False),  # the business day is still ahead
    (FRI_10, {("breach", H24)}, "2026-11-30 10:00", True),
])
def test_clock_finished(arrival: str, sent: set[tuple[str, str]], now: str,
                        finished: bool) -> None:
    t = ticket(arrival, sent)
    assert clock_finished(t, plan_notices(at(now), CAL, POLICY, [t])) is finished


def test_warning_kind_and_ticket_are_carried() -> None:
    t = ticket(MON_10)
    [warn] = plan_notices(at("2026-11-24 09:00"), CAL, POLICY, [t])
    assert isinstance(warn, Warn) and warn.ticket is t and warn.kind == "warning"


def test_ticket_without_deadlines_gets_nothing() -> None:
    bare = Waiting(ticket_id=2, clock_start=at(MON_10), due_24h=None, due_business_day=None)
    assert plan_notices(at("2026-12-24 10:00"), CAL, POLICY, [bare]) == []


@pytest.mark.parametrize("start, end, wall_min, business_min", [
    ("2026-11-23 10:00", "2026-11-23 11:30", 90.0, 90.0),
    ("2026-11-27 16:00", "2026-11-30 10:00", 3960.0, 120.0),  # Fri -> Mon
    ("2026-11-28 12:00", "2026-11-28 13:00", 60.0, 0.0),  # Saturday
    ("2026-11-23 10:00", "2026-11-23 09:00", 0.0, 0.0),  # a response stamped before the clock
    ("2026-11-23 10:00", "2026-11-23 10:00:30", 0.5, 0.5),
])
def test_response_minutes(start: str, end: str, wall_min: float, business_min: float) -> None:
    took = response_minutes(at(start), at(end), CAL)
    assert (took.wall_min, took.business_min) == (wall_min, business_min)


@pytest.mark.parametrize("text, expected", [
    ("2h", timedelta(hours=2)), ("90m", timedelta(minutes=90)),
    ("1h30m", timedelta(minutes=90)), ("1h 30m", timedelta(minutes=90)),
    ("1d", timedelta(days=1)), ("45s", timedelta(seconds=45)), ("2H", timedelta(hours=2)),
])
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "two hours", "2 hours", "30m2h", "-1h", "1.5h"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


TEAMS = {"orders": ("orders@example.com", "lead@example.com")}


@pytest.mark.parametrize("team, default, expected", [
    ("orders", ("all@example.com",), ("orders@example.com", "lead@example.com")),
    ("billing", ("all@example.com",), ("all@example.com",)),
    (None, ("all@example.com",), ("all@example.com",)),
    (None, (), ()),
])
def test_notice_recipients(team: str | None, default: tuple[str, ...],
                           expected: tuple[str, ...]) -> None:
    assert notice_recipients(team, TEAMS, default) == expected


NEW_YORK = timezone(timedelta(hours=-5))


@pytest.mark.parametrize("stated, when, expected", [
    (None, at("2026-11-24 10:00"), STHLM),
    (datetime(2026, 11, 23, 10, 0, tzinfo=timezone(timedelta(hours=1))), at("2026-11-24 10:00"),
     STHLM),
    (datetime(2026, 11, 23, 4, 0, tzinfo=NEW_YORK), at("2026-11-24 10:00"), NEW_YORK),
    # +02:00 in summer is Stockholm's own offset then, not in November
    (datetime(2026, 7, 1, 10, 0, tzinfo=timezone(timedelta(hours=2))), at("2026-11-24 10:00"),
     timezone(timedelta(hours=2))),
])
def test_customer_zone(stated: datetime | None, when: datetime, expected: object) -> None:
    assert customer_zone(stated, STHLM, when) == expected


@pytest.mark.parametrize("now, expected", [
    ("2026-11-30 10:00", [False, False, False]),  # the deadlines passed 6 days ago
    ("2026-12-01 10:00", [False, False, False]),  # exactly 7 days: not older than max_age
    ("2026-12-01 10:01", [True, True, True]),
])
def test_breaches_and_courtesy_older_than_max_age_are_stale(now: str,
                                                            expected: list[bool]) -> None:
    notices = plan_notices(at(now), CAL, COURTESY, [ticket(MON_10)])  # both due Tue 10:00
    assert [type(n).__name__ for n in notices] == ["Breach", "Breach", "Courtesy"]
    assert [is_stale(n, at(now), COURTESY) for n in notices] == expected
    warning = Warn(ticket(MON_10), BD, at("2026-11-24 10:00"))
    assert not is_stale(warning, at("2027-01-01 10:00"), COURTESY)
    assert COURTESY.max_age == timedelta(days=7)


@pytest.mark.parametrize("duration, text", [
    (timedelta(days=7), "7 days"), (timedelta(hours=36), "1 day 12 hours"),
    (timedelta(minutes=90), "1 hour 30 minutes"), (timedelta(seconds=45), "45 seconds"),
])
def test_format_duration(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text


def test_notice_subject_is_one_line_with_the_tag() -> None:
    assert notice_subject(12, "Overdue", "Broken\r\n lamp ") == "[#12] Overdue: Broken lamp"
    assert notice_subject(3, "Due soon", "") == "[#3] Due soon: (no subject)"


@pytest.mark.parametrize("text, lines, expected", [
    ("Hello\n\n  my   lamp\nis broken", 8, ["Hello", "my lamp", "is broken"]),
    ("a\nb\nc", 2, ["a", "b", "…"]),
    ("x" * 10, 8, ["x" * 10]),
])
def test_excerpt(text: str, lines: int, expected: list[str]) -> None:
    assert list(excerpt(text, lines=lines)) == expected


def test_excerpt_clips_long_lines() -> None:
    [line] = excerpt("y" * 500, line_chars=20)
    assert len(line) == 20 and line.endswith("…")
