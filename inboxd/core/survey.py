"""Satisfaction by mail: whether a resolved ticket gets a survey, the survey mail, and reading a
customer's rating from their reply.

A rating needs a mail the customer sends: the survey's ``mailto:`` links only fill in a
subject (``[#12] Rating: 1``), so a robot that follows links to check them gives none.
Everything here is pure.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote

from inboxd.core.message import strip_ticket_tag
from inboxd.core.render import TICKET_HEADER

GOOD, OKAY, BAD = 1, 2, 3
LABELS = {GOOD: "good", OKAY: "okay", BAD: "bad"}
# the words a customer may answer with, by language; digits and thumbs work in all of them
RATING_WORDS: dict[int, tuple[str, ...]] = {
    GOOD: ("good", "great", "👍", "好", "很好", "满意", "非常满意", "bra", "mycket bra", "bueno",
           "bien", "muy bien", "muy bueno"),
    OKAY: ("okay", "ok", "fine", "so-so", "一般", "还行", "还可以", "okej", "sådär", "godkänt",
           "regular", "normal", "más o menos"),
    BAD: ("bad", "poor", "👎", "差", "很差", "不好", "不满意", "dålig", "dåligt", "malo", "mala",
          "mal"),
}
# what the mailto: subjects say after the tag, by language
SUBJECT_WORD = {"en": "Rating", "zh": "评分", "sv": "Betyg", "es": "Valoración"}
_PREFIX = re.compile(r"^\s*(?:(?:re|sv|aw|fw|fwd|vs|rv|回复|答复)\s*[:：]\s*)+", re.IGNORECASE)
_LABEL = re.compile(r"^\s*(?:rating|评分|betyg|valoración|valoracion)\s*[:：]?\s*", re.IGNORECASE)
_TRAIL = re.compile(r"^[\s,.:;!()\-–—。，！：]+")
_OWN_LABEL = re.compile(r"^\(\s*(?:good|okay|bad)\s*\)", re.IGNORECASE)
MAX_COMMENT_CHARS = 2_000


@dataclass(frozen=True)
class SurveyPolicy:
    after: timedelta
    min_interval: timedelta
    include_auto: bool


@dataclass(frozen=True)
class SurveyCandidate:
    """A resolved ticket not yet asked."""

    ticket_id: int
    resolved_at: datetime
    answered_by: str | None  # "auto": only an automatic answer
    automated_sender: bool  # the customer's address or mail is a robot's
    last_survey_to_customer: datetime | None


@dataclass(frozen=True)
class SendSurvey:
    ticket_id: int


@dataclass(frozen=True)
class SkipSurvey:
    ticket_id: int
    reason: str


def survey_due(c: SurveyCandidate, now: datetime,
               policy: SurveyPolicy) -> SendSurvey | SkipSurvey | None:
    """Whether to ask now, never (with the reason), or later (None)."""
    if now - c.resolved_at < policy.after:
        return None
    if c.automated_sender:
        return SkipSurvey(c.ticket_id, "the customer's address is automated")
    if c.answered_by == "auto" and not policy.include_auto:
        return SkipSurvey(c.ticket_id, "answered only automatically (survey.include_auto)")
    if c.last_survey_to_customer is not None and \
            now - c.last_survey_to_customer < policy.min_interval:
        return SkipSurvey(c.ticket_id, "the customer had a survey within survey.min_interval")
    return SendSurvey(c.ticket_id)


def rating_subject(ticket_id: int, rating: int, language: str) -> str:
    word = SUBJECT_WORD.get(language, SUBJECT_WORD["en"])
    return f"[#{ticket_id}] {word}: {rating}"


def mailto(address: str, ticket_id: int, rating: int, language: str) -> str:
    return f"mailto:{address}?subject={quote(rating_subject(ticket_id, rating, language))}"


@dataclass(frozen=True)
class SurveyMail:
    sender: str
    customer: str
    customer_name: str
    ticket_id: int
    subject: str
    body: str
    language: str
    message_id: str
    now: datetime
    in_reply_to: str | None = None


def build_survey(m: SurveyMail) -> EmailMessage:
    """The survey: automatic (RFC 3834), tagged with the ticket, threaded under its last mail."""
    msg = EmailMessage()
    msg["From"] = m.sender
    local, _, domain = m.customer.rpartition("@")
    msg["To"] = Address(display_name=" ".join(m.customer_name.split()), username=local,
                        domain=domain)
    msg["Subject"] = f"[#{m.ticket_id}] {m.subject}"
    msg["Date"] = format_datetime(m.now)
    msg["Message-ID"] = m.message_id
    if m.in_reply_to:
        msg["In-Reply-To"] = m.in_reply_to
        msg["References"] = m.in_reply_to
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg[TICKET_HEADER] = str(m.ticket_id)
    msg.set_content(m.body, charset="utf-8")
    msg["Content-Language"] = m.language
    return msg


@dataclass(frozen=True)
class Rating:
    value: int  # GOOD, OKAY or BAD
    comment: str  # the customer's own words besides the rating; may be empty

    @property
    def needs_person(self) -> bool:
        """A bad rating, or any rating with words, is for a person to read."""
        return self.value == BAD or bool(self.comment)


@dataclass(frozen=True)
class Rated:
    """A reply to a survey: recorded on the ticket; never a new ticket, never answered."""

    ticket_id: int
    rating: Rating
    reason: str
    team: str | None = None


def read_rating(text: str, subject: str) -> Rating | None:
    """The rating a reply to a survey gives: first in its text, else in its subject (a reply
    through a ``mailto:`` link may have no text). None when it gives none."""
    body = text.strip()
    if body:
        first, _, rest = body.partition("\n")
        found = _rating_at_start(first)
        if found is not None:
            value, after = found
            comment = "\n".join(p for p in (after, rest.strip()) if p)
            return Rating(value, comment[:MAX_COMMENT_CHARS])
    topic = _PREFIX.sub("", strip_ticket_tag(subject)).strip()
    found = _rating_at_start(_LABEL.sub("", topic)) if _LABEL.match(topic) else None
    if found is None or found[1]:
        return None
    return Rating(found[0], body[:MAX_COMMENT_CHARS])


def answers_survey(subject: str, thread: Collection[str], survey_ids: Collection[str]) -> bool:
    """Whether a reply answers the ticket's survey: threaded on it, or sent through one of its
    rating links (whose subject names the rating). Any other mail on the ticket is no rating."""
    if set(thread) & set(survey_ids):
        return True
    return bool(_LABEL.match(_PREFIX.sub("", strip_ticket_tag(subject)).strip()))


def _rating_at_start(line: str) -> tuple[int, str] | None:
    """(rating, the rest of the line) when ``line`` starts with a rating."""
    text = _LABEL.sub("", line.strip()) if _LABEL.match(line.strip()) else line.strip()
    if not text:
        return None
    if text[0] in "123" and (len(text) == 1 or not text[1].isdigit()):
        return int(text[0]), _rest(text[1:])
    lowered = text.casefold()
    for value, words in RATING_WORDS.items():
        for word in sorted(words, key=len, reverse=True):
            if lowered.startswith(word) and _ends_word(lowered, len(word)):
                return value, _rest(text[len(word):])
    return None


def _ends_word(text: str, at: int) -> bool:
    if at >= len(text):
        return True
    before, after = text[at - 1], text[at]
    return not (after.isalnum() and before.isalnum() and before.isascii())


def _rest(text: str) -> str:
    """The words after a rating, less the survey's own label ("1 (good)")."""
    return _TRAIL.sub("", _OWN_LABEL.sub("", text.strip())).strip()
