"""Simple mails read without the stdlib parser, exactly as ``email`` (policy.default) reads them.

``index_headers`` builds the header index both readings share. ``read_single_part`` reads a
mail with plain ASCII header lines, at most one simple text/plain Content-Type, a plain
transfer encoding and a header/body separator; ``simple_addresses`` reads address headers of
plain atoms. Anything else gives None, and the caller falls back to the stdlib parser.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from collections.abc import Iterable
from dataclasses import dataclass

from inboxd.core.bodytext import text_codec

MAX_HEADER_CHARS = 16_384

Headers = dict[str, list[str]]  # lower-cased name -> values (unfolded, 8-bit decoded, capped)


@dataclass(frozen=True)
class SinglePart:
    """A mail whose whole body is one text/plain part."""

    headers: Headers
    payload: bytes  # transfer encoding undone
    charset: str | None  # as declared, lower-cased; None when not declared


def index_headers(items: Iterable[tuple[str, str]], charset: str | None = None) -> Headers:
    """Header values by lower-cased name: unfolded, 8-bit bytes decoded (as UTF-8, else as the
    body's ``charset``, else Latin-1), length-capped."""
    headers: Headers = {}
    for key, value in items:
        value = _decode_8bit("".join(value.splitlines()), charset)[:MAX_HEADER_CHARS]
        headers.setdefault(key.lower(), []).append(value)
    return headers


def _decode_8bit(value: str, charset: str | None) -> str:
    """Headers with raw 8-bit bytes arrive as surrogate escapes: an old client writes them in
    its own charset (GBK, say), the one it declares for the body."""
    if value.isascii() or not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    codec = text_codec(charset.lower()) if charset else None
    for name in dict.fromkeys(filter(None, ("utf-8", codec))):
        try:
            return data.decode(name)
        except UnicodeDecodeError:
            pass
    return data.decode("latin-1")


# --- one text/plain part -------------------------------------------------------------------

_HEADER_START = re.compile(r"[\x21-\x39\x3b-\x7e]+:")
_SIMPLE_CONTENT_TYPE = re.compile(
    r'text/plain[ \t]*(?:;[ \t]*[a-z0-9._-]+[ \t]*=[ \t]*(?:[a-z0-9._-]+|"[a-z0-9._-]*")[ \t]*)*'
    r'(?:;[ \t]*)?', re.IGNORECASE)
_CHARSET_PARAM = re.compile(r';[ \t]*charset[ \t]*=[ \t]*"?([a-z0-9._-]*)', re.IGNORECASE)
_PLAIN_ENCODINGS = frozenset({"", "7bit", "8bit", "binary", "quoted-printable", "base64"})


def read_single_part(raw: bytes) -> SinglePart | None:
    """The mail's headers and decoded body if it is a single text/plain part, else None."""
    try:
        split = _split_simple(raw)
        if split is None:
            return None
        headers, body = split
        charset = _simple_charset(headers)
        if charset is None:
            return None
        payload = _simple_payload(headers, body)
    except Exception:
        return None
    return SinglePart(headers, payload, charset or None) if payload is not None else None


def _split_simple(raw: bytes) -> tuple[Headers, bytes] | None:
    """Header index and raw body, if every header line is plain ASCII and well formed."""
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0]
    if not ends:
        return None
    end = min(ends) + 1
    head = raw[:end]
    if not head.isascii() or head.count(b"\r") != head.count(b"\r\n"):
        return None
    body = raw[end + (1 if raw[end:end + 1] == b"\n" else 2):]
    fields: list[list[str]] = []
    for line in head.decode("ascii").split("\n")[:-1]:
        if line[:1] in (" ", "\t") and fields:
            fields[-1].append(line + "\n")
        elif _HEADER_START.match(line):
            fields.append([line + "\n"])
        else:
            return None
    return index_headers(_source_header(lines) for lines in fields), body


def _source_header(lines: list[str]) -> tuple[str, str]:
    """Name and raw value of one header, as ``policy.default.header_source_parse`` gives them."""
    name, value = lines[0].split(":", 1)
    return name, (value.lstrip(" \t") + "".join(lines[1:])).rstrip("\r\n")


def _simple_charset(headers: Headers) -> str | None:
    """The declared charset ("" for none) of a simple text/plain part; None if not that."""
    if "content-disposition" in headers or len(headers.get("content-transfer-encoding", ())) > 1:
        return None
    types = headers.get("content-type", [])
    if not types:
        return ""
    if len(types) > 1 or not _SIMPLE_CONTENT_TYPE.fullmatch(types[0]):
        return None
    found = _CHARSET_PARAM.search(types[0])
    return found.group(1).lower() if found else ""


def _simple_payload(headers: Headers, body: bytes) -> bytes | None:
    """The decoded body, as ``Message.get_payload(decode=True)`` gives it without defects."""
    cte = headers.get("content-transfer-encoding", [""])[0].lower()
    if cte not in _PLAIN_ENCODINGS:
        return None
    if cte == "quoted-printable":
        return quopri.decodestring(body)
    if cte == "base64":
        data = b"".join(body.splitlines())
        if len(data) % 4:
            return None
        try:
            return base64.b64decode(data, validate=True)
        except binascii.Error:
            return None
    return body


# --- addresses -----------------------------------------------------------------------------

_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_MAILBOX = re.compile(
    rf"[ \t]*(?:(?P<name>{_ATOM}(?:[ \t]+{_ATOM})*)?[ \t]*<(?P<angled>{_ATOM}(?:\.{_ATOM})*@"
    rf"{_ATOM}(?:\.{_ATOM})*)>|(?P<bare>{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*))[ \t]*",
    re.IGNORECASE)


def simple_addresses(value: str) -> list[tuple[str, str]] | None:
    """``Name <a@b.c>`` or ``a@b.c`` items of plain atoms, as the header parser reads them."""
    if "=?" in value or not value.isascii():
        return None
    found = []
    for item in value.split(","):
        match = _SIMPLE_MAILBOX.fullmatch(item)
        if match is None:
            return None
        display = " ".join((match["name"] or "").split())
        found.append((display, match["angled"] or match["bare"]))
    return found
