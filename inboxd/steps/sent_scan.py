"""Notice agents' answers given from their own mail client in the shared support mailbox.

Two signals, both read-only on the server:
- a new message in the Sent folder that inboxd did not send itself, that threads onto a
  ticket (In-Reply-To / References, or the ``[#id]`` tag) and that went to the ticket's
  customer (a forward to a colleague does not): the agent's reply, with its time;
- the ``\\Answered`` flag on a ticket's message in a queue folder (set by the client when an
  agent replies, even when the reply was saved elsewhere): the ticket is answered by then.
Either one stops the ticket's clock and records the first human response.
"""

from __future__ import annotations

import logging
from datetime import datetime

from inboxd.core.drafts import carries_suggestion
from inboxd.core.message import ParsedMessage, parse_message, thread_keys
from inboxd.core.render import TICKET_HEADER
from inboxd.steps.drafts import after_agent_reply, check_drafts
from inboxd.steps.learn import learn_from_agent
from inboxd.steps.lifecycle import (after_agent_answer, answered_values, queue_folders,
                                    scan_agent_moves, waits_for_person)
from inboxd.runtime import Runtime
from inboxd.store import Ticket, first_response, iso
from inboxd.steps.lessons import scan_learn_folders

log = logging.getLogger(__name__)


class AgentWatch:
    """Remembers which answered messages it has already looked at, within one process."""

    def __init__(self) -> None:
        self.seen_answered: set[tuple[str, int, int]] = set()

    def scan(self, rt: Runtime) -> list[int]:
        """Tickets found answered by a person in this scan; also reads the learn folders."""
        found = scan_sent(rt) + self.scan_answered_flags(rt)
        check_drafts(rt)
        scan_learn_folders(rt)
        scan_agent_moves(rt)
        return found

    def scan_answered_flags(self, rt: Runtime) -> list[int]:
        if not rt.store.tickets("state = 'open' or (state = 'answered' and answered_by = 'auto')",
                                order_by="id limit 1"):
            return []
        found = []
        for folder in queue_folders(rt):
            if not rt.mailbox.folder_exists(folder):
                continue
            state = rt.mailbox.select(folder)
            uids = [u for u in rt.mailbox.answered_uids(folder)
                    if (folder, state.uidvalidity, u) not in self.seen_answered]
            for uid, header in rt.mailbox.fetch_headers(folder, uids).items():
                self.seen_answered.add((folder, state.uidvalidity, uid))
                ticket_id = _answered(rt, parse_message(header))
                if ticket_id is not None:
                    found.append(ticket_id)
        return found


def scan_sent(rt: Runtime) -> list[int]:
    sent = rt.config.folders.sent
    rt.mailbox.ensure_folder(sent)
    state = rt.mailbox.select(sent)
    checkpoint = rt.store.checkpoint(sent)
    if checkpoint is None or checkpoint.uidvalidity != state.uidvalidity:
        rt.store.set_checkpoint(sent, state.uidvalidity, state.uidnext - 1)
        return []
    found = []
    for fetched in rt.mailbox.fetch(sent, rt.mailbox.uids_after(sent, checkpoint.last_uid)):
        ticket_id = _agent_reply(rt, fetched.raw, fetched.internaldate, fetched.uid,
                                 state.uidvalidity)
        if ticket_id is not None:
            found.append(ticket_id)
        rt.store.set_checkpoint(sent, state.uidvalidity, fetched.uid)
    return found


def _agent_reply(rt: Runtime, raw: bytes, internaldate: datetime | None, uid: int,
                 uidvalidity: int) -> int | None:
    msg = parse_message(raw)
    if _is_own(rt, raw, msg) or _to_team_only(rt, msg):
        return None
    ticket = _ticket_of(rt, msg)
    if ticket is None or not _to_customer(rt, msg, ticket):
        return None
    now = rt.clock()
    at = _response_time(msg.date or internaldate, ticket, now)
    with rt.store.transaction():
        rt.store.insert_message({
            "ticket_id": ticket.id, "direction": "agent", "folder": rt.config.folders.sent,
            "uidvalidity": uidvalidity, "uid": uid, "message_id": msg.message_id,
            "sender": msg.sender, "subject": msg.subject, "received_at": iso(at),
            "decision": "AgentReply", "reason": "an agent replied from the shared mailbox",
            "raw": raw})
        _record_response(rt, ticket, at, now, f"agent {msg.sender or '?'} replied", msg.text)
        after_agent_reply(rt, ticket, raw, msg, now)
        learn_from_agent(rt, ticket, msg, now)
    return ticket.id


def _is_own(rt: Runtime, raw: bytes, msg: ParsedMessage) -> bool:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].lower()
    if TICKET_HEADER.lower().encode() + b":" in head and not carries_suggestion(head):
        return True
    return bool(msg.message_id
                and rt.store.known_message_id(msg.message_id, received=False))


def _to_customer(rt: Runtime, msg: ParsedMessage, ticket: Ticket) -> bool:
    """Whether the mail went to the ticket's customer, in To, Cc or Bcc (a forward to a
    colleague answers no one); a mail whose recipients cannot be read counts, as before."""
    if not msg.recipients:
        return True
    customer = {ticket.customer.lower(), *(s.lower() for s in rt.store.ticket_senders(ticket.id))}
    return bool(set(msg.recipients) & customer)


def _to_team_only(rt: Runtime, msg: ParsedMessage) -> bool:
    """A mail only to the notice addresses (e.g. a reply to a deadline warning) is no answer."""
    team = rt.config.notify.addresses()
    return bool(msg.recipients) and all(r.lower() in team for r in msg.recipients)


def _ticket_of(rt: Runtime, msg: ParsedMessage) -> Ticket | None:
    ticket = rt.store.ticket_for_message_ids(thread_keys(msg))
    if ticket is None and msg.ticket_tag is not None:
        ticket = rt.store.ticket(msg.ticket_tag)
    return ticket


def _answered(rt: Runtime, msg: ParsedMessage) -> int | None:
    if not msg.message_id:
        return None
    row = rt.store.inbound_by_message_id(msg.message_id)
    ticket = rt.store.ticket(row["ticket_id"]) if row and row["ticket_id"] else None
    if ticket is None or not waits_for_person(ticket):
        return None
    now = rt.clock()
    with rt.store.transaction():
        _record_response(rt, ticket, now, now, "marked answered in the mail client")
    return ticket.id


def _record_response(rt: Runtime, ticket: Ticket, at: datetime, now: datetime,
                     detail: str, text: str = "") -> None:
    values = answered_values(ticket, "agent", now) | {"updated_at": iso(now)}
    if ticket.first_response_at is None:
        values |= first_response(ticket, at, "agent", rt.calendar)
    rt.store.update_ticket(ticket.id, values)
    rt.store.add_event(ticket.id, now, "agent-reply", detail)
    log.info("ticket #%d answered by a person (%s)", ticket.id, detail)
    after_agent_answer(rt, ticket, text, now)


def _response_time(stated: datetime | None, ticket: Ticket, now: datetime) -> datetime:
    """The reply's own time, kept between the ticket's arrival and now (clocks can be off)."""
    if stated is None:
        return now
    return min(max(stated, ticket.awaiting_since or ticket.created_at), now)
