"""[notify] and [relay]: who hears about deadlines, and where relay mode forwards tickets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parseaddr
from typing import Any

from inboxd.config.table import Table, duration, kind_name, positive
from inboxd.errors import ConfigError


@dataclass(frozen=True)
class NotifySettings:
    """Who hears about tickets close to or past their deadlines; empty means nobody."""

    default_address: tuple[str, ...] = ()
    team_addresses: dict[str, tuple[str, ...]] = field(default_factory=dict)
    escalation_address: tuple[str, ...] = ()
    warn_before: timedelta = timedelta(hours=2)
    courtesy_on_breach: bool = False
    sweep_interval_s: float = 60.0
    max_age: timedelta = timedelta(days=7)  # older breaches: one digest mail, not one each

    def addresses(self) -> frozenset[str]:
        """Every address notices go to, lower-cased."""
        teams = [a for team in self.team_addresses.values() for a in team]
        return frozenset(a.lower() for a in
                         (*self.default_address, *teams, *self.escalation_address))


@dataclass(frozen=True)
class AlertSettings:
    """Who hears when mail stops: a refused login, or no mailbox check working for ``after``.
    Without ``to`` the alarm is still APPENDed to ``folder`` when it cannot be mailed."""

    to: tuple[str, ...] = ()
    after: timedelta = timedelta(minutes=15)
    folder: str = "Support/Alerts"
    repeat_every: timedelta = timedelta(days=1)


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


def alert_settings(t: Table) -> AlertSettings:
    folder = t.get("folder", str, AlertSettings.folder)
    if not folder.strip():
        raise ConfigError(t.key("folder"), "must not be empty")
    settings = AlertSettings(to=address_list(t, "to"), after=duration(t, "after", "15m"),
                             folder=folder, repeat_every=duration(t, "repeat_every", "1d"))
    t.reject_unknown()
    return settings


def notify_settings(t: Table) -> NotifySettings:
    teams_t = t.table("team_addresses", required=False)
    teams = {team: address_list(teams_t, team) for team in teams_t.data}
    teams_t.used.update(teams_t.data)
    settings = NotifySettings(
        default_address=address_list(t, "default_address"), team_addresses=teams,
        escalation_address=address_list(t, "escalation_address"),
        warn_before=duration(t, "warn_before", "2h"),
        courtesy_on_breach=t.get("courtesy_on_breach", bool, False),
        sweep_interval_s=positive(t, "sweep_interval_s", 60.0),
        max_age=duration(t, "max_age", "7d"))
    t.reject_unknown()
    return settings


def address_list(t: Table, name: str) -> tuple[str, ...]:
    """One address or a list of them; each must look like user@domain."""
    value = t.get(name, (str, list), [])
    values = [value] if isinstance(value, str) else value
    for i, address in enumerate(values):
        key = t.key(name) + (f"[{i}]" if isinstance(value, list) else "")
        if not isinstance(address, str) or "@" not in parseaddr(address)[1] or \
                any(c in address for c in "\r\n,"):
            raise ConfigError(key, f'must be an address like "team@example.com", got {address!r}')
    return tuple(values)


def relay_settings(root: Table, sender: str) -> RelaySettings | None:
    """None when the table is absent (relay mode off)."""
    present = "relay" in root.data
    t = root.table("relay", required=False)
    if not present:
        return None
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


def _addresses(t: Table, name: str, value: Any, own: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(t.key(name), f"must be a list of addresses, got {kind_name(value)}")
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


def _domains(t: Table, name: str) -> list[str]:
    values = t.get(name, list, [])
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value.strip() or "@" in value or " " in value:
            raise ConfigError(f"{t.key(name)}[{i}]",
                              f'must be a domain like "example.com", got {value!r}')
    return [v.strip().lower() for v in values]
