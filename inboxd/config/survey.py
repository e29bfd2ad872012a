"""[survey]: asking customers by mail how they were served, once a ticket is resolved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from inboxd.config.table import Table, duration


@dataclass(frozen=True)
class SurveySettings:
    enabled: bool = False
    after: timedelta = timedelta(hours=24)  # this long after the ticket was resolved
    min_interval: timedelta = timedelta(days=30)  # at most one survey per customer in this time
    include_auto: bool = False  # also for tickets answered only automatically


def survey_settings(t: Table) -> SurveySettings:
    settings = SurveySettings(enabled=t.get("enabled", bool, False),
                              after=duration(t, "after", "24h"),
                              min_interval=duration(t, "min_interval", "30d"),
                              include_auto=t.get("include_auto", bool, False))
    t.reject_unknown()
    return settings
