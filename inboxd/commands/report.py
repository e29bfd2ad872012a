"""Readable terminal tables for outcomes and tickets."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from inboxd.core.decide import AutoAnswer
from inboxd.steps.inbox import Outcome
from inboxd.runtime import Runtime


def width(text: str) -> int:
    """Columns the text takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if width(text) <= limit:
        return text
    out = ""
    for char in text:
        if width(out + char) > limit - 1:
            break
        out += char
    return out + "…"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([width(h), *(width(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = []
    for cells in [headers, ["-" * w for w in widths], *rows]:
        padded = [c + " " * (w - width(c)) for c, w in zip(cells, widths)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def local(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else "-"


def outcome_row(o: Outcome) -> list[str]:
    t = o.triage
    d = t.decision
    faq = f"{d.faq_id} {d.confidence:.2f}" if isinstance(d, AutoAnswer) else (
        f"({t.match.faq_id} {t.match.confidence:.2f})" if t.match else "-")
    return [str(t.fetched.uid), clip(t.parsed.sender or "?", 28), clip(t.parsed.subject, 30),
            t.language, type(d).__name__, faq, f"#{o.ticket_id}" if o.ticket_id else "-",
            t.folder, clip(d.reason, 60)]


OUTCOME_HEADERS = ["uid", "from", "subject", "lang", "decision", "faq", "ticket", "folder",
                   "why"]


def print_outcomes(outcomes: Sequence[Outcome], rt: Runtime, dry_run: bool = False) -> None:
    if not outcomes:
        print("nothing new")
        return
    print(format_table(OUTCOME_HEADERS, [outcome_row(o) for o in outcomes]))
    if dry_run:
        print(f"\ndry run: {len(outcomes)} message(s) decided; nothing was sent, moved or written")
