"""Relay mode in the pipeline: forward routed tickets (and survey replies a person should
read) to their team, relay agents' answers.

Everything here runs inside the pipeline's commit transaction and only writes to the store:
the mails go through the outbox journal like every other mail (kinds ``forward`` and
``relay``), so they are sent at most once and never count as automatic replies.
"""

from __future__ import annotations

import logging
from datetime import datetime
from email.utils import make_msgid

from inboxd.steps.sent_scan import _record_response, _response_time
from inboxd.steps.learn import learn_from_agent
from inboxd.core.auth import auth_headers
from inboxd.core.bodytext import strip_history
from inboxd.core.lifecycle import BY_DONE_LINE, says_done
from inboxd.steps.lifecycle import Thanked, resolve
from inboxd.core.decide import Acknowledge, Decision, FollowUp, Queue
from inboxd.core.message import ParsedMessage, parse_message
from inboxd.core.outgoing import (Envelope, attached_files, build_forward, build_relayed,
                                  customer_line)
from inboxd.core.relay import AgentCheck, RelayReply, TicketLike, check_agent, is_participant
from inboxd.core.relay import reply_text
from inboxd.core.render import sender_domain
from inboxd.core.survey import LABELS, Rated, Rating
from inboxd.runtime import Runtime
from inboxd.store import Ticket, iso

log = logging.getLogger(__name__)

NOTE_EVENT_CHARS = 2_000


def agent_check(rt: Runtime, raw: bytes, parsed: ParsedMessage) -> AgentCheck | None:
    """Whether the sender claims an agent's address, and if so whether it is authenticated."""
    relay = rt.config.relay
    if relay is None or parsed.sender is None or not relay.is_agent(parsed.sender):
        return None
    return check_agent(relay, parsed.sender, auth_headers(raw))


def may_continue(rt: Runtime, ticket: TicketLike, parsed: ParsedMessage,
                 agent: AgentCheck | None) -> bool:
    """May ``parsed`` join ``ticket`` (by its tag, or at all for an unauthenticated agent)?"""
    return is_participant(rt.config.relay, ticket, parsed, agent)


def after_commit(rt: Runtime, raw: bytes, parsed: ParsedMessage,
                 decision: Decision | Thanked | Rated, ticket_id: int | None, arrival: datetime,
                 now: datetime) -> None:
    """The relay-mode steps of one message, in the pipeline's transaction."""
    if rt.config.relay is None:
        return
    if isinstance(decision, RelayReply):
        _answer(rt, raw, parsed, decision, arrival, now)
    elif isinstance(decision, Acknowledge | Queue | FollowUp) and ticket_id is not None:
        queue_forward(rt, raw, parsed, ticket_id, isinstance(decision, FollowUp), now)
    elif isinstance(decision, Rated) and decision.rating.needs_person:
        queue_forward(rt, raw, parsed, decision.ticket_id, True, now, decision.rating)
    agent = agent_check(rt, raw, parsed)
    if agent is not None and not agent.trusted:
        rt.store.add_event(ticket_id, now, "agent-auth-failed",
                           f"{agent.address} is an agent's address but {agent.detail}; "
                           "handled as customer mail, not relayed")
        log.warning("mail from %s not trusted as an agent's: %s", agent.address, agent.detail)


def queue_forward(rt: Runtime, raw: bytes, parsed: ParsedMessage, ticket_id: int,
                  follow_up: bool, now: datetime, rating: Rating | None = None) -> None:
    """Put the customer's message (a reply to the survey when ``rating`` is given), forwarded
    to the ticket's team, in the outbox."""
    relay = rt.config.relay
    ticket = rt.store.ticket(ticket_id)
    assert relay is not None and ticket is not None
    to = relay.addresses_for(ticket.team)
    body = rt.templates.render("forward", [rt.config.faq.default_language, "en"], {
        "ticket_id": ticket_id, "follow_up": follow_up, "subject": ticket.subject,
        "customer": customer_line(parsed.sender_name, parsed.reply_to or parsed.sender or ""),
        "support_address": rt.config.support_address, "text": parsed.text, "team": ticket.team,
        "rating": rating.value if rating else None,
        "rating_label": LABELS[rating.value] if rating else None})
    earlier = [r["message_id"] for r in rt.store.outgoing(ticket_id) if r["kind"] == "forward"]
    mail = build_forward(_envelope(rt, now), parsed, raw, ticket_id, to,
                         rt.config.support_address, body, earlier)
    rt.store.queue_outgoing({"ticket_id": ticket_id, "kind": "forward",
                             "message_id": mail["Message-ID"], "recipient": ", ".join(to),
                             "raw": bytes(mail), "created_at": iso(now)})


def _answer(rt: Runtime, raw: bytes, parsed: ParsedMessage, d: RelayReply, arrival: datetime,
            now: datetime) -> None:
    ticket = rt.store.ticket(d.ticket_id)
    assert ticket is not None
    text = reply_text(parsed.text)
    done = says_done(strip_history(parsed.text))
    if d.note:
        rt.store.add_event(ticket.id, now, "agent-note",
                           f"{parsed.sender}: {text[:NOTE_EVENT_CHARS]}")
        if done:
            resolve(rt, ticket, now, BY_DONE_LINE, f"{parsed.sender} marked it #done")
        return
    thread = _customer_message(rt, ticket)
    mail = build_relayed(_envelope(rt, now), ticket.customer,
                         thread.sender_name if thread else "", ticket.id, ticket.subject,
                         thread, text, attached_files(raw))
    rt.store.queue_outgoing({"ticket_id": ticket.id, "kind": "relay",
                             "message_id": mail["Message-ID"], "recipient": ticket.customer,
                             "raw": bytes(mail), "created_at": iso(now)})
    at = _response_time(parsed.date or arrival, ticket, now)
    _record_response(rt, ticket, at, now, f"agent {parsed.sender} answered; relayed to "
                                          f"{ticket.customer}", "#done" if done else "")
    learn_from_agent(rt, ticket, parsed, now)


def _customer_message(rt: Runtime, ticket: Ticket) -> ParsedMessage | None:
    """The customer's latest message in the ticket, to thread the answer under."""
    rows = [r for r in rt.store.messages(ticket.id) if r["direction"] == "in"
            and r["message_id"] and r["decision"] not in ("RelayReply", "Record")]
    own = [r for r in rows if r["sender"] == ticket.customer]
    chosen = own[-1] if own else rows[0] if rows else None
    return parse_message(chosen["raw"]) if chosen else None


def _envelope(rt: Runtime, now: datetime) -> Envelope:
    sender = rt.config.smtp.sender
    return Envelope(sender, make_msgid(domain=sender_domain(sender)), now)
