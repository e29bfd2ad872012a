"""Status requests: a customer writes just ``status`` (or ``status #12``, ``Status meiner
Anfrage``, ``estado``, ``läge``, ``状态``…) and is told where their tickets stand.

A message is a status request when its text (quoted history left out) is one short line with
the keyword, optionally with a ticket number, and around it nothing but greetings, sign-offs
and a signature: "Hi,\\nstatus #12?\\nThanks,\\nAna\\nExample Ltd" is one, and so is the
keyword alone in the subject of a mail whose text holds nothing else (but "Thanks!" under
"Re: status" thanks for a reply). Any subject is allowed around a keyword in the text
("Re: Question [#10]" asks about ticket 10). "What is the status of my order?" is an ordinary
question, and so is any text with a line that is none of these.
Replies list only the tickets of the address the reply goes to.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from inboxd.core.bodytext import strip_history
from inboxd.core.message import ParsedMessage, strip_ticket_tag, subject_topic

# the request itself, per language: regular expressions on the casefolded line, whose words are
# separated by one space; "status" alone is English, Swedish and German, so it implies none
_REQUEST = "(?:request|ticket|case|enquiry|inquiry|query|support request|issue)"
STATUS_PHRASES: Mapping[str | None, tuple[str, ...]] = {
    None: ("status",),
    "en": (r"(?:(?:what is|what's|whats) the )?status(?: update)?"
           rf"(?: (?:of|on|for) (?:my|the|our) {_REQUEST})?",
           rf"{_REQUEST} status", r"status update"),
    "de": (r"(?:wie ist der )?(?:status|stand|sachstand)"
           r"(?: (?:meiner|der|unserer) anfrage| (?:meines|des) (?:tickets|falls|anliegens)"
           r"| zu meiner anfrage)?",
           r"(?:anfrage|ticket)status"),
    "sv": (r"(?:vad är )?läget?", r"status (?:på|för) (?:mitt|vårt) ärende", r"ärendestatus",
           r"hur går det med mitt ärende"),
    "es": (r"(?:(?:cuál|cual) es el )?estado"
           r"(?: (?:de|del) (?:mi |la )?(?:solicitud|consulta|caso|ticket|petición|peticion"
           r"|incidencia))?",),
    "zh": (r"(?:我的)?(?:工单|工單|请求|請求|咨询|諮詢|问题|問題)?(?:的)?(?:状态|狀態|进度|進度)",
           r"(?:处理|處理)(?:进度|進度|情况|情況)"),
    "fr": (r"(?:statut|état|etat)(?: de (?:ma demande|mon ticket|mon dossier))?",),
}
# greetings and sign-offs, per language: phrases that start a line (a name may follow)
GREETINGS: Mapping[str, tuple[str, ...]] = {
    "en": ("hi", "hello", "hey", "dear", "good morning", "good afternoon", "good evening",
           "hi there", "hello there", "greetings", "to whom it may concern"),
    "de": ("hallo", "hi", "hey", "guten tag", "guten morgen", "guten abend", "liebe", "lieber",
           "liebes", "sehr geehrte damen und herren", "sehr geehrte", "sehr geehrter", "moin",
           "servus", "grüß gott", "grüezi"),
    "sv": ("hej", "hejsan", "hallå", "god morgon", "god dag", "goddag", "tjena", "hej hej"),
    "es": ("hola", "buenas", "buenos días", "buenos dias", "buenas tardes", "buenas noches",
           "estimado", "estimada", "estimados"),
    "zh": ("你好", "您好", "你们好", "你們好", "嗨", "早上好", "下午好", "晚上好", "请问", "請問"),
    "fr": ("bonjour", "bonsoir", "salut", "madame", "monsieur", "madame monsieur"),
}
SIGN_OFFS: Mapping[str, tuple[str, ...]] = {
    "en": ("thanks", "thank you", "thanks a lot", "many thanks", "thanks in advance", "thx",
           "ty", "regards", "best regards", "kind regards", "warm regards", "best", "cheers",
           "sincerely", "yours sincerely", "yours", "br", "all the best"),
    "de": ("danke", "danke schön", "dankeschön", "vielen dank", "besten dank", "danke im voraus",
           "grüße", "gruß", "viele grüße", "beste grüße", "liebe grüße", "freundliche grüße",
           "mit freundlichen grüßen", "schöne grüße", "lg", "mfg", "vg"),
    "sv": ("tack", "tack så mycket", "tack på förhand", "stort tack", "mvh", "hälsningar",
           "hälsning", "vänliga hälsningar", "med vänlig hälsning", "ha det bra"),
    "es": ("gracias", "muchas gracias", "gracias de antemano", "saludos", "un saludo",
           "saludos cordiales", "atentamente", "cordialmente"),
    "zh": ("谢谢", "謝謝", "多谢", "多謝", "感谢", "感謝", "祝好", "此致", "此致敬礼"),
    "fr": ("merci", "merci beaucoup", "cordialement", "bien cordialement", "bonne journée"),
}
# courtesy words allowed right after the request: "status please", "Stand meiner Anfrage bitte"
COURTESIES = ("please", "pls", "plz", "bitte", "por favor", "snälla", "s'il vous plaît", "svp",
              "请", "請", "thanks", "thank you", "danke", "tack", "gracias", "merci", "谢谢", "謝謝")
# a mail client's line under the text: "Sent from my iPhone"
CLIENT_LINE = re.compile(r"^(?:sent from|get outlook for|von meinem|gesendet von|skickat från"
                         r"|enviado desde|envoyé de|发自|發自)\b")

CLOSED_STATES = frozenset({"closed", "resolved"})
MAX_LISTED = 10  # newest tickets listed in one reply
MAX_REQUEST_CHARS = 600  # text and signature; longer is never a status request
MAX_NAME_WORDS = 4  # after a greeting or a sign-off ("Dear support team", "Thanks, Ana Lind")
MAX_SIGNATURE_LINES = 6  # after a sign-off, a "-- " line or a name: name, company, phone…
MAX_SIGNATURE_WORDS = 8

_PUNCTUATION = re.compile(r"[\s,.:;!?¡¿。，、！？：；…()\"“”«»\[\]*_~-]+")
_NUMBER = r"(?:#\s*(\d{1,12}))"
_COMMANDS = tuple(
    (language, re.compile(rf"^(?:{_NUMBER} ?)?(?:{phrase}) ?(?:{_NUMBER})?$"))
    for language, phrases in STATUS_PHRASES.items() for phrase in phrases)


@dataclass(frozen=True)
class StatusRequest:
    ticket_id: int | None  # the ticket asked about, or None for all of the customer's
    language: str | None  # the language the request's words imply, if any


@dataclass(frozen=True)
class StatusReply:
    """A status request answered with a list of the customer's tickets; no ticket is opened."""

    ticket_ids: tuple[int, ...]  # the tickets to list, newest first (may be empty)
    asked: int | None  # the number asked about, when there was one
    language: str | None
    reason: str


@dataclass(frozen=True)
class _Command:
    number: int | None
    language: str | None


def status_request(text: str, subject: str = "", ticket_tag: int | None = None,
                   names: Collection[str] = ()) -> StatusRequest | None:
    """The request in a mail's ``text`` (its new part) and ``subject``, or None when it is
    anything else. ``ticket_tag`` is the subject's ``[#12]``; ``names`` are the words of the
    sender's name, which may sign the mail on their own."""
    if len(text) > MAX_REQUEST_CHARS:
        return None
    read = _read_text(text.splitlines(), {n.casefold() for n in names})
    if read is None:
        return None
    commands, hints = read
    if not commands:
        topic = subject_topic(subject)
        command = _command(_normal(topic))
        thanks_for_a_reply = text.strip() and topic != strip_ticket_tag(subject).strip()
        if command is None or thanks_for_a_reply:  # "Thanks!" under "Re: status" asks nothing
            return None
        commands = [command]
    numbers = {c.number for c in commands if c.number is not None}
    if len(numbers) > 1:
        return None
    languages = {c.language for c in commands} - {None} or set(hints)
    return StatusRequest(numbers.pop() if numbers else ticket_tag,
                         languages.pop() if len(languages) == 1 else None)


def request_in(msg: ParsedMessage) -> StatusRequest | None:
    """The status request ``msg`` makes, if any."""
    local = (msg.reply_to or msg.sender or "").partition("@")[0]
    names = [*msg.sender_name.split(), *re.split(r"[._+-]+", local)]
    return status_request(strip_history(msg.text), msg.subject, msg.ticket_tag,
                          [n for n in names if n])


def status_reply(msg: ParsedMessage, customer_tickets: Sequence[int]) -> StatusReply | None:
    """The reply to ``msg`` if it is a status request; ``customer_tickets`` are the ids of the
    reply address's tickets that are not closed."""
    request = request_in(msg)
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


def _read_text(lines: list[str], names: set[str]) -> tuple[list[_Command], list[str]] | None:
    """The requests in the text's lines and the languages its greetings and sign-offs imply;
    None when a line is anything else."""
    commands: list[_Command] = []
    hints: list[str] = []
    signature: int | None = None  # lines since the signature began
    for raw in lines:
        line = _normal(raw)
        if raw.rstrip() == "--":  # the signature delimiter "-- "
            signature = 0
        elif not line or CLIENT_LINE.match(line):
            continue
        elif signature is not None:
            signature += 1
            if (signature > MAX_SIGNATURE_LINES or len(line.split()) > MAX_SIGNATURE_WORDS
                    or "?" in raw or "？" in raw):
                return None
        elif (command := _command(line)) is not None:
            commands.append(command)
        elif (language := _courtesy(line, _SIGN_OFFS)) is not None:
            signature = 0
            hints += [language] if language else []
        elif not commands and (language := _courtesy(line, _GREETINGS)) is not None:
            hints += [language] if language else []
        elif commands and _is_name(raw, names):
            signature = 0
        else:
            return None
    return commands, hints


def _normal(line: str) -> str:
    """Casefolded, punctuation turned into single spaces: "Hi, status #12?" -> "hi status #12"."""
    return _PUNCTUATION.sub(" ", line.casefold().replace("’", "'")).strip()


def _command(line: str) -> _Command | None:
    """The request on one line, a greeting before it or a courtesy word after it allowed."""
    for candidate in _without_courtesies(line):
        for language, pattern in _COMMANDS:
            match = pattern.match(candidate)
            if match is not None:
                number = match.group(1) or match.group(2)
                return _Command(int(number) if number else None, language)
    return None


def _without_courtesies(line: str) -> list[str]:
    """``line``, and ``line`` without a leading greeting and/or a trailing courtesy word."""
    starts = [line] + [_after(line, g) for g in _phrases(_GREETINGS) if _starts(line, g)]
    found = []
    for start in starts:
        found.append(start)
        found += [start[:-len(c)].strip() for c in _COURTESIES if _ends(start, c)]
    return found


def _courtesy(line: str, table: Mapping[str, tuple[str, ...]]) -> str | None:
    """The language of the greeting or sign-off ``line`` is ("" when several languages share
    it), or None when it is not one: the phrase, then at most a name's worth of words."""
    for phrase in sorted(_phrases(table), key=len, reverse=True):
        if _starts(line, phrase) and len(_after(line, phrase).split()) <= MAX_NAME_WORDS:
            languages = {lang for lang, phrases in table.items() if phrase in phrases}
            return languages.pop() if len(languages) == 1 else ""
    return None


def _is_name(raw: str, names: set[str]) -> bool:
    """A line that signs the mail with a name: the sender's own name words, or a few
    capitalised words without digits ("Ana Lind", "J. Smith")."""
    words = _PUNCTUATION.sub(" ", raw).split()
    if not 1 <= len(words) <= MAX_NAME_WORDS:
        return False
    if all(w.casefold() in names for w in words):
        return True
    return all(w[0].isupper() and w.replace("'", "").isalpha() for w in words)


def _phrases(table: Mapping[str, tuple[str, ...]]) -> set[str]:
    return {phrase for phrases in table.values() for phrase in phrases}


def _casefolded(table: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """The phrases as ``_normal`` leaves them: "grüße" -> "grüsse"."""
    return {language: tuple(_normal(p) for p in phrases) for language, phrases in table.items()}


def _starts(line: str, phrase: str) -> bool:
    """``line`` begins with the whole phrase (any character may follow CJK)."""
    if not line.startswith(phrase):
        return False
    rest = line[len(phrase):]
    return not rest or rest[0] == " " or not phrase.isascii() and _cjk(phrase[-1])


def _ends(line: str, phrase: str) -> bool:
    if not line.endswith(phrase) or len(line) == len(phrase):
        return False
    before = line[:-len(phrase)]
    return before[-1] == " " or _cjk(phrase[0]) or _cjk(before[-1])


def _after(line: str, phrase: str) -> str:
    return line[len(phrase):].strip()


def _cjk(char: str) -> bool:
    return "\u3000" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"


_GREETINGS = _casefolded(GREETINGS)
_SIGN_OFFS = _casefolded(SIGN_OFFS)
_COURTESIES = tuple(_normal(c) for c in COURTESIES)
