"""Internal notice mails to the team (warnings, escalations, the digest of old breaches): headers
and the question excerpt.

Pure. The subject carries the ticket tag ``[#id]``; the mail is marked ``Auto-Submitted:
auto-generated`` and carries inboxd's ticket header, so neither inboxd nor other robots answer
it, and replies go to the notice's own recipients rather than to the support mailbox. The
digest lists many tickets and so carries no ticket tag or header.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from inboxd.core.render import TICKET_HEADER

EXCERPT_LINES = 8
EXCERPT_LINE_CHARS = 200


@dataclass(frozen=True)
class InternalMail:
    ticket_id: int
    title: str  # "Due soon", "Overdue"
    subject: str  # the ticket's subject, as the customer wrote it
    body: str
    sender: str  # "Example Support <support@example.com>"
    recipients: tuple[str, ...]
    message_id: str
    now: datetime


def notice_subject(ticket_id: int, title: str, subject: str) -> str:
    """``[#12] Overdue: Broken lamp``, on one line whatever the customer's subject held."""
    return f"[#{ticket_id}] {title}: {' '.join(subject.split()) or '(no subject)'}"


@dataclass(frozen=True)
class DigestMail:
    """One mail listing the tickets whose deadlines passed long ago (see ``core.clocks``)."""

    tickets: int
    max_age: str  # "7 days"
    body: str
    sender: str
    recipients: tuple[str, ...]
    message_id: str
    now: datetime


def build_internal(mail: InternalMail) -> EmailMessage:
    msg = _internal(mail.sender, mail.recipients,
                    notice_subject(mail.ticket_id, mail.title, mail.subject), mail.message_id,
                    mail.now, mail.body)
    msg[TICKET_HEADER] = str(mail.ticket_id)
    return msg


def build_digest(mail: DigestMail) -> EmailMessage:
    """``Overdue for more than 7 days: 40 tickets``; no ticket header, it belongs to none."""
    noun = "ticket" if mail.tickets == 1 else "tickets"
    subject = f"Overdue for more than {mail.max_age}: {mail.tickets} {noun}"
    return _internal(mail.sender, mail.recipients, subject, mail.message_id, mail.now, mail.body)


def build_alarm(sender: str, recipients: Sequence[str], subject: str, message_id: str,
                now: datetime, body: str) -> EmailMessage:
    """An alarm to the operator (``core.alarm``): no ticket tag, marked automated."""
    return _internal(sender, recipients, subject, message_id, now, body)


def _internal(sender: str, recipients: Sequence[str], subject: str, message_id: str,
              now: datetime, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Reply-To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(body, charset="utf-8")
    return msg


def excerpt(text: str, lines: int = EXCERPT_LINES,
            line_chars: int = EXCERPT_LINE_CHARS) -> Sequence[str]:
    """The first non-empty lines of the customer's question, each clipped."""
    kept = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    clipped = [line if len(line) <= line_chars else line[:line_chars - 1] + "…"
               for line in kept[:lines]]
    return [*clipped, "…"] if len(kept) > lines else clipped
