"""A ticket's life after it was opened: its states and what moves it between them.

``open``: the customer waits for us (the response clocks run). ``answered``: we wait for the
customer. ``resolved``: the question is settled — ``resolve_after`` after our last answer with no
word from the customer, by an agent (the Done folder, a ``#done`` line) or by the customer's
thank-you. ``closed``: resolved for ``close_after``; a message on it opens a new ticket.

Everything here is pure: it is handed the clock's reading and the ticket's times and returns
what is due, as values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from inboxd.core.clocks import format_duration

OPEN, ANSWERED, RESOLVED, CLOSED = "open", "answered", "resolved", "closed"
STATES = (OPEN, ANSWERED, RESOLVED, CLOSED)
LIVE_STATES = (OPEN, ANSWERED)  # still going on: a status reply lists them
REOPENABLE = (ANSWERED, RESOLVED)  # a customer's new message reopens these tickets

# how a ticket was resolved (tickets.resolved_by)
BY_TIMEOUT, BY_DONE_FOLDER, BY_DONE_LINE, BY_THANKS = "timeout", "done-folder", "#done", "thanks"


@dataclass(frozen=True)
class LifePolicy:
    resolve_after: timedelta
    close_after: timedelta
    keep_raw: timedelta | None = None  # raw bytes of closed tickets kept this long; None: always


@dataclass(frozen=True)
class TicketClock:
    """What the plan needs to know about one ticket."""

    ticket_id: int
    state: str
    answered_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    answer_waiting: bool = False  # our answer is still in the outbox
    raw_kept: bool = True


@dataclass(frozen=True)
class Transition:
    ticket_id: int
    state: str  # the state the ticket goes to
    reason: str


@dataclass(frozen=True)
class RemoveRaw:
    ticket_id: int
    reason: str


def due_change(t: TicketClock, now: datetime, policy: LifePolicy) -> Transition | RemoveRaw | None:
    """What is due for ``t`` at ``now``: resolving, closing, removing raw bytes, or nothing."""
    if t.state == ANSWERED and t.answered_at is not None and not t.answer_waiting \
            and now - t.answered_at >= policy.resolve_after:
        return Transition(t.ticket_id, RESOLVED, "no word from the customer for "
                          f"{format_duration(policy.resolve_after)} after our answer")
    if t.state == RESOLVED and t.resolved_at is not None \
            and now - t.resolved_at >= policy.close_after:
        return Transition(t.ticket_id, CLOSED,
                          f"resolved for {format_duration(policy.close_after)}")
    if t.state == CLOSED and t.raw_kept and policy.keep_raw is not None \
            and t.closed_at is not None and now - t.closed_at >= policy.keep_raw:
        return RemoveRaw(t.ticket_id, f"closed for {format_duration(policy.keep_raw)} "
                                      "(policy.keep_raw_days): raw bytes removed")
    return None


def resolve_by(state: str) -> bool:
    """Whether an agent's or a customer's word may resolve a ticket in ``state``."""
    return state in LIVE_STATES


# --- the agent's "#done" line --------------------------------------------------------------------

_DONE = re.compile(r"^\s*(?:#note\b[ \t]*\n?\s*)?#done\b", re.IGNORECASE)
_DONE_LINE = re.compile(r"^[ \t]*#done\b[^\n]*\n?", re.IGNORECASE | re.MULTILINE)


def says_done(text: str) -> bool:
    """Whether a reply or note starts with ``#done`` (after an optional ``#note``)."""
    return bool(_DONE.match(text))


def without_done(text: str) -> str:
    """The reply without its ``#done`` line, which is not meant for the customer."""
    if not says_done(text):
        return text
    return _DONE_LINE.sub("", text, count=1).lstrip("\n")


# --- a customer's thank-you ----------------------------------------------------------------------

MAX_THANKS_CHARS = 200  # longer than this, a message says more than thanks
MAX_THANKS_LINES = 4
THANKS_PHRASES = {
    "en": ("thanks", "thank you", "thank u", "thx", "ty", "cheers", "much appreciated",
           "that answers my question", "that answers it", "that helps", "that helped",
           "that solved it", "problem solved", "it works now", "works now", "got it",
           "perfect", "great", "awesome", "brilliant", "all good", "sorted"),
    "zh": ("谢谢", "谢谢你", "谢谢您", "多谢", "感谢", "非常感谢", "太感谢了", "好的", "明白了",
           "知道了", "收到", "解决了", "问题解决了", "可以了", "没问题了", "谢啦", "谢了"),
    "sv": ("tack", "tusen tack", "tack så mycket", "stort tack", "toppen", "perfekt", "super",
           "det löste sig", "det hjälpte", "det fungerar nu", "nu fungerar det", "allt klart",
           "jättebra", "kanon", "utmärkt"),
    "es": ("gracias", "muchas gracias", "mil gracias", "perfecto", "genial", "excelente",
           "resuelto", "ya está", "ya funciona", "me sirvió", "me ha servido", "todo bien",
           "de acuerdo", "vale", "estupendo"),
}
# words that make a short reply more than thanks: the answer did not settle it
NOT_SETTLED = (
    "but", "however", "still", "not", "doesn't", "does not", "didn't", "did not", "can't",
    "cannot", "won't", "isn't", "wasn't", "haven't", "no longer", "problem", "wrong", "help me",
    "但是", "但", "可是", "还是", "不", "没有", "没收到", "问题是",
    "men", "dock", "fortfarande", "inte", "ingen", "fel", "problem",
    "pero", "sin embargo", "todavía", "aún", "no", "nunca", "problema",
    "unfortunately", "need", "human", "person", "someone", "refund", "broken", "lost", "missing",
    "tyvärr", "ej", "behöver", "människa", "trasig", "saknas",
    "lamentablemente", "desafortunadamente", "necesito", "persona", "roto", "falta",
    "不过", "需要", "人工", "坏了", "丢了", "少了",
)
# a sentence of thanks may end with one of these and still say nothing more
CLOSINGS = ("have a nice day", "have a great day", "have a good day", "have a nice weekend",
            "have a great weekend", "have a good weekend", "ha en bra dag", "ha en trevlig dag",
            "trevlig helg", "ha en trevlig helg", "que tengas un buen día", "buen día",
            "buen fin de semana", "que tenga un buen día", "祝你愉快", "祝您愉快", "周末愉快")
GREETINGS = ("hi", "hello", "hey", "dear", "hej", "hallå", "hola", "buenos días", "buenas",
             "您好", "你好", "嗨", "best", "regards", "best regards", "kind regards", "br",
             "mvh", "med vänliga hälsningar", "hälsningar", "saludos", "un saludo", "atentamente",
             "此致", "祝好", "--")
_WORD_EDGE = r"(?<![\w]){}(?![\w])"


def is_thanks(text: str, names: frozenset[str] = frozenset()) -> bool:
    """Whether a reply only thanks or confirms: short, no question, nothing unsettled.

    ``text`` is the reply's new part (quoted history already removed); ``names`` are words of
    the sender's name, which may sign it."""
    body = text.strip().replace("\u2019", "'")  # the apostrophe phones and Outlook type
    if not body or len(body) > MAX_THANKS_CHARS or "?" in body or "？" in body:
        return False
    lines = [line for line in (_plain(l) for l in body.splitlines()) if line]
    lines = [line for line in lines if not _is_courtesy(line, names)]
    if not lines or len(lines) > MAX_THANKS_LINES:
        return False
    said = " ".join(lines)
    if any(_has(said, word) for word in NOT_SETTLED):
        return False
    fragments = [f.strip() for f in _FRAGMENT.split(said) if f.strip(" ¡¿-")]
    return bool(fragments) and all(_thanks_only(f, names) for f in fragments)


_FRAGMENT = re.compile(r"[,.!;:，。！；、\n]+")


def _thanks_only(fragment: str, names: frozenset[str]) -> bool:
    """Whether one part of a reply, between punctuation, thanks or confirms (or is courtesy):
    "Thanks, the link is broken" has a part that says something else."""
    return (any(_has(fragment, phrase) for phrases in THANKS_PHRASES.values() for phrase in phrases)
            or fragment.strip(" ¡¿-") in CLOSINGS or _is_courtesy(fragment, names))


def _plain(line: str) -> str:
    return line.strip().casefold()


def _is_courtesy(line: str, names: frozenset[str]) -> bool:
    """A greeting, a sign-off or a signature name on its own line."""
    words = re.sub(r"[,.!:;]+", " ", line).split()
    if not words:
        return True
    if line.rstrip(",.!: ") in GREETINGS:
        return True
    return all(w in names for w in words) or (words[0] in GREETINGS and
                                              all(w in names for w in words[1:]))


def _has(said: str, phrase: str) -> bool:
    if _cjk(phrase):
        return phrase in said
    return re.search(_WORD_EDGE.format(re.escape(phrase)), said) is not None


def _cjk(text: str) -> bool:
    return any("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" for ch in text)
