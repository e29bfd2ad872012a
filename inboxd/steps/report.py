"""The support report: its figures from the store, its charts, and the report mail through the
outbox.

``make_report`` reads the rows of the period and of the one before it from the store, groups
the questions people answered (as ``inboxd gaps``) and hands everything to the pure
:func:`inboxd.core.report.build_report`. ``queue_report`` journals the mail like every mail
inboxd sends: one outbox row (kind ``report``, no ticket), sent by ``steps.outbox`` once and
copied to the Sent folder. The weekly mail has a Message-ID made from its period, so however
often the job runs for one week (a restart, two daemons on one store), that week's report is
queued once. A weekly report that was due while inboxd was not running, or whose run failed,
is queued by ``queue_missed_report`` at the next sweep, for the period it was due for.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any

from inboxd.config import WEEKDAYS, Config
from inboxd.core.deadlines import BusinessCalendar
from inboxd.core.notice_mail import ReportMail, build_report_mail, content_id
from inboxd.core.render import sender_domain
from inboxd.core.report import MessageRow, PeriodLife, Report, SuggestionUse, TicketRow, \
    build_report, last_due, periods
from inboxd.core.report_render import CHARTS, report_html, report_text, title
from inboxd.errors import ConfigError
from inboxd.faq import Faq
from inboxd.runtime import Runtime
from inboxd.store import Store, from_iso, iso
from inboxd.ticket_figures import ratings, reopens, resolved_auto_answers

log = logging.getLogger(__name__)

KIND = "report"
GAP_GROUPS = 5
WEEK_DAYS = 7


def make_report(store: Store, config: Config, faq: Faq, cal: BusinessCalendar, now: datetime,
                days: int) -> Report:
    """The report of the ``days`` whole days before ``now`` and the period before them."""
    before, start, end = periods(now, days, cal)
    messages = [_message(r) for r in store.report_messages(before, end)]
    tickets = [_ticket(r) for r in store.report_tickets(before, end)]
    return build_report(messages, tickets, now, days, cal, config.report.minutes_per_ticket,
                        _gaps(store, config, faq, start, end),
                        (_life(store, start, end), _life(store, before, start)))


def _life(store: Store, since: datetime, until: datetime) -> PeriodLife:
    """The suggested answers made in [since, until) and what became of tickets in it."""
    counted = reopens(store, since, until)
    return PeriodLife(
        suggestions=tuple(SuggestionUse(faq=r["faq_id"], made=r["made"],
                                        sent_unchanged=r["sent_unchanged"] or 0,
                                        sent_edited=r["sent_edited"] or 0,
                                        rejected=r["rejected"] or 0)
                          for r in store.suggestion_counts(since, until)),
        resolved_auto=resolved_auto_answers(store, since, until), resolved=counted.resolved,
        reopened=counted.reopened, ratings=ratings(store, since, until))


def _message(row: dict[str, Any]) -> MessageRow:
    return MessageRow(received_at=from_iso(row["received_at"]),  # type: ignore[arg-type]
                      decision=row["decision"] or "", answer_given_up=bool(row["answer_given_up"]))


def _ticket(row: dict[str, Any]) -> TicketRow:
    return TicketRow(
        id=row["id"], created_at=from_iso(row["created_at"]),  # type: ignore[arg-type]
        state=row["state"], language=row["language"] or "", faq=row["faq"],
        first_decision=row["first_decision"] or "",
        answer_given_up=bool(row["answer_given_up"]), followed_up=bool(row["followed_up"]),
        first_response_by=row["first_response_by"],
        first_response_at=from_iso(row["first_response_at"]),
        first_response_wall_min=row["first_response_wall_min"],
        first_response_business_min=row["first_response_business_min"],
        next_due_at=from_iso(row["next_due_at"]))


def _gaps(store: Store, config: Config, faq: Faq, start: datetime,
          end: datetime) -> list[dict[str, Any]]:
    from inboxd.core.gaps import find_gaps, human_asked  # scikit-learn: loaded when needed

    asked = human_asked(store.human_questions(start, end))
    return find_gaps(asked, faq.languages | {config.faq.default_language},
                     {e.id: e.examples for e in faq.entries}, GAP_GROUPS)


def draw(report: Report) -> dict[str, bytes]:
    """Chart name -> PNG (matplotlib is loaded here, by the report alone)."""
    from inboxd.charts import draw_charts

    return draw_charts(report)


def html_page(report: Report, pngs: Mapping[str, bytes]) -> str:
    """The report as a page on its own: the charts inline as ``data:`` URIs."""
    return report_html(report, {name: "data:image/png;base64," +
                                base64.b64encode(png).decode("ascii")
                                for name, png in pngs.items()})


def subject(report: Report, support_name: str) -> str:
    c = report.current
    share = f"{c.automatic_share:.0%}" if c.automatic_share is not None else "none"
    return (f"{support_name}: {title(report).lower()}: {c.total_messages} mails, "
            f"{share} answered automatically")


WEEKLY_ID_PREFIX = "<report-"


def weekly_message_id(rt: Runtime, start: datetime, end: datetime) -> str:
    """The Message-ID of the scheduled report of the period [start, end) (local midnights),
    named by its first and last day: the same for every run."""
    last = end.date() - timedelta(days=1)
    return f"{WEEKLY_ID_PREFIX}{start.date().isoformat()}-{last.isoformat()}@{_domain(rt)}>"


def queue_report(rt: Runtime, report: Report, pngs: Mapping[str, bytes],
                 message_id: str | None = None) -> int | None:
    """Journal the report mail to ``report.to``; its outbox id, or None when a mail with this
    Message-ID is already in the journal."""
    to = rt.config.report.to
    if not to:
        raise ConfigError("report.to", "lists nobody to send the report to")
    message_id = message_id or make_msgid(domain=_domain(rt))
    if rt.store.known_message_id(message_id):
        return None
    images = {f"{chart.name}.png": (content_id(chart.name, message_id), pngs[chart.name])
              for chart in CHARTS}
    html = report_html(report, {chart.name: "cid:" + images[f"{chart.name}.png"][0].strip("<>")
                                for chart in CHARTS})
    msg = build_report_mail(ReportMail(
        subject(report, rt.config.policy.support_name), report_text(report), html, images,
        rt.config.smtp.sender, to, message_id, rt.clock()))
    recipient = ", ".join(to)
    with rt.store.transaction():
        outbox_id = rt.store.queue_outgoing({
            "ticket_id": None, "kind": KIND, "message_id": message_id, "recipient": recipient,
            "raw": bytes(msg), "created_at": iso(rt.clock())})
    log.info("%s to %s", msg["Subject"], recipient)
    return outbox_id


def queue_weekly_report(rt: Runtime, now: datetime | None = None) -> int | None:
    """The scheduled report of the 7 days before ``now`` (the clock's), queued once per
    period."""
    now = rt.clock() if now is None else now
    _, start, end = periods(now, WEEK_DAYS, rt.calendar)
    message_id = weekly_message_id(rt, start, end)
    older_form = f"{WEEKLY_ID_PREFIX}{start.isoformat()}-{end.isoformat()}@{_domain(rt)}>"
    if rt.store.known_message_id(message_id) or rt.store.known_message_id(older_form):
        return None  # queued already, by this version or by one that named it by the times
    report = make_report(rt.store, rt.config, rt.faq, rt.calendar, now, WEEK_DAYS)
    return queue_report(rt, report, draw(report), message_id)


def queue_missed_report(rt: Runtime) -> int | None:
    """The weekly report last due (``report.weekday`` at ``report.time``), when it is not in
    the journal yet: inboxd was not running then, or that run failed. Never before a first
    weekly report was queued, so that a new installation does not mail last week's at once."""
    settings = rt.config.report
    if not settings.to or not rt.store.any_outgoing(KIND, WEEKLY_ID_PREFIX):
        return None
    due = last_due(rt.clock(), WEEKDAYS.index(settings.weekday), settings.hour, settings.minute,
                   rt.calendar)
    return queue_weekly_report(rt, due)


def _domain(rt: Runtime) -> str:
    return sender_domain(rt.config.smtp.sender)
