"""Suggested answers as drafts: the draft reply, its Outlook thread headers, and what became
of it.

A draft is a reply the way an agent's mail client writes one, not an automatic mail: no
``Auto-Submitted``, no "sent automatically" wording. Two headers tie it to inboxd: the ticket
(``X-Inboxd-Ticket``) and the FAQ (``X-Inboxd-Suggested-Faq``). Clients such as Thunderbird
keep a draft's headers when they send it (with a new Message-ID); others (Outlook) drop the
``X-`` headers and keep the body, so the sent reply is also compared with the answer.

Outlook groups a conversation by ``Thread-Index``: 22 bytes (the time as a FILETIME cut to its
upper 48 bits, then a 16-byte GUID) for the first message, and 5 more bytes for each reply
(31 bits of the time since the first, and one more byte), in base 64 (MS-OXOMSG 2.2.1.3).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage

from inboxd.core.learn import similar_faq
from inboxd.core.message import ParsedMessage, subject_topic
from inboxd.core.render import TICKET_HEADER, reply_to

SUGGESTED_HEADER = "X-Inboxd-Suggested-Faq"
# fates of a suggestion, as the store records them and `inboxd ticket` shows them
SENT_UNCHANGED, SENT_EDITED, REJECTED = "sent unchanged", "sent edited", "rejected"
REPLACED = "replaced"  # a follow-up got a draft of its own instead
# A reply that keeps a draft's headers repeats its answer when their cosine (see
# inboxd.core.learn) reaches this; replies that gave no FAQ's answer scored at most 0.26 there.
KEPT_ANSWER_BAR = 0.3

_EPOCH_FILETIME = 116444736000000000  # 1970-01-01 in 100 ns steps since 1601-01-01
_HEADER_BYTES, _CHILD_BYTES = 22, 5


@dataclass(frozen=True)
class Draft:
    """Everything needed to write one suggested answer."""

    original: ParsedMessage  # the customer's message it answers
    ticket_id: int
    faq_id: str
    body: str
    language: str
    sender: str  # the support address, "Example Support <support@example.com>"
    message_id: str
    now: datetime
    thread_topic: str | None = None  # the original's Thread-Topic header, if it had one
    thread_index: str | None = None  # the original's Thread-Index header, if it had one


def build_draft(draft: Draft) -> EmailMessage:
    """The draft reply, threaded under the customer's message for every client."""
    original = draft.original
    msg = reply_to(original, draft.ticket_id, draft.sender, draft.message_id, draft.now)
    msg["Thread-Topic"] = " ".join((draft.thread_topic or subject_topic(original.subject)
                                    or "your message").split())
    msg["Thread-Index"] = reply_thread_index(draft.thread_index, original.date,
                                             original.message_id or draft.message_id, draft.now)
    msg[TICKET_HEADER] = str(draft.ticket_id)
    msg[SUGGESTED_HEADER] = draft.faq_id
    msg.set_content(draft.body, charset="utf-8")
    msg["Content-Language"] = draft.language
    return msg


def reply_thread_index(parent: str | None, parent_date: datetime | None, parent_id: str,
                       now: datetime) -> str:
    """The Thread-Index of a reply to a message whose own is ``parent`` (None or unreadable:
    one is derived from the message's date and Message-ID, the same for every reply)."""
    head = _decoded(parent)
    if head is None:
        started = _filetime(parent_date or now) >> 16
        head = started.to_bytes(6, "big") + hashlib.md5(parent_id.encode()).digest()
    delta = max(0, _filetime(now) - (int.from_bytes(head[:6], "big") << 16))
    if delta < 1 << 49:
        stamp = (delta >> 18) & 0x7FFFFFFF
    else:
        stamp = (1 << 31) | ((delta >> 23) & 0x7FFFFFFF)
    extra = hashlib.md5(f"{parent_id} {len(head)}".encode()).digest()[:1]
    return base64.b64encode(head + stamp.to_bytes(4, "big") + extra).decode("ascii")


def _decoded(header: str | None) -> bytes | None:
    if not header:
        return None
    try:
        data = base64.b64decode("".join(header.split()), validate=True)
    except ValueError:
        return None
    if len(data) < _HEADER_BYTES or (len(data) - _HEADER_BYTES) % _CHILD_BYTES:
        return None
    return data


def _filetime(at: datetime) -> int:
    at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    return _EPOCH_FILETIME + int(at.timestamp() * 10_000_000)


def carries_suggestion(header_block: bytes) -> bool:
    """Whether a mail's header block (lower-cased bytes) has the suggested-FAQ header."""
    return SUGGESTED_HEADER.lower().encode() + b":" in header_block.lower()


def same_mail(stored: bytes, found: bytes) -> bool:
    """Whether a message found in the mailbox is inboxd's draft byte for byte (line endings
    aside): anything a person changed, headers included, makes it theirs."""
    return _lines(stored) == _lines(found)


def draft_of_ticket_in(message_id: str, ticket_id: int,
                       folder_mail: Iterable[ParsedMessage]) -> bool:
    """Whether a folder holding ``folder_mail`` (parsed header blocks) has a draft of the
    ticket: inboxd's own (its Message-ID) or one a person saved from it (the ``[#id]`` tag in
    the subject); compared without case, as IMAP SEARCH does."""
    wanted_id, tag = message_id.strip().casefold(), f"[#{ticket_id}]"
    return any((found.message_id or "").casefold() == wanted_id or tag in found.subject
               for found in folder_mail)


def _lines(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").rstrip()


def reply_fate(reply_text: str, kept_header: bool, answer: str, body: str) -> str:
    """What an agent's reply made of the ticket's draft: sent unchanged (the draft's text
    itself), sent edited (its answer is still in it, word for word or nearly: see
    ``KEPT_ANSWER_BAR`` and inboxd.core.learn), or rejected (it is not)."""
    said = _words(reply_text)
    if said == _words(body):
        return SENT_UNCHANGED
    if _words(answer).casefold() in said.casefold():
        return SENT_EDITED
    bar = KEPT_ANSWER_BAR if kept_header else None
    repeated = similar_faq(reply_text, {"draft": [answer]}, *([bar] if bar else []))
    return SENT_EDITED if repeated else REJECTED


def _words(text: str) -> str:
    return " ".join(re.sub(r"^>.*$", "", text, flags=re.MULTILINE).split())
