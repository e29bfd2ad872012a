"""``inboxd tickets``: the tickets with their state and deadlines."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from inboxd.commands.common import config_from, existing_store, print_json
from inboxd.commands.terminal import local, print_table
from inboxd.core.clocks import parse_duration
from inboxd.store import TICKET_STATES, Ticket, iso


def register(sub: Any) -> None:
    p = sub.add_parser("tickets", help="list tickets with state and deadlines")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.add_argument("--state", choices=TICKET_STATES,
                   help="only tickets in this state (%(choices)s)")
    p.add_argument("--overdue", action="store_true",
                   help="only open tickets past a deadline")
    p.add_argument("--due-within", type=duration, metavar="DURATION",
                   help='only open tickets due within DURATION ("2h", "90m"), overdue included')
    p.set_defaults(handler=cmd_tickets)


def duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def ticket_filter(state: str | None, overdue: bool, due_within: timedelta | None,
                  now: datetime) -> tuple[str | None, list[Any]]:
    """The WHERE clause of the filters; all of them must hold."""
    clauses, params = [], []
    if state:
        clauses.append("state = ?")
        params.append(state)
    if overdue:
        clauses.append("state = 'open' and next_due_at <= ?")
        params.append(iso(now))
    if due_within is not None:
        clauses.append("state = 'open' and next_due_at <= ?")
        params.append(iso(now + due_within))
    return (" and ".join(clauses) or None), params


def cmd_tickets(args: argparse.Namespace) -> int:
    config = config_from(args)
    store = existing_store(config)
    where, params = ticket_filter(args.state, args.overdue, args.due_within,
                                  datetime.now(timezone.utc))
    tickets = store.tickets(where, params)
    store.close()
    tz = ZoneInfo(config.deadlines.timezone)
    if args.json:
        print_json([ticket_json(t, tz) for t in tickets])
    elif not tickets:
        print("no tickets")
    else:
        print_table(HEADERS, [ticket_row(t, tz) for t in tickets], TICKET_WIDTHS)
        print(f"\ntimes in {config.deadlines.timezone}")
    return 0


HEADERS = ["id", "state", "customer", "subject", "lang", "faq", "created", "first response",
           "due 24h", "due business day"]
TICKET_WIDTHS = {"customer": 30, "subject": 32}


def ticket_row(t: Ticket, tz: ZoneInfo) -> list[str]:
    faq = f"{t.faq} {t.confidence:.2f}" if t.faq and t.confidence is not None else "-"
    return [str(t.id), t.state, t.customer, t.subject, t.language or "-",
            faq, local(t.created_at, tz), local(t.first_response_at, tz), local(t.due_24h, tz),
            local(t.due_business_day, tz)]


def ticket_json(t: Ticket, tz: ZoneInfo) -> dict[str, Any]:
    def stamp(at: Any) -> str | None:
        return at.astimezone(tz).isoformat() if at else None

    return {"id": t.id, "customer": t.customer, "subject": t.subject, "language": t.language,
            "faq": t.faq, "confidence": t.confidence, "state": t.state, "team": t.team,
            "created_at": stamp(t.created_at), "first_response_at": stamp(t.first_response_at),
            "first_response_by": t.first_response_by,
            "first_response_wall_min": t.first_response_wall_min,
            "first_response_business_min": t.first_response_business_min,
            "due_24h": stamp(t.due_24h),
            "due_business_day": stamp(t.due_business_day),
            "answered_by": t.answered_by, "answered_at": stamp(t.answered_at),
            "resolved_at": stamp(t.resolved_at), "resolved_by": t.resolved_by,
            "closed_at": stamp(t.closed_at), "follows_ticket": t.follows_ticket,
            "rating": t.rating, "rating_comment": t.rating_comment}
