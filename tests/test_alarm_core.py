"""The alarm's rules (``inboxd.core.alarm``) as tables: which alarm is due, and which way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from inboxd.core.alarm import alarm_text, alarms_due, route, silent_too_long

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Facts:
    id: int
    channel: str = "imap"
    reason: str = "login-refused"
    detail: str = "IMAP x: OAuth2 microsoft: invalid_grant"
    started_at: datetime = T0
    last_alert_at: datetime | None = None
    resolved_at: datetime | None = None
    recovery_alert_at: datetime | None = None


H = timedelta(hours=1)


@pytest.mark.parametrize("incident, now, expected", [
    (Facts(1), T0, "opened"),
    (Facts(1, last_alert_at=T0), T0 + 23 * H, None),
    (Facts(1, last_alert_at=T0), T0 + DAY, "reminder"),
    (Facts(1, last_alert_at=T0 + DAY), T0 + DAY + H, None),
    (Facts(1, last_alert_at=T0, resolved_at=T0 + H), T0 + H, "recovered"),
    (Facts(1, last_alert_at=T0, resolved_at=T0 + H, recovery_alert_at=T0 + H), T0 + 2 * H, None),
    (Facts(1, resolved_at=T0 + H, recovery_alert_at=T0 + H), T0 + 2 * H, None),
])
def test_one_alarm_per_incident_daily_while_it_lasts_and_one_on_recovery(
        incident: Facts, now: datetime, expected: str | None) -> None:
    due = alarms_due([incident], now, DAY)
    assert [d.kind for d in due] == ([expected] if expected else [])


@pytest.mark.parametrize("channel, kind, smtp_refused, to, expected", [
    ("imap", "opened", False, ("ops@x.test",), "mail"),
    ("imap", "opened", True, ("ops@x.test",), "folder"),  # both down: mail cannot go
    ("imap", "opened", False, (), "folder"),
    ("smtp", "opened", True, ("ops@x.test",), "folder"),
    ("smtp", "reminder", True, ("ops@x.test",), "folder"),
    ("smtp", "recovered", False, ("ops@x.test",), "mail"),
])
def test_the_alarm_goes_by_mail_unless_smtp_is_what_fails(
        channel: str, kind: str, smtp_refused: bool, to: tuple[str, ...], expected: str) -> None:
    assert route(channel, kind, smtp_refused, to) == expected


def test_silence_counts_from_the_last_check_that_worked() -> None:
    after = timedelta(minutes=15)
    assert not silent_too_long(T0, T0 + timedelta(minutes=14, seconds=59), after)
    assert silent_too_long(T0, T0 + after, after)


def test_the_alarm_says_what_stopped_what_waits_and_how_to_fix_it() -> None:
    subject, body = alarm_text(Facts(1, channel="smtp"), "opened", T0 + 2 * H)
    assert subject == "inboxd ALARM: sending mail (SMTP) stopped"
    assert "for 2 h now" in body and "waits in inboxd's outbox" in body
    assert "inboxd login" in body
    subject, body = alarm_text(Facts(1, last_alert_at=T0, resolved_at=T0 + H), "recovered",
                               T0 + H)
    assert "works again" in subject and "after 1 h" in body
