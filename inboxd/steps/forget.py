"""Erase what the store keeps about one customer, on their request (``inboxd forget ADDRESS``).

:func:`plan_forget` finds, without changing anything, every row about the address: the
tickets it is the customer of, with their messages, outgoing mails, deadline notices, learned
examples, learn-folder records, suggested drafts and events; the messages it sent on other
tickets and the mails sent to it without a ticket (status replies), and the team's digests of
old breaches that list it; the mailbox actions of those messages; what was
learned from its messages put into a learn folder; the events elsewhere that mention it; and the stored attachments that only these rows refer to.
:func:`apply_forget` deletes them in one transaction with SQLite's ``secure_delete`` on (the
freed pages are overwritten with zeros) and then checkpoints the write-ahead log, so that the
bytes are gone from the files too. Mail in the mailbox itself is not touched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any

from inboxd import store_blobs
from inboxd.store import Store

CHUNK = 500  # ids per IN (...) list


@dataclass(frozen=True)
class Erasure:
    """The rows about one address; ``apply_forget`` deletes them."""

    address: str
    rows: dict[str, list[int]] = field(default_factory=dict)  # table -> ids
    attachments: int = 0  # stored attachments no other row refers to

    def counts(self) -> dict[str, int]:
        return {**{table: len(ids) for table, ids in self.rows.items()},
                "attachments": self.attachments}

    @property
    def empty(self) -> bool:
        return not any(self.counts().values())


def plan_forget(store: Store, address: str) -> Erasure:
    """Every row about ``address`` (compared case-insensitively); changes nothing."""
    db, who = store.db, address.strip().lower()
    tickets = _ids(db, "select id from tickets where lower(customer) = ?", [who])
    messages = _ids(db, "select id from messages where lower(sender) = ?", [who]) + \
        _in(db, "select id from messages where ticket_id in ({})", tickets)
    message_ids = [r[0] for r in _rows(db, "select message_id from messages where id in ({}) "
                                           "and message_id is not null", messages)]
    lessons = _ids(db, "select id from lessons where lower(sender) = ?", [who]) + \
        _in(db, "select id from lessons where ticket_id in ({})", tickets) + \
        _in(db, "select id from lessons where message_id in ({})", message_ids)
    rows = {
        "tickets": tickets,
        "messages": messages,
        "outbox": _ids(db, "select id from outbox where lower(recipient) = ?", [who]) +
        _in(db, "select id from outbox where ticket_id in ({})", tickets) +
        _digests_naming(store, who),
        "notices": _in(db, "select id from notices where ticket_id in ({})", tickets),
        "learned_examples": _in(db, "select id from learned_examples where ticket_id in ({})",
                                tickets) +
        _in(db, "select example_id from lessons where id in ({}) and example_id is not null",
            lessons),
        "lessons": lessons,
        "actions": _in(db, "select id from actions where message_row in ({})", messages),
        "events": _mentioning(db, who) +
        _in(db, "select id from events where ticket_id in ({})", tickets),
        "drafts": _in(db, "select id from drafts where ticket_id in ({})", tickets),
    }
    rows = {table: sorted(set(ids)) for table, ids in rows.items()}
    attachments = store_blobs.unreferenced_after(
        db, {"messages": rows["messages"], "outbox": rows["outbox"]})
    return Erasure(who, rows, attachments)


DELETE_ORDER = ("notices", "actions", "lessons", "learned_examples", "events", "drafts",
                "outbox", "messages", "tickets")  # rows that refer to a ticket before the ticket


def apply_forget(store: Store, erasure: Erasure) -> bool:
    """Delete the planned rows, overwriting the freed space; False when a running inboxd kept
    the write-ahead log from being emptied now (it is at that process's next checkpoint)."""
    db = store.db
    db.execute("PRAGMA secure_delete = ON")
    with store.transaction():
        for owner in store_blobs.OWNERS:
            store_blobs.drop_refs(db, owner, erasure.rows.get(owner, []))
        for table in DELETE_ORDER:
            for chunk in _chunks(erasure.rows.get(table, [])):
                db.execute(f"delete from {table} where id in ({_marks(chunk)})", list(chunk))
        store_blobs.delete_unreferenced(db)
    busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()[0]
    return not busy


def _naming(who: str) -> re.Pattern[str]:
    """The address ``who`` itself, not one that merely contains it (forgetting
    bob@example.com keeps what is about jimbob@example.com)."""
    return re.compile(rf"(?<![\w.+-]){re.escape(who)}(?![\w-]|\.\w)", re.IGNORECASE)


def _mentioning(db: Any, who: str) -> list[int]:
    """Events whose text names the address ``who``."""
    pattern = _naming(who)
    rows = db.execute("select id, detail from events where instr(lower(detail), ?) > 0",
                      [who]).fetchall()
    return [event_id for event_id, detail in rows if pattern.search(detail)]


def _digests_naming(store: Store, who: str) -> list[int]:
    """Mails to the team about no one ticket (digests of old breaches) that list ``who``."""
    pattern = _naming(who)
    found = []
    for row_id, skeleton in store.db.execute(
            "select id, raw from outbox where ticket_id is null").fetchall():
        raw = store_blobs.whole_raw(store.db, "outbox", row_id, skeleton)
        body = BytesParser(policy=policy.default).parsebytes(raw).get_body(("plain",))
        if body is not None and pattern.search(body.get_content()):
            found.append(row_id)
    return found


def _ids(db: Any, sql: str, params: Sequence[Any]) -> list[int]:
    return [r[0] for r in db.execute(sql, list(params)).fetchall()]


def _in(db: Any, sql: str, values: Sequence[Any]) -> list[int]:
    return [r[0] for r in _rows(db, sql, values)]


def _rows(db: Any, sql: str, values: Sequence[Any]) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    for chunk in _chunks(values):
        found += db.execute(sql.format(_marks(chunk)), list(chunk)).fetchall()
    return found


def _chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[i:i + CHUNK] for i in range(0, len(values), CHUNK)]


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)
