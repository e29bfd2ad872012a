"""Figures of tickets' lives over a period, from the store: how many automatic answers really
solved the question, how often resolved tickets were reopened, and the customers' ratings.

A period is ``[since, until)``; times are compared as the store's ISO 8601 UTC strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from inboxd.store import Store, iso


@dataclass(frozen=True)
class Reopens:
    resolved: int  # tickets resolved in the period (each time counted)
    reopened: int  # resolved or closed tickets the customer or an agent reopened in it

    @property
    def rate(self) -> float | None:
        return self.reopened / self.resolved if self.resolved else None


def resolved_auto_answers(store: Store, since: datetime, until: datetime) -> int:
    """Automatic answers that solved the question: the ticket was resolved in the period by
    time or the customer's thanks, with no person's answer in between."""
    return int(store.db.execute(
        "select count(*) from tickets where answered_by = 'auto' and state in "
        "('resolved', 'closed') and resolved_by in ('timeout', 'thanks') "
        "and resolved_at >= ? and resolved_at < ?", [iso(since), iso(until)]).fetchone()[0])


def reopens(store: Store, since: datetime, until: datetime) -> Reopens:
    counts = dict(store.db.execute(
        "select kind, count(*) from events where kind in ('resolved', 'reopened') "
        "and at >= ? and at < ? group by kind", [iso(since), iso(until)]).fetchall())
    return Reopens(resolved=counts.get("resolved", 0), reopened=counts.get("reopened", 0))


def ratings(store: Store, since: datetime, until: datetime) -> dict[int, int]:
    """How many tickets were rated 1 (good), 2 (okay) and 3 (bad) in the period."""
    found = dict(store.db.execute(
        "select rating, count(*) from tickets where rating is not null and rated_at >= ? "
        "and rated_at < ? group by rating", [iso(since), iso(until)]).fetchall())
    return {value: found.get(value, 0) for value in (1, 2, 3)}
