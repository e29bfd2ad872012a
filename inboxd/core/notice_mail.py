"""Internal notice mails to the team (warnings, escalations, the digest of old breaches, the
report): headers and the question excerpt.

Pure. The subject carries the ticket tag ``[#id]``; the mail is marked ``Auto-Submitted:
auto-generated`` and carries inboxd's ticket header, so neither inboxd nor other robots answer
it, and replies go to the notice's own recipients rather than to the support mailbox. The
digest lists many tickets and so carries no ticket tag or header; nor does the report, an HTML
mail with its charts as inline parts and a plain-text alternative with the same figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
@dataclass(frozen=True)
class ReportMail:
    subject: str
    text: str  # the plain-text alternative
    html: str  # refers to each image as ``cid:<its content id without brackets>``
    images: Mapping[str, tuple[str, bytes]]  # file name -> (Content-ID "<...>", PNG bytes)
    sender: str
    recipients: tuple[str, ...]
    message_id: str
    now: datetime


def build_report_mail(mail: ReportMail) -> EmailMessage:
    """multipart/alternative: text/plain, then multipart/related of text/html and the PNGs."""
    msg = _internal(mail.sender, mail.recipients, mail.subject, mail.message_id, mail.now,
                    mail.text)
    msg.add_alternative(mail.html, subtype="html", charset="utf-8")
    html = msg.get_payload()[1]
    for filename, (content_id, png) in mail.images.items():
        html.add_related(png, "image", "png", cid=content_id, disposition="inline",
                         filename=filename)
    return msg


def content_id(name: str, message_id: str) -> str:
    """A Content-ID unique to the mail: ``<volume.report-2026-11-30@example.com>``."""
    return f"<{name}.{message_id.strip('<>')}>"


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
