"""[faq], [deadlines], [policy] and [templates]: what is answered, by when and how."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from inboxd.config.table import Table, duration, kind_name, resolve_path
from inboxd.errors import ConfigError

BACKLOG_MODES = ("ignore", "ticket")
DEFAULT_UNKNOWN_SHARE = 0.1
DEFAULT_SUGGEST_THRESHOLD = 0.5  # benchmarks/results/suggestions.md: 3 in 4 drafts right
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class FaqSettings:
    path: Path
    model: Path
    threshold: float = 0.6
    route_threshold: float = 0.3
    default_language: str = "en"
    threshold_set: bool = False  # threshold was given in the file (it then beats a trained one)
    target_precision: float | None = None  # `inboxd train` picks a threshold reaching it
    unknown_share: float = DEFAULT_UNKNOWN_SHARE  # of the FAQs each cross-validation model lacks
    retrain_interval_h: float = 24.0  # the daemon retrains on learned examples; 0 = never
    # at or above this (and below the answer threshold) a person gets the answer as a draft
    suggest_threshold: float = 0.0


@dataclass(frozen=True)
class DeadlineSettings:
    timezone: str = "UTC"
    business_hours: dict[str, str] = field(default_factory=dict)  # weekday -> "09:00-17:00"
    holidays: str | None = None  # "SE", "US-CA"
    closed_dates: tuple[str, ...] = ()
    open_dates: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicySettings:
    backlog: str = "ignore"  # what the first start does with mail already in the inbox
    auto_replies_per_sender_per_day: int = 5
    support_name: str = "Support"
    resolve_after: timedelta = timedelta(hours=72)  # answered, no word from the customer
    close_after: timedelta = timedelta(days=14)  # resolved that long: closed
    keep_raw_days: int | None = None  # raw bytes of closed tickets removed after; None = kept


def faq_settings(t: Table, base: Path) -> FaqSettings:
    threshold = t.get("threshold", float, 0.6)
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(t.key("threshold"), f"must be between 0 and 1, got {threshold}")
    route_threshold = t.get("route_threshold", float, min(0.3, threshold))
    if not 0.0 <= route_threshold <= threshold:
        raise ConfigError(t.key("route_threshold"),
                          f"must be between 0 and faq.threshold ({threshold}), got {route_threshold}")
    settings = FaqSettings(path=resolve_path(base, t.get("path", str, "faq.toml")),
                           model=resolve_path(base, t.get("model", str, "models/faq-model.npz")),
                           threshold=threshold, route_threshold=route_threshold,
                           default_language=_language(t, "default_language", "en"),
                           suggest_threshold=_suggest_threshold(t, threshold),
                           **_faq_learning(t))
    t.reject_unknown()
    return settings


def _language(t: Table, name: str, default: str) -> str:
    from inboxd.core.language import LANGUAGE_PATTERN

    value = t.get(name, str, default)
    if not LANGUAGE_PATTERN.match(value):
        raise ConfigError(t.key(name), f"must be an ISO 639-1 language code like en, zh, sv, "
                                       f"got {value!r}")
    return value


def _suggest_threshold(t: Table, threshold: float) -> float:
    """[faq] suggest_threshold: 0 turns suggestions off; never above the answer threshold."""
    value = t.get("suggest_threshold", float, min(DEFAULT_SUGGEST_THRESHOLD, threshold))
    if not 0.0 <= value <= threshold:
        raise ConfigError(t.key("suggest_threshold"),
                          f"must be between 0 (off) and faq.threshold ({threshold}), got {value}")
    return value


def _faq_learning(t: Table) -> dict[str, Any]:
    """[faq] keys of the trained threshold and of retraining on agents' answers."""
    target = t.get("target_precision", float, None)
    if target is not None and not 0.5 <= target <= 1.0:
        raise ConfigError(t.key("target_precision"), f"must be between 0.5 and 1, got {target}")
    unknown_share = t.get("unknown_share", float, DEFAULT_UNKNOWN_SHARE)
    if not 0.0 <= unknown_share <= 0.5:
        raise ConfigError(t.key("unknown_share"), f"must be between 0 and 0.5, got {unknown_share}")
    interval_h = t.get("retrain_interval_h", float, 24.0)
    if interval_h < 0:
        raise ConfigError(t.key("retrain_interval_h"),
                          f"must be 0 (never) or more, got {interval_h}")
    return {"threshold_set": "threshold" in t.data, "target_precision": target,
            "unknown_share": unknown_share, "retrain_interval_h": interval_h}


def deadline_settings(t: Table) -> DeadlineSettings:
    tz = t.get("timezone", str, "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(t.key("timezone"), f"unknown time zone {tz!r} "
                                             f'(use an IANA name like "Europe/Stockholm")') from None
    hours = t.get("business_hours", (str, dict), "09:00-17:00")
    days = t.get("business_days", list, ["mon", "tue", "wed", "thu", "fri"])
    per_day = _hours_per_day(t, hours, days)
    settings = DeadlineSettings(
        timezone=tz, business_hours=per_day,
        holidays=t.get("holidays", str, None),
        closed_dates=tuple(_dates(t, "closed_dates")),
        open_dates=tuple(_dates(t, "open_dates")))
    t.reject_unknown()
    return settings


def _hours_per_day(t: Table, hours: str | dict[str, Any], days: list[Any]) -> dict[str, str]:
    for i, day in enumerate(days):
        if day not in WEEKDAYS:
            raise ConfigError(f"{t.key('business_days')}[{i}]",
                              f"must be one of {', '.join(WEEKDAYS)}, got {day!r}")
    if isinstance(hours, str):
        per_day = {day: hours for day in days}
    else:
        per_day = {}
        for day, spans in hours.items():
            if day not in WEEKDAYS:
                raise ConfigError(f"{t.key('business_hours')}.{day}",
                                  f"is not a weekday; use {', '.join(WEEKDAYS)}")
            if not isinstance(spans, str):
                raise ConfigError(f"{t.key('business_hours')}.{day}",
                                  f'must be a string like "09:00-17:00", got {kind_name(spans)}')
            per_day[day] = spans
    for day, spans in per_day.items():
        key = t.key("business_hours") + (f".{day}" if isinstance(hours, dict) else "")
        _check_spans(key, spans)
    if not per_day:
        key = t.key("business_days" if isinstance(hours, str) else "business_hours")
        raise ConfigError(key, "gives no business hours in the week, so no answer could ever be "
                               'due within a business day; give at least one day, e.g. "mon"')
    return per_day


def _check_spans(key: str, spans: str) -> None:
    from inboxd.core.deadlines import parse_spans

    try:
        parse_spans(spans)
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from None


def _dates(t: Table, name: str) -> list[str]:
    values = t.get(name, list, [])
    for i, value in enumerate(values):
        try:
            date.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"{t.key(name)}[{i}]",
                              f'must be a date like "2026-12-24", got {value!r}') from None
    return [str(v) for v in values]


def policy_settings(t: Table) -> PolicySettings:
    settings = PolicySettings(
        backlog=t.get("backlog", str, "ignore", choices=BACKLOG_MODES),
        auto_replies_per_sender_per_day=t.get("auto_replies_per_sender_per_day", int, 5),
        support_name=t.get("support_name", str, "Support"),
        resolve_after=duration(t, "resolve_after", "72h"),
        close_after=duration(t, "close_after", "14d"),
        keep_raw_days=t.get("keep_raw_days", int, None))
    if settings.keep_raw_days is not None and settings.keep_raw_days < 0:
        raise ConfigError(t.key("keep_raw_days"), f"must be 0 or more days, got "
                                                  f"{settings.keep_raw_days}")
    if settings.auto_replies_per_sender_per_day < 0:
        raise ConfigError(t.key("auto_replies_per_sender_per_day"), "must be 0 or more")
    t.reject_unknown()
    return settings


def templates_path(t: Table, base: Path) -> Path | None:
    value = t.get("path", str, None)
    t.reject_unknown()
    if value is None:
        return None
    path = resolve_path(base, value)
    if not path.is_dir():
        raise ConfigError(t.key("path"), f"folder not found: {path}")
    return path
