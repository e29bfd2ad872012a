"""The store's tables for OAuth2 logins and the alarm: ``oauth_tokens``, ``incidents``, ``alerts``.

``oauth_tokens`` holds, per mailbox account, what the provider's next refresh needs (``state``:
msal's token cache or Google's token JSON, with the refresh token) and the current access
token. Every save is its own committed transaction (the store runs with ``synchronous =
FULL``) and compares ``generation``, so a refresh in the daemon never overwrites a newer login
saved by ``inboxd login`` meanwhile. The store file is made readable by its owner only as soon
as it holds a token.

``incidents`` is one row per time mail stopped on a channel ("imap" or "smtp"), open while
``resolved_at`` is empty; ``alerts`` journals each alarm sent about it, by mail (through the
outbox) or APPENDed to the alert folder, so each goes out once.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from inboxd.store import Store, from_iso, iso


# -- tokens -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoredToken:
    account: str
    provider: str
    state: str
    access_token: str
    issued_at: float
    expires_at: float
    generation: int
    refreshed_at: datetime | None
    error: str | None

    def __repr__(self) -> str:  # never the tokens
        return f"StoredToken({self.account!r}, expires_at={self.expires_at}, " \
               f"generation={self.generation})"


def stored_token(store: Store, account: str) -> StoredToken | None:
    rows = list(store.db.table("oauth_tokens").rows_where("account = ?", [account.lower()]))
    if not rows:
        return None
    r = rows[0]
    return StoredToken(r["account"], r["provider"] or "", r["state"] or "",
                       r["access_token"] or "", r["issued_at"] or 0.0, r["expires_at"] or 0.0,
                       r["generation"], from_iso(r["refreshed_at"]), r["error"])


def save_token(store: Store, account: str, provider: str, values: dict[str, Any],
               generation: int | None, now: datetime) -> bool:
    """Write ``values`` (state, access_token, issued_at, expires_at) and commit; with a
    ``generation``, only when the stored one is still that (False when someone saved first)."""
    account = account.lower()
    row = {**values, "provider": provider, "updated_at": iso(now), "refreshed_at": iso(now),
           "error": None}
    with store.transaction():
        current = store.db.execute("select generation from oauth_tokens where account = ?",
                                   [account]).fetchone()
        if generation is not None and current is not None and current[0] != generation:
            return False
        row["generation"] = (current[0] if current else 0) + 1
        store.db.table("oauth_tokens").upsert({"account": account, **row}, pk="account")
    owner_only(store.path)
    return True


def note_token_error(store: Store, account: str, error: str, now: datetime) -> None:
    with store.transaction():
        store.db.execute("update oauth_tokens set error = ?, updated_at = ? where account = ?",
                         [error, iso(now), account.lower()])


def owner_only(path: Path) -> None:
    """Make the store (and its WAL files) readable and writable by its owner alone."""
    if str(path) == ":memory:":
        return
    for name in (str(path), f"{path}-wal", f"{path}-shm"):
        try:
            if stat.S_IMODE(os.stat(name).st_mode) != 0o600:
                os.chmod(name, 0o600)
        except FileNotFoundError:
            pass


# -- incidents and alerts ----------------------------------------------------------------------

@dataclass(frozen=True)
class Incident:
    id: int
    channel: str  # "imap" | "smtp"
    reason: str  # "login-refused" | "no-check"
    detail: str
    started_at: datetime
    last_alert_at: datetime | None
    alerts: int
    resolved_at: datetime | None
    recovery_alert_at: datetime | None

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Incident:
        return cls(r["id"], r["channel"], r["reason"], r["detail"] or "",
                   from_iso(r["started_at"]),  # type: ignore[arg-type]
                   from_iso(r["last_alert_at"]), r["alerts"], from_iso(r["resolved_at"]),
                   from_iso(r["recovery_alert_at"]))


def current_incidents(store: Store) -> list[Incident]:
    """The incidents still open, oldest first: what a health check or metric reports."""
    rows = store.db.table("incidents").rows_where("resolved_at is null", order_by="id")
    return [Incident.from_row(r) for r in rows]


def incidents_to_alert(store: Store) -> list[Incident]:
    """Open incidents, and resolved ones whose recovery has not been announced yet."""
    rows = store.db.table("incidents").rows_where(
        "resolved_at is null or (recovery_alert_at is null and last_alert_at is not null)",
        order_by="id")
    return [Incident.from_row(r) for r in rows]


def open_incident(store: Store, channel: str, reason: str, detail: str, now: datetime) -> int:
    """The open incident of ``channel`` (its detail brought up to date), or a new one."""
    with store.transaction():
        row = store.db.execute("select id from incidents where channel = ? and resolved_at is "
                               "null", [channel]).fetchone()
        if row is not None:
            store.db.table("incidents").update(row[0], {"detail": detail})
            return int(row[0])
        return int(store.db.table("incidents").insert(  # type: ignore[arg-type]
            {"channel": channel, "reason": reason, "detail": detail,
             "started_at": iso(now)}).last_pk)


def resolve_incident(store: Store, channel: str, now: datetime) -> int | None:
    with store.transaction():
        row = store.db.execute("select id, last_alert_at from incidents where channel = ? and "
                               "resolved_at is null", [channel]).fetchone()
        if row is None:
            return None
        values = {"resolved_at": iso(now)}
        if row[1] is None:  # never announced: no recovery to announce either
            values["recovery_alert_at"] = iso(now)
        store.db.table("incidents").update(row[0], values)
        return int(row[0])


def journal_alert(store: Store, incident: Incident, kind: str, route: str, message_id: str,
                  raw: bytes, outbox_values: dict[str, Any] | None, now: datetime) -> None:
    """Record one alarm, and (by mail) queue it in the outbox, in the same commit as the
    incident's note that it was sent: it goes out once, whatever happens next."""
    with store.transaction():
        outbox_id = store.queue_outgoing(outbox_values) if outbox_values else None
        store.db.table("alerts").insert({
            "incident_id": incident.id, "kind": kind, "route": route, "message_id": message_id,
            "raw": raw, "outbox_id": outbox_id, "created_at": iso(now),
            "state": "queued" if outbox_id else "pending"})
        column = "recovery_alert_at" if kind == "recovered" else "last_alert_at"
        store.db.execute(f"update incidents set {column} = ?, alerts = alerts + 1 where id = ?",
                         [iso(now), incident.id])


def pending_appends(store: Store) -> list[dict[str, Any]]:
    return list(store.db.table("alerts").rows_where("state in ('pending', 'appending')",
                                                    order_by="id"))


def mark_alert(store: Store, alert_id: int, state: str, now: datetime) -> None:
    with store.transaction():
        store.db.table("alerts").update(alert_id, {"state": state, "done_at": iso(now)})
