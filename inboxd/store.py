"""The SQLite store (sqlite-utils): tickets, messages, outbox, pending mailbox actions, checkpoints.

Times are stored as ISO 8601 strings in UTC (``2026-11-22T15:30:00+00:00``), so they sort as
text. Schema changes are plain functions in ``MIGRATIONS``, each applied once inside a
transaction together with its record in ``_migrations``.

The store is the journal that makes "nothing lost, nothing twice" hold: a message's ticket,
its raw bytes, the replies to send (outbox) and the mailbox moves to make (actions) are
committed in one transaction before anything happens on the servers; each step is then marked
done, so a restart replays exactly what is left.

Large attachments are kept once (``inboxd.store_blobs``): ``raw`` columns hold skeletons and the
methods here hand out whole mails.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import sqlite_utils

from inboxd import store_blobs
from inboxd.core.clocks import response_minutes
from inboxd.core.deadlines import BusinessCalendar
from inboxd.errors import StoreBusy, StoreError


def iso(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("naive datetime")
    return at.astimezone(timezone.utc).isoformat(timespec="seconds")


def from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _m001_initial(db: sqlite_utils.Database) -> None:
    db.table("checkpoints").create({"folder": str, "uidvalidity": int, "last_uid": int}, pk="folder")
    db.table("tickets").create({
        "id": int, "customer": str, "subject": str, "language": str, "faq": str,
        "confidence": float, "state": str, "team": str, "created_at": str,
        "first_response_at": str, "first_response_by": str, "awaiting_since": str,
        "due_24h": str, "due_business_day": str, "updated_at": str,
    }, pk="id", not_null={"customer", "state", "created_at"})
    db.table("tickets").create_index(["customer"])
    db.table("tickets").create_index(["state", "due_business_day"])
    db.table("messages").create({
        "id": int, "ticket_id": int, "direction": str, "folder": str, "uidvalidity": int,
        "uid": int, "message_id": str, "sender": str, "subject": str, "received_at": str,
        "decision": str, "reason": str, "automated": str, "defects": str, "raw": bytes,
    }, pk="id", foreign_keys=[("ticket_id", "tickets", "id")])
    db.table("messages").create_index(["message_id"])
    db.table("messages").create_index(["ticket_id"])
    db.table("messages").create_index(["folder", "uidvalidity", "uid"], unique=True)
    db.table("outbox").create({
        "id": int, "ticket_id": int, "kind": str, "message_id": str, "recipient": str,
        "raw": bytes, "state": str, "created_at": str, "sent_at": str, "copied_at": str,
        "error": str,
    }, pk="id", foreign_keys=[("ticket_id", "tickets", "id")])
    db.table("outbox").create_index(["message_id"], unique=True)
    db.table("outbox").create_index(["state"])
    db.table("outbox").create_index(["recipient", "created_at"])
    db.table("actions").create({
        "id": int, "message_row": int, "folder": str, "uidvalidity": int, "uid": int,
        "kind": str, "target": str, "state": str, "created_at": str, "done_at": str,
        "error": str,
    }, pk="id")
    db.table("actions").create_index(["state"])
    db.table("events").create({"id": int, "ticket_id": int, "at": str, "kind": str, "detail": str},
                        pk="id")
    db.table("events").create_index(["ticket_id"])


def _m002_copy_started(db: sqlite_utils.Database) -> None:
    db.table("outbox").add_column("copy_started_at", str)


def _m003_response_minutes(db: sqlite_utils.Database) -> None:
    """Response times, the notices sent, and two columns SQLite computes itself: the earlier
    deadline (``next_due_at``) and the same for the sweep (``sweep_due_at``), empty once every
    notice of the current clock (``notices_done_for``: its start) has been sent."""
    db.table("tickets").add_column("first_response_wall_min", float)
    db.table("tickets").add_column("first_response_business_min", float)
    db.table("tickets").add_column("notices_done_for", str)
    db.execute("alter table tickets add column next_due_at text generated always as "
               "(min(coalesce(due_24h, due_business_day), coalesce(due_business_day, due_24h))) "
               "virtual")
    db.execute("alter table tickets add column sweep_due_at text generated always as "
               "(case when notices_done_for is coalesce(awaiting_since, created_at) then null "
               "else next_due_at end) virtual")
    db.table("tickets").create_index(["state", "next_due_at"])
    db.table("tickets").create_index(["state", "sweep_due_at"])
    db.table("notices").create({
        "id": int, "ticket_id": int, "kind": str, "deadline": str, "due_at": str,
        "clock_start": str, "at": str, "outbox_id": int, "detail": str,
    }, pk="id", foreign_keys=[("ticket_id", "tickets", "id")],
        not_null={"ticket_id", "kind", "deadline", "clock_start", "at"})
    db.table("notices").create_index(["ticket_id", "kind", "deadline", "clock_start"], unique=True)


def _m006_learning(db: sqlite_utils.Database) -> None:
    """Customers' questions that agents answered with an FAQ: extra training examples."""
    db.table("learned_examples").create({
        "id": int, "faq_id": str, "text": str, "ticket_id": int, "source": str, "created_at": str,
    }, pk="id", not_null={"faq_id", "text", "source", "created_at"})
    db.table("learned_examples").create_index(["faq_id", "text"], unique=True)


def _m010_lessons(db: sqlite_utils.Database) -> None:
    """Messages agents put into a learn folder, each handled once (see ``inboxd.steps.lessons``)."""
    db.table("lessons").create({
        "id": int, "folder": str, "uidvalidity": int, "uid": int, "message_id": str,
        "sender": str, "faq_id": str, "ticket_id": int, "example_id": int, "outcome": str,
        "at": str,
    }, pk="id", not_null={"folder", "uidvalidity", "uid", "outcome", "at"})
    db.table("lessons").create_index(["folder", "uidvalidity", "uid"], unique=True)


def _m011_blobs(db: sqlite_utils.Database) -> None:
    """Large attachments kept once, in ``blobs``; rows hold skeletons (``inboxd.store_blobs``)."""
    store_blobs.create_tables(db)
    store_blobs.split_existing(db)


def _m012_oauth_alarm(db: sqlite_utils.Database) -> None:
    """OAuth2 tokens, and the incidents and alarms of mail that stopped (``inboxd.store_oauth``)."""
    db.table("oauth_tokens").create({
        "account": str, "provider": str, "state": str, "access_token": str, "issued_at": float,
        "expires_at": float, "generation": int, "updated_at": str, "refreshed_at": str,
        "error": str,
    }, pk="account", not_null={"generation"}, defaults={"generation": 0})
    db.table("incidents").create({
        "id": int, "channel": str, "reason": str, "detail": str, "started_at": str,
        "last_alert_at": str, "alerts": int, "resolved_at": str, "recovery_alert_at": str,
    }, pk="id", not_null={"channel", "reason", "started_at"}, defaults={"alerts": 0})
    db.table("incidents").create_index(["channel", "resolved_at"])
    db.table("alerts").create({
        "id": int, "incident_id": int, "kind": str, "route": str, "message_id": str,
        "raw": bytes, "outbox_id": int, "state": str, "created_at": str, "done_at": str,
    }, pk="id", foreign_keys=[("incident_id", "incidents", "id")],
        not_null={"incident_id", "kind", "route", "state", "created_at"})
    db.table("alerts").create_index(["state"])
def _m013o_stamps(db: sqlite_utils.Database) -> None:
    """When the daemon last did something (``mailbox_checked``), for `inboxd health` and the
    metrics; an index that lets a scrape count first-response times without reading tickets."""
    db.table("stamps").create({"name": str, "at": str}, pk="name", not_null={"at"})
    db.table("tickets").create_index(["first_response_by", "first_response_wall_min"])


def _m013r_report_indexes(db: sqlite_utils.Database) -> None:
    """The report reads tickets by creation and messages by arrival over a few weeks."""
    db.table("tickets").create_index(["created_at"], if_not_exists=True)
    db.table("messages").create_index(["received_at"], if_not_exists=True)


def _m015_lifecycle(db: sqlite_utils.Database) -> None:
    """A ticket's whole life: open, answered (by "auto" or "agent", ``answered_at``), resolved,
    closed; the ticket a new one follows; the satisfaction survey and its rating; the readable
    text kept when raw bytes are removed. Tickets answered automatically were stored as
    ``auto_answered``: they become ``answered`` by "auto"."""
    tickets = db.table("tickets")
    for column, kind in (("answered_by", str), ("answered_at", str), ("resolved_at", str),
                         ("resolved_by", str), ("closed_at", str), ("follows_ticket", int),
                         ("survey", str), ("survey_at", str), ("rating", int),
                         ("rating_comment", str), ("rated_at", str), ("raw_removed_at", str)):
        tickets.add_column(column, kind)
    db.execute("update tickets set state = 'answered', answered_by = 'auto', "
               "answered_at = coalesce(first_response_at, created_at) "
               "where state = 'auto_answered'")
    db.execute("update tickets set answered_by = 'agent', "
               "answered_at = coalesce(first_response_at, updated_at, created_at) "
               "where state = 'answered' and answered_by is null")
    tickets.create_index(["state", "answered_at"])
    tickets.create_index(["state", "resolved_at"])
    db.table("messages").add_column("text", str)
    db.table("outbox").add_column("text", str)


def _m014_drafts(db: sqlite_utils.Database) -> None:
    """Suggested answers written as drafts (``inboxd.steps.drafts``): one row per draft, its
    APPEND and removal journalled in ``actions`` (``append_action``, ``drop_action``)."""
    db.table("drafts").create({
        "id": int, "ticket_id": int, "message_row": int, "faq_id": str, "confidence": float,
        "language": str, "message_id": str, "question": str, "answer": str, "body": str,
        "raw": bytes, "replaces": int, "folder": str, "state": str, "fate": str,
        "append_action": int, "drop_action": int, "append_started_at": str, "appended_at": str,
        "created_at": str, "fate_at": str, "detail": str,
    }, pk="id", foreign_keys=[("ticket_id", "tickets", "id")],
        not_null={"ticket_id", "faq_id", "message_id", "raw", "state", "created_at"})
    db.table("drafts").create_index(["ticket_id"])
    db.table("drafts").create_index(["state"])
    db.table("drafts").create_index(["append_action"])
    db.table("drafts").create_index(["drop_action"])


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("001_initial", _m001_initial),
    ("002_copy_started", _m002_copy_started),
    ("003_response_minutes", _m003_response_minutes),
    ("006_learning", _m006_learning),
    ("010_lessons", _m010_lessons),
    ("011_blobs", _m011_blobs),
    ("012_oauth_alarm", _m012_oauth_alarm),
    ("013o_stamps", _m013o_stamps),
    ("013r_report_indexes", _m013r_report_indexes),
    ("014_drafts", _m014_drafts),
    ("015_lifecycle", _m015_lifecycle),
]


@dataclass(frozen=True)
class Checkpoint:
    folder: str
    uidvalidity: int
    last_uid: int


@dataclass(frozen=True)
class Ticket:
    id: int
    customer: str
    subject: str
    language: str
    faq: str | None
    confidence: float | None
    state: str
    team: str | None
    created_at: datetime
    first_response_at: datetime | None
    first_response_by: str | None
    awaiting_since: datetime | None
    due_24h: datetime | None
    due_business_day: datetime | None
    first_response_wall_min: float | None = None
    first_response_business_min: float | None = None
    answered_by: str | None = None  # who gave the latest answer: "auto" or "agent"
    answered_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None  # how: "timeout", "done-folder", "#done", "thanks"
    closed_at: datetime | None = None
    follows_ticket: int | None = None  # the closed ticket this one continues
    rating: int | None = None  # the customer's satisfaction: 1 good, 2 okay, 3 bad
    rating_comment: str | None = None
    survey: str | None = None  # "sent", or why none is sent ("skipped: ...")

    @property
    def answered_automatically(self) -> bool:
        return self.answered_by == "auto"

    @property
    def survey_sent(self) -> bool:
        return self.survey == "sent"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Ticket:
        return cls(id=row["id"], customer=row["customer"], subject=row["subject"] or "",
                   language=row["language"] or "", faq=row["faq"], confidence=row["confidence"],
                   state=row["state"], team=row["team"],
                   created_at=from_iso(row["created_at"]),  # type: ignore[arg-type]
                   first_response_at=from_iso(row["first_response_at"]),
                   first_response_by=row["first_response_by"],
                   awaiting_since=from_iso(row["awaiting_since"]),
                   due_24h=from_iso(row["due_24h"]),
                   due_business_day=from_iso(row["due_business_day"]),
                   first_response_wall_min=row.get("first_response_wall_min"),
                   first_response_business_min=row.get("first_response_business_min"),
                   answered_by=row.get("answered_by"),
                   answered_at=from_iso(row.get("answered_at")),
                   resolved_at=from_iso(row.get("resolved_at")),
                   resolved_by=row.get("resolved_by"),
                   closed_at=from_iso(row.get("closed_at")),
                   follows_ticket=row.get("follows_ticket"), rating=row.get("rating"),
                   rating_comment=row.get("rating_comment"), survey=row.get("survey"))


NO_FIRST_RESPONSE: dict[str, Any] = {"first_response_at": None, "first_response_by": None,
                                     "first_response_wall_min": None,
                                     "first_response_business_min": None}


def first_response(ticket: Ticket, at: datetime, by: str,
                   cal: BusinessCalendar) -> dict[str, Any]:
    """The ticket columns recording its first response, by "agent" or "auto", at ``at``."""
    took = response_minutes(ticket.awaiting_since or ticket.created_at, at, cal)
    return {"first_response_at": iso(at), "first_response_by": by,
            "first_response_wall_min": took.wall_min,
            "first_response_business_min": took.business_min}


class Claim:
    """This process's hold on a store (see :func:`claim`); ``close`` gives it back."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.closed = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        handle, holders = _CLAIMS[self.key]
        if holders > 1:
            _CLAIMS[self.key] = (handle, holders - 1)
            return
        del _CLAIMS[self.key]
        handle.close()


_CLAIMS: dict[str, tuple[IO[str], int]] = {}  # lock path -> (its open file, holders in this process)


def claim(path: Path) -> Claim:
    """Make this process the one that acts on the store at ``path`` (sends the outbox, moves
    messages): an exclusive lock on ``<path>.lock``, held until every claim of this process is
    closed, or the process ends. Another process holding it is a StoreBusy naming its id."""
    key = str(Path(f"{path}.lock").resolve())
    if key in _CLAIMS:
        handle, holders = _CLAIMS[key]
        _CLAIMS[key] = (handle, holders + 1)
        return Claim(key)
    handle = open(key, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise StoreBusy(f"another inboxd (process {holder}) is working with the store {path}; "
                        "stop it first (or let it do the work)") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _CLAIMS[key] = (handle, 1)
    return Claim(key)


class Store:
    """One SQLite database; used from one thread at a time."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
            self.db = sqlite_utils.Database(conn)
            if str(path) != ":memory:":
                self.db.enable_wal()
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA synchronous = FULL")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {path}: {exc}") from None
        except OSError as exc:  # its folder cannot be made: a file is in the way, no permission
            raise StoreError(f"cannot open the store {path}: {exc.strerror or exc} "
                             f"({exc.filename or Path(path).parent}); check store.path") from None

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        applied = set()
        if self.db.table("_migrations").exists():
            applied = {r["name"] for r in self.db.table("_migrations").rows}
        for name, migration in MIGRATIONS:
            if name in applied:
                continue
            with self.db.atomic():
                migration(self.db)
                self.db.table("_migrations").insert(
                    {"name": name, "applied_at": iso(datetime.now(timezone.utc))}, pk="name")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            with self.db.atomic():
                yield
        except sqlite3.Error as exc:
            raise StoreError(f"database error: {exc}") from exc

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint(self, folder: str) -> Checkpoint | None:
        rows = list(self.db.table("checkpoints").rows_where("folder = ?", [folder]))
        return Checkpoint(**rows[0]) if rows else None

    def set_checkpoint(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        self.db.table("checkpoints").upsert(
            {"folder": folder, "uidvalidity": uidvalidity, "last_uid": last_uid}, pk="folder")

    # -- stamps --------------------------------------------------------------------------------
    def set_stamp(self, name: str, at: datetime) -> None:
        self.db.table("stamps").upsert({"name": name, "at": iso(at)}, pk="name")

    def stamp(self, name: str) -> datetime | None:
        rows = list(self.db.table("stamps").rows_where("name = ?", [name]))
        return from_iso(rows[0]["at"]) if rows else None

    # -- tickets -------------------------------------------------------------------------------
    def insert_ticket(self, values: dict[str, Any]) -> int:
        return int(self.db.table("tickets").insert(values).last_pk)  # type: ignore[arg-type]

    def update_ticket(self, ticket_id: int, values: dict[str, Any]) -> None:
        self.db.table("tickets").update(ticket_id, values)

    def ticket(self, ticket_id: int) -> Ticket | None:
        rows = list(self.db.table("tickets").rows_where("id = ?", [ticket_id]))
        return Ticket.from_row(rows[0]) if rows else None

    def tickets(self, where: str | None = None, params: Sequence[Any] = (),
                order_by: str = "id") -> list[Ticket]:
        rows = self.db.table("tickets").rows_where(where, params, order_by=order_by)
        return [Ticket.from_row(r) for r in rows]

    def ticket_for_message_ids(self, message_ids: Sequence[str]) -> Ticket | None:
        """The ticket of the first id (in the given order) that inboxd has seen, in or out.

        Notices to the team are not part of the customer's thread and are not looked at."""
        internal = f"and kind not in ({_marks(INTERNAL_KINDS)}) "
        for message_id in message_ids:
            for table in ("messages", "outbox"):
                rows = self.db.execute(
                    f"select ticket_id from {table} where message_id = ? and ticket_id is not null "
                    f"{internal if table == 'outbox' else ''}limit 1",
                    [message_id, *(INTERNAL_KINDS if table == "outbox" else ())]).fetchall()
                if rows:
                    return self.ticket(rows[0][0])
        return None

    def add_event(self, ticket_id: int | None, at: datetime, kind: str, detail: str) -> None:
        self.db.table("events").insert({"ticket_id": ticket_id, "at": iso(at), "kind": kind,
                                  "detail": detail})

    def events(self, ticket_id: int) -> list[dict[str, Any]]:
        return list(self.db.table("events").rows_where("ticket_id = ?", [ticket_id], order_by="id"))

    # -- messages ------------------------------------------------------------------------------
    def insert_message(self, values: dict[str, Any]) -> int:
        return store_blobs.insert_with_raw(self.db, "messages", values)

    def has_message(self, folder: str, uidvalidity: int, uid: int) -> bool:
        return bool(self.db.execute(
            "select 1 from messages where folder = ? and uidvalidity = ? and uid = ?",
            [folder, uidvalidity, uid]).fetchall())

    def inbound_by_message_id(self, message_id: str) -> dict[str, Any] | None:
        rows = list(self.db.table("messages").rows_where(
            "message_id = ? and direction = 'in'", [message_id], order_by="id", limit=1))
        return store_blobs.whole(self.db, "messages", rows[0]) if rows else None

    def known_message_id(self, message_id: str, received: bool = True) -> bool:
        """Whether a mail with this Message-ID is in the store; with ``received`` off, only one
        inboxd sent or recorded as an agent's reply (a reply-all's copy in the inbox has the
        Sent copy's Message-ID)."""
        only_ours = "" if received else " and direction <> 'in'"
        return bool(self.db.execute(
            f"select 1 from messages where message_id = ?{only_ours} union all "
            "select 1 from outbox where message_id = ? limit 1",
            [message_id, message_id]).fetchall())

    def ticket_senders(self, ticket_id: int) -> set[str]:
        """The addresses the ticket's inbound mail came from."""
        return {row[0] for row in self.db.execute(
            "select distinct sender from messages where ticket_id = ? and direction = 'in' "
            "and sender is not null", [ticket_id]).fetchall()}

    def any_outgoing(self, kind: str, message_id_prefix: str) -> bool:
        """Whether the outbox journal holds a mail of ``kind`` whose Message-ID starts so."""
        pattern = message_id_prefix.replace("\\", "\\\\").replace("%", "\\%").replace(
            "_", "\\_") + "%"
        return bool(self.db.execute(
            "select 1 from outbox where kind = ? and message_id like ? escape '\\' limit 1",
            [kind, pattern]).fetchall())

    def messages(self, ticket_id: int) -> list[dict[str, Any]]:
        return [store_blobs.whole(self.db, "messages", r) for r in
                self.db.table("messages").rows_where("ticket_id = ?", [ticket_id], order_by="id")]

    # -- outbox --------------------------------------------------------------------------------
    def queue_outgoing(self, values: dict[str, Any]) -> int:
        raw = values.get("raw")
        if isinstance(raw, bytes):
            values = {**values, "raw": store_blobs.crlf(raw)}
        return store_blobs.insert_with_raw(self.db, "outbox", {"state": "pending", **values})

    def outbox(self, state: str) -> list[dict[str, Any]]:
        return [store_blobs.whole(self.db, "outbox", r) for r in
                self.db.table("outbox").rows_where("state = ?", [state], order_by="id")]

    def outbox_count(self, state: str) -> int:
        return int(self.db.execute("select count(*) from outbox where state = ?",
                                   [state]).fetchone()[0])

    def outbox_state(self, outbox_id: int) -> str | None:
        row = self.db.execute("select state from outbox where id = ?", [outbox_id]).fetchone()
        return row[0] if row else None

    def outbox_uncopied(self) -> list[dict[str, Any]]:
        rows = self.db.table("outbox").rows_where("state = 'sent' and copied_at is null",
                                                  order_by="id")
        return [store_blobs.whole(self.db, "outbox", r) for r in rows]

    def update_outbox(self, outbox_id: int, values: dict[str, Any]) -> None:
        with self.transaction():
            self.db.table("outbox").update(outbox_id, values)

    def stamp_outbox(self, outbox_ids: Sequence[int], column: str, at: datetime) -> None:
        """Set the time ``column`` (copy_started_at, copied_at) of these rows, in one commit."""
        if not outbox_ids:
            return
        with self.transaction():
            for outbox_id in outbox_ids:
                self.db.table("outbox").update(outbox_id, {column: iso(at)})

    def auto_replies_since(self, recipient: str, since: datetime) -> int:
        """Customer-facing mails queued to ``recipient`` since then (team notices excluded)."""
        return int(self.db.execute(
            "select count(*) from outbox where recipient = ? and created_at >= ? "
            f"and kind not in ({_marks(INTERNAL_KINDS + PERSONAL_KINDS)})",
            [recipient, iso(since), *INTERNAL_KINDS, *PERSONAL_KINDS]).fetchone()[0])

    # -- mailbox actions -----------------------------------------------------------------------
    def queue_action(self, values: dict[str, Any]) -> int:
        return int(self.db.table("actions").insert({"state": "pending", **values}).last_pk)  # type: ignore[arg-type]

    def pending_actions(self) -> list[dict[str, Any]]:
        return list(self.db.table("actions").rows_where("state = 'pending'", order_by="id"))

    def held_moves(self, target: str, ignored_kinds: Sequence[str]) -> set[int]:
        """Pending moves to ``target`` of messages whose ticket still has mail to send (of a
        kind not ignored): where such a message belongs depends on whether the mail goes out."""
        return {r[0] for r in self.db.execute(
            "select a.id from actions a join messages m on m.id = a.message_row "
            "where a.state = 'pending' and a.kind = 'move' and a.target = ? and exists "
            "(select 1 from outbox o where o.ticket_id = m.ticket_id and "
            f"o.state in ('pending', 'sending') and o.kind not in ({_marks(ignored_kinds)}))",
            [target, *ignored_kinds]).fetchall()}

    def retarget_actions(self, ticket_id: int, source: str, target: str) -> None:
        """Pending moves of the ticket's incoming messages to ``source`` go to ``target``
        instead; those on their way elsewhere (automated mail, duplicates) stay as they are."""
        self.db.execute(
            "update actions set target = ? where state = 'pending' and kind = 'move' and "
            "target = ? and message_row in "
            "(select id from messages where ticket_id = ? and direction = 'in')",
            [target, source, ticket_id])

    def finish_actions(self, action_ids: Sequence[int], at: datetime,
                       error: str | None = None) -> None:
        values = {"state": "failed" if error else "done", "done_at": iso(at), "error": error}
        with self.transaction():
            for action_id in action_ids:
                self.db.table("actions").update(action_id, values)

    # -- response clocks -----------------------------------------------------------------------
    def clock_candidates(self, until: datetime) -> list[dict[str, Any]]:
        """Open tickets whose earlier deadline is at or before ``until``, earliest first, less
        those whose current clock has had all its notices.

        Each row has ``clock_start`` and ``sent``: the "kind:deadline" notices already recorded
        for the ticket's current clock, space-separated. One query on (state, sweep_due_at)."""
        return [dict(r) for r in self.db.query(CLOCK_CANDIDATES_SQL, [iso(until)])]

    def record_notice(self, values: dict[str, Any]) -> int | None:
        """Insert a notice; its id, or None when that notice was already recorded."""
        columns = ", ".join(values)
        cursor = self.db.execute(
            f"insert or ignore into notices ({columns}) values ({_marks(values)})",
            list(values.values()))
        return cursor.lastrowid if cursor.rowcount else None

    def update_notice(self, notice_id: int, values: dict[str, Any]) -> None:
        self.db.table("notices").update(notice_id, values)

    def notices(self, ticket_id: int) -> list[dict[str, Any]]:
        return list(self.db.table("notices").rows_where("ticket_id = ?", [ticket_id], order_by="id"))

    def outgoing(self, ticket_id: int) -> list[dict[str, Any]]:
        """The ticket's outbox rows without their raw bytes."""
        return [dict(r) for r in self.db.query(
            "select id, kind, state, recipient, message_id, created_at, sent_at, copied_at, error "
            "from outbox where ticket_id = ? order by id", [ticket_id])]

    def latest_inbound(self, ticket_id: int) -> dict[str, Any] | None:
        return self._inbound(ticket_id, "id desc")

    def first_inbound(self, ticket_id: int) -> dict[str, Any] | None:
        """The customer's first message in a ticket: their question."""
        return self._inbound(ticket_id, "id")

    def _inbound(self, ticket_id: int, order_by: str) -> dict[str, Any] | None:
        rows = list(self.db.table("messages").rows_where(
            "ticket_id = ? and direction = 'in' and decision not in ('RelayReply', 'Record')",
            [ticket_id], order_by=order_by, limit=1))
        return store_blobs.whole(self.db, "messages", rows[0]) if rows else None

    def message_location(self, message_row: int) -> tuple[str, str | None]:
        """(folder, Message-ID) of an incoming message: where its last finished move put it."""
        moved = self.db.execute(
            "select target from actions where message_row = ? and "
            "kind in ('move', 'refile', 'located') and state = 'done' and error is null "
            "order by id desc limit 1",
            [message_row]).fetchone()
        folder, message_id = self.db.execute(
            "select folder, message_id from messages where id = ?", [message_row]).fetchone()
        return (moved[0] if moved else folder), message_id


    # -- learned examples ----------------------------------------------------------------------
    def add_learned_example(self, faq_id: str, text: str, ticket_id: int | None, source: str,
                            at: datetime) -> bool:
        """Record a question as an example of an FAQ; False when it was already one."""
        cursor = self.db.execute(
            "insert or ignore into learned_examples (faq_id, text, ticket_id, source, created_at) "
            "values (?, ?, ?, ?, ?)", [faq_id, text, ticket_id, source, iso(at)])
        return bool(cursor.rowcount)

    def lesson_seen(self, folder: str, uidvalidity: int, uid: int) -> bool:
        return bool(self.db.execute(
            "select 1 from lessons where folder = ? and uidvalidity = ? and uid = ?",
            [folder, uidvalidity, uid]).fetchall())

    def record_lesson(self, values: dict[str, Any]) -> None:
        self.db.table("lessons").insert(values)

    def learned_example_id(self, faq_id: str, text: str) -> int | None:
        rows = self.db.execute("select id from learned_examples where faq_id = ? and text = ?",
                               [faq_id, text]).fetchall()
        return int(rows[0][0]) if rows else None

    def learned_examples(self) -> list[dict[str, Any]]:
        """Every learned example (id, faq_id, text, ticket_id, source, created_at), oldest first."""
        return list(self.db.table("learned_examples").rows_where(order_by="id"))

    def learned_max_id(self) -> int:
        row = self.db.execute("select coalesce(max(id), 0) from learned_examples").fetchone()
        return int(row[0])

    def first_inbound_raw(self, ticket_id: int) -> bytes | None:
        row = self.db.execute("select id, raw from messages where ticket_id = ? and "
                              "direction = 'in' order by id limit 1", [ticket_id]).fetchone()
        return store_blobs.whole_raw(self.db, "messages", row[0], row[1]) if row else None

    def human_questions(self, since: datetime,
                        until: datetime | None = None) -> list[dict[str, Any]]:
        """Tickets created since then (and before ``until``) that a person answered first or
        that are still open: ``ticket_id``, ``faq`` and the ``raw`` bytes of their first
        incoming message."""
        before = "and t.created_at < ? " if until else ""
        rows = self.db.query(
            "select t.id as ticket_id, t.faq, m.raw, m.id as message_row from tickets t "
            "join messages m on m.id = "
            "(select min(id) from messages where ticket_id = t.id and direction = 'in') "
            f"where t.created_at >= ? {before}and "
            "(t.first_response_by = 'agent' or t.state = 'open') and m.raw is not null "
            "order by t.id", [iso(since), *([iso(until)] if until else [])])
        return [store_blobs.whole(self.db, "messages", dict(r), "message_row") for r in rows]

    # -- the report ----------------------------------------------------------------------------
    def report_tickets(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Tickets created in [since, until), with the decision on their first message, whether
        its automatic answer was given up (refused, or may not have arrived) and whether the
        customer wrote again (a follow-up)."""
        return [dict(r) for r in self.db.query(REPORT_TICKETS_SQL, [iso(since), iso(until)])]

    def report_messages(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Incoming messages received in [since, until): their time and decision, and whether
        the automatic answer of their ticket was given up."""
        return [dict(r) for r in self.db.query(REPORT_MESSAGES_SQL, [iso(since), iso(until)])]


    # -- suggested answers (drafts) -------------------------------------------------------------
    def insert_draft(self, values: dict[str, Any]) -> int:
        return int(self.db.table("drafts").insert(values).last_pk)  # type: ignore[arg-type]

    def update_draft(self, draft_id: int, values: dict[str, Any]) -> None:
        self.db.table("drafts").update(draft_id, values)

    def draft(self, draft_id: int) -> dict[str, Any] | None:
        rows = list(self.db.table("drafts").rows_where("id = ?", [draft_id]))
        return rows[0] if rows else None

    def draft_of_action(self, action_id: int) -> dict[str, Any] | None:
        rows = list(self.db.table("drafts").rows_where(
            "append_action = ? or drop_action = ?", [action_id, action_id], limit=1))
        return rows[0] if rows else None

    def ticket_drafts(self, ticket_id: int) -> list[dict[str, Any]]:
        """The ticket's drafts, oldest first, without their raw bytes."""
        return [dict(r) for r in self.db.query(
            f"select {DRAFT_COLUMNS} from drafts where ticket_id = ? order by id", [ticket_id])]

    def current_draft(self, ticket_id: int) -> dict[str, Any] | None:
        """The ticket's latest draft that was (or is to be) written, raw bytes included."""
        rows = list(self.db.table("drafts").rows_where(
            "ticket_id = ? and state in ('pending', 'live', 'sent', 'removed', 'kept', 'gone')",
            [ticket_id], order_by="id desc", limit=1))
        return rows[0] if rows else None

    def live_drafts(self) -> list[dict[str, Any]]:
        """Drafts in the mailbox whose fate is not known yet."""
        return list(self.db.table("drafts").rows_where("state = 'live' and fate is null",
                                                       order_by="id"))

    def suggestion_counts(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Per FAQ, the suggestions written between ``since`` and ``until`` (by when they were
        made) and what became of them: ``made``, ``sent_unchanged``, ``sent_edited``,
        ``rejected`` (an answer without it, or deleted unsent) and ``open`` (no fate yet). A
        draft replaced by a follow-up's counts once, as its replacement."""
        return [dict(r) for r in self.db.query(
            "select faq_id, count(*) as made, "
            "sum(fate = 'sent unchanged') as sent_unchanged, "
            "sum(fate = 'sent edited') as sent_edited, sum(fate = 'rejected') as rejected, "
            "sum(fate is null) as open from drafts "
            "where appended_at is not null and created_at >= ? and created_at < ? "
            "and fate is not 'replaced' group by faq_id order by faq_id",
            [iso(since), iso(until)])]


DRAFT_COLUMNS = ("id, ticket_id, faq_id, confidence, language, message_id, folder, state, fate, "
                 "replaces, created_at, appended_at, fate_at, detail")

CLOCK_CANDIDATES_SQL = (
    "select t.*, coalesce(t.awaiting_since, t.created_at) as clock_start, "
    "(select group_concat(n.kind || ':' || n.deadline, ' ') from notices n "
    " where n.ticket_id = t.id and n.clock_start = coalesce(t.awaiting_since, t.created_at)) "
    "as sent from tickets t where t.state = 'open' and t.sweep_due_at <= ? "
    "order by t.sweep_due_at, t.id")

TICKET_STATES = ("open", "answered", "resolved", "closed")  # every state a ticket can be in
INTERNAL_KINDS = ("warning", "escalation", "alert", "report")  # outbox kinds for the team
# relay mode: forwards to a team and agents' answers relayed to customers; no automatic replies
PERSONAL_KINDS = ("forward", "relay")


def _marks(values: Sequence[Any] | dict[str, Any]) -> str:
    return ", ".join("?" for _ in values)


_GIVEN_UP = ("exists (select 1 from outbox o where o.ticket_id = {ticket} and o.kind = 'answer' "
             "and o.state in ('failed', 'uncertain'))")
REPORT_TICKETS_SQL = (
    "select t.id, t.created_at, t.state, t.language, t.faq, t.first_response_by, "
    "t.first_response_at, t.first_response_wall_min, t.first_response_business_min, "
    "t.next_due_at, m.decision as first_decision, "
    f"{_GIVEN_UP.format(ticket='t.id')} as answer_given_up, "
    "exists (select 1 from messages f where f.ticket_id = t.id and f.direction = 'in' and "
    "f.decision = 'FollowUp') as followed_up "
    "from tickets t join messages m on m.id = "
    "(select min(id) from messages where ticket_id = t.id and direction = 'in') "
    "where t.created_at >= ? and t.created_at < ? order by t.id")
REPORT_MESSAGES_SQL = (
    "select m.received_at, m.decision, "
    f"{_GIVEN_UP.format(ticket='m.ticket_id')} as answer_given_up "
    "from messages m where m.direction = 'in' and m.received_at >= ? and m.received_at < ? "
    "order by m.received_at, m.id")
