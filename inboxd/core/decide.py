"""Triage policy: what to do with one incoming message, as a value.

``decide`` is pure: it is handed the parsed message, the classifier's best match, the ticket
the message belongs to (if any) and a few counts the pipeline looked up, and it returns a
decision. The pipeline applies decisions; ``--dry-run`` prints them instead.

Read it top to bottom: the first rule that fits wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from inboxd.core.classify import Match
from inboxd.core.message import ParsedMessage
from inboxd.core.relay import AgentCheck, RelayReply, relay_reply
from inboxd.core.rules import Rule, match_rule
from inboxd.core.status import StatusReply, status_reply


@dataclass(frozen=True)
class Policy:
    threshold: float  # below this confidence nothing is answered automatically
    route_threshold: float  # at or above this, an unanswered message goes to its FAQ's team
    auto_replies_per_sender_per_day: int
    rules: tuple[Rule, ...] = ()  # the FAQ file's [[rule]] overrides, in file order
    suggest_threshold: float = 0.0  # at or above this a person gets the answer as a draft; 0 off


@dataclass(frozen=True)
class TicketRef:
    """The existing ticket a message belongs to, as far as policy cares."""

    id: int
    customer: str
    state: str
    team: str | None
    answered_by: str | None = None  # who gave the latest answer: "auto" or "agent"


@dataclass(frozen=True)
class Facts:
    """What the pipeline looked up before deciding."""

    ticket: TicketRef | None = None  # the thread's ticket (participants already checked)
    duplicate_of: int | None = None  # ticket of an earlier copy of this very message
    auto_replies_today: int = 0  # automatic mails sent to this sender in the last 24 h
    backlog: bool = False  # the message was in the mailbox before inboxd first started
    answerable_faqs: frozenset[str] = frozenset()  # FAQs with an answer to send
    suggestible_faqs: frozenset[str] = frozenset()  # FAQs whose answer may go out as a draft
    customer_tickets: tuple[int, ...] = ()  # status requests: the reply address's tickets
    agent: AgentCheck | None = None  # relay mode: the sender claims to be an agent


@dataclass(frozen=True)
class Record:
    """Automated mail or a duplicate: kept and filed, never answered."""

    reason: str
    ticket_id: int | None = None


@dataclass(frozen=True)
class AutoAnswer:
    """A new ticket answered from the FAQ."""

    faq_id: str
    confidence: float
    reason: str


@dataclass(frozen=True)
class Acknowledge:
    """A new ticket for a human; the customer gets its number and the promised time."""

    reason: str
    team: str | None = None
    faq_id: str | None = None
    confidence: float | None = None
    suggest: str | None = None  # the FAQ whose answer a person gets as a draft reply


@dataclass(frozen=True)
class Queue:
    """A new ticket for a human, without any mail to the customer."""

    reason: str
    team: str | None = None


@dataclass(frozen=True)
class FollowUp:
    """The customer wrote again in an existing ticket: it goes (back) to a human."""

    ticket_id: int
    reason: str
    team: str | None = None


Decision = Record | AutoAnswer | Acknowledge | Queue | FollowUp | StatusReply | RelayReply


def decide(msg: ParsedMessage, match: Match | None, facts: Facts, policy: Policy,
           team_of: dict[str, str | None]) -> Decision:
    """The triage decision for one message. ``team_of`` maps FAQ ids to their team."""
    if facts.duplicate_of is not None:
        return Record("duplicate of a message already handled", facts.duplicate_of)
    if msg.automated:
        return Record(f"automated mail ({msg.automated})",
                      facts.ticket.id if facts.ticket else None)
    if (relayed := relay_reply(msg, facts.agent, facts.ticket)) is not None:
        return relayed
    if (status := _status(msg, facts, policy)) is not None:
        return status
    if facts.ticket is not None:
        return _follow_up(facts.ticket)
    if facts.backlog:
        return Queue("was in the mailbox before inboxd started; left for a person")
    if msg.reply_to is None:
        return Queue("no address to reply to; left for a person")
    if facts.auto_replies_today >= policy.auto_replies_per_sender_per_day:
        return Queue(f"sender already got {facts.auto_replies_today} automatic replies today")
    if (ruled := _ruled(msg, policy, facts, team_of)) is not None:
        return ruled
    if msg.defects:
        return Acknowledge(f"could not read the message fully ({msg.defects[0]})")
    return _new_question(match, facts, policy, team_of)


def _status(msg: ParsedMessage, facts: Facts, policy: Policy) -> StatusReply | Record | None:
    """A status request is answered without a ticket, within the daily reply limit."""
    reply = None if facts.backlog else status_reply(msg, facts.customer_tickets)
    if reply is not None and facts.auto_replies_today >= policy.auto_replies_per_sender_per_day:
        return Record(f"status request; sender already got {facts.auto_replies_today} "
                      "automatic replies today")
    return reply


def _follow_up(ticket: TicketRef) -> FollowUp:
    if ticket.answered_by == "auto" and ticket.state != "open":
        return FollowUp(ticket.id, "replied to an automatic answer: it did not help", ticket.team)
    return FollowUp(ticket.id, "wrote again in an existing ticket", ticket.team)


def _new_question(match: Match | None, facts: Facts, policy: Policy,
                  team_of: dict[str, str | None]) -> Decision:
    if match is None:
        return Acknowledge("no FAQ model to compare with")
    if match.confidence >= policy.threshold and match.faq_id in facts.answerable_faqs:
        return AutoAnswer(match.faq_id, match.confidence,
                          f"matches FAQ {match.faq_id} ({match.confidence:.2f} >= "
                          f"{policy.threshold:.2f})")
    team = team_of.get(match.faq_id) if match.confidence >= policy.route_threshold else None
    suggest = match.faq_id if _suggested(match, facts, policy) else None
    if match.confidence >= policy.threshold:
        reason = (f"FAQ {match.faq_id} ({match.confidence:.2f} >= {policy.threshold:.2f}) is "
                  "not sent automatically")
    else:
        reason = (f"not sure enough (best FAQ {match.faq_id} at {match.confidence:.2f} "
                  f"< {policy.threshold:.2f})")
    if suggest:
        reason += "; its answer is suggested as a draft"
    return Acknowledge(reason, team, match.faq_id, match.confidence, suggest)


def _suggested(match: Match, facts: Facts, policy: Policy) -> bool:
    """A person gets the FAQ's answer as a draft: at or above ``suggest_threshold`` (when
    suggestions are on), and always at or above the answer threshold (a "draft" mode FAQ)."""
    if match.faq_id not in facts.suggestible_faqs:
        return False
    bar = policy.suggest_threshold if policy.suggest_threshold > 0 else policy.threshold
    return match.confidence >= min(bar, policy.threshold)


def _ruled(msg: ParsedMessage, policy: Policy, facts: Facts,
           team_of: dict[str, str | None]) -> AutoAnswer | Acknowledge | None:
    """An operator rule decides instead of the classifier."""
    hit = match_rule(policy.rules, f"{msg.subject}\n{msg.question}", msg.sender)
    if hit is None:
        return None
    reason = f"{hit.rule.name} ({hit.matched})"
    if hit.rule.to_human:
        return Acknowledge(f"{reason} routes to a person", hit.rule.team)
    faq_id = hit.rule.route
    if hit.rule.draft or faq_id not in facts.answerable_faqs:
        suggest = faq_id if faq_id in facts.suggestible_faqs else None
        return Acknowledge(f"{reason} routes FAQ {faq_id} to a person"
                           + ("; its answer is suggested as a draft" if suggest else ""),
                           team_of.get(faq_id), faq_id, 1.0, suggest)
    return AutoAnswer(faq_id, 1.0, f"{reason} answers with FAQ {faq_id}")
