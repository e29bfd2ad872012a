"""The deadline sweep: plan notices with ``inboxd.core.clocks``, then journal them.

``plan_sweep`` reads the open tickets whose earlier deadline falls before ``now +
notify.warn_before`` (one indexed query) and returns the notices due, writing nothing.
``sweep`` records each ticket's notices in one transaction together with what they cause:

* Warn -> a warning mail to the ticket's team addresses (or ``notify.default_address``);
* Breach -> one escalation mail to ``notify.escalation_address`` for the deadlines that passed,
  and on the clock's first breach a ``flag`` (\\Flagged) and a ``copy`` (to ``folders.overdue``)
  action for the customer's latest message;
* Courtesy -> a mail to the customer, threaded under their message, with the new time.

The mails go through the outbox and the flag/copy through the actions journal, so
``inboxd.steps.outbox.flush`` sends and applies them exactly like replies and moves. A notice whose
recipients are not configured is still recorded (with a note), so it is not planned again.

Breaches older than ``notify.max_age`` (stale, see ``inboxd.core.clocks``) are flagged and
copied as usual but escalated together, in one digest mail to ``notify.escalation_address``;
a sweep that finds any records all its tickets and the digest in one transaction, so after a
crash or a restart the digest is sent once or planned again whole, never twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from inboxd.core.bodytext import question_text
from inboxd.core.clocks import (DEADLINE_LABELS, Breach, Courtesy, Notice, NotifyPolicy, Waiting,
                                Warn, clock_finished, customer_zone, format_duration, is_stale,
                                notice_recipients, plan_notices)
from inboxd.core.message import ParsedMessage, parse_message
from inboxd.core.notice_mail import (DigestMail, InternalMail, build_digest, build_internal,
                                     excerpt)
from inboxd.core.render import Reply, build_reply, format_when, mail_language, sender_domain
from inboxd.runtime import Runtime
from inboxd.steps.lifecycle import sweep_lifecycle
from inboxd.steps.survey import send_due_surveys
from inboxd.store import Ticket, from_iso, iso

log = logging.getLogger(__name__)


def notify_policy(rt: Runtime) -> NotifyPolicy:
    notify = rt.config.notify
    return NotifyPolicy(warn_before=notify.warn_before,
                        courtesy_on_breach=notify.courtesy_on_breach, max_age=notify.max_age)


def plan_sweep(rt: Runtime, now: datetime | None = None) -> list[Notice]:
    """The notices due at ``now`` (default: the runtime's clock); writes nothing."""
    now = now or rt.clock()
    rows = rt.store.clock_candidates(now + rt.config.notify.warn_before)
    return plan_notices(now, rt.calendar, notify_policy(rt), [waiting(r) for r in rows])


def waiting(row: dict[str, Any]) -> Waiting:
    sent = frozenset(tuple(s.split(":", 1)) for s in (row["sent"] or "").split())
    return Waiting(ticket_id=row["id"], clock_start=from_iso(row["clock_start"]),  # type: ignore[arg-type]
                   due_24h=from_iso(row["due_24h"]),
                   due_business_day=from_iso(row["due_business_day"]),
                   sent=sent)  # type: ignore[arg-type]


@dataclass(frozen=True)
class StaleBreaches:
    """One ticket's breaches for the digest, with their recorded notice ids."""

    ticket: Ticket
    breaches: list[tuple[Notice, int]]


def sweep(rt: Runtime) -> list[Notice]:
    """Plan and journal the notices due now; one transaction per ticket, all in one when the
    digest of stale breaches is due. Returns them."""
    now = rt.clock()
    planned = plan_sweep(rt, now)
    by_ticket: dict[int, list[Notice]] = defaultdict(list)
    for notice in planned:
        by_ticket[notice.ticket.ticket_id].append(notice)
    policy = notify_policy(rt)
    any_stale = any(is_stale(n, now, policy) for n in planned)
    with rt.store.transaction() if any_stale else nullcontext():
        digest = []
        for ticket_id, notices in by_ticket.items():
            with rt.store.transaction():
                digest += _apply(rt, ticket_id, notices, now, policy)
        if digest:
            _digest(rt, digest, now)
    sweep_lifecycle(rt)
    send_due_surveys(rt, now)
    return planned


def _apply(rt: Runtime, ticket_id: int, notices: list[Notice], now: datetime,
           policy: NotifyPolicy) -> list[StaleBreaches]:
    """Journal one ticket's notices; returns its stale breaches, left for the digest."""
    ticket = rt.store.ticket(ticket_id)
    inbound = rt.store.latest_inbound(ticket_id)
    if ticket is None:
        return []
    parsed = parse_message(inbound["raw"]) if inbound else None
    texts = _texts(rt, ticket_id, inbound, parsed)
    recorded = [(n, nid) for n in notices if (nid := _record(rt, n, now)) is not None]
    stale = [(n, nid) for n, nid in recorded if is_stale(n, now, policy)]
    fresh = [(n, nid) for n, nid in recorded if not is_stale(n, now, policy)]
    for n, nid in fresh:
        if isinstance(n, Warn):
            _warn(rt, ticket, texts, n, nid, now)
        elif isinstance(n, Courtesy):
            _courtesy(rt, ticket, parsed, n, nid, now)
    late_courtesy = [nid for n, nid in stale if isinstance(n, Courtesy)]
    if late_courtesy:
        _note(rt, ticket.id, late_courtesy, now,
              "courtesy: the deadline passed more than notify.max_age ago; no mail sent")
    if clock_finished(notices[0].ticket, notices):  # nothing more to send on this clock
        rt.store.update_ticket(ticket.id, {"notices_done_for": iso(notices[0].ticket.clock_start)})
    breaches = [(n, nid) for n, nid in fresh if isinstance(n, Breach)]
    if breaches:
        _escalate(rt, ticket, texts, breaches, now)
    if inbound and any(isinstance(n, Breach) and n.first for n, _ in recorded):
        _mark_overdue(rt, ticket.id, inbound["id"], now)
    old = [(n, nid) for n, nid in stale if isinstance(n, Breach)]
    return [StaleBreaches(ticket, old)] if old else []


def _record(rt: Runtime, n: Notice, now: datetime) -> int | None:
    return rt.store.record_notice({
        "ticket_id": n.ticket.ticket_id, "kind": n.kind, "deadline": n.deadline_kind,
        "due_at": iso(n.due_at), "clock_start": iso(n.ticket.clock_start), "at": iso(now)})


# -- the team -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Texts:
    """What a notice quotes: the customer's question (the ticket's first message) and, when
    they wrote again since, their latest message."""

    question: ParsedMessage | None
    latest: ParsedMessage | None


def _texts(rt: Runtime, ticket_id: int, latest: dict[str, Any] | None,
           parsed: ParsedMessage | None) -> _Texts:
    first = rt.store.first_inbound(ticket_id)
    if first is None or latest is None or first["id"] == latest["id"]:
        return _Texts(parsed, None)
    return _Texts(parse_message(first["raw"]), parsed)


def _warn(rt: Runtime, ticket: Ticket, texts: _Texts, n: Warn, notice_id: int,
          now: datetime) -> None:
    notify = rt.config.notify
    to = notice_recipients(ticket.team, notify.team_addresses, notify.default_address)
    values = {**_facts(rt, ticket, texts), "deadline": DEADLINE_LABELS[n.deadline_kind],
              "due_at": _when(rt, n.due_at), "relay_mode": rt.config.relay is not None}
    _send_internal(rt, ticket, "warning", "Due soon", values, to, [notice_id], now)


def _escalate(rt: Runtime, ticket: Ticket, texts: _Texts,
              breaches: list[tuple[Notice, int]], now: datetime) -> None:
    first = any(n.first for n, _ in breaches)  # type: ignore[union-attr]
    passed = [{"deadline": DEADLINE_LABELS[n.deadline_kind], "due_at": _when(rt, n.due_at)}
              for n, _ in breaches]
    values = {**_facts(rt, ticket, texts), "passed": passed,
              "overdue_folder": rt.config.folders.overdue if first else None}
    _send_internal(rt, ticket, "escalation", "Overdue", values,
                   rt.config.notify.escalation_address, [nid for _, nid in breaches], now)


def _digest(rt: Runtime, stale: list[StaleBreaches], now: datetime) -> None:
    """One mail to the escalation addresses listing every stale breach of this sweep."""
    notice_ids = [nid for s in stale for _, nid in s.breaches]
    to = rt.config.notify.escalation_address
    if not to:
        for s in stale:
            _note(rt, s.ticket.id, [nid for _, nid in s.breaches], now,
                  "digest of old breaches: no address configured, no mail sent")
        return
    max_age = format_duration(rt.config.notify.max_age)
    values = {"max_age": max_age, "overdue_folder": rt.config.folders.overdue,
              "support_name": rt.config.policy.support_name,
              "tickets": [_digest_entry(rt, s) for s in stale]}
    body = rt.templates.render("digest", ["en"], values)
    msg = build_digest(DigestMail(len(stale), max_age, body, rt.config.smtp.sender, tuple(to),
                                  _msgid(rt), now))
    recipient = ", ".join(to)
    _queue(rt, None, "escalation", msg, recipient, notice_ids, now)
    for s in stale:
        rt.store.add_event(s.ticket.id, now, "escalation",
                           f"listed in the digest of {len(stale)} old breaches to {recipient}")


def _digest_entry(rt: Runtime, stale: StaleBreaches) -> dict[str, Any]:
    t = stale.ticket
    return {"ticket_id": t.id, "customer": t.customer, "subject": " ".join(t.subject.split()),
            "team": t.team, "received_at": _when(rt, t.awaiting_since or t.created_at),
            "passed": [{"deadline": DEADLINE_LABELS[n.deadline_kind], "due_at": _when(rt, n.due_at)}
                       for n, _ in stale.breaches]}


def _send_internal(rt: Runtime, ticket: Ticket, kind: str, title: str, values: dict[str, Any],
                   to: Sequence[str], notice_ids: list[int], now: datetime) -> None:
    if not to:
        _note(rt, ticket.id, notice_ids, now, f"{kind}: no address configured, no mail sent")
        return
    body = rt.templates.render(kind, ["en"], values)
    msg = build_internal(InternalMail(ticket.id, title, ticket.subject, body,
                                      rt.config.smtp.sender, tuple(to), _msgid(rt), now))
    _queue(rt, ticket.id, kind, msg, ", ".join(to), notice_ids, now)


def _facts(rt: Runtime, ticket: Ticket, texts: _Texts) -> dict[str, Any]:
    return {"ticket_id": ticket.id, "customer": ticket.customer, "subject": ticket.subject,
            "team": ticket.team, "received_at": _when(rt, ticket.awaiting_since or
                                                       ticket.created_at),
            "excerpt": _excerpt(texts.question), "latest": _excerpt(texts.latest),
            "support_name": rt.config.policy.support_name}


def _excerpt(parsed: ParsedMessage | None) -> str:
    return "\n".join(excerpt(question_text(parsed.text, ""))) if parsed else ""  # no subject


def _mark_overdue(rt: Runtime, ticket_id: int, message_row: int, now: datetime) -> None:
    for kind, target in (("flag", "\\Flagged"), ("copy", rt.config.folders.overdue)):
        rt.store.queue_action({"message_row": message_row, "kind": kind, "target": target,
                               "created_at": iso(now)})
    rt.store.add_event(ticket_id, now, "overdue",
                       f"message to be flagged and copied to {rt.config.folders.overdue}")


# -- the customer -------------------------------------------------------------------------------

def _courtesy(rt: Runtime, ticket: Ticket, parsed: ParsedMessage | None, n: Courtesy,
              notice_id: int, now: datetime) -> None:
    if parsed is None or not parsed.reply_to:
        _note(rt, ticket.id, [notice_id], now, "courtesy: no customer address, no mail sent")
        return
    language = _courtesy_language(rt, ticket.language)
    zone = customer_zone(parsed.date, rt.tz, n.expected_at)
    values = {"ticket_id": ticket.id, "customer_name": parsed.sender_name,
              "support_name": rt.config.policy.support_name,
              "due_at": format_when(n.expected_at.astimezone(zone), language)}
    body = rt.templates.render("courtesy", [language], values)
    msg = build_reply(Reply(original=parsed, ticket_id=ticket.id, body=body, language=language,
                            sender=rt.config.smtp.sender, message_id=_msgid(rt), now=now))
    _queue(rt, ticket.id, "courtesy", msg, parsed.reply_to, [notice_id], now)


def _courtesy_language(rt: Runtime, language: str) -> str:
    return mail_language(language, rt.config.faq.default_language,
                         rt.templates.languages("courtesy"))


# -- journal ------------------------------------------------------------------------------------

def _queue(rt: Runtime, ticket_id: int | None, kind: str, msg: EmailMessage, recipient: str,
           notice_ids: list[int], now: datetime) -> None:
    outbox_id = rt.store.queue_outgoing({"ticket_id": ticket_id, "kind": kind,
                                         "message_id": msg["Message-ID"], "recipient": recipient,
                                         "raw": bytes(msg), "created_at": iso(now)})
    for notice_id in notice_ids:
        rt.store.update_notice(notice_id, {"outbox_id": outbox_id})
    if ticket_id is None:
        log.info("%s to %s", msg["Subject"], recipient)
        return
    rt.store.add_event(ticket_id, now, kind, f"queued to {recipient}")
    log.info("ticket #%d: %s to %s", ticket_id, kind, recipient)


def _note(rt: Runtime, ticket_id: int, notice_ids: list[int], now: datetime, detail: str) -> None:
    for notice_id in notice_ids:
        rt.store.update_notice(notice_id, {"detail": detail})
    rt.store.add_event(ticket_id, now, "notice", detail)


def _when(rt: Runtime, at: datetime) -> str:
    return format_when(at.astimezone(rt.tz), "en")


def _msgid(rt: Runtime) -> str:
    return make_msgid(domain=sender_domain(rt.config.smtp.sender))


def describe(n: Notice, rt: Runtime) -> str:
    """One line for people: ``#12 warning: one business day, due Tuesday, November 24, 2026, 10:00 AM …``."""
    text = f"#{n.ticket.ticket_id} {n.kind}: {DEADLINE_LABELS[n.deadline_kind]}, due " \
           f"{_when(rt, n.due_at)}"
    if isinstance(n, Courtesy):
        text += f"; customer told {_when(rt, n.expected_at)}"
    if is_stale(n, rt.clock(), notify_policy(rt)):
        text += "; older than notify.max_age: " + \
            ("in the digest" if isinstance(n, Breach) else "not sent")
    return text
