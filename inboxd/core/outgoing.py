"""Mails other than FAQ answers and acknowledgements: status replies, forwards of tickets to a
team (relay mode) and agents' answers relayed to customers. Pure builders, like ``render``.

Every value taken from a mail is folded onto one line before it goes into a header.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime

from inboxd.core.message import ParsedMessage, reply_subject, strip_ticket_tag
from inboxd.core.render import MAX_REFERENCES, TICKET_HEADER, as_written, reply_references


@dataclass(frozen=True)
class Envelope:
    """What every outgoing mail needs."""

    sender: str  # "Example Support <support@example.com>"
    message_id: str
    now: datetime


def build_status_mail(env: Envelope, request: ParsedMessage, body: str,
                      language: str, ticket_id: int | None = None) -> EmailMessage:
    """The answer to a status request: threaded under it, automatic; tagged with the ticket
    it is about when it is about one, so that a reply to it joins that ticket."""
    msg = _base(env, _address(request.sender_name, request.reply_to or ""))
    msg["Subject"] = as_written(request, lambda subject: reply_subject(subject, ticket_id))
    _thread(msg, request)
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg[TICKET_HEADER] = "status"
    msg.set_content(body, charset="utf-8")
    msg["Content-Language"] = language
    return msg


def build_forward(env: Envelope, original: ParsedMessage, raw: bytes, ticket_id: int,
                  to: Sequence[str], support_address: str, body: str,
                  earlier: Sequence[str] = ()) -> EmailMessage:
    """A ticket's message forwarded to its team: ``[#id] subject``, replies go to support.

    The text is inline; the original is attached as message/rfc822 where it can be read.
    ``earlier`` are the Message-IDs of the ticket's previous forwards, for the team's thread.
    """
    msg = _base(env, ", ".join(to))
    subject = strip_ticket_tag(original.subject) or "(no subject)"
    msg["Subject"] = f"[#{ticket_id}] {subject}"
    msg["Reply-To"] = support_address
    if earlier:
        msg["In-Reply-To"] = earlier[-1]
        msg["References"] = " ".join(earlier[-MAX_REFERENCES:])
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"  # an agent's out-of-office must not answer it
    msg[TICKET_HEADER] = str(ticket_id)
    msg.set_content(body, charset="utf-8")
    _attach_original(msg, raw)
    return msg


def build_relayed(env: Envelope, customer: str, customer_name: str, ticket_id: int,
                  ticket_subject: str, thread: ParsedMessage | None, body: str,
                  files: Sequence[EmailMessage] = ()) -> EmailMessage:
    """An agent's answer sent on to the customer from the support address, threaded under
    the customer's last message, with the files the agent attached (see ``attached_files``).
    A person wrote it, so it is not marked automatic."""
    msg = _base(env, _address(customer_name, customer))
    if thread is not None and thread.encoded_subject:  # the customer's words, not U+FFFD
        msg["Subject"] = as_written(thread, lambda subject: reply_subject(subject, ticket_id))
    else:
        msg["Subject"] = reply_subject(ticket_subject, ticket_id)
    if thread is not None:
        _thread(msg, thread)
    msg[TICKET_HEADER] = str(ticket_id)
    msg.set_content(body, charset="utf-8")
    if files:
        msg.make_mixed()
        for part in files:
            msg.attach(part)
    return msg


def attached_files(raw: bytes) -> list[EmailMessage]:
    """The files in a mail, as they are: parts attached as files, or inline with a file name
    outside a multipart/related body (Apple Mail sends PDFs so). Left out: a body's inline
    images (signature logos), attached mails (a reply to a forward may carry the customer's
    own message, which must not go back to them), signatures and keys that sign the agent's
    mail, not ours, and Outlook's winmail.dat (the agent's whole mail, quoted text included)."""
    try:
        root = BytesParser(policy=policy.default).parsebytes(raw)
        return [part for part in _files_in(root, related=False) if _writable(part)]
    except Exception:  # a structure the parser cannot walk: the text is relayed without files
        return []


_NOT_RELAYED = frozenset({
    "application/ms-tnef", "application/vnd.ms-tnef", "application/pkcs7-signature",
    "application/x-pkcs7-signature", "application/pgp-signature", "application/pgp-keys",
    "application/pgp-encrypted"})


def _files_in(part: EmailMessage, related: bool) -> Iterator[EmailMessage]:
    if part.get_content_maintype() == "multipart":
        inside = related or part.get_content_subtype() == "related"
        for child in part.iter_parts():
            yield from _files_in(child, inside)  # type: ignore[arg-type]
        return
    if part.get_content_maintype() == "message" or part.get_content_type() in _NOT_RELAYED:
        return
    disposition = part.get_content_disposition()
    if disposition == "attachment" or (part.get_filename() and not related
                                       and disposition == "inline"):
        yield part


def _writable(part: EmailMessage) -> bool:
    try:
        part.as_bytes()
    except Exception:  # noqa: BLE001 - a part that cannot be written again stays out
        return False
    return True


def customer_line(name: str, address: str) -> str:
    """``Ana Customer <ana@example.com>`` on one line, for texts."""
    return str(_address(name, address)) if address else "an unknown sender"


def _base(env: Envelope, to: Address | str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = env.sender
    msg["To"] = to
    msg["Date"] = format_datetime(env.now)
    msg["Message-ID"] = env.message_id
    return msg


def _thread(msg: EmailMessage, original: ParsedMessage) -> None:
    if not original.message_id:
        return
    msg["In-Reply-To"] = original.message_id
    msg["References"] = " ".join(reply_references(original))


def _address(name: str, address: str) -> Address:
    local, _, domain = address.rpartition("@")
    return Address(display_name=" ".join(name.split()), username=local, domain=domain)


def _attach_original(msg: EmailMessage, raw: bytes) -> None:
    try:
        original = BytesParser(policy=policy.default).parsebytes(raw)
        original.as_bytes()
    except Exception:
        return  # an original that cannot be written again stays out; its text is inline
    msg.add_attachment(original)
