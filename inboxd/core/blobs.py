"""Large attachments kept once: a mail's bytes as a skeleton plus content-addressed pieces.

A customer's 15 MB attachment is in the raw message inboxd keeps and again in the mail that
forwards it to a team or relays an agent's file to the customer. :func:`split` cuts the encoded
body of every large MIME leaf part (as it stands in the bytes, base64 lines and all) out of a
mail; each piece is named by the SHA-256 of its bytes, so the same attachment in two mails is
one piece. :func:`join` puts the pieces back. ``join(split(raw))`` is always ``raw`` byte for
byte: a part that cannot be found exactly in the bytes stays in the skeleton. Pure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesParser

MIN_PIECE_BYTES = 64 * 1024  # smaller parts stay in the mail's own row


@dataclass(frozen=True)
class Piece:
    """A body cut out of a mail: where it goes back in the skeleton, its name and bytes."""

    offset: int  # in the skeleton
    sha256: str
    data: bytes


def split(raw: bytes, min_bytes: int = MIN_PIECE_BYTES) -> tuple[bytes, list[Piece]]:
    """The skeleton of ``raw`` and the large bodies cut out of it, in order."""
    if len(raw) < min_bytes:
        return raw, []
    skeleton, pieces, cursor = bytearray(), [], 0
    for body in _large_bodies(raw, min_bytes):
        at = raw.find(body, cursor)
        if at < 0:
            continue
        skeleton += raw[cursor:at]
        pieces.append(Piece(len(skeleton), hashlib.sha256(body).hexdigest(), body))
        cursor = at + len(body)
    skeleton += raw[cursor:]
    result = bytes(skeleton)
    if join(result, [(p.offset, p.sha256) for p in pieces],
            {p.sha256: p.data for p in pieces}.__getitem__) != raw:
        return raw, []  # never store what would not come back the same
    return result, pieces


def join(skeleton: bytes, refs: Sequence[tuple[int, str]],
         piece: Callable[[str], bytes]) -> bytes:
    """The mail again: each ``(offset, sha256)`` piece put back into the skeleton."""
    if not refs:
        return skeleton
    out, cursor = bytearray(), 0
    for offset, sha256 in sorted(refs):
        out += skeleton[cursor:offset]
        out += piece(sha256)
        cursor = offset
    out += skeleton[cursor:]
    return bytes(out)


def _large_bodies(raw: bytes, min_bytes: int) -> Iterator[bytes]:
    try:
        root = BytesParser(policy=policy.compat32).parsebytes(raw)
        leaves = [p for p in root.walk() if not p.is_multipart()]
    except Exception:  # a structure the parser cannot walk: the mail stays whole
        return
    for part in leaves:
        body = _encoded_body(part)
        if body is not None and len(body) >= min_bytes:
            yield body


def _encoded_body(part: Message) -> bytes | None:
    payload = part.get_payload()
    if not isinstance(payload, str):
        return None
    try:
        return payload.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return None
