"""Satisfaction surveys: sent once per resolved ticket, ratings recorded from the replies.

The sweep asks :func:`inboxd.core.survey.survey_due` about each resolved ticket not yet asked;
a survey goes through the outbox (kind ``survey``) in the same transaction that marks the
ticket as asked (``tickets.survey``), so it is sent once; a ticket that gets none is marked
with the reason, so it is not asked about again.
"""

from __future__ import annotations

import logging
from datetime import datetime
from email.utils import make_msgid

from inboxd.core.message import is_noreply_address, parse_message
from inboxd.core.render import mail_language, sender_domain
from inboxd.core.survey import (LABELS, Rated, SendSurvey, SkipSurvey, SurveyCandidate,
                                SurveyMail, SurveyPolicy, build_survey, mailto, survey_due)
from inboxd.runtime import Runtime
from inboxd.store import Ticket, from_iso, iso

log = logging.getLogger(__name__)

SURVEY_KIND = "survey"
CANDIDATES_SQL = (
    "select t.id, t.resolved_at, t.answered_by, t.customer, "
    "exists (select 1 from messages m where m.ticket_id = t.id and m.direction = 'in' "
    "and m.automated is not null and lower(m.sender) = lower(t.customer)) as automated "
    "from tickets t where t.state in ('resolved', 'closed') and t.survey is null "
    "and t.resolved_at <= ? order by t.resolved_at, t.id")


def survey_policy(rt: Runtime) -> SurveyPolicy:
    s = rt.config.survey
    return SurveyPolicy(after=s.after, min_interval=s.min_interval, include_auto=s.include_auto)


def send_due_surveys(rt: Runtime, now: datetime) -> list[SendSurvey | SkipSurvey]:
    """Journal the surveys due at ``now`` (one transaction per ticket); returns the choices."""
    if not rt.config.survey.enabled:
        return []
    policy = survey_policy(rt)
    done: list[SendSurvey | SkipSurvey] = []
    for row in rt.store.db.execute(CANDIDATES_SQL, [iso(now - policy.after)]).fetchall():
        with rt.store.transaction():
            choice = survey_due(_candidate(rt, row), now, policy)  # per row: sees the last one
            if choice is None:
                continue
            ticket = rt.store.ticket(choice.ticket_id)
            assert ticket is not None
            if isinstance(choice, SendSurvey):
                _queue_survey(rt, ticket, now)
                rt.store.update_ticket(ticket.id, {"survey": "sent", "survey_at": iso(now)})
                rt.store.add_event(ticket.id, now, "survey", f"survey sent to {ticket.customer}")
            else:
                rt.store.update_ticket(ticket.id, {"survey": f"skipped: {choice.reason}",
                                                   "survey_at": iso(now)})
                rt.store.add_event(ticket.id, now, "survey-skipped", choice.reason)
            done.append(choice)
    return done


def _candidate(rt: Runtime, row: tuple) -> SurveyCandidate:  # type: ignore[type-arg]
    ticket_id, resolved_at, answered_by, customer = row[0], row[1], row[2], row[3]
    last = rt.store.db.execute(
        "select max(created_at) from outbox where kind = 'survey' and lower(recipient) = ?",
        [customer.lower()]).fetchone()[0]
    return SurveyCandidate(ticket_id=ticket_id, resolved_at=from_iso(resolved_at),  # type: ignore[arg-type]
                           answered_by=answered_by,
                           automated_sender=bool(row[4]) or "@" not in customer
                           or is_noreply_address(customer),
                           last_survey_to_customer=from_iso(last))


def _queue_survey(rt: Runtime, ticket: Ticket, now: datetime) -> None:
    language = mail_language(ticket.language, rt.config.faq.default_language,
                             rt.templates.languages(SURVEY_KIND))
    support = rt.config.support_address
    latest = rt.store.latest_inbound(ticket.id)
    thread = parse_message(latest["raw"]) if latest and latest["raw"] else None
    values = {"ticket_id": ticket.id, "subject": ticket.subject,
              "customer_name": thread.sender_name if thread else "",
              "support_name": rt.config.policy.support_name,
              "links": {LABELS[r]: mailto(support, ticket.id, r, language) for r in LABELS}}
    body = rt.templates.render(SURVEY_KIND, [language, rt.config.faq.default_language, "en"],
                               values)
    title, _, text = body.partition("\n")
    sender = rt.config.smtp.sender
    mail = build_survey(SurveyMail(
        sender=sender, customer=ticket.customer, customer_name=values["customer_name"],
        ticket_id=ticket.id, subject=title.strip(), body=text.lstrip("\n"), language=language,
        message_id=make_msgid(domain=sender_domain(sender)), now=now,
        in_reply_to=thread.message_id if thread else None))
    rt.store.queue_outgoing({"ticket_id": ticket.id, "kind": SURVEY_KIND,
                             "message_id": mail["Message-ID"], "recipient": ticket.customer,
                             "raw": bytes(mail), "created_at": iso(now)})


def record_rating(rt: Runtime, d: Rated, now: datetime) -> None:
    """Record a survey reply on its ticket, in the caller's transaction; a bad rating or one
    with words is left for a person in the ticket's queue (the message's folder)."""
    rating = d.rating
    rt.store.update_ticket(d.ticket_id, {"rating": rating.value,
                                         "rating_comment": rating.comment or None,
                                         "rated_at": iso(now)})
    said = f": {rating.comment[:200]}" if rating.comment else ""
    rt.store.add_event(d.ticket_id, now, "rated", f"{rating.value} ({LABELS[rating.value]}){said}")
    if rating.needs_person:
        rt.store.add_event(d.ticket_id, now, "rating-follow-up",
                           "the rating is for a person to read: its message is in the queue")
    log.info("ticket #%d rated %d by the customer", d.ticket_id, rating.value)
