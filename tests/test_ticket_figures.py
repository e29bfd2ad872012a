"""The lifecycle figures the weekly report reads, on a real SQLite store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from inboxd.store import Store, iso
from inboxd.ticket_figures import Reopens, ratings, reopens, resolved_auto_answers

T0 = datetime(2026, 11, 23, tzinfo=timezone.utc)
WEEK = T0 + timedelta(days=7)


def add(store: Store, state: str, by: str | None, resolved_by: str | None = None,
        resolved_day: float = 1, rating: int | None = None) -> int:
    at = iso(T0 + timedelta(days=resolved_day))
    return store.insert_ticket({
        "customer": "c@example.test", "state": state, "created_at": iso(T0),
        "answered_by": by, "resolved_by": resolved_by,
        "resolved_at": at if resolved_by else None, "rating": rating,
        "rated_at": at if rating else None})


def test_lifecycle_figures_of_a_week(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    add(store, "resolved", "auto", "timeout")
    add(store, "closed", "auto", "thanks", rating=1)
    add(store, "resolved", "auto", "done-folder", rating=3)  # an agent closed it: not the FAQ's
    add(store, "resolved", "agent", "timeout", rating=1)
    add(store, "resolved", "auto", "timeout", resolved_day=8)  # next week
    add(store, "answered", "auto")
    reopened = add(store, "open", "agent")
    for day, kind in ((1, "resolved"), (2, "resolved"), (3, "reopened"), (9, "reopened")):
        store.add_event(reopened, T0 + timedelta(days=day), kind, "")
    assert resolved_auto_answers(store, T0, WEEK) == 2
    assert reopens(store, T0, WEEK) == Reopens(resolved=2, reopened=1)
    assert reopens(store, T0, WEEK).rate == 0.5
    assert ratings(store, T0, WEEK) == {1: 2, 2: 0, 3: 1}
    assert Reopens(0, 0).rate is None


def test_a_store_from_before_the_states_is_migrated(tmp_path: Path) -> None:
    import sqlite_utils

    from inboxd.store import MIGRATIONS

    path = tmp_path / "old.sqlite3"
    db = sqlite_utils.Database(path)
    before = MIGRATIONS[:[name for name, _ in MIGRATIONS].index("015_lifecycle")]
    for name, migration in before:
        migration(db)
        db.table("_migrations").insert({"name": name, "applied_at": iso(T0)}, pk="name")
    for state, first in (("auto_answered", T0), ("answered", T0 + timedelta(hours=2)),
                         ("open", None)):
        db.table("tickets").insert({"customer": "c@example.test", "state": state,
                                    "created_at": iso(T0), "updated_at": iso(T0),
                                    "first_response_at": iso(first) if first else None})
    db.close()
    store = Store(path)
    assert [(t.state, t.answered_by, t.answered_at) for t in store.tickets()] == [
        ("answered", "auto", T0), ("answered", "agent", T0 + timedelta(hours=2)),
        ("open", None, None)]
