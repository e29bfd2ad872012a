"""Status requests: a customer writes just ``status`` (or ``status #12``) and is told where their
tickets stand.

A message is a status request only when every line of its question is the keyword, optionally
with a ticket number, or a short greeting or sign-off: "Hi,\\nstatus #12?\\nThanks, Ana" is
one; "What is the status of my order?" is an ordinary question. Replies list only the tickets
of the address the reply goes to.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from inboxd.core.message import ParsedMessage

# keyword -> the language it implies (None: the same word in several languages)
STATUS_KEYWORDS: dict[str, str | None] = {
    "status": None,  # English and Swedish
    "estado": "es",
    "läge": "sv",
    "状态": "zh",
    "狀態": "zh",
}
GREETINGS = frozenset({"hi", "hello", "hey", "dear", "hej", "hejsan", "hallå", "hola", "buenas",
                       "buenos", "你好", "您好"})
SIGN_OFFS = frozenset({"thanks", "thank", "regards", "best", "cheers", "tack", "mvh",
                       "hälsningar", "gracias", "saludos", "谢谢", "謝謝"})
CLOSED_STATES = frozenset({"closed", "resolved"})
MAX_LISTED = 10  # newest tickets listed in one reply
MAX_REQUEST_CHARS = 200
MAX_NOISE_WORDS = 4
MAX_SIGNATURE_LINES = 2

_KEYWORD = "|".join(re.escape(k) for k in STATUS_KEYWORDS)
_COMMAND = re.compile(rf"^({_KEYWORD})\s*[:：]?\s*(?:#\s*(\d{{1,12}}))?$")
_EDGE_PUNCTUATION = " \t.,;:!?¡¿。，、！？：；-–—()[]\"'"


@dataclass(frozen=True)
class StatusRequest:
    ticket_id: int | None  # the ticket asked about, or None for all of the customer's
    language: str | None  # the language the keyword implies, if any


@dataclass(frozen=True)
class StatusReply:
    """A status request answered with a list of the customer's tickets; no ticket is opened."""

    ticket_ids: tuple[int, ...]  # the tickets to list, newest first (may be empty)
    asked: int | None  # the number asked about, when there was one
    language: str | None
    reason: str


def status_request(question: str, ticket_tag: int | None = None) -> StatusRequest | None:
    """The request in ``question`` (subject included), or None when it is anything else."""
    if not question.strip() or len(question) > MAX_REQUEST_CHARS:
        return None
    commands = _commands(question.casefold().splitlines())
    if not commands:
        return None
    numbers = {number for _, number in commands if number is not None}
    if len(numbers) > 1:
        return None
    asked = numbers.pop() if numbers else ticket_tag
    languages = {STATUS_KEYWORDS[keyword] for keyword, _ in commands} - {None}
    return StatusRequest(asked, languages.pop() if len(languages) == 1 else None)


def status_reply(msg: ParsedMessage, customer_tickets: Sequence[int]) -> StatusReply | None:
    """The reply to ``msg`` if it is a status request; ``customer_tickets`` are the ids of the
    reply address's tickets that are not closed."""
    request = status_request(msg.question, msg.ticket_tag)
    if request is None or msg.reply_to is None:
        return None
    newest = sorted(set(customer_tickets), reverse=True)
    if request.ticket_id is None:
        return StatusReply(tuple(newest[:MAX_LISTED]), None, request.language,
                           f"status request: {len(newest)} open ticket(s) for {msg.reply_to}")
    if request.ticket_id in newest:
        return StatusReply((request.ticket_id,), request.ticket_id, request.language,
                           f"status request for ticket #{request.ticket_id}")
    return StatusReply((), request.ticket_id, request.language,
                       f"status request for #{request.ticket_id}, which is not an open "
                       f"ticket of {msg.reply_to}")


def _commands(lines: list[str]) -> list[tuple[str, int | None]]:
    """(keyword, number) of each command line; empty when any line is something else."""
    commands: list[tuple[str, int | None]] = []
    signature_lines = None  # counts lines after a sign-off
    for line in (ln.strip(_EDGE_PUNCTUATION) for ln in lines):
        if not line:
            continue
        if signature_lines is not None:
            signature_lines += 1
            if signature_lines > MAX_SIGNATURE_LINES or len(line.split()) > MAX_NOISE_WORDS:
                return []
            continue
        command = _command(line)
        if command is not None:
            commands.append(command)
        elif _first_word(line) in SIGN_OFFS and len(line.split()) <= MAX_NOISE_WORDS:
            signature_lines = 0
        elif not (_first_word(line) in GREETINGS and len(line.split()) <= MAX_NOISE_WORDS):
            return []
    return commands


def _command(line: str) -> tuple[str, int | None] | None:
    candidates = [line] + [line[len(g):].strip(_EDGE_PUNCTUATION)  # "hi, status #3"
                           for g in GREETINGS if line.startswith(g)]
    for candidate in candidates:
        match = _COMMAND.match(candidate)
        if match is not None:
            return match.group(1), int(match.group(2)) if match.group(2) else None
    return None


def _first_word(line: str) -> str:
    words = line.split()
    return words[0].strip(_EDGE_PUNCTUATION) if words else ""
