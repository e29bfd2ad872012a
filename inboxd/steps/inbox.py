"""One pass over the inbox: fetch -> parse -> classify -> decide -> commit, then apply.

For each new message (by UID, above the folder's checkpoint) ``triage`` reads what it needs and
returns a :class:`Triage` value; nothing is written. ``commit`` then records, in one
transaction, the ticket, the raw message, the reply to send (outbox), the move to make
(actions) and the new checkpoint. Only after that does ``inboxd.steps.outbox.flush`` talk to
the SMTP and IMAP servers, marking each step done. A dry run stops after ``triage``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import make_msgid

from inboxd.core.classify import Match
from inboxd.core.decide import (Acknowledge, AutoAnswer, Decision, Facts, FollowUp, Queue,
                                Record, TicketRef, decide)
from inboxd.core.language import detect_language
from inboxd.core.message import ParsedMessage, parse_message, strip_ticket_tag, thread_keys
from inboxd.core.render import Reply, build_reply, format_when, mail_language, sender_domain
from inboxd.errors import InboxdError
from inboxd.faults import crash_point
from inboxd.core.relay import AgentCheck, RelayReply
from inboxd.core.lifecycle import CLOSED
from inboxd.core.status import StatusReply
from inboxd.core.survey import Rated
from inboxd.mail.imap import Fetched
from inboxd.steps.drafts import queue_draft
from inboxd.steps.lifecycle import (Thanked, apply_thanks, new_clock, note_reopened,
                                    reopen_values, reply_decision)
from inboxd.steps.outbox import flush
from inboxd.steps.survey import record_rating
from inboxd.steps.relay import after_commit as relay_after_commit
from inboxd.steps.relay import agent_check, may_continue
from inboxd.steps.status import customer_tickets, queue_status_reply
from inboxd.runtime import Runtime
from inboxd.store import iso

log = logging.getLogger(__name__)

FETCH_BATCH = 100


@dataclass(frozen=True)
class Triage:
    """One message and what inboxd decided about it."""

    fetched: Fetched
    parsed: ParsedMessage
    language: str
    match: Match | None
    decision: Decision | Thanked | Rated
    folder: str  # where the message goes in the mailbox
    follows: int | None = None  # the closed ticket a new one continues

    @property
    def arrival(self) -> datetime | None:
        return self.fetched.internaldate


@dataclass(frozen=True)
class Outcome:
    """What happened to one message, for people reading the output."""

    triage: Triage
    ticket_id: int | None


def process_inbox(rt: Runtime, dry_run: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> list[Outcome]:
    """Handle every message that arrived since the last run; returns what was done.
    ``progress(done, total)`` hears of each message handled (a backlog can be long)."""
    inbox = rt.config.imap.inbox
    state = rt.mailbox.select(inbox)
    checkpoint = rt.store.checkpoint(inbox)
    backlog = checkpoint is None
    if backlog and rt.config.policy.backlog == "ignore":
        if not dry_run:
            rt.store.set_checkpoint(inbox, state.uidvalidity, state.uidnext - 1)
            log.info("first start: %d message(s) already in %s left alone",
                     len(rt.mailbox.uids_after(inbox, 0)), inbox)
        return []
    last_uid = checkpoint.last_uid if checkpoint else 0
    if checkpoint and checkpoint.uidvalidity != state.uidvalidity:
        log.warning("%s was recreated (UIDVALIDITY changed); re-reading it, skipping "
                    "messages already handled", inbox)
        last_uid = 0
    outcomes: list[Outcome] = []
    new_uids = rt.mailbox.uids_after(inbox, last_uid)
    for uids in _chunks(new_uids, FETCH_BATCH):
        # a message committed before a crash is left out: flush replays its pending steps
        batch = [fetched for fetched in rt.mailbox.fetch(inbox, uids)
                 if not rt.store.has_message(inbox, state.uidvalidity, fetched.uid)]
        for fetched, reading in zip(batch, _read_batch(rt, batch)):
            outcomes.append(_handle(rt, fetched, reading, state.uidvalidity, backlog, dry_run))
            if progress is not None:
                progress(len(outcomes), len(new_uids))
        if not dry_run:
            flush(rt)
    if backlog and not dry_run and rt.store.checkpoint(inbox) is None:
        rt.store.set_checkpoint(inbox, state.uidvalidity, state.uidnext - 1)
    return outcomes


def _handle(rt: Runtime, fetched: Fetched, reading: Reading | None, uidvalidity: int,
            backlog: bool, dry_run: bool) -> Outcome:
    try:
        t = triage(rt, fetched, backlog, reading)
    except InboxdError:
        raise  # the store or a server is in trouble: the whole pass is retried
    except Exception as exc:  # a defect met by this one message: shunt it to a person
        t = shunt(rt, fetched, exc)
    log.info("uid %d from %s: %s (%s)", fetched.uid, t.parsed.sender or "?",
             type(t.decision).__name__, t.decision.reason,
             extra={"uid": fetched.uid, "decision": type(t.decision).__name__,
                    "ticket": getattr(t.decision, "ticket_id", None)})
    if dry_run:
        return Outcome(t, None)
    try:
        return Outcome(t, commit(rt, t, uidvalidity))
    except InboxdError:
        raise
    except Exception as exc:  # e.g. an operator's template that does not render
        t = shunt(rt, fetched, exc)
        return Outcome(t, commit(rt, t, uidvalidity))


def shunt(rt: Runtime, fetched: Fetched, exc: Exception) -> Triage:
    """The triage of a message inboxd failed on: a ticket for a person, no mail sent."""
    log.error("uid %d could not be handled (%s: %s); it goes to a person", fetched.uid,
              type(exc).__name__, exc, exc_info=exc)
    parsed = parse_message(fetched.raw, own_addresses={rt.config.support_address})
    decision = Queue(f"inboxd could not handle this message ({type(exc).__name__}: {exc}); "
                     "left for a person")
    return Triage(fetched, parsed, rt.config.faq.default_language, None, decision,
                  _folder(rt, decision))


@dataclass(frozen=True)
class Reading:
    """What a message says, before anything is looked up: parsed, its language, and the FAQ
    closest to its question (None for automated mail, which is never answered)."""

    parsed: ParsedMessage
    language: str
    match: Match | None


def read(rt: Runtime, batch: Sequence[Fetched]) -> list[Reading]:
    """Parse the messages of a batch and classify their questions together (faster per message
    than one by one); pure: looks nothing up and writes nothing."""
    parsed = [parse_message(f.raw, own_addresses={rt.config.support_address}) for f in batch]
    asked = iter(rt.classifier.predict_many([p.question for p in parsed if not p.automated]))
    languages, default = _languages(rt), rt.config.faq.default_language
    return [Reading(p, detect_language(p.question, languages, default),
                    None if p.automated else next(asked)) for p in parsed]


def _read_batch(rt: Runtime, batch: Sequence[Fetched]) -> Sequence[Reading | None]:
    try:
        return read(rt, batch)
    except InboxdError:
        raise
    except Exception:  # a defect: read each message on its own, so that only its own fails
        log.exception("reading a batch of %d message(s) failed; reading them one by one",
                      len(batch))
        return [None] * len(batch)


def triage(rt: Runtime, fetched: Fetched, backlog: bool = False,
           reading: Reading | None = None) -> Triage:
    """Parse (unless ``reading`` holds that already), look up, classify and decide; writes
    nothing."""
    reading = reading or read(rt, [fetched])[0]
    parsed = reading.parsed
    facts = _facts(rt, parsed, backlog, agent_check(rt, fetched.raw, parsed))
    settled = None if facts.duplicate_of or facts.agent else \
        reply_decision(rt, parsed, facts.ticket.id if facts.ticket else None)
    if settled is not None:
        return Triage(fetched, parsed, reading.language, None, settled, _folder(rt, settled))
    follows = facts.ticket.id if facts.ticket and facts.ticket.state == CLOSED else None
    if follows is not None:  # a message on a closed ticket opens a new one
        facts = replace(facts, ticket=None)
    match = None if facts.ticket or facts.duplicate_of else reading.match
    team_of = {e.id: e.team for e in rt.faq.entries}
    decision = decide(parsed, match, facts, rt.policy, team_of)
    return Triage(fetched, parsed, reading.language, match, decision, _folder(rt, decision),
                  follows)


def _facts(rt: Runtime, parsed: ParsedMessage, backlog: bool,
           agent: AgentCheck | None = None) -> Facts:
    duplicate = rt.store.inbound_by_message_id(parsed.message_id) if parsed.message_id else None
    since = rt.clock() - timedelta(hours=24)
    recent = rt.store.auto_replies_since(parsed.reply_to, since) if parsed.reply_to else 0
    return Facts(ticket=_thread_ticket(rt, parsed, agent), agent=agent,
                 customer_tickets=customer_tickets(rt, parsed),
                 duplicate_of=duplicate["ticket_id"] if duplicate else None,
                 auto_replies_today=recent, backlog=backlog,
                 answerable_faqs=frozenset(e.id for e in rt.faq.entries if e.sends),
                 suggestible_faqs=frozenset(e.id for e in rt.faq.entries if e.suggests))


def _thread_ticket(rt: Runtime, parsed: ParsedMessage,
                   agent: AgentCheck | None = None) -> TicketRef | None:
    ticket = rt.store.ticket_for_message_ids(thread_keys(parsed))
    if ticket is None and parsed.ticket_tag is not None:
        tagged = rt.store.ticket(parsed.ticket_tag)
        if tagged is not None and may_continue(rt, tagged, parsed, agent):
            ticket = tagged
    elif ticket is not None and agent is not None and not agent.trusted \
            and not may_continue(rt, ticket, parsed, agent):
        ticket = None  # an unauthenticated claim of an agent's address joins no one's thread
    if ticket is None:
        return None
    return TicketRef(ticket.id, ticket.customer, ticket.state, ticket.team, ticket.answered_by)


def _languages(rt: Runtime) -> frozenset[str]:
    return rt.faq.languages | rt.templates.languages("acknowledgement")


def _folder(rt: Runtime, decision: Decision | Thanked | Rated) -> str:
    folders = rt.config.folders
    if isinstance(decision, Record):
        return folders.automated
    if isinstance(decision, AutoAnswer | StatusReply | RelayReply | Thanked):
        return folders.answered
    if isinstance(decision, Rated) and not decision.rating.needs_person:
        return folders.answered
    team = decision.team
    return f"{folders.queue}/{team}" if team else folders.queue


def commit(rt: Runtime, t: Triage, uidvalidity: int) -> int | None:
    """Record the message, its ticket, reply and move in one transaction."""
    now = rt.clock()
    arrival = t.arrival or now
    inbox = rt.config.imap.inbox
    with rt.store.transaction():
        ticket_id = _ticket(rt, t, arrival, now)
        row = rt.store.insert_message({
            "ticket_id": ticket_id, "direction": "in", "folder": inbox,
            "uidvalidity": uidvalidity, "uid": t.fetched.uid,
            "message_id": t.parsed.message_id, "sender": t.parsed.sender,
            "subject": t.parsed.subject, "received_at": iso(arrival),
            "decision": type(t.decision).__name__, "reason": t.decision.reason,
            "automated": t.parsed.automated, "defects": "; ".join(t.parsed.defects) or None,
            "raw": t.fetched.raw})
        if ticket_id is not None:
            rt.store.add_event(ticket_id, now, "received", t.decision.reason)
            _queue_reply(rt, t, ticket_id, now)
            queue_draft(rt, t.parsed, t.fetched.raw, t.language, t.decision, ticket_id, row, now)
        _queue_other_mail(rt, t, ticket_id, arrival, now)
        rt.store.queue_action({"message_row": row, "folder": inbox, "uidvalidity": uidvalidity,
                               "uid": t.fetched.uid, "kind": "move", "target": t.folder,
                               "created_at": iso(now)})
        rt.store.set_checkpoint(inbox, uidvalidity, t.fetched.uid)
    crash_point("after-commit")
    return ticket_id


def _queue_other_mail(rt: Runtime, t: Triage, ticket_id: int | None, arrival: datetime,
                      now: datetime) -> None:
    """Status replies; relay mode's forwards to teams and agents' answers to customers."""
    if isinstance(t.decision, StatusReply):
        queue_status_reply(rt, t.parsed, t.decision, t.language, now)
    relay_after_commit(rt, t.fetched.raw, t.parsed, t.decision, ticket_id, arrival, now)


def _ticket(rt: Runtime, t: Triage, arrival: datetime, now: datetime) -> int | None:
    d = t.decision
    if isinstance(d, Record | RelayReply):
        return d.ticket_id
    if isinstance(d, Thanked):
        apply_thanks(rt, d, t.parsed, now)
        return d.ticket_id
    if isinstance(d, Rated):
        record_rating(rt, d, now)
        return d.ticket_id
    if isinstance(d, StatusReply):
        return None  # a status request opens no ticket
    if isinstance(d, FollowUp):
        _follow_up(rt, d, arrival, now)
        return d.ticket_id
    if isinstance(d, AutoAnswer):
        entry = rt.faq.get(d.faq_id)
        match = {"faq": d.faq_id, "confidence": d.confidence, "state": "answered",
                 "answered_by": "auto", "answered_at": iso(now),
                 "team": entry.team if entry else None}
    else:
        match = {"faq": None, "confidence": None, "state": "open",
                 "team": getattr(d, "team", None)}
    ticket_id = rt.store.insert_ticket({
        "customer": t.parsed.reply_to or t.parsed.sender or "unknown",
        "subject": strip_ticket_tag(t.parsed.subject), "language": t.language,
        **match, "created_at": iso(arrival), "updated_at": iso(now),
        "follows_ticket": t.follows, **new_clock(rt, arrival)})
    if t.follows is not None:
        rt.store.add_event(ticket_id, now, "follows", f"continues closed ticket #{t.follows}")
        rt.store.add_event(t.follows, now, "followed", f"the customer wrote again: ticket "
                                                       f"#{ticket_id}")
    return ticket_id


def _follow_up(rt: Runtime, d: FollowUp, arrival: datetime, now: datetime) -> None:
    ticket = rt.store.ticket(d.ticket_id)
    assert ticket is not None
    values = reopen_values(ticket, new_clock(rt, arrival)) | {"updated_at": iso(now)}
    note_reopened(rt, ticket, now, "the customer wrote again")
    rt.store.update_ticket(d.ticket_id, values)


def _queue_reply(rt: Runtime, t: Triage, ticket_id: int, now: datetime) -> None:
    composed = compose(rt, t, ticket_id, now)
    if composed is None:
        return
    kind, body, language = composed
    reply = build_reply(Reply(original=t.parsed, ticket_id=ticket_id, body=body,
                              language=language, sender=rt.config.smtp.sender,
                              message_id=make_msgid(domain=sender_domain(rt.config.smtp.sender)),
                              now=now))
    rt.store.queue_outgoing({"ticket_id": ticket_id, "kind": kind,
                             "message_id": reply["Message-ID"], "recipient": t.parsed.reply_to,
                             "raw": bytes(reply), "created_at": iso(now)})


def compose(rt: Runtime, t: Triage, ticket_id: int,
            now: datetime) -> tuple[str, str, str] | None:
    """(kind, body, language) of the mail a decision sends, or None when it sends nothing."""
    d = t.decision
    values = {"ticket_id": ticket_id, "customer_name": t.parsed.sender_name,
              "support_name": rt.config.policy.support_name}
    if isinstance(d, AutoAnswer):
        entry = rt.faq.get(d.faq_id)
        assert entry is not None
        language = _language(rt, t, "auto_answer", None if entry.template else entry.languages)
        answer = (rt.templates.render_file(entry.template, values) if entry.template
                  else entry.answers[language])
        body = rt.templates.render("auto_answer", _fallbacks(rt, language), {**values,
                                   "answer": answer})
        return "answer", body, language
    if isinstance(d, Acknowledge):
        ticket = rt.store.ticket(ticket_id)
        assert ticket is not None
        due = min(at for at in (ticket.due_24h, ticket.due_business_day) if at is not None)
        language = _language(rt, t, "acknowledgement")
        when = format_when(due.astimezone(rt.tz), language)
        body = rt.templates.render("acknowledgement", _fallbacks(rt, language),
                                   {**values, "due_at": when})
        return "acknowledgement", body, language
    return None


def _language(rt: Runtime, t: Triage, kind: str, answers: Sequence[str] | None = None) -> str:
    """The mail's one language: the customer's if both the ``kind`` template and the answer
    exist in it, else ``faq.default_language`` (see ``mail_language``)."""
    return mail_language(t.language, rt.config.faq.default_language,
                         rt.templates.languages(kind), answers)


def _fallbacks(rt: Runtime, language: str) -> list[str]:
    return list(dict.fromkeys([language, rt.config.faq.default_language, "en"]))


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
