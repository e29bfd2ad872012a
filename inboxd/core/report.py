"""The figures of the support report (``inboxd report``, the weekly mail), for a period of whole
days and the period of as many days before it.

Pure: handed the store's rows, the time of the report, the business calendar and the minutes an
automatic answer saves, it returns a :class:`Report` value. The period ends at midnight (in the
calendar's time zone) before ``now``, so a report of 7 days sent on Monday covers Monday to
Sunday of the week before.

What the figures mean:

- Each incoming message of the period counts once, by what became of it: ``automatic`` (an FAQ
  answer was sent or is on its way), ``person`` (a new question for a person: acknowledged,
  queued, or its automatic answer was refused or may not have arrived), ``follow_up`` (the
  customer wrote again in a ticket), ``automated`` (robots, out-of-office replies, duplicates:
  recorded, never answered) and ``status`` (status requests). Agents' replies that relay mode
  forwards are not customer mail and are left out.
- A ticket is one new question. The share answered automatically is the automatic tickets
  over all the tickets of the period; such a ticket "came back" when the customer wrote again
  in it, which sends it to a person; the others stuck, and each saves ``minutes_per_ticket``.
- People's first response is measured on the tickets that went to a person at once (not on
  automatic answers that came back, whose clock started with the first question): median and
  90th percentile (linear interpolation between the closest ranks) in wall-clock and in
  business hours, as the store recorded them. A ticket is within a deadline when a person
  answered before it (24 h, or one business day from its arrival); it breached it when the
  answer came later or the deadline passed without one. Tickets still waiting whose deadlines
  have not passed count for neither.
- Still open and overdue: the period's tickets open at ``now``, and those of them whose earlier
  deadline (as the store holds it now) has passed.
- Suggested answers (drafts) are counted by when they were made: ``made``, sent unchanged,
  sent edited, rejected (answered without it, or deleted unsent); per FAQ the acceptance rate
  (sent / decided) and the edit rate (edited / sent), the signal for letting an FAQ answer on
  its own.
- Ticket life is counted by when it happened in the period: automatic answers that resolved
  the question (``resolve_after`` passed with no word, or the customer's thanks, with no
  person's answer), resolutions and reopenings (their rate), and the customers' ratings.
- Agent hours saved: ``minutes_per_ticket`` for each automatic answer that resolved the question
  in the period, when the store counted them; otherwise for each automatic answer after which
  the customer did not write again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from inboxd.core.deadlines import BusinessCalendar, business_minutes_between, due_24h, \
    due_business_day

OUTCOMES = ("automatic", "person", "follow_up", "automated", "status")
OUTCOME_LABELS = {"automatic": "answered automatically", "person": "to a person",
                  "follow_up": "follow-up", "automated": "automated (robots)",
                  "status": "status request"}
_OUTCOME_OF = {"AutoAnswer": "automatic", "Acknowledge": "person", "Queue": "person",
               "FollowUp": "follow_up", "Record": "automated", "StatusReply": "status"}
TOP_FAQS = 10
SUGGESTION_COUNTS = ("made", "sent_unchanged", "sent_edited", "rejected")
AGENT = "agent"


@dataclass(frozen=True)
class MessageRow:
    """One incoming message, as ``Store.report_messages`` hands it out."""

    received_at: datetime
    decision: str  # the decision's class name: AutoAnswer, Acknowledge, FollowUp, …
    answer_given_up: bool = False  # its ticket's automatic answer was refused or may be lost

    @property
    def outcome(self) -> str | None:
        """What became of it (one of ``OUTCOMES``), None for an agent's relayed reply."""
        if self.decision == "AutoAnswer" and self.answer_given_up:
            return "person"
        return _OUTCOME_OF.get(self.decision)


@dataclass(frozen=True)
class TicketRow:
    """One ticket, as ``Store.report_tickets`` hands it out."""

    id: int
    created_at: datetime
    state: str
    language: str
    faq: str | None
    first_decision: str  # the decision on its first message
    answer_given_up: bool = False
    followed_up: bool = False  # the customer wrote again in it
    first_response_by: str | None = None  # "agent", "auto" or None
    first_response_at: datetime | None = None
    first_response_wall_min: float | None = None
    first_response_business_min: float | None = None
    next_due_at: datetime | None = None  # the earlier deadline of its current clock

    @property
    def automatic(self) -> bool:
        return self.first_decision == "AutoAnswer" and not self.answer_given_up

    @property
    def came_back(self) -> bool:
        return self.automatic and self.followed_up

    @property
    def by_person(self) -> bool:
        """Went to a person at once: its first response clock is the question's."""
        return not self.automatic


@dataclass(frozen=True)
class Deadline:
    """How the period's tickets for a person fared against one deadline."""

    within: int = 0  # answered by a person before it
    breached: int = 0  # answered after it, or passed without an answer

    @property
    def within_share(self) -> float | None:
        decided = self.within + self.breached
        return self.within / decided if decided else None


@dataclass(frozen=True)
class Response:
    """One first response by a person, for the distribution chart."""

    wall_h: float
    business_h: float
    business_day_h: float  # the business time of its own one-business-day deadline


@dataclass(frozen=True)
class FaqUse:
    faq: str
    answered: int
    came_back: int


@dataclass(frozen=True)
class SuggestionUse:
    """One FAQ's suggested answers (drafts) of a period, as ``Store.suggestion_counts`` counts."""

    faq: str
    made: int
    sent_unchanged: int = 0
    sent_edited: int = 0
    rejected: int = 0

    @property
    def sent(self) -> int:
        return self.sent_unchanged + self.sent_edited

    @property
    def acceptance_rate(self) -> float | None:
        """Sent (as written or edited) of those decided."""
        decided = self.sent + self.rejected
        return self.sent / decided if decided else None

    @property
    def edit_rate(self) -> float | None:
        """Edited of those sent."""
        return self.sent_edited / self.sent if self.sent else None


def _no_ratings() -> Mapping[int, int]:
    return {1: 0, 2: 0, 3: 0}


@dataclass(frozen=True)
class PeriodLife:
    """What the store counted of one period beyond its mail and tickets: the suggested answers
    made in it and what became of tickets in it (``inboxd.ticket_figures``)."""

    suggestions: tuple[SuggestionUse, ...] = ()
    resolved_auto: int | None = None  # automatic answers that resolved the question; None: unknown
    resolved: int = 0  # resolutions (each time counted)
    reopened: int = 0
    ratings: Mapping[int, int] = field(default_factory=_no_ratings)  # 1 good, 2 okay, 3 bad

    @property
    def reopen_rate(self) -> float | None:
        return self.reopened / self.resolved if self.resolved else None

    @property
    def all_suggestions(self) -> SuggestionUse:
        """The suggested answers of every FAQ together."""
        return SuggestionUse("all", *(sum(getattr(s, count) for s in self.suggestions)
                                      for count in SUGGESTION_COUNTS))


@dataclass(frozen=True)
class PeriodFigures:
    start: date  # the first day
    end: date  # the last day (included)
    daily: tuple[tuple[date, Mapping[str, int]], ...]  # each day: outcome -> messages
    messages: Mapping[str, int]  # outcome -> messages in the period
    tickets: int
    automatic: int
    came_back: int
    answered_by_people: int
    wall_median_h: float | None
    wall_p90_h: float | None
    business_median_h: float | None
    business_p90_h: float | None
    within_24h: Deadline
    within_business_day: Deadline
    still_open: int
    overdue: int
    faqs: tuple[FaqUse, ...]
    languages: tuple[tuple[str, int], ...]  # most first
    life: PeriodLife = PeriodLife()
    responses: tuple[Response, ...] = field(default=(), repr=False)

    @property
    def automatic_share(self) -> float | None:
        return self.automatic / self.tickets if self.tickets else None

    @property
    def stuck(self) -> int:
        """Automatic answers after which the customer did not write again."""
        return self.automatic - self.came_back

    @property
    def total_messages(self) -> int:
        return sum(self.messages.values())


@dataclass(frozen=True)
class Report:
    generated_at: datetime
    timezone: str
    days: int
    minutes_per_ticket: float
    current: PeriodFigures
    previous: PeriodFigures
    gaps: tuple[Mapping[str, Any], ...] = ()  # ``core.gaps.find_gaps`` groups of the period

    @staticmethod
    def saving(figures: PeriodFigures) -> int:
        """The automatic answers the hours saved count: those that resolved the question when
        the store counted them, else those after which the customer did not write again."""
        resolved = figures.life.resolved_auto
        return figures.stuck if resolved is None else resolved

    def hours_saved(self, figures: PeriodFigures) -> float:
        return self.saving(figures) * self.minutes_per_ticket / 60

    def to_json(self) -> dict[str, Any]:
        return {"generated_at": self.generated_at.isoformat(), "timezone": self.timezone,
                "days": self.days, "minutes_per_ticket": self.minutes_per_ticket,
                "current": self._period_json(self.current),
                "previous": self._period_json(self.previous),
                "gaps": [dict(g) for g in self.gaps]}

    def _period_json(self, p: PeriodFigures) -> dict[str, Any]:
        def deadline(d: Deadline) -> dict[str, Any]:
            return {"within": d.within, "breached": d.breached, "within_share": d.within_share}

        return {"start": p.start.isoformat(), "end": p.end.isoformat(),
                "messages": dict(p.messages), "messages_total": p.total_messages,
                "daily": [{"date": day.isoformat(), **counts} for day, counts in p.daily],
                "tickets": p.tickets, "automatic": p.automatic,
                "automatic_share": p.automatic_share, "came_back": p.came_back,
                "stuck": p.stuck, "hours_saved": round(self.hours_saved(p), 2),
                "answered_by_people": p.answered_by_people,
                "first_response_wall_h": {"median": p.wall_median_h, "p90": p.wall_p90_h},
                "first_response_business_h": {"median": p.business_median_h,
                                              "p90": p.business_p90_h},
                "within_24h": deadline(p.within_24h),
                "within_business_day": deadline(p.within_business_day),
                "still_open": p.still_open, "overdue": p.overdue,
                "faqs": [asdict(f) for f in p.faqs],
                "languages": dict(p.languages),
                "suggestions": _suggestions_json(p.life),
                "resolved_auto": p.life.resolved_auto, "resolved": p.life.resolved,
                "reopened": p.life.reopened, "reopen_rate": p.life.reopen_rate,
                "ratings": {str(k): v for k, v in p.life.ratings.items()}}


def _suggestions_json(life: PeriodLife) -> dict[str, Any]:
    def counts(s: SuggestionUse) -> dict[str, Any]:
        return {**asdict(s), "acceptance_rate": s.acceptance_rate, "edit_rate": s.edit_rate}

    overall = counts(life.all_suggestions)
    del overall["faq"]
    return {**overall, "faqs": [counts(s) for s in life.suggestions]}


def periods(now: datetime, days: int, cal: BusinessCalendar) -> tuple[datetime, datetime, datetime]:
    """(start of the previous period, start of the period, its end): local midnights."""
    today = now.astimezone(cal.tz).date()
    return (_midnight(today - timedelta(days=2 * days), cal), _midnight(today - timedelta(days=days), cal),
            _midnight(today, cal))


def last_due(now: datetime, weekday: int, hour: int, minute: int, cal: BusinessCalendar
             ) -> datetime:
    """The latest time at or before ``now`` on ``weekday`` (0 = Monday) at ``hour``:``minute``
    in the calendar's zone: when the weekly report was last due."""
    today = now.astimezone(cal.tz).date()
    day = today - timedelta(days=(today.weekday() - weekday) % 7)
    due = datetime.combine(day, time(hour, minute), tzinfo=cal.tz)
    return due if due <= now else due - timedelta(days=7)


def _midnight(day: date, cal: BusinessCalendar) -> datetime:
    return datetime.combine(day, time(0), tzinfo=cal.tz)


def build_report(messages: Sequence[MessageRow], tickets: Sequence[TicketRow], now: datetime,
                 days: int, cal: BusinessCalendar, minutes_per_ticket: float,
                 gaps: Sequence[Mapping[str, Any]] = (),
                 lives: tuple[PeriodLife, PeriodLife] = (PeriodLife(), PeriodLife())) -> Report:
    """The report of the ``days`` whole days before ``now`` and of the ``days`` before those,
    from the rows of both periods; ``lives``: what the store counted of the period and of the
    one before."""
    if days < 1:
        raise ValueError(f"a report covers at least one day, got {days}")
    before, start, end = periods(now, days, cal)
    return Report(generated_at=now, timezone=cal.tz.key, days=days,
                  minutes_per_ticket=minutes_per_ticket,
                  current=period_figures(messages, tickets, start, end, now, cal, lives[0]),
                  previous=period_figures(messages, tickets, before, start, now, cal, lives[1]),
                  gaps=tuple(gaps))


def period_figures(messages: Sequence[MessageRow], tickets: Sequence[TicketRow], start: datetime,
                   end: datetime, now: datetime, cal: BusinessCalendar,
                   life: PeriodLife = PeriodLife()) -> PeriodFigures:
    """The figures of [start, end), two local midnights."""
    mine = [t for t in tickets if start <= t.created_at < end]
    people = [t for t in mine if t.by_person]
    answered = [t for t in people if t.first_response_by == AGENT and t.first_response_at]
    wall = [t.first_response_wall_min / 60 for t in answered
            if t.first_response_wall_min is not None]
    business = [t.first_response_business_min / 60 for t in answered
                if t.first_response_business_min is not None]
    still_open = [t for t in mine if t.state == "open"]
    daily = _daily(messages, start, end, cal)
    return PeriodFigures(
        start=daily[0][0], end=daily[-1][0], daily=daily,
        messages={o: sum(c[o] for _, c in daily) for o in OUTCOMES},
        tickets=len(mine), automatic=sum(t.automatic for t in mine),
        came_back=sum(t.came_back for t in mine), answered_by_people=len(answered),
        wall_median_h=percentile(wall, 50), wall_p90_h=percentile(wall, 90),
        business_median_h=percentile(business, 50), business_p90_h=percentile(business, 90),
        within_24h=_deadline(people, now, lambda t: due_24h(t.created_at)),
        within_business_day=_deadline(people, now,
                                      lambda t: due_business_day(t.created_at, cal)),
        still_open=len(still_open),
        overdue=sum(1 for t in still_open if t.next_due_at and t.next_due_at <= now),
        faqs=_faq_uses(mine), languages=_languages(mine), life=life,
        responses=tuple(_response(t, cal) for t in answered
                        if t.first_response_wall_min is not None))


def _daily(messages: Sequence[MessageRow], start: datetime, end: datetime,
           cal: BusinessCalendar) -> tuple[tuple[date, Mapping[str, int]], ...]:
    first, last = start.date(), end.date()
    counts = {first + timedelta(days=i): Counter({o: 0 for o in OUTCOMES})
              for i in range((last - first).days)}
    for m in messages:
        outcome = m.outcome
        if outcome is not None and start <= m.received_at < end:
            counts[m.received_at.astimezone(cal.tz).date()][outcome] += 1
    return tuple((day, dict(c)) for day, c in counts.items())


def _deadline(people: Sequence[TicketRow], now: datetime, due: Any) -> Deadline:
    within = breached = 0
    for t in people:
        due_at = due(t)
        answered_at = t.first_response_at if t.first_response_by == AGENT else None
        if answered_at is not None and answered_at <= due_at:
            within += 1
        elif answered_at is not None or (t.state == "open" and due_at <= now):
            breached += 1
    return Deadline(within, breached)


def _response(t: TicketRow, cal: BusinessCalendar) -> Response:
    deadline_h = business_minutes_between(t.created_at, due_business_day(t.created_at, cal),
                                          cal) / 60
    return Response(wall_h=(t.first_response_wall_min or 0) / 60,
                    business_h=(t.first_response_business_min or 0) / 60,
                    business_day_h=deadline_h)


def _faq_uses(tickets: Sequence[TicketRow]) -> tuple[FaqUse, ...]:
    answered = Counter(t.faq for t in tickets if t.automatic and t.faq)
    back = Counter(t.faq for t in tickets if t.came_back and t.faq)
    ranked = sorted(answered.items(), key=lambda item: (-item[1], item[0]))[:TOP_FAQS]
    return tuple(FaqUse(faq, count, back[faq]) for faq, count in ranked)


def _languages(tickets: Sequence[TicketRow]) -> tuple[tuple[str, int], ...]:
    counts = Counter(t.language or "?" for t in tickets)
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100), interpolating linearly between the closest ranks (as
    numpy's default); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
