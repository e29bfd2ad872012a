"""``inboxd ticket ID``: one ticket's whole history, times in the configured time zone."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import RenderableType

from inboxd.commands.common import (EXIT_RUNTIME, LARGEST_ID, config_from, existing_store,
                                    number_in, print_json)
from inboxd.commands.terminal import local, show, table
from inboxd.commands.tickets import ticket_json
from inboxd.core.clocks import DEADLINE_LABELS
from inboxd.store import Store, Ticket, from_iso


def register(sub: Any) -> None:
    p = sub.add_parser("ticket", help="one ticket's history: messages, mails, notices, events")
    p.add_argument("id", type=number_in(int, "a ticket number", 1, LARGEST_ID),
                   help="the ticket number")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(handler=cmd_ticket)


def cmd_ticket(args: argparse.Namespace) -> int:
    config = config_from(args)
    tz = ZoneInfo(config.deadlines.timezone)
    store = existing_store(config)
    try:
        ticket = store.ticket(args.id)
        history = ticket_history(store, ticket, tz) if ticket else None
    finally:
        store.close()
    if ticket is None or history is None:
        print(f"inboxd: no ticket #{args.id}")
        return EXIT_RUNTIME
    if args.json:
        print_json(history)
    else:
        print_history(ticket, history, tz)
    return 0


def ticket_history(store: Store, ticket: Ticket, tz: ZoneInfo) -> dict[str, Any]:
    """The ticket and everything recorded about it, with times as ISO 8601 in ``tz``."""
    def rows(found: list[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
        return [{k: _stamp(r[k], tz) if k in TIME_KEYS else r[k] for k in keys} for r in found]

    return {"ticket": ticket_json(ticket, tz),
            "messages": rows(store.messages(ticket.id), MESSAGE_KEYS),
            "outbox": rows(store.outgoing(ticket.id), OUTBOX_KEYS),
            "notices": rows(store.notices(ticket.id), NOTICE_KEYS),
            "events": rows(store.events(ticket.id), EVENT_KEYS),
            "suggestions": rows(store.ticket_drafts(ticket.id), SUGGESTION_KEYS)}


MESSAGE_KEYS = ("id", "direction", "received_at", "sender", "subject", "decision", "reason",
                "message_id")
OUTBOX_KEYS = ("id", "kind", "state", "recipient", "created_at", "sent_at", "error")
NOTICE_KEYS = ("kind", "deadline", "due_at", "clock_start", "at", "detail")
EVENT_KEYS = ("at", "kind", "detail")
CELL_WIDTH = 60
SUGGESTION_KEYS = ("id", "faq_id", "confidence", "created_at", "appended_at", "folder", "state",
                   "fate", "fate_at", "detail")
TIME_KEYS = {"received_at", "created_at", "sent_at", "due_at", "clock_start", "at",
             "appended_at", "fate_at"}


def _stamp(value: str | None, tz: ZoneInfo) -> str | None:
    at = from_iso(value)
    return at.astimezone(tz).isoformat() if at else None


def print_history(t: Ticket, history: dict[str, Any], tz: ZoneInfo) -> None:
    parts: list[RenderableType] = [_summary(t, tz)]
    for title, key, headers, columns in SECTIONS:
        found = history[key]
        parts.append(f"\n{title}")
        parts.append(table(headers, [[_cell(r[c], c) for c in columns] for r in found],
                           {header: CELL_WIDTH for header in headers}) if found else "  none")
    parts.append(f"\ntimes in {tz.key}")
    show(*parts)


SECTIONS = [
    ("messages", "messages", ["id", "direction", "time", "sender", "subject", "decision", "why"],
     ["id", "direction", "received_at", "sender", "subject", "decision", "reason"]),
    ("mails sent", "outbox", ["id", "kind", "state", "to", "queued", "sent", "error"],
     ["id", "kind", "state", "recipient", "created_at", "sent_at", "error"]),
    ("deadline notices", "notices", ["kind", "deadline", "due", "clock start", "at", "note"],
     ["kind", "deadline", "due_at", "clock_start", "at", "detail"]),
    ("suggested answers (drafts)", "suggestions",
     ["id", "faq", "confidence", "written", "folder", "draft", "fate", "decided", "note"],
     ["id", "faq_id", "confidence", "appended_at", "folder", "state", "fate", "fate_at",
      "detail"]),
    ("events", "events", ["at", "kind", "detail"], ["at", "kind", "detail"]),
]


def _cell(value: Any, column: str) -> str:
    if value is None:
        return "-"
    if column in TIME_KEYS:
        return str(value)[:16].replace("T", " ")
    if column == "confidence":
        return f"{value:.2f}"
    if column == "deadline":
        return DEADLINE_LABELS.get(value, value)
    return str(value)


def _life(t: Ticket, tz: ZoneInfo) -> list[tuple[str, str]]:
    """The lines of a ticket's later life, those that apply."""
    lines = []
    if t.answered_by:
        lines.append(("answered", f"{local(t.answered_at, tz)} by {t.answered_by}"))
    if t.resolved_at:
        lines.append(("resolved", f"{local(t.resolved_at, tz)} ({t.resolved_by or '?'})"))
    if t.closed_at:
        lines.append(("closed", local(t.closed_at, tz)))
    if t.follows_ticket:
        lines.append(("follows", f"#{t.follows_ticket}"))
    if t.rating:
        said = f": {t.rating_comment}" if t.rating_comment else ""
        lines.append(("rating", f"{t.rating}{said}"))
    return lines


def _summary(t: Ticket, tz: ZoneInfo) -> str:
    response = "-"
    if t.first_response_at:
        response = f"{local(t.first_response_at, tz)} by {t.first_response_by or '?'}"
        if t.first_response_wall_min is not None:
            response += (f" after {t.first_response_wall_min:.0f} min "
                         f"({t.first_response_business_min or 0:.0f} business min)")
    faq = f"{t.faq} ({t.confidence:.2f})" if t.faq and t.confidence is not None else "-"
    lines = [("ticket", f"#{t.id} {t.state}"), ("customer", t.customer),
             ("subject", t.subject), ("language", t.language or "-"), ("team", t.team or "-"),
             ("faq", faq), ("created", local(t.created_at, tz)),
             ("waiting since", local(t.awaiting_since, tz)), ("first response", response),
             ("due 24 hours", local(t.due_24h, tz)),
             ("due one business day", local(t.due_business_day, tz)),
             *_life(t, tz)]
    return "\n".join(f"{name:<22}{value}" for name, value in lines)
