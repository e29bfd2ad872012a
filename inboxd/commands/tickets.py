"""``inboxd tickets``: the tickets with their state and deadlines."""

from __future__ import annotations

import argparse
from typing import Any
from zoneinfo import ZoneInfo

from inboxd.cli import config_from, print_json
from inboxd.commands.report import clip, format_table, local
from inboxd.store import Store, Ticket


def register(sub: Any) -> None:
    p = sub.add_parser("tickets", help="list tickets with state and deadlines")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.add_argument("--state", help="only tickets in this state (open, auto_answered, answered)")
    p.set_defaults(handler=cmd_tickets)


def cmd_tickets(args: argparse.Namespace) -> int:
    config = config_from(args)
    store = Store(config.store_path)
    where, params = ("state = ?", [args.state]) if args.state else (None, [])
    tickets = store.tickets(where, params)
    store.close()
    tz = ZoneInfo(config.deadlines.timezone)
    if args.json:
        print_json([ticket_json(t, tz) for t in tickets])
    elif not tickets:
        print("no tickets")
    else:
        print(format_table(HEADERS, [ticket_row(t, tz) for t in tickets]))
        print(f"\ntimes in {config.deadlines.timezone}")
    return 0


HEADERS = ["id", "state", "customer", "subject", "lang", "faq", "created", "first response",
           "due 24h", "due business day"]


def ticket_row(t: Ticket, tz: ZoneInfo) -> list[str]:
    faq = f"{t.faq} {t.confidence:.2f}" if t.faq and t.confidence is not None else "-"
    return [str(t.id), t.state, clip(t.customer, 30), clip(t.subject, 32), t.language or "-",
            faq, local(t.created_at, tz), local(t.first_response_at, tz), local(t.due_24h, tz),
            local(t.due_business_day, tz)]


def ticket_json(t: Ticket, tz: ZoneInfo) -> dict[str, Any]:
    def stamp(at: Any) -> str | None:
        return at.astimezone(tz).isoformat() if at else None

    return {"id": t.id, "customer": t.customer, "subject": t.subject, "language": t.language,
            "faq": t.faq, "confidence": t.confidence, "state": t.state, "team": t.team,
            "created_at": stamp(t.created_at), "first_response_at": stamp(t.first_response_at),
            "first_response_by": t.first_response_by, "due_24h": stamp(t.due_24h),
            "due_business_day": stamp(t.due_business_day)}
