"""A ticket's life in the store and the mailbox: resolving, reopening, closing, the Done folder.

What is due comes from ``inboxd.core.lifecycle``; here it is written down. Every change of
state is an event on the ticket (``resolved``, ``reopened``, ``closed``, ``raw-removed``), made
inside the caller's transaction. Messages are moved through the actions journal: when an agent's
answer is recorded, the customer's messages still in a queue folder go to ``folders.answered``
with ``\\Answered`` (a ``refile`` action, applied by ``inboxd.steps.marks``).

Agents move a ticket's message to ``folders.done`` to resolve it, and back into a queue folder
to reopen it. Both folders are read above a checkpoint of their own, so each message is looked
at once; where an agent put a message is recorded as a ``located`` action (done at once), so
that later actions find it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from inboxd import store_blobs
from inboxd.core.bodytext import strip_history
from inboxd.core.deadlines import due_24h, due_business_day
from inboxd.core.lifecycle import (ANSWERED, BY_DONE_FOLDER, BY_DONE_LINE, BY_THANKS,
                                   BY_TIMEOUT, CLOSED, OPEN, REOPENABLE, RESOLVED, LifePolicy,
                                   RemoveRaw, TicketClock, Transition, due_change, is_thanks,
                                   resolve_by, says_done)
from inboxd.core.message import ParsedMessage, parse_message, thread_keys
from inboxd.core.survey import Rated, answers_survey, read_rating
from inboxd.runtime import Runtime
from inboxd.steps.drafts import drop_stale_draft
from inboxd.store import NO_FIRST_RESPONSE, Ticket, from_iso, iso

log = logging.getLogger(__name__)

REFILE, LOCATED = "refile", "located"  # actions kinds: move found by Message-ID; an agent's move


@dataclass(frozen=True)
class Thanked:
    """A reply that only thanks or confirms: the ticket is resolved, nothing is sent."""

    ticket_id: int
    reason: str
    confirms_faq: str | None = None  # the automatic answer it confirms
    team: str | None = None


def life_policy(rt: Runtime) -> LifePolicy:
    policy = rt.config.policy
    keep = None if policy.keep_raw_days is None else timedelta(days=policy.keep_raw_days)
    return LifePolicy(policy.resolve_after, policy.close_after, keep)


def new_clock(rt: Runtime, start: datetime) -> dict[str, str]:
    """The columns of a response clock starting at ``start``: both due times."""
    return {"awaiting_since": iso(start), "due_24h": iso(due_24h(start)),
            "due_business_day": iso(due_business_day(start, rt.calendar))}


# --- changes of state, in the caller's transaction -----------------------------------------------

def resolve(rt: Runtime, ticket: Ticket, now: datetime, by: str, reason: str) -> bool:
    """Resolve ``ticket`` unless it is resolved or closed already; True when it was."""
    if not resolve_by(ticket.state):
        return False
    rt.store.update_ticket(ticket.id, {"state": RESOLVED, "resolved_at": iso(now),
                                       "resolved_by": by, "updated_at": iso(now)})
    rt.store.add_event(ticket.id, now, "resolved", reason)
    drop_stale_draft(rt, ticket.id, now, f"the ticket was resolved: {reason}")
    log.info("ticket #%d resolved (%s)", ticket.id, reason)
    return True


def waits_for_person(ticket: Ticket) -> bool:
    """Open, or answered only automatically: an agent's \\Answered flag is its first answer."""
    return ticket.state == OPEN or (ticket.state == ANSWERED and ticket.answered_automatically)


def answered_values(ticket: Ticket, by: str, now: datetime) -> dict[str, object]:
    """The columns of a ticket answered now by "agent" or "auto"; a closed ticket stays closed."""
    values: dict[str, object] = {"answered_by": by, "answered_at": iso(now)}
    if ticket.state != CLOSED:
        values |= {"state": ANSWERED, "resolved_at": None, "resolved_by": None}
    return values


def reopen_values(ticket: Ticket, new_clock: dict[str, str]) -> dict[str, object]:
    """The columns of a ticket the customer wrote to again: open; after a person's answer with
    a new response clock (``new_clock``), after an automatic one with its first still running."""
    values: dict[str, object] = {"state": OPEN, "resolved_at": None, "resolved_by": None}
    if ticket.state in REOPENABLE and ticket.answered_automatically:
        return values | NO_FIRST_RESPONSE
    if ticket.state in REOPENABLE:
        return values | new_clock
    return values


def note_reopened(rt: Runtime, ticket: Ticket, now: datetime, why: str) -> None:
    if ticket.state in (RESOLVED, CLOSED):
        rt.store.add_event(ticket.id, now, "reopened", why)


def after_agent_answer(rt: Runtime, ticket: Ticket, text: str, now: datetime) -> None:
    """An agent's answer was recorded: file the customer's queued messages as answered and
    resolve the ticket when the answer starts with ``#done``."""
    file_answered(rt, ticket.id, now)
    if says_done(text):
        fresh = rt.store.ticket(ticket.id)
        if fresh is not None:
            resolve(rt, fresh, now, BY_DONE_LINE, "an agent marked it #done")


def file_answered(rt: Runtime, ticket_id: int, now: datetime) -> None:
    """Journal the move of the ticket's messages still in a queue folder to folders.answered."""
    folders = rt.config.folders
    for row_id in _inbound_rows(rt, ticket_id):
        folder, message_id = rt.store.message_location(row_id)
        if message_id and _is_queue(rt, folder) and not _refile_pending(rt, row_id):
            rt.store.queue_action({"message_row": row_id, "folder": folder, "kind": REFILE,
                                   "target": folders.answered, "created_at": iso(now)})


def _inbound_rows(rt: Runtime, ticket_id: int) -> list[int]:
    return [r[0] for r in rt.store.db.execute(
        "select id from messages where ticket_id = ? and direction = 'in'", [ticket_id])]


def _refile_pending(rt: Runtime, row_id: int) -> bool:
    return bool(rt.store.db.execute(
        "select 1 from actions where message_row = ? and kind = ? and state = 'pending'",
        [row_id, REFILE]).fetchall())


def queue_folders(rt: Runtime) -> list[str]:
    queue = rt.config.folders.queue
    teams = sorted({e.team for e in rt.faq.entries if e.team})
    return [queue, *(f"{queue}/{team}" for team in teams)]


def _is_queue(rt: Runtime, folder: str) -> bool:
    queue = rt.config.folders.queue
    return folder == queue or folder.startswith(queue + "/")


# --- the sweep ------------------------------------------------------------------------------------

CANDIDATES_SQL = (
    "select t.id, t.state, t.answered_at, t.resolved_at, t.closed_at, t.raw_removed_at, "
    "exists (select 1 from outbox o where o.ticket_id = t.id and o.kind = 'answer' "
    "and o.state in ('pending', 'sending')) as waiting "
    "from tickets t where (t.state = 'answered' and t.answered_at <= ?) "
    "or (t.state = 'resolved' and t.resolved_at <= ?) "
    "or (t.state = 'closed' and t.raw_removed_at is null and t.closed_at <= ?) order by t.id")


def plan_lifecycle(rt: Runtime, now: datetime) -> list[Transition | RemoveRaw]:
    """What is due at ``now``: tickets to resolve, close, or strip of their raw bytes."""
    policy = life_policy(rt)
    far = iso(now - policy.keep_raw) if policy.keep_raw is not None else ""
    rows = rt.store.db.execute(CANDIDATES_SQL, [iso(now - policy.resolve_after),
                                                iso(now - policy.close_after), far]).fetchall()
    due = (due_change(_clock(r), now, policy) for r in rows)
    return [d for d in due if d is not None]


def _clock(r: Any) -> TicketClock:
    return TicketClock(ticket_id=r[0], state=r[1], answered_at=from_iso(r[2]),
                       resolved_at=from_iso(r[3]), closed_at=from_iso(r[4]),
                       raw_kept=r[5] is None, answer_waiting=bool(r[6]))


def sweep_lifecycle(rt: Runtime) -> list[Transition | RemoveRaw]:
    """Resolve, close and strip what is due, one transaction per ticket; returns what it did."""
    now = rt.clock()
    done = plan_lifecycle(rt, now)
    for change in done:
        with rt.store.transaction():
            ticket = rt.store.ticket(change.ticket_id)
            if ticket is None:
                continue
            if isinstance(change, RemoveRaw):
                remove_raw(rt, ticket.id, now, change.reason)
            elif change.state == RESOLVED:
                resolve(rt, ticket, now, BY_TIMEOUT, change.reason)
            else:
                close(rt, ticket, now, change.reason)
    return done


def close(rt: Runtime, ticket: Ticket, now: datetime, reason: str) -> None:
    rt.store.update_ticket(ticket.id, {"state": CLOSED, "closed_at": iso(now),
                                       "updated_at": iso(now)})
    rt.store.add_event(ticket.id, now, "closed", reason)


def remove_raw(rt: Runtime, ticket_id: int, now: datetime, reason: str) -> None:
    """Drop the raw bytes of a ticket's messages and mails, keeping their readable text."""
    db = rt.store.db
    for owner in store_blobs.OWNERS:
        rows = [dict(r) for r in db.query(f"select id, raw from {owner} where ticket_id = ? "
                                          "and raw is not null", [ticket_id])]
        for row in rows:
            raw = store_blobs.whole_raw(db, owner, row["id"], row["raw"])
            db.execute(f"update {owner} set text = ?, raw = null where id = ?",
                       [_readable(raw), row["id"]])
        store_blobs.drop_refs(db, owner, [r["id"] for r in rows])
    store_blobs.delete_unreferenced(db)
    rt.store.update_ticket(ticket_id, {"raw_removed_at": iso(now)})
    rt.store.add_event(ticket_id, now, "raw-removed", reason)


def _readable(raw: bytes) -> str:
    try:
        return parse_message(raw).text
    except Exception:  # a mail that cannot be read keeps no text: its bytes go all the same
        return ""


# --- the customer's reply: a thank-you or a rating -------------------------------------------------

def reply_decision(rt: Runtime, parsed: ParsedMessage, ticket_id: int | None,
                   ) -> Thanked | Rated | None:
    """What a customer's reply in a ticket's thread settles by itself, if anything: a rating
    for a survey sent, or a thank-you for an answer."""
    ticket = rt.store.ticket(ticket_id) if ticket_id is not None else None
    if ticket is None or parsed.automated:
        return None
    text = strip_history(parsed.text)
    if ticket.survey_sent and _answers_survey(rt, parsed, ticket.id):
        rating = read_rating(text, parsed.subject)
        if rating is not None:
            return Rated(ticket.id, rating, f"rated {rating.value} in reply to the survey",
                         ticket.team)
    if ticket.state in (ANSWERED, RESOLVED, CLOSED) and is_thanks(text, _names(parsed)):
        faq = ticket.faq if ticket.answered_automatically else None
        return Thanked(ticket.id, "the customer only thanked: the answer settled it", faq,
                       ticket.team)
    return None


def _answers_survey(rt: Runtime, parsed: ParsedMessage, ticket_id: int) -> bool:
    survey_ids = [row["message_id"] for row in rt.store.outgoing(ticket_id)
                  if row["kind"] == "survey" and row["message_id"]]
    return answers_survey(parsed.subject, thread_keys(parsed), survey_ids)


def _names(parsed: ParsedMessage) -> frozenset[str]:
    local = (parsed.reply_to or parsed.sender or "").partition("@")[0]
    return frozenset(w.casefold() for w in [*parsed.sender_name.split(), *local.split(".")] if w)


def apply_thanks(rt: Runtime, d: Thanked, parsed: ParsedMessage, now: datetime) -> None:
    """Resolve the thanked ticket; for an automatic answer, the question confirms its FAQ."""
    from inboxd.steps.learn import record_learned

    ticket = rt.store.ticket(d.ticket_id)
    assert ticket is not None
    resolve(rt, ticket, now, BY_THANKS, d.reason)
    if d.confirms_faq and rt.faq.get(d.confirms_faq) is not None:
        raw = rt.store.first_inbound_raw(ticket.id)
        question = parse_message(raw).question.strip() if raw else ""
        if question:
            record_learned(rt, ticket.id, d.confirms_faq, question, "thanks",
                           "the customer thanked for the automatic answer", now)


# --- the Done folder and moves back to the queue --------------------------------------------------

def scan_agent_moves(rt: Runtime) -> list[int]:
    """Tickets resolved by a move to folders.done or reopened by a move back to a queue."""
    done = rt.config.folders.done
    rt.mailbox.ensure_folder(done)
    changed = _scan(rt, done, _moved_to_done)
    for folder in queue_folders(rt):
        if rt.mailbox.folder_exists(folder):
            changed += _scan(rt, folder, _moved_back)
    return changed


def _scan(rt: Runtime, folder: str,
          handle: Callable[[Runtime, str, ParsedMessage], int | None]) -> list[int]:
    key = f"{folder} (agents' moves)"
    state = rt.mailbox.select(folder)
    checkpoint = rt.store.checkpoint(key)
    if checkpoint is None or checkpoint.uidvalidity != state.uidvalidity:
        start = 0 if folder == rt.config.folders.done else state.uidnext - 1
        rt.store.set_checkpoint(key, state.uidvalidity, start)
        if start:
            return []
        checkpoint = rt.store.checkpoint(key)
    assert checkpoint is not None
    changed = []
    uids = rt.mailbox.uids_after(folder, checkpoint.last_uid)
    for uid, header in sorted(rt.mailbox.fetch_headers(folder, uids).items()):
        with rt.store.transaction():
            ticket_id = handle(rt, folder, parse_message(header))
            rt.store.set_checkpoint(key, state.uidvalidity, uid)
        if ticket_id is not None:
            changed.append(ticket_id)
    return changed


def _moved_to_done(rt: Runtime, folder: str, msg: ParsedMessage) -> int | None:
    row = rt.store.inbound_by_message_id(msg.message_id) if msg.message_id else None
    ticket = rt.store.ticket(row["ticket_id"]) if row and row["ticket_id"] else \
        rt.store.ticket_for_message_ids(thread_keys(msg))
    if ticket is None:
        return None
    now = rt.clock()
    if row is not None:
        _located(rt, row["id"], folder, now)
    if resolve(rt, ticket, now, BY_DONE_FOLDER, f"an agent moved it to {folder}"):
        return ticket.id
    return None


def _moved_back(rt: Runtime, folder: str, msg: ParsedMessage) -> int | None:
    row = rt.store.inbound_by_message_id(msg.message_id) if msg.message_id else None
    if row is None or not row["ticket_id"]:
        return None
    was_in, _ = rt.store.message_location(row["id"])
    ticket = rt.store.ticket(row["ticket_id"])
    now = rt.clock()
    if was_in != rt.config.folders.done or ticket is None:
        return None
    _located(rt, row["id"], folder, now)
    if ticket.state not in (RESOLVED, CLOSED):
        return None
    rt.store.update_ticket(ticket.id, {"state": OPEN, "resolved_at": None, "resolved_by": None,
                                       "closed_at": None, "updated_at": iso(now),
                                       **new_clock(rt, now)})
    rt.store.add_event(ticket.id, now, "reopened", f"an agent moved it back to {folder}")
    return ticket.id


def _located(rt: Runtime, row_id: int, folder: str, now: datetime) -> None:
    rt.store.queue_action({"message_row": row_id, "folder": folder, "kind": LOCATED,
                           "target": folder, "state": "done", "created_at": iso(now),
                           "done_at": iso(now)})
