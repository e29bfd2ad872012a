"""Raw RFC 5322 bytes -> :class:`ParsedMessage`.

``parse_message`` never raises: whatever it cannot read becomes a human-readable entry in
``ParsedMessage.defects`` and the field keeps its empty value. Header values that reach a
reply (subject, display name) are folded onto one line with control characters removed, so
an encoded ``\\r\\nBcc:`` in a subject cannot inject a header.
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

from inboxd.core.bodytext import body_text, one_line, question_text, shorten

MAX_SUBJECT_CHARS = 998
MAX_HEADER_CHARS = 16_384
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
    recipients: tuple[str, ...]
    date: datetime | None
    in_reply_to: str | None
    references: tuple[str, ...]
    ticket_tag: int | None
    text: str
    question: str
    automated: str | None
    defects: tuple[str, ...]
    size: int


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


def reply_subject(subject: str, ticket_id: int) -> str:
    """``Re: <subject> [#<id>]`` with earlier reply prefixes and tags removed."""
    base = _REPLY_PREFIXES.sub("", strip_ticket_tag(subject)).strip()
    return f"Re: {base or 'your message'} [#{ticket_id}]"


def _topic(subject: str) -> str:
    """The subject without reply or forward prefixes and ticket tags."""
    return _ANY_PREFIXES.sub("", strip_ticket_tag(subject)).strip()


def _ticket_tag(subject: str) -> int | None:
    tags = _TAG.findall(subject)
    return int(tags[-1]) if tags else None


# --- parsing -------------------------------------------------------------------------------


def _parse(raw: bytes, own_addresses: Collection[str], defects: list[str]) -> ParsedMessage:
    if not raw.strip():
        defects.append("empty message")
    msg = _parse_tree(raw, defects)
    _guard(defects, "MIME structure", lambda: _collect_defects(msg, defects), None)
    subject = _guard(defects, "Subject", lambda: _subject(msg), "")
    sender_name, sender = _guard(defects, "From", lambda: _sender(msg, defects), ("", None))
    text = _guard(defects, "body", lambda: body_text(msg, defects), "")
    _guard(defects, "MIME structure", lambda: _collect_defects(msg, defects), None)  # + decoding
    own = {a.strip().lower() for a in own_addresses}
    return ParsedMessage(  # keyword arguments run in order: `defects` is read after every guard
        message_id=_guard(defects, "Message-ID", lambda: _one_id(msg, "message-id"), None),
        subject=subject,
        sender=sender,
        sender_name=sender_name,
        reply_to=_guard(defects, "Reply-To", lambda: _reply_to(msg), None) or sender,
        recipients=_guard(defects, "To/Cc", lambda: _recipients(msg), ()),
        date=_guard(defects, "Date", lambda: _date(_raw(msg, "date"), defects), None),
        in_reply_to=_guard(defects, "In-Reply-To", lambda: _one_id(msg, "in-reply-to"), None),
        references=_guard(defects, "References", lambda: _references(msg), ()),
        ticket_tag=_ticket_tag(subject),
        text=text,
        question=_guard(defects, "question", lambda: question_text(text, _topic(subject)), ""),
        automated=_guard(defects, "automation check",
                         lambda: _automated(msg, sender, subject, own), None),
        defects=tuple(dict.fromkeys(defects))[:MAX_DEFECTS],
        size=len(raw),
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


def _raw_all(msg: Message, name: str) -> list[str]:
    """Every value of header ``name``, unfolded, 8-bit bytes decoded, length-capped."""
    return [_decode_8bit("".join(value.splitlines()))[:MAX_HEADER_CHARS]
            for key, value in msg.raw_items() if key.lower() == name]


def _raw(msg: Message, name: str) -> str | None:
    values = _raw_all(msg, name)
    return values[0] if values else None


def _decode_8bit(value: str) -> str:
    """Headers with raw 8-bit bytes arrive as surrogate escapes; read them as UTF-8 or Latin-1."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _decoded(name: str, value: str) -> str:
    """RFC 2047 decoding by the modern header parser, the legacy one as a fallback."""
    try:
        return str(policy.default.header_factory(name, value))
    except Exception:
        pass
    try:
        return str(make_header(decode_header(value)))
    except Exception:
        return value


def _subject(msg: Message) -> str:
    value = _raw(msg, "subject")
    return one_line(_decoded("subject", value))[:MAX_SUBJECT_CHARS] if value else ""


def _addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased addr-spec) for every valid address in every ``name`` header."""
    found: list[tuple[str, str]] = []
    for value in _raw_all(msg, name):
        for display, addr in _parse_addresses(name, value):
            if _valid_addr(addr):
                found.append((one_line(display), addr.lower()))
    return found


def _parse_addresses(name: str, value: str) -> list[tuple[str, str]]:
    """The modern parser for ordinary headers; the legacy one (linear time) for long or odd ones."""
    if len(value) <= MAX_PRECISE_HEADER_CHARS:
        try:
            header = policy.default.header_factory(name, value)
            return [(a.display_name, a.addr_spec) for a in header.addresses]
        except Exception:
            pass
    return [(_decoded("subject", display), addr) for display, addr in utils.getaddresses([value])]


def _valid_addr(addr: str) -> bool:
    local, at, domain = addr.rpartition("@")
    clean = all(ch.isprintable() and not ch.isspace() and ch not in "<>" for ch in addr)
    return bool(at and local and domain and "@" not in domain and clean)


def _reply_to(msg: Message) -> str | None:
    return next((addr for _, addr in _addresses(msg, "reply-to")), None)


def _sender(msg: Message, defects: list[str]) -> tuple[str, str | None]:
    values = [v for v in _raw_all(msg, "from") if v.strip()]
    if not values:
        defects.append("missing From")
        return "", None
    found = _addresses(msg, "from")
    if not found:
        defects.append(f"unparseable From: {shorten(values[0])}")
        return "", None
    return found[0]


def _recipients(msg: Message) -> tuple[str, ...]:
    addrs = [addr for name in ("to", "cc") for _, addr in _addresses(msg, name)]
    return tuple(dict.fromkeys(addrs))


_MSGID = re.compile(r"<([^<>]*)>")


def _ids(value: str | None) -> list[str]:
    """Message ids in a header value, normalised to ``<id@host>``."""
    if not value:
        return []
    inner = _MSGID.findall(value) or [t for t in value.split() if "@" in t]
    ids = ("".join(ch for ch in i if ch.isprintable() and not ch.isspace()) for i in inner)
    return [f"<{i}>" for i in ids if i and len(i) < MAX_SUBJECT_CHARS]


def _one_id(msg: Message, name: str) -> str | None:
    ids = _ids(_raw(msg, name))
    return ids[0] if ids else None


def _references(msg: Message) -> tuple[str, ...]:
    ids = [i for value in _raw_all(msg, "references") for i in _ids(value)]
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


_BOUNCE_LOCAL = re.compile(r"^(?:mailer[-_.]?daemon|postmaster)$")
_NOREPLY_LOCAL = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|bounces?|notifications?)"
    r"(?:[-+_.=].*)?$")
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:out of (?:the )?office(?:\s+(?:auto)?reply)?\s*(?:[:\-–]|$)|automatic reply\s*[:：]"
    r"|auto[- ]?reply\s*[:：]|autosvar\s*[:：]|respuesta automática\s*[:：]|自动回复|自動回覆)",
    re.IGNORECASE)
_SUPPRESS_VALUES = frozenset({"all", "oof", "autoreply", "dr", "ndr", "rn", "nrn"})


def _automated(msg: Message, sender: str | None, subject: str, own: set[str]) -> str | None:
    """Why this mail must never get an automatic reply (first rule that fires), or None."""
    local = (sender or "").rpartition("@")[0]
    rules: tuple[Callable[[], str | None], ...] = (
        lambda: _auto_submitted(msg),
        lambda: _suppressed(msg),
        lambda: _mailing_list(msg),
        lambda: _precedence(msg),
        lambda: _bounce(msg, local),
        lambda: "no-reply sender" if _NOREPLY_LOCAL.match(local) else None,
        lambda: _own_mail(msg, sender, own),
        lambda: _vendor_auto_reply(msg),
        lambda: "auto-reply subject" if _AUTO_SUBJECT.match(subject) else None,
    )
    return next((reason for rule in rules if (reason := rule())), None)


def _token(msg: Message, name: str) -> str | None:
    """The value of a header before any ';' parameters, comments removed, lower-cased."""
    value = _raw(msg, name)
    if value is None:
        return None
    return shorten(re.sub(r"\([^()]*\)", " ", value).split(";")[0], 40).lower()


def _auto_submitted(msg: Message) -> str | None:
    value = _token(msg, "auto-submitted")
    if value is None or value == "no":
        return None
    return f"auto-submitted: {value}" if value else "auto-submitted"


def _suppressed(msg: Message) -> str | None:
    tokens = {t.strip().lower() for t in (_raw(msg, "x-auto-response-suppress") or "").split(",")}
    return "x-auto-response-suppress" if tokens & _SUPPRESS_VALUES else None


def _mailing_list(msg: Message) -> str | None:
    names = ("list-id", "list-unsubscribe", "list-post")
    return "mailing list" if any(_raw(msg, n) is not None for n in names) else None


def _precedence(msg: Message) -> str | None:
    value = _token(msg, "precedence")
    return f"precedence: {value}" if value in ("bulk", "list", "junk") else None


def _bounce(msg: Message, local: str) -> str | None:
    report = msg.get_content_type() == "multipart/report"
    null_path = any(v.strip() == "<>" for v in _raw_all(msg, "return-path"))
    return "bounce" if report or null_path or _BOUNCE_LOCAL.match(local) else None


def _own_mail(msg: Message, sender: str | None, own: set[str]) -> str | None:
    marked = _raw(msg, "x-inboxd-ticket") is not None
    return "own mail" if marked or (sender is not None and sender in own) else None


def _vendor_auto_reply(msg: Message) -> str | None:
    for name in ("x-autoreply", "x-autorespond"):
        if _raw(msg, name) is not None:
            return f"auto-reply header: {name}"
    if _token(msg, "x-autogenerated") == "reply":
        return "auto-reply header: x-autogenerated"
    return None
