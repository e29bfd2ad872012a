"""The TOML configuration, read into frozen dataclasses.

Every problem raises :class:`ConfigError` naming the dotted key (``imap.port``), so the operator
knows which line to fix. Relative paths resolve against the config file's folder. Unknown keys
are errors too: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from inboxd.errors import ConfigError

SECURITY_MODES = ("tls", "starttls", "none")
BACKLOG_MODES = ("ignore", "ticket")


@dataclass(frozen=True)
class Secret:
    """A password that never shows itself in logs, reprs or tracebacks."""

    value: str = field(repr=False)

    def __str__(self) -> str:
        return "********"


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    security: str
    username: str
    password: Secret
    ca_file: Path | None
    timeout_s: float


@dataclass(frozen=True)
class ImapSettings(ServerSettings):
    inbox: str = "INBOX"
    idle: bool = True
    poll_interval_s: float = 60.0


@dataclass(frozen=True)
class SmtpSettings(ServerSettings):
    sender: str = ""  # the `from` key: "Example Support <support@example.com>"


@dataclass(frozen=True)
class FolderSettings:
    answered: str = "Support/Answered"
    queue: str = "Support/Queue"
    sent: str = "Sent"
    automated: str = "Support/Automated"
    overdue: str = "Support/Overdue"


@dataclass(frozen=True)
class FaqSettings:
    path: Path
    model: Path
    threshold: float = 0.6
    route_threshold: float = 0.3
    default_language: str = "en"
    threshold_set: bool = False  # threshold was given in the file (it then beats a trained one)
    target_precision: float | None = None  # `inboxd train` picks a threshold reaching it
    retrain_interval_h: float = 24.0  # the daemon retrains on learned examples; 0 = never


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


@dataclass(frozen=True)
class RelaySettings:
    """Relay mode: routed tickets are forwarded to team addresses; agents answer from their own
    mailboxes and inboxd relays their replies to the customer."""

    team_addresses: dict[str, tuple[str, ...]] = field(default_factory=dict)
    default_addresses: tuple[str, ...] = ()  # for tickets without a team (or an unlisted one)
    agent_addresses: frozenset[str] = frozenset()
    agent_domains: frozenset[str] = frozenset()
    authserv_id: str | None = None  # whose Authentication-Results header to trust

    def addresses_for(self, team: str | None) -> tuple[str, ...]:
        return self.team_addresses.get(team or "", self.default_addresses)

    def is_agent(self, address: str) -> bool:
        address = address.lower()
        return address in self.agent_addresses or \
            address.rpartition("@")[2] in self.agent_domains


@dataclass(frozen=True)
class Config:
    path: Path
    imap: ImapSettings
    smtp: SmtpSettings
    folders: FolderSettings
    faq: FaqSettings
    store_path: Path
    deadlines: DeadlineSettings
    policy: PolicySettings
    templates_dir: Path | None = None
    notify: NotifySettings = field(default_factory=lambda: NotifySettings())
    relay: RelaySettings | None = None  # relay mode; None when [relay] is absent

    @property
    def support_address(self) -> str:
        from email.utils import parseaddr

        return parseaddr(self.smtp.sender)[1].lower()


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Table:
    """One TOML table with its dotted path; hands out checked values and tracks unknown keys."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(path, f"must be a table, got {_kind(data)}")
        self.data: dict[str, Any] = data
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ..., *,
            choices: tuple[Any, ...] = ()) -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is ...:
                raise ConfigError(self.key(name), "is required but missing")
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise ConfigError(self.key(name), f"must be {_names(kinds)}, got a boolean")
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds):
            raise ConfigError(self.key(name), f"must be {_names(kinds)}, got {_kind(value)}")
        if choices and value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise ConfigError(self.key(name), f"must be one of {allowed}, got {value!r}")
        return value

    def table(self, name: str, required: bool = True) -> _Table:
        self.used.add(name)
        if name not in self.data and not required:
            return _Table({}, self.key(name))
        if name not in self.data:
            raise ConfigError(self.key(name), "table is required but missing")
        return _Table(self.data[name], self.key(name))

    def reject_unknown(self) -> None:
        for name in self.data:
            if name not in self.used:
                raise ConfigError(self.key(name), "unknown key (check its spelling)")


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _names(kinds: tuple[type, ...]) -> str:
    return " or ".join(_kind(k()) if k is not type(None) else "absent" for k in kinds)


def load_config(path: Path | str) -> Config:
    """Read and validate the configuration file at ``path``."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("config", f"file not found: {path}") from None
    except OSError as exc:
        raise ConfigError("config", f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("config", f"{path} is not valid TOML: {exc}") from None
    return parse_config(data, path.resolve().parent, path)


def parse_config(data: dict[str, Any], base_dir: Path, path: Path | None = None) -> Config:
    root = _Table(data, "")
    imap_t, smtp_t = root.table("imap"), root.table("smtp")
    imap = ImapSettings(**_server(imap_t, 993, "tls", base_dir),
                        inbox=imap_t.get("inbox", str, "INBOX"),
                        idle=imap_t.get("idle", bool, True),
                        poll_interval_s=_positive(imap_t, "poll_interval_s", 60.0))
    smtp = SmtpSettings(**_server(smtp_t, 587, "starttls", base_dir),
                        sender=_sender(smtp_t))
    for table in (imap_t, smtp_t):
        table.reject_unknown()
    config = Config(
        path=(path or base_dir / "inboxd.toml"),
        imap=imap,
        smtp=smtp,
        folders=_folders(root.table("folders", required=False)),
        faq=_faq(root.table("faq"), base_dir),
        store_path=_store(root.table("store", required=False), base_dir),
        deadlines=_deadlines(root.table("deadlines", required=False)),
        policy=_policy(root.table("policy", required=False)),
        templates_dir=_templates(root.table("templates", required=False), base_dir),
        notify=_notify(root.table("notify", required=False)),
        relay=_relay(root, smtp.sender),
    )
    root.reject_unknown()
    return config


def _server(t: _Table, default_port: int, default_security: str, base: Path) -> dict[str, Any]:
    host = t.get("host", str)
    if not host.strip():
        raise ConfigError(t.key("host"), "must not be empty")
    port = t.get("port", int, default_port)
    if not 1 <= port <= 65535:
        raise ConfigError(t.key("port"), f"must be between 1 and 65535, got {port}")
    security = t.get("security", str, default_security, choices=SECURITY_MODES)
    if security == "none" and not _is_loopback(host):
        raise ConfigError(t.key("security"),
                          f'"none" sends the password in clear text; it is allowed only for a '
                          f"loopback host (127.0.0.1, ::1, localhost), not {host!r}")
    ca = t.get("ca_file", str, None)
    ca_file = _path(base, ca) if ca else None
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError(t.key("ca_file"), f"file not found: {ca_file}")
    return dict(host=host, port=port, security=security, username=t.get("username", str),
                password=_password(t, base), ca_file=ca_file,
                timeout_s=_positive(t, "timeout_s", 30.0))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _password(t: _Table, base: Path) -> Secret:
    given = [k for k in ("password", "password_env", "password_file") if k in t.data]
    if len(given) != 1:
        keys = ", ".join(t.key(k) for k in ("password_env", "password_file", "password"))
        raise ConfigError(t.key("password_env"), f"set exactly one of {keys}")
    name = given[0]
    value = t.get(name, str)
    if name == "password":
        return Secret(value)
    if name == "password_env":
        if value not in os.environ:
            raise ConfigError(t.key(name), f"environment variable {value} is not set")
        return Secret(os.environ[value])
    try:
        return Secret(_path(base, value).read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ConfigError(t.key(name), f"cannot read {value}: {exc.strerror}") from None


def _sender(t: _Table) -> str:
    from email.headerregistry import Address
    from email.utils import parseaddr

    sender = t.get("from", str)
    name, addr = parseaddr(sender)
    if "@" not in addr or any(c in sender for c in "\r\n"):
        raise ConfigError(t.key("from"), f'must be an address like "Support <support@example.com>", '
                                         f"got {sender!r}")
    try:
        Address(display_name=name, addr_spec=addr)
    except (ValueError, IndexError) as exc:
        raise ConfigError(t.key("from"), f"is not a valid address: {exc}") from None
    return sender


def _positive(t: _Table, name: str, default: float) -> float:
    value = t.get(name, float, default)
    if value <= 0:
        raise ConfigError(t.key(name), f"must be greater than 0, got {value}")
    return value


def _path(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def _folders(t: _Table) -> FolderSettings:
    defaults = FolderSettings()
    values = {}
    for name in ("answered", "queue", "sent", "automated", "overdue"):
        value = t.get(name, str, getattr(defaults, name))
        if not value.strip():
            raise ConfigError(t.key(name), "must not be empty")
        values[name] = value
    t.reject_unknown()
    return FolderSettings(**values)


def _faq(t: _Table, base: Path) -> FaqSettings:
    threshold = t.get("threshold", float, 0.6)
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(t.key("threshold"), f"must be between 0 and 1, got {threshold}")
    route_threshold = t.get("route_threshold", float, min(0.3, threshold))
    if not 0.0 <= route_threshold <= threshold:
        raise ConfigError(t.key("route_threshold"),
                          f"must be between 0 and faq.threshold ({threshold}), got {route_threshold}")
    settings = FaqSettings(path=_path(base, t.get("path", str)),
                           model=_path(base, t.get("model", str, "models/faq-model.pickle")),
                           threshold=threshold, route_threshold=route_threshold,
                           default_language=t.get("default_language", str, "en"),
                           **_faq_learning(t))
    t.reject_unknown()
    return settings


def _faq_learning(t: _Table) -> dict[str, Any]:
    """[faq] keys of the trained threshold and of retraining on agents' answers."""
    target = t.get("target_precision", float, None)
    if target is not None and not 0.5 <= target <= 1.0:
        raise ConfigError(t.key("target_precision"), f"must be between 0.5 and 1, got {target}")
    interval_h = t.get("retrain_interval_h", float, 24.0)
    if interval_h < 0:
        raise ConfigError(t.key("retrain_interval_h"),
                          f"must be 0 (never) or more, got {interval_h}")
    return {"threshold_set": "threshold" in t.data, "target_precision": target,
            "retrain_interval_h": interval_h}


def _store(t: _Table, base: Path) -> Path:
    path = _path(base, t.get("path", str, "inboxd.sqlite3"))
    t.reject_unknown()
    return path


def _deadlines(t: _Table) -> DeadlineSettings:
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


def _hours_per_day(t: _Table, hours: str | dict[str, Any], days: list[Any]) -> dict[str, str]:
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
                                  f'must be a string like "09:00-17:00", got {_kind(spans)}')
            per_day[day] = spans
    for day, spans in per_day.items():
        key = t.key("business_hours") + (f".{day}" if isinstance(hours, dict) else "")
        _check_spans(key, spans)
    return per_day


def _check_spans(key: str, spans: str) -> None:
    from inboxd.core.deadlines import parse_spans

    try:
        parse_spans(spans)
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from None


def _dates(t: _Table, name: str) -> list[str]:
    from datetime import date

    values = t.get(name, list, [])
    for i, value in enumerate(values):
        try:
            date.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"{t.key(name)}[{i}]",
                              f'must be a date like "2026-12-24", got {value!r}') from None
    return [str(v) for v in values]


def _policy(t: _Table) -> PolicySettings:
    settings = PolicySettings(
        backlog=t.get("backlog", str, "ignore", choices=BACKLOG_MODES),
        auto_replies_per_sender_per_day=t.get("auto_replies_per_sender_per_day", int, 5),
        support_name=t.get("support_name", str, "Support"))
    if settings.auto_replies_per_sender_per_day < 0:
        raise ConfigError(t.key("auto_replies_per_sender_per_day"), "must be 0 or more")
    t.reject_unknown()
    return settings


def _templates(t: _Table, base: Path) -> Path | None:
    value = t.get("path", str, None)
    t.reject_unknown()
    if value is None:
        return None
    path = _path(base, value)
    if not path.is_dir():
        raise ConfigError(t.key("path"), f"folder not found: {path}")
    return path


# -- [notify]: deadline warnings and escalations ------------------------------------------------

@dataclass(frozen=True)
class NotifySettings:
    """Who hears about tickets close to or past their deadlines; empty means nobody."""

    default_address: tuple[str, ...] = ()
    team_addresses: dict[str, tuple[str, ...]] = field(default_factory=dict)
    escalation_address: tuple[str, ...] = ()
    warn_before: timedelta = timedelta(hours=2)
    courtesy_on_breach: bool = False
    sweep_interval_s: float = 60.0

    def addresses(self) -> frozenset[str]:
        """Every address notices go to, lower-cased."""
        teams = [a for team in self.team_addresses.values() for a in team]
        return frozenset(a.lower() for a in
                         (*self.default_address, *teams, *self.escalation_address))


def _notify(t: _Table) -> NotifySettings:
    from inboxd.core.clocks import parse_duration

    teams_t = t.table("team_addresses", required=False)
    teams = {team: _notify_addresses(teams_t, team) for team in teams_t.data}
    teams_t.used.update(teams_t.data)
    text = t.get("warn_before", str, "2h")
    try:
        warn_before = parse_duration(text)
    except ValueError as exc:
        raise ConfigError(t.key("warn_before"), str(exc)) from None
    if warn_before <= timedelta():
        raise ConfigError(t.key("warn_before"), f"must be longer than 0, got {text!r}")
    settings = NotifySettings(
        default_address=_notify_addresses(t, "default_address"), team_addresses=teams,
        escalation_address=_notify_addresses(t, "escalation_address"),
        warn_before=warn_before,
        courtesy_on_breach=t.get("courtesy_on_breach", bool, False),
        sweep_interval_s=_positive(t, "sweep_interval_s", 60.0))
    t.reject_unknown()
    return settings


def _notify_addresses(t: _Table, name: str) -> tuple[str, ...]:
    """One address or a list of them; each must look like user@domain."""
    from email.utils import parseaddr

    value = t.get(name, (str, list), [])
    values = [value] if isinstance(value, str) else value
    for i, address in enumerate(values):
        key = t.key(name) + (f"[{i}]" if isinstance(value, list) else "")
        if not isinstance(address, str) or "@" not in parseaddr(address)[1] or \
                any(c in address for c in "\r\n,"):
            raise ConfigError(key, f'must be an address like "team@example.com", got {address!r}')
    return tuple(values)


# --- [relay] ---------------------------------------------------------------------------------


def _relay(root: _Table, sender: str) -> RelaySettings | None:
    """None when the table is absent (relay mode off)."""
    present = "relay" in root.data
    t = root.table("relay", required=False)
    if not present:
        return None
    from email.utils import parseaddr

    own = parseaddr(sender)[1].lower()
    teams = t.get("team_addresses", dict, {})
    settings = RelaySettings(
        team_addresses={team: _addresses(t, f"team_addresses.{team}", value, own)
                        for team, value in teams.items()},
        default_addresses=_addresses(t, "default_addresses", t.get("default_addresses", list),
                                     own),
        agent_addresses=frozenset(_addresses(t, "agent_addresses",
                                             t.get("agent_addresses", list, []), own)),
        agent_domains=frozenset(_domains(t, "agent_domains")),
        authserv_id=t.get("authserv_id", str, None))
    if (settings.agent_addresses or settings.agent_domains) and not settings.authserv_id:
        raise ConfigError(t.key("authserv_id"),
                          "is required when relay.agent_addresses or relay.agent_domains is "
                          "set: agents' replies are relayed only when the Authentication-"
                          "Results header of this server vouches for them")
    t.reject_unknown()
    return settings


def _addresses(t: _Table, name: str, value: Any, own: str) -> tuple[str, ...]:
    from email.utils import parseaddr

    if not isinstance(value, list):
        raise ConfigError(t.key(name), f"must be a list of addresses, got {_kind(value)}")
    if not value and name != "agent_addresses":
        raise ConfigError(t.key(name), "must list at least one address to forward tickets to")
    found = []
    for i, item in enumerate(value):
        addr = parseaddr(item)[1].lower() if isinstance(item, str) else ""
        if "@" not in addr or " " in addr:
            raise ConfigError(f"{t.key(name)}[{i}]", f"must be an address like "
                                                     f'"team@example.com", got {item!r}')
        if addr == own:
            raise ConfigError(f"{t.key(name)}[{i}]", "must not be the support address itself")
        found.append(addr)
    return tuple(found)


def _domains(t: _Table, name: str) -> list[str]:
    values = t.get(name, list, [])
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value.strip() or "@" in value or " " in value:
            raise ConfigError(f"{t.key(name)}[{i}]",
                              f'must be a domain like "example.com", got {value!r}')
    return [v.strip().lower() for v in values]
