"""Figures read from the store by other processes than the daemon's worker: `inboxd health` and
the metrics endpoint, which reads them at each scrape, so they survive restarts.

Each reader opens the store read-only (:func:`open_read_only`), beside the daemon's own
connection (the store is in WAL mode), and never changes or migrates it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from inboxd.errors import StoreError
from inboxd.store import from_iso, iso

MAILBOX_CHECKED = "mailbox_checked"  # stamped after each successful pass over the inbox
WAITING_STATES = ("pending", "sending")  # outbox rows not done yet


def open_read_only(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise StoreError(f"no store at {path}: inboxd has not run with this configuration")
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the store {path}: {exc}") from None


def _rows(conn: sqlite3.Connection, sql: str, params: Sequence[object] = ()) -> list[tuple]:  # type: ignore[type-arg]
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the store: {exc}") from None


def stamped(conn: sqlite3.Connection, name: str) -> datetime | None:
    """When ``name`` was last stamped; None when never (or by a store without stamps)."""
    if not _rows(conn, "select 1 from sqlite_master where name = 'stamps'"):
        return None
    rows = _rows(conn, "select at from stamps where name = ?", [name])
    return from_iso(rows[0][0]) if rows else None


def open_incidents(conn: sqlite3.Connection) -> list[tuple[str, str, str, datetime]]:
    """(channel, reason, detail, started_at) of every incident still open (``store_oauth``):
    a refused login, or no mailbox check for ``alert.after``; none in a store without them."""
    if not _rows(conn, "select 1 from sqlite_master where name = 'incidents'"):
        return []
    return [(channel, reason, detail or "", from_iso(started))  # type: ignore[misc]
            for channel, reason, detail, started in _rows(
                conn, "select channel, reason, detail, started_at from incidents "
                      "where resolved_at is null order by id")]


def waiting_since(conn: sqlite3.Connection, before: datetime) -> tuple[int, datetime | None]:
    """How many outgoing mails created before then are not sent yet, and the oldest one's
    time."""
    count, oldest = _rows(
        conn, "select count(*), min(created_at) from outbox where state in (?, ?) and "
        "created_at < ?", [*WAITING_STATES, iso(before)])[0]
    return int(count), from_iso(oldest)


def tickets_by_state(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(_rows(conn, "select state, count(*) from tickets group by state"))


def overdue_tickets(conn: sqlite3.Connection, now: datetime) -> int:
    """Open tickets whose earlier deadline has passed."""
    return int(_rows(conn, "select count(*) from tickets where state = 'open' and "
                           "next_due_at < ?", [iso(now)])[0][0])


def outbox_by_state(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """(state, kind) -> how many outgoing mails."""
    return {(state, kind): n for state, kind, n in
            _rows(conn, "select state, kind, count(*) from outbox group by state, kind")}


def first_response_buckets(conn: sqlite3.Connection, bounds_s: Sequence[float]
                           ) -> dict[str, tuple[list[int], int, float]]:
    """By who responded first ("agent", "auto"): how many first responses took at most each of
    ``bounds_s`` seconds (wall clock, ascending), how many there are, and their sum in seconds.
    One pass over the tickets: each response is counted in its bucket, then summed up."""
    bucket = " ".join(f"when first_response_wall_min * 60 <= {float(b)!r} then {i}"
                      for i, b in enumerate(bounds_s))
    rows = _rows(conn, f"select first_response_by, case {bucket} else {len(bounds_s)} end, "
                       "count(*), sum(first_response_wall_min) * 60 from tickets "
                       "where first_response_wall_min is not null and first_response_by is not "
                       "null group by 1, 2")
    found: dict[str, tuple[list[int], int, float]] = {}
    for by, index, count, total_s in rows:
        per_bucket, _, _ = found.setdefault(by, ([0] * (len(bounds_s) + 1), 0, 0.0))
        per_bucket[index] += count
        found[by] = (per_bucket, found[by][1] + count, found[by][2] + total_s)
    return {by: ([sum(per[:i + 1]) for i in range(len(bounds_s))], n, total)
            for by, (per, n, total) in found.items()}
