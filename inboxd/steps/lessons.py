"""Learn folders: agents teach inboxd by putting a customer's message into
``Support/Learn/<faq-id>`` (``folders.learn``), which the customer never sees.

Each scan creates the folder of every FAQ (so agents find them in their mail client), then reads
the messages in the learn folders. For each message not handled before, one transaction records
the lesson (``lessons``: once per folder, UIDVALIDITY and UID), the learned example, the ticket's
FAQ, an event and the move out of the folder (an ``actions`` row); the moves are then applied.
A message in the folder of an unknown FAQ id stays there for a person, with an event and a
warning, and is not looked at again.
"""

from __future__ import annotations

import logging

from inboxd.core.lessons import FAILED, LEARNED, UNKNOWN_FAQ, Lesson, lesson
from inboxd.core.message import ParsedMessage, parse_message, thread_keys
from inboxd.errors import InboxdError
from inboxd.steps.learn import record_learned
from inboxd.mail.imap import Fetched
from inboxd.steps.outbox import apply_actions
from inboxd.runtime import Runtime
from inboxd.store import Ticket, iso

log = logging.getLogger(__name__)


def scan_learn_folders(rt: Runtime) -> list[Lesson]:
    """Handle what agents put into the learn folders since the last scan."""
    prefix = rt.config.folders.learn
    for entry in rt.faq.entries:
        rt.mailbox.ensure_folder(f"{prefix}/{entry.id}")
    lessons = []
    for child in rt.mailbox.children(prefix):
        folder = f"{prefix}/{child}"
        if rt.mailbox.message_count(folder):
            lessons += _scan_folder(rt, folder, child)
    if any(l.target for l in lessons):
        apply_actions(rt)
    return lessons


def _scan_folder(rt: Runtime, folder: str, faq_id: str) -> list[Lesson]:
    state = rt.mailbox.select(folder)
    uids = [u for u in rt.mailbox.uids_after(folder, 0)
            if not rt.store.lesson_seen(folder, state.uidvalidity, u)]
    return [_learn_or_leave(rt, folder, faq_id, state.uidvalidity, fetched)
            for fetched in rt.mailbox.fetch(folder, uids)]


def _learn_or_leave(rt: Runtime, folder: str, faq_id: str, uidvalidity: int,
                    fetched: Fetched) -> Lesson:
    try:
        return _learn(rt, folder, faq_id, uidvalidity, fetched)
    except InboxdError:
        raise  # the store or a server is in trouble: the next scan retries
    except Exception as exc:  # a defect met by this one message: left there, once
        log.exception("uid %d in %s could not be learned from", fetched.uid, folder)
        found = Lesson(FAILED, faq_id, None, f"{folder}: inboxd could not read this message "
                       f"({type(exc).__name__}: {exc}); it stays there for a person")
        with rt.store.transaction():
            rt.store.record_lesson({"folder": folder, "uidvalidity": uidvalidity,
                                    "uid": fetched.uid, "faq_id": faq_id,
                                    "outcome": found.outcome, "at": iso(rt.clock())})
            rt.store.add_event(None, rt.clock(), f"learn-{found.outcome}", found.detail)
        return found


def _learn(rt: Runtime, folder: str, faq_id: str, uidvalidity: int, fetched: Fetched) -> Lesson:
    msg = parse_message(fetched.raw, own_addresses={rt.config.support_address})
    ticket, question = _ticket_and_question(rt, msg)
    waiting_in = _queue_folder(rt, ticket) if ticket and ticket.state == "open" else None
    already_there = bool(waiting_in and msg.message_id and
                         rt.mailbox.find_by_message_id(waiting_in, msg.message_id))
    found = lesson(faq_id.lower(), frozenset(e.id for e in rt.faq.entries), question, folder,
                   waiting_in, already_there, rt.config.folders.answered)
    now = rt.clock()
    ticket_id = ticket.id if ticket else None
    example_id = None
    with rt.store.transaction():
        if found.outcome == LEARNED:
            record_learned(rt, ticket_id, found.faq_id, question.strip(), "folder",
                           found.detail, now)
            example_id = rt.store.learned_example_id(found.faq_id, question.strip())
        else:
            rt.store.add_event(ticket_id, now, f"learn-{found.outcome}", found.detail)
        rt.store.record_lesson({"folder": folder, "uidvalidity": uidvalidity, "uid": fetched.uid,
                                "message_id": msg.message_id, "sender": msg.sender,
                                "faq_id": found.faq_id, "ticket_id": ticket_id,
                                "example_id": example_id, "outcome": found.outcome,
                                "at": iso(now)})
        if found.target:
            rt.store.queue_action({"message_row": None, "folder": folder,
                                   "uidvalidity": uidvalidity, "uid": fetched.uid,
                                   "kind": "move", "target": found.target,
                                   "created_at": iso(now)})
    if found.outcome == UNKNOWN_FAQ:
        log.warning("%s", found.detail)
    return found


def _ticket_and_question(rt: Runtime, msg: ParsedMessage) -> tuple[Ticket | None, str]:
    """The message's ticket and the question to learn: the message's own, or for an agent's
    reply put there by mistake, the question of the ticket it answers."""
    row = rt.store.inbound_by_message_id(msg.message_id) if msg.message_id else None
    if row is not None:
        ticket = rt.store.ticket(row["ticket_id"]) if row["ticket_id"] else None
        return ticket, msg.question
    if msg.sender and msg.sender.lower() == rt.config.support_address:
        ticket = rt.store.ticket_for_message_ids(thread_keys(msg))
        if ticket is not None:
            raw = rt.store.first_inbound_raw(ticket.id)
            return ticket, parse_message(raw).question if raw else ""
    return None, msg.question


def _queue_folder(rt: Runtime, ticket: Ticket) -> str:
    queue = rt.config.folders.queue
    return f"{queue}/{ticket.team}" if ticket.team else queue
