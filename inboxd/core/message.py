"""Raw RFC 5322 bytes -> :class:`ParsedMessage`.

``parse_message`` never raises: whatever it cannot read becomes a human-readable entry in
``ParsedMessage.defects`` and the field keeps its empty value. Header values that reach a
reply (subject, display name) are folded onto one line with control characters removed, so
an encoded ``\\r\\nBcc:`` in a subject cannot inject a header.
"""

from __future__ import annotations

import codecs
import itertools
import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy, utils
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from html.parser import HTMLParser
from typing import TypeVar

MAX_TEXT_CHARS = 100_000
MAX_QUESTION_CHARS = 5_000
MAX_SUBJECT_CHARS = 998
MAX_HEADER_CHARS = 16_384
MAX_PRECISE_HEADER_CHARS = 2_048
MAX_HTML_CHARS = 1_000_000
SHORT_QUESTION_CHARS = 200
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
    return _one_line(_TAG.sub(" ", subject))


def reply_subject(subject: str, ticket_id: int) -> str:
    """``Re: <subject> [#<id>]`` with earlier reply prefixes and tags removed."""
    base = _REPLY_PREFIXES.sub("", strip_ticket_tag(subject)).strip()
    return f"Re: {base or 'your message'} [#{ticket_id}]"


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
    text = _guard(defects, "body", lambda: _body_text(msg, defects), "")
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
        question=_guard(defects, "question", lambda: question_text(text, subject), ""),
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
    return _one_line(_decoded("subject", value))[:MAX_SUBJECT_CHARS] if value else ""


def _addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased addr-spec) for every valid address in every ``name`` header."""
    found: list[tuple[str, str]] = []
    for value in _raw_all(msg, name):
        for display, addr in _parse_addresses(name, value):
            if _valid_addr(addr):
                found.append((_one_line(display), addr.lower()))
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
        defects.append(f"unparseable From: {_short(values[0])}")
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
        defects.append(f"unparseable Date: {_short(value)}")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _one_line(value: str) -> str:
    """Whitespace collapsed; line breaks, control characters and lone surrogates removed."""
    kept = (" " if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") else ch for ch in value)
    return " ".join("".join(kept).split())


def _short(value: str, limit: int = 60) -> str:
    line = _one_line(value)
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --- body ----------------------------------------------------------------------------------


_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "euc-cn": "gb18030",
              "iso-8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252",
              "us-ascii": "utf-8", "ascii": "utf-8", "ks_c_5601-1987": "cp949"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _body_text(msg: EmailMessage, defects: list[str]) -> str:
    """The text/plain part, else the HTML part as text; cleaned and capped."""
    plain, html = _text_parts(msg)
    text = _part_text(plain, defects) if plain is not None else ""
    if not text.strip() and html is not None:
        text = html_to_text(_part_text(html, defects)[:MAX_HTML_CHARS])
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text[:MAX_TEXT_CHARS].strip()


def _text_parts(msg: EmailMessage) -> tuple[Message | None, Message | None]:
    plain = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    if plain is None and html is None and not msg.is_multipart() \
            and msg.get_content_maintype() == "text":
        plain = msg  # text/enriched, text/x-whatever: still readable
    return plain, html


def _part_text(part: Message, defects: list[str]) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, part.get_content_charset(), defects)


def decode_bytes(payload: bytes, charset: str | None, defects: list[str]) -> str:
    """Declared charset, else UTF-8, else the declared charset lossy, else Latin-1. Never raises."""
    declared = _short((charset or "").strip().lower(), 40)
    codec = _codec(declared)
    if declared and codec is None:
        defects.append(f"undecodable charset {declared}")
    for name in dict.fromkeys(filter(None, (codec, "utf-8"))):
        try:
            return payload.decode(name)
        except (UnicodeDecodeError, LookupError):
            pass
    if codec is not None:
        defects.append(f"text is not valid {declared}; some characters replaced")
        return payload.decode(codec, errors="replace")
    return payload.decode("latin-1")


def _codec(charset: str) -> str | None:
    """A usable text codec for ``charset``, or None."""
    if not charset:
        return None
    name = _SUPERSETS.get(charset, charset)
    try:
        b"a".decode(name, errors="ignore")  # rejects unknown names and codecs such as base64
        return codecs.lookup(name).name
    except Exception:
        return None


class _HtmlText(HTMLParser):
    """Collects the visible text of an HTML document, one block per line; blockquotes get '> '."""

    _SKIP = frozenset({"script", "style", "title", "noscript", "template", "head"})
    _BLOCK = frozenset({"p", "div", "br", "li", "tr", "table", "ul", "ol", "pre", "hr",
                        "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "section",
                        "article", "header", "footer", "dt", "dd", "body"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._current: list[str] = []
        self._skip_depth = 0
        self._quote_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip_depth += 1
        elif tag in self._BLOCK:
            self._flush()
        elif tag in ("td", "th"):
            self._current.append(" ")
        if tag == "blockquote":
            self._quote_depth += 1
        if tag == "body":
            self._skip_depth = 0  # an unclosed <head> must not hide the body

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in self._BLOCK and tag not in ("br", "hr"):  # void: <br/> is one break
            self._flush()
        if tag == "blockquote":
            self._quote_depth = max(0, self._quote_depth - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self._current.append(data)

    def _flush(self) -> None:
        line = " ".join("".join(self._current).split())
        self._current.clear()
        if line:
            self.lines.append("> " * self._quote_depth + line)
        elif self.lines and self.lines[-1]:
            self.lines.append("")


def html_to_text(html: str) -> str:
    """Visible text of an HTML body: tags, scripts and styles dropped, entities unescaped."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    parser._flush()
    return "\n".join(parser.lines).strip()


# --- the question --------------------------------------------------------------------------


_ATTRIBUTIONS = (
    re.compile(r"^On\s.{0,500}\swrote\s*:$", re.IGNORECASE),
    re.compile(r"^Den\s.{0,500}\sskrev\b.{0,300}:$", re.IGNORECASE),
    re.compile(r"^El\s.{0,500}\sescribió\s*:$", re.IGNORECASE),
    re.compile(r"^.{0,500}(?:写道|寫道)\s*[:：]$"),
)
_ORIGINAL = re.compile(r"^-{2,}\s*(?:original message|ursprungligt meddelande|mensaje original"
                       r"|原始邮件|原始郵件)\s*-{2,}$", re.IGNORECASE)
_FROM = re.compile(r"^\*?(?:from|från|de|发件人|寄件者)\*?\s*[:：]", re.IGNORECASE)
_SENT = re.compile(r"^\*?(?:sent|skickat|enviado(?: el)?|date|datum|fecha|发送时间|寄件日期)\*?\s*[:：]",
                   re.IGNORECASE)
_SENT_FROM_DEVICE = re.compile(r"^(?:sent from my|skickat från min|enviado desde mi|发自我的)\s",
                               re.IGNORECASE)


def question_text(text: str, subject: str) -> str:
    """What to classify: the new part of ``text``; the subject in front when that part is short."""
    body = _strip_history(text)
    topic = _ANY_PREFIXES.sub("", strip_ticket_tag(subject)).strip()
    if len(body) < SHORT_QUESTION_CHARS and topic and not body.startswith(topic):
        body = f"{topic}\n\n{body}".strip()
    return body[:MAX_QUESTION_CHARS]


def _strip_history(text: str) -> str:
    """Lines before the first attribution, Outlook header block or signature; no '>' lines."""
    lines = text.split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        if _history_starts(lines, index):
            break
        if not line.lstrip().startswith(">"):
            kept.append(line.rstrip())
    while kept and not kept[-1].strip("_-= "):
        kept.pop()
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _history_starts(lines: list[str], index: int) -> bool:
    line = lines[index].strip()
    if lines[index].rstrip() == "--":
        return True
    if _ORIGINAL.match(line) or _SENT_FROM_DEVICE.match(line):
        return True
    if _FROM.match(line) and any(_SENT.match(n.strip()) for n in lines[index + 1:index + 4]):
        return True
    wrapped = f"{line} {lines[index + 1].strip()}" if index + 1 < len(lines) else line
    return any(p.match(line) or p.match(wrapped) for p in _ATTRIBUTIONS)


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
    return _short(re.sub(r"\([^()]*\)", " ", value).split(";")[0], 40).lower()


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
