"""Status requests in the pipeline: look up the customer's tickets, queue the reply.

The request opens no ticket: its message is recorded without one and filed in
``folders.answered``, and the reply counts toward the sender's daily automatic replies.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import make_msgid
from typing import Any

from inboxd.core.message import ParsedMessage
from inboxd.core.outgoing import Envelope, build_status_mail
from inboxd.core.render import format_when, mail_language, sender_domain
from inboxd.core.lifecycle import CLOSED, RESOLVED
from inboxd.core.status import CLOSED_STATES, StatusReply, request_in
from inboxd.runtime import Runtime
from inboxd.store import Ticket, from_iso, iso


def customer_tickets(rt: Runtime, parsed: ParsedMessage) -> tuple[int, ...]:
    """Ids of the reply address's tickets that are not closed; () unless ``parsed`` is a
    status request (the lookup is only needed then)."""
    if parsed.reply_to is None or request_in(parsed) is None:
        return ()
    closed = sorted(CLOSED_STATES)
    where = f"customer = ? and state not in ({', '.join('?' for _ in closed)})"
    return tuple(t.id for t in rt.store.tickets(where, [parsed.reply_to, *closed]))


def queue_status_reply(rt: Runtime, parsed: ParsedMessage, d: StatusReply, detected: str,
                       now: datetime) -> None:
    """Render the reply in the customer's language and put it in the outbox (no ticket)."""
    tickets = [t for t in map(rt.store.ticket, d.ticket_ids) if t is not None]
    language = _language(rt, d.language or (tickets[0].language if tickets else "") or detected)
    values = {"customer_name": parsed.sender_name, "support_name": rt.config.policy.support_name,
              "asked": d.asked, "tickets": [_ticket_values(rt, t, language) for t in tickets],
              "last_resolved_at": _last_resolved(rt, parsed.reply_to, language)}
    body = rt.templates.render("status", [language], values)
    envelope = Envelope(rt.config.smtp.sender,
                        make_msgid(domain=sender_domain(rt.config.smtp.sender)), now)
    about = tickets[0].id if len(tickets) == 1 else None
    mail = build_status_mail(envelope, parsed, body, language, about)
    rt.store.queue_outgoing({"ticket_id": None, "kind": "status",
                             "message_id": mail["Message-ID"], "recipient": parsed.reply_to,
                             "raw": bytes(mail), "created_at": iso(now)})


def _language(rt: Runtime, wanted: str) -> str:
    return mail_language(wanted, rt.config.faq.default_language, rt.templates.languages("status"))


def _ticket_values(rt: Runtime, ticket: Ticket, language: str) -> dict[str, Any]:
    dues = [d for d in (ticket.due_24h, ticket.due_business_day) if d is not None]
    due_at = format_when(min(dues).astimezone(rt.tz), language) if dues else ""
    return {"id": ticket.id, "subject": ticket.subject, "state": ticket.state, "due_at": due_at,
            "automatic": ticket.answered_automatically}


def _last_resolved(rt: Runtime, address: str | None, language: str) -> str:
    """When the address's last resolved ticket was resolved, as the language writes it."""
    at = from_iso(rt.store.db.execute(
        "select max(resolved_at) from tickets where customer = ? and state in (?, ?)",
        [address, RESOLVED, CLOSED]).fetchone()[0]) if address else None
    return format_when(at.astimezone(rt.tz), language) if at else ""
