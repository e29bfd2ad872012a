"""Body text of a parsed mail: charset decoding, HTML to text, and the new part of a reply.

Pure and never raising on odd input: decoding problems become entries in the caller's
``defects`` list. ``one_line`` and ``shorten`` also clean header values for ``message``.
"""

from __future__ import annotations

import codecs
import itertools
import re
import unicodedata
from email.message import EmailMessage, Message
from html.parser import HTMLParser

MAX_TEXT_CHARS = 100_000
MAX_QUESTION_CHARS = 5_000
MAX_HTML_CHARS = 1_000_000
SHORT_QUESTION_CHARS = 200


def one_line(value: str) -> str:
    """Whitespace collapsed; line breaks, control characters and lone surrogates removed."""
    if value.isprintable():  # none of the characters removed below
        return " ".join(value.split())
    kept = (" " if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") else ch for ch in value)
    return " ".join("".join(kept).split())


def shorten(value: str, limit: int = 60) -> str:
    """``value`` on one line, cut to ``limit`` characters with an ellipsis."""
    line = one_line(value)
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --- body ----------------------------------------------------------------------------------


_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "euc-cn": "gb18030",
              "iso-8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252",
              "us-ascii": "utf-8", "ascii": "utf-8", "ks_c_5601-1987": "cp949"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def body_text(msg: EmailMessage, defects: list[str]) -> str:
    """The text/plain part, else the HTML part as text; cleaned and capped."""
    plain, html = _text_parts(msg)
    text = _part_text(plain, defects) if plain is not None else ""
    if not text.strip() and html is not None:
        text = html_to_text(_part_text(html, defects)[:MAX_HTML_CHARS])
    text = _tidy(text)
    if not text:
        _note_untold(msg, defects)
    return text


def _note_untold(msg: EmailMessage, defects: list[str]) -> None:
    """A mail with no text of its own but a file or a forwarded mail is for a person to read:
    its subject alone does not say what it asks."""
    for part in itertools.islice(msg.walk(), 200):
        if part.get_content_type() == "message/rfc822":
            defects.append("no text of its own, only a forwarded mail")
            return
        maintype = part.get_content_maintype()
        if not part.is_multipart() and maintype != "multipart" and (
                maintype != "text" or part.get_content_disposition() == "attachment"):
            defects.append("no text of its own, only attachments")
            return


def plain_text(payload: bytes, charset: str | None, defects: list[str]) -> str:
    """What ``body_text`` returns for a single text/plain part with this decoded payload."""
    return _tidy(decode_bytes(payload, charset, defects))


def _tidy(text: str) -> str:
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
    declared = shorten((charset or "").strip().lower(), 40)
    codec = text_codec(declared)
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


def text_codec(charset: str) -> str | None:
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
    re.compile(r"^Am\s.{0,500}\sschrieb\b.{0,300}:$", re.IGNORECASE),
    re.compile(r"^Le\s.{0,500}\sa\s+écrit\s*:$", re.IGNORECASE),
    re.compile(r"^.{0,500}(?:写道|寫道)\s*[:：]$"),
)
_ATTRIBUTION = re.compile("|".join(f"(?:{p.pattern})" for p in _ATTRIBUTIONS), re.IGNORECASE)
# what a mail client puts in its attribution line and a customer's own sentence ("On your site
# you wrote:") lacks: a time (09:00, 9.00), a year or an address; or else a quote right after it
_ATTRIBUTION_MARK = re.compile(r"\d{1,2}[:.]\d{2}|(?<!\d)(?:19|20)\d{2}(?!\d)|@")
_ORIGINAL = re.compile(r"^-{2,}\s*(?:original message|ursprungligt meddelande|mensaje original"
                       r"|原始邮件|原始郵件)\s*-{2,}$", re.IGNORECASE)
_FROM = re.compile(r"^\*?(?:from|från|de|发件人|寄件者)\*?\s*[:：]", re.IGNORECASE)
_SENT = re.compile(r"^\*?(?:sent|skickat|enviado(?: el)?|date|datum|fecha|发送时间|寄件日期|日期)\*?"
                   r"\s*[:：]", re.IGNORECASE)
_SENT_FROM_DEVICE = re.compile(r"^(?:(?:sent from my|skickat från min|enviado desde mi)\s"
                               r"|发自我的\S{0,30}$|[从從]我的\S{0,30}(?:发送|發送|傳送)$)", re.IGNORECASE)


def question_text(text: str, topic: str) -> str:
    """What to classify: the new part of ``text``; ``topic`` (the subject without reply
    prefixes and ticket tag) in front when that part is short."""
    body = strip_history(text)
    if len(body) < SHORT_QUESTION_CHARS and topic and not body.startswith(topic):
        body = f"{topic}\n\n{body}".strip()
    return body[:MAX_QUESTION_CHARS]


def strip_history(text: str) -> str:
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
    for text, after in ((line, index + 1), (wrapped, index + 2)):
        if _ATTRIBUTION.match(text) and (_ATTRIBUTION_MARK.search(text)
                                         or _quote_follows(lines, after)):
            return True
    return False


def _quote_follows(lines: list[str], index: int) -> bool:
    """Whether the first non-blank line from ``index`` on is quoted ('>')."""
    following = (line.strip() for line in lines[index:index + 3])
    return next((line for line in following if line), "").startswith(">")
