"""The retry schedule of a server that went away, and how outages are told: pure tables."""

from __future__ import annotations

import logging

import pytest

from inboxd.availability import Availability
from inboxd.core.outage import after_failure, format_duration


def schedule(failures: int, refused: bool = False) -> list[float]:
    outage, waits, now_s = None, [], 100.0
    for _ in range(failures):
        outage = after_failure(outage, now_s, refused)
        waits.append(outage.retry_s)
        now_s = outage.next_try_s
    return waits


def test_a_transient_outage_is_tried_again_at_least_every_10_s_however_long() -> None:
    assert schedule(8) == [1, 2, 4, 8, 10, 10, 10, 10]
    assert max(schedule(1000)) == 10


def test_a_refusal_is_tried_again_rarely() -> None:
    assert schedule(7, refused=True) == [60, 120, 240, 480, 960, 1800, 1800]


def test_an_outage_keeps_its_start_and_a_refusal_restarts_the_schedule() -> None:
    first = after_failure(None, 10.0)
    later = after_failure(after_failure(first, 11.0), 13.0)
    assert (later.since_s, later.retry_s, later.next_try_s) == (10.0, 4.0, 17.0)
    refused = after_failure(later, 17.0, refused=True)
    assert (refused.since_s, refused.retry_s, refused.refused) == (10.0, 60.0, True)


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"), (4.4, "4 s"), (59.6, "1 min"), (192, "3 min 12 s"), (3600, "1 h"),
    (7500, "2 h 5 min"), (86400 + 4 * 3600 + 5, "1 d 4 h"), (3 * 86400 + 59, "3 d"),
])
def test_durations_read_well(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_an_outage_is_told_once_when_it_starts_and_once_when_it_ends(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    smtp = Availability("SMTP mail:25", "mail waits", clock_s=lambda: now[0])
    caplog.set_level(logging.INFO)
    for second in range(0, 100, 5):
        now[0] = float(second)
        if smtp.may_try():
            smtp.failed(OSError("SMTP mail:25: unavailable"))
    assert smtp.down and smtp.outage is not None and smtp.outage.since_s == 0.0
    now[0] = 130.0
    smtp.ok()
    smtp.ok()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "SMTP mail:25: unavailable; mail waits; trying again every 10 s at most"),
        ("INFO", "SMTP mail:25 is back after 2 min 10 s")]
    assert not smtp.down and smtp.may_try()
