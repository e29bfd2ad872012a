"""Raw RFC 5322 bytes -> :class:`ParsedMessage`.

``parse_message`` never raises: whatever it cannot read becomes a human-readable entry in
``ParsedMessage.defects`` and the field keeps its empty value. Header values that reach a
reply (subject, display name) are folded onto one line with control characters removed, so
an encoded ``\\r\\nBcc:`` in a subject cannot inject a header. A mail that is one text/plain
part is read by :mod:`inboxd.core.simplemail` without the stdlib parser, to the same result.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy, utils
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import TypeVar

from inboxd.core.bodytext import body_text, one_line, plain_text, question_text, shorten
from inboxd.core.simplemail import (
    Headers,
    index_headers,
    read_single_part,
    simple_addresses,
)

MAX_SUBJECT_CHARS = 998
MAX_ENCODED_SUBJECT_CHARS = 900  # with "Subject: Re: " and " [#123]", within 998
MAX_PRECISE_HEADER_CHARS = 2_048
MAX_REFERENCES = 100
MAX_DEFECTS = 20

_T = TypeVar("_T")


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str | None
    subject: str
    sender: str | None
    sender_name: str
    reply_to: str | None
    recipients: tuple[str, ...]  # To, Cc and Bcc
    date: datetime | None
    in_reply_to: str | None
    references: tuple[str, ...]
    ticket_tag: int | None
    text: str
    question: str
    automated: str | None
    defects: tuple[str, ...]
    size: int
    # the Subject as it arrived (RFC 2047 encoded words), when decoding it lost characters to
    # U+FFFD (a charset Python does not know): replies carry it as it is, for the customer's
    # mail client to read
    encoded_subject: str | None = None


def parse_message(raw: bytes, *, own_addresses: Collection[str] = ()) -> ParsedMessage:
    """Parse one mail as fetched from IMAP. Never raises."""
    defects: list[str] = []
    try:
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
    except Exception as exc:
        return _unreadable(0, [f"not bytes: {type(exc).__name__}"])
    try:
        return _parse(data, own_addresses, defects)
    except Exception as exc:  # every step is guarded; this is the last line of defence
        return _unreadable(len(data), [*defects, f"unreadable message: {type(exc).__name__}"])


def thread_keys(msg: ParsedMessage) -> tuple[str, ...]:
    """Message ids that may name this mail's thread: In-Reply-To, then References newest first."""
    keys = [msg.in_reply_to] if msg.in_reply_to else []
    keys.extend(reversed(msg.references))
    return tuple(dict.fromkeys(keys))


_TAG = re.compile(r"\[#(\d{1,12})\]")
_REPLY_PREFIXES = re.compile(
    r"^\s*(?:(?:re|sv|aw|antw|回复|回覆|答复)\s*(?:\[\d+\])?\s*[:：]\s*)+", re.IGNORECASE)
_ANY_PREFIXES = re.compile(
    r"^\s*(?:(?:re|sv|aw|antw|fwd?|vb|wg|rv|回复|回覆|答复|转发|轉寄)\s*(?:\[\d+\])?\s*[:：]\s*)+",
    re.IGNORECASE)


def strip_ticket_tag(subject: str) -> str:
    """The subject without any ``[#123]`` tag, on one line."""
    return one_line(_TAG.sub(" ", subject))


def reply_subject(subject: str, ticket_id: int | None) -> str:
    """``Re: <subject> [#<id>]`` with earlier reply prefixes and tags removed (no tag for
    None)."""
    base = _REPLY_PREFIXES.sub("", strip_ticket_tag(subject)).strip()
    if ticket_id is None:
        return f"Re: {base or 'status'}"
    return f"Re: {base or 'your message'} [#{ticket_id}]"


def subject_topic(subject: str) -> str:
    """The subject without reply or forward prefixes and ticket tags."""
    return _ANY_PREFIXES.sub("", strip_ticket_tag(subject)).strip()


_topic = subject_topic


def _ticket_tag(subject: str) -> int | None:
    tags = _TAG.findall(subject)
    return int(tags[-1]) if tags else None


# --- parsing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tree:
    """What parsing needs from the MIME structure, however it was read."""

    headers: Headers
    content_type: Callable[[], str]
    body: Callable[[list[str]], str]
    structure: Callable[[list[str]], None]  # appends the structure's defects


def _parse(raw: bytes, own_addresses: Collection[str], defects: list[str]) -> ParsedMessage:
    if not raw.strip():
        defects.append("empty message")
    tree = _simple_tree(raw) or _mime_tree(raw, defects)
    h = tree.headers
    _guard(defects, "MIME structure", lambda: tree.structure(defects), None)
    subject = _guard(defects, "Subject", lambda: _subject(h), "")
    sender_name, sender = _guard(defects, "From", lambda: _sender(h, defects), ("", None))
    text = _guard(defects, "body", lambda: tree.body(defects), "")
    _guard(defects, "MIME structure", lambda: tree.structure(defects), None)  # + decoding
    own = {a.strip().lower() for a in own_addresses}
    return ParsedMessage(  # keyword arguments run in order: `defects` is read after every guard
        message_id=_guard(defects, "Message-ID", lambda: _one_id(h, "message-id"), None),
        subject=subject,
        sender=sender,
        sender_name=sender_name,
        reply_to=_guard(defects, "Reply-To", lambda: _reply_to(h, own), None) or sender,
        recipients=_guard(defects, "To/Cc/Bcc", lambda: _recipients(h), ()),
        date=_guard(defects, "Date", lambda: _date(_raw(h, "date"), defects), None),
        in_reply_to=_guard(defects, "In-Reply-To", lambda: _one_id(h, "in-reply-to"), None),
        references=_guard(defects, "References", lambda: _references(h), ()),
        ticket_tag=_ticket_tag(subject),
        text=text,
        question=_guard(defects, "question", lambda: question_text(text, _topic(subject)), ""),
        automated=_guard(defects, "automation check",
                         lambda: _automated(tree, sender, subject, own), None),
        defects=tuple(dict.fromkeys(defects))[:MAX_DEFECTS],
        size=len(raw),
        encoded_subject=_encoded_subject(_raw(h, "subject"), subject),
    )


def _unreadable(size: int, defects: list[str]) -> ParsedMessage:
    return ParsedMessage(None, "", None, "", None, (), None, None, (), None, "", "", None,
                         tuple(defects), size)


def _guard(defects: list[str], what: str, read: Callable[[], _T], default: _T) -> _T:
    try:
        return read()
    except Exception as exc:
        defects.append(f"{what} unreadable: {type(exc).__name__}")
        return default


def _simple_tree(raw: bytes) -> _Tree | None:
    """The message read without the stdlib parser when it is a single text/plain part."""
    part = read_single_part(raw)
    if part is None:
        return None
    return _Tree(part.headers, lambda: "text/plain",
                 lambda found: plain_text(part.payload, part.charset, found), lambda found: None)


def _mime_tree(raw: bytes, defects: list[str]) -> _Tree:
    """The stdlib parser's reading of any message."""
    msg = _parse_tree(raw, defects)
    return _Tree(index_headers(msg.raw_items(), _body_charset(msg)), msg.get_content_type,
                 lambda found: body_text(msg, found), lambda found: _collect_defects(msg, found))


def _body_charset(msg: Message) -> str | None:
    """The charset the first text part declares: an old client's 8-bit headers are in it."""
    for part in itertools.islice(msg.walk(), 50):
        if part.get_content_maintype() == "text":
            try:
                return part.get_content_charset()
            except Exception:
                return None
    return None


def _parse_tree(raw: bytes, defects: list[str]) -> EmailMessage:
    parser = BytesParser(policy=policy.default)
    try:
        return parser.parsebytes(raw)  # type: ignore[return-value]
    except Exception as exc:
        defects.append(f"MIME structure broken: {type(exc).__name__}")
    try:
        return parser.parsebytes(raw, headersonly=True)  # type: ignore[return-value]
    except Exception:
        return EmailMessage(policy=policy.default)


_STRUCTURE_DEFECTS = {
    "StartBoundaryNotFoundDefect", "CloseBoundaryNotFoundDefect", "MultipartConversionDefect",
    "FirstHeaderLineIsContinuationDefect", "MisplacedEnvelopeHeaderDefect",
    "MissingHeaderBodySeparatorDefect", "MultipartInvariantViolationDefect",
    "NoBoundaryInMultipartDefect", "InvalidMultipartContentTransferEncodingDefect",
}


def _collect_defects(msg: Message, defects: list[str]) -> None:
    for part in itertools.islice(msg.walk(), 500):
        for defect in part.defects:
            name = type(defect).__name__
            words = re.sub(r"(?<!^)(?=[A-Z])", " ", name.removesuffix("Defect")).lower()
            structural = name in _STRUCTURE_DEFECTS
            defects.append(f"MIME structure broken: {words}" if structural else words)


# --- headers -------------------------------------------------------------------------------


def _raw_all(headers: Headers, name: str) -> list[str]:
    return headers.get(name, [])


def _raw(headers: Headers, name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _decoded(name: str, value: str) -> str:
    """RFC 2047 decoding by the modern header parser, the legacy one as a fallback."""
    if value.isascii() and "=?" not in value:
        return value  # nothing to decode: the header parser returns it unchanged
    try:
        return str(policy.default.header_factory(name, value))
    except Exception:
        pass
    try:
        return str(make_header(decode_header(value)))
    except Exception:
        return value


def _subject(headers: Headers) -> str:
    value = _raw(headers, "subject")
    return one_line(_decoded("subject", value))[:MAX_SUBJECT_CHARS] if value else ""


def _encoded_subject(value: str | None, subject: str) -> str | None:
    """The raw Subject when its decoding replaced characters and it can travel as it is:
    ASCII encoded words on one line, short enough for a header line."""
    if not value or "\ufffd" not in subject or "=?" not in value or not value.isascii():
        return None
    line = one_line(value)
    return line if len(line) <= MAX_ENCODED_SUBJECT_CHARS else None


def _addresses(headers: Headers, name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased addr-spec) for every valid address in every ``name`` header."""
    found: list[tuple[str, str]] = []
    for value in _raw_all(headers, name):
        for display, addr in _parse_addresses(name, value):
            if _valid_addr(addr):
                found.append((one_line(display), addr.lower()))
    return found


def _parse_addresses(name: str, value: str) -> list[tuple[str, str]]:
    """The modern parser for ordinary headers; the legacy one (linear time) for long or odd ones."""
    if len(value) <= MAX_PRECISE_HEADER_CHARS:
        simple = simple_addresses(value)
        if simple is not None:
            return simple
        try:
            header = policy.default.header_factory(name, value)
            return [(a.display_name, a.addr_spec) for a in header.addresses]
        except Exception:
            pass
    return [(_decoded("subject", display), addr) for display, addr in utils.getaddresses([value])]


_ADDR_CHARS = re.compile(r"[^\s<>]+")


def _valid_addr(addr: str) -> bool:
    local, at, domain = addr.rpartition("@")
    clean = addr.isprintable() and _ADDR_CHARS.fullmatch(addr) is not None
    return bool(at and local and domain and "@" not in domain and clean)


def _reply_to(headers: Headers, own: set[str]) -> str | None:
    """The first Reply-To address that is not the mailbox's own (a reply there would go to
    the support inbox itself, not to the customer)."""
    return next((addr for _, addr in _addresses(headers, "reply-to") if addr not in own), None)


def _sender(headers: Headers, defects: list[str]) -> tuple[str, str | None]:
    values = [v for v in _raw_all(headers, "from") if v.strip()]
    if not values:
        defects.append("missing From")
        return "", None
    found = _addresses(headers, "from")
    if not found:
        defects.append(f"unparseable From: {shorten(values[0])}")
        return "", None
    return found[0]


def _recipients(headers: Headers) -> tuple[str, ...]:
    """To, Cc and Bcc (which a sender's own copy, in Sent, keeps)."""
    addrs = [addr for name in ("to", "cc", "bcc") for _, addr in _addresses(headers, name)]
    return tuple(dict.fromkeys(addrs))


_MSGID = re.compile(r"<([^<>]*)>")


def _ids(value: str | None) -> list[str]:
    """Message ids in a header value, normalised to ``<id@host>``."""
    if not value:
        return []
    inner = _MSGID.findall(value) or [t for t in value.split() if "@" in t]
    ids = (i.replace(" ", "") if i.isprintable() else  # " " is the one printable space
           "".join(ch for ch in i if ch.isprintable() and not ch.isspace()) for i in inner)
    return [f"<{i}>" for i in ids if i and len(i) < MAX_SUBJECT_CHARS]


def _one_id(headers: Headers, name: str) -> str | None:
    ids = _ids(_raw(headers, name))
    return ids[0] if ids else None


def _references(headers: Headers) -> tuple[str, ...]:
    ids = [i for value in _raw_all(headers, "references") for i in _ids(value)]
    return tuple(dict.fromkeys(ids))[-MAX_REFERENCES:]


def _date(value: str | None, defects: list[str]) -> datetime | None:
    if not value or not value.strip():
        return None
    try:
        parsed = utils.parsedate_to_datetime(value)
    except Exception:
        defects.append(f"unparseable Date: {shorten(value)}")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# --- automated mail ------------------------------------------------------------------------


_BOUNCE_LOCAL = re.compile(r"^(?:mailer[-_.]?daemon|postmaster)(?:\+.*)?$")
_NOREPLY_LOCAL = re.compile(  # no-reply@, jira-noreply@, info.donotreply@, bounces+x@...
    r"^(?:bounces?|notifications?)(?:[-+_.=].*)?$"
    r"|(?:^|[-+_.=])(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply)(?:[-+_.=]|$)")
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:out of (?:the )?office(?:\s+(?:auto)?reply)?\s*(?:[:\-–]|$)|automatic reply\s*[:：]"
    r"|auto[- ]?reply\s*[:：]|autosvar\s*[:：]|respuesta automática\s*[:：]|自动回复|自動回覆)",
    re.IGNORECASE)
_SUPPRESS_VALUES = frozenset({"all", "oof", "autoreply", "dr", "ndr", "rn", "nrn"})


def is_noreply_address(address: str) -> bool:
    """Whether an address's local part says nobody reads it (no-reply@, bounces@...)."""
    return bool(_NOREPLY_LOCAL.search(address.rpartition("@")[0].lower()))


def _automated(tree: _Tree, sender: str | None, subject: str, own: set[str]) -> str | None:
    """Why this mail must never get an automatic reply (first rule that fires), or None."""
    local = (sender or "").rpartition("@")[0]
    h = tree.headers
    rules: tuple[Callable[[], str | None], ...] = (
        lambda: _auto_submitted(h),
        lambda: _suppressed(h),
        lambda: _mailing_list(h),
        lambda: _precedence(h),
        lambda: "bulk sender (feedback-id)" if _raw(h, "feedback-id") is not None else None,
        lambda: _bounce(h, tree.content_type, local),
        lambda: "no-reply sender" if _NOREPLY_LOCAL.search(local) else None,
        lambda: _own_mail(h, sender, own),
        lambda: _vendor_auto_reply(h),
        lambda: "auto-reply subject" if _AUTO_SUBJECT.match(subject) else None,
    )
    return next((reason for rule in rules if (reason := rule())), None)


def _token(headers: Headers, name: str) -> str | None:
    """The value of a header before any ';' parameters, comments removed, lower-cased."""
    value = _raw(headers, name)
    if value is None:
        return None
    return shorten(re.sub(r"\([^()]*\)", " ", value).split(";")[0], 40).lower()


def _auto_submitted(headers: Headers) -> str | None:
    value = _token(headers, "auto-submitted")
    if value is None or value == "no":
        return None
    return f"auto-submitted: {value}" if value else "auto-submitted"


def _suppressed(headers: Headers) -> str | None:
    tokens = {t.strip().lower() for t in (_raw(headers, "x-auto-response-suppress") or "").split(",")}
    return "x-auto-response-suppress" if tokens & _SUPPRESS_VALUES else None


def _mailing_list(headers: Headers) -> str | None:
    names = ("list-id", "list-unsubscribe", "list-post")
    return "mailing list" if any(_raw(headers, n) is not None for n in names) else None


def _precedence(headers: Headers) -> str | None:
    value = _token(headers, "precedence")
    return f"precedence: {value}" if value in ("bulk", "list", "junk") else None


def _bounce(headers: Headers, content_type: Callable[[], str], local: str) -> str | None:
    report = content_type() == "multipart/report"
    null_path = any(v.strip() == "<>" for v in _raw_all(headers, "return-path"))
    return "bounce" if report or null_path or _BOUNCE_LOCAL.match(local) else None


def _own_mail(headers: Headers, sender: str | None, own: set[str]) -> str | None:
    marked = _raw(headers, "x-inboxd-ticket") is not None
    return "own mail" if marked or (sender is not None and sender in own) else None


def _vendor_auto_reply(headers: Headers) -> str | None:
    for name in ("x-autoreply", "x-autorespond"):
        if _raw(headers, name) is not None:
            return f"auto-reply header: {name}"
    if _token(headers, "x-autogenerated") == "reply":
        return "auto-reply header: x-autogenerated"
    return None
