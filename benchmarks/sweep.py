"""Deadline-sweep figures on a store with many tickets (real SQLite file, no mail servers).

    .venv/bin/python benchmarks/sweep.py [--tickets 1000000] [--open-share 0.02]

Builds a store with N tickets, bulk-inserted in one transaction: most answered or answered from
the FAQ over the past year, ``--open-share`` of them open (waiting for a person) with arrivals
spread over the last five days, so their deadlines range from four days past to a day ahead.
Open tickets whose deadline passed more than an hour ago already have their breach notices,
and those past both deadlines are marked done for their clock (the steady state of a sweep
that runs every minute). Then, at a few ``now`` values:

* the candidate query (``Store.clock_candidates``: open and the earlier deadline at or before
  now + warn_before, with the notices already sent), median of 5 runs;
* the whole planning step: that query plus ``plan_notices`` over its rows, median of 5;
* for contrast, the same query with the index disabled (``NOT INDEXED``), once.

Writes benchmarks/results/sweep.md, including EXPLAIN QUERY PLAN of the candidate query.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inboxd.config import DeadlineSettings  # noqa: E402
from inboxd.core.clocks import NotifyPolicy, plan_notices  # noqa: E402
from inboxd.core.deadlines import calendar_from_settings, due_business_day  # noqa: E402
from inboxd.store import CLOCK_CANDIDATES_SQL, Store, iso  # noqa: E402
from inboxd.steps.sweep import waiting  # noqa: E402

CAL = calendar_from_settings(DeadlineSettings(
    timezone="Europe/Stockholm",
    business_hours={d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}))
POLICY = NotifyPolicy(warn_before=timedelta(hours=2))
NOW = datetime(2026, 11, 24, 10, 30, tzinfo=timezone.utc)  # a Tuesday, open
COLUMNS = ("customer", "subject", "language", "state", "team", "created_at", "awaiting_since",
           "due_24h", "due_business_day", "updated_at", "first_response_at")


def ticket_row(rng: random.Random, i: int, open_share: float) -> tuple[object, ...]:
    is_open = rng.random() < open_share
    if is_open:
        arrival = NOW - timedelta(seconds=rng.uniform(0, 5 * 86400))
        state, due_bd, answered = "open", due_business_day(arrival, CAL), None
    else:
        arrival = NOW - timedelta(seconds=rng.uniform(5 * 86400, 365 * 86400))
        state = "answered"
        due_bd = arrival + timedelta(hours=24)  # close enough for tickets no sweep looks at
        answered = iso(arrival + timedelta(minutes=rng.uniform(1, 600)))
    team = rng.choice([None, "orders", "billing"])
    return (f"customer{i % 50000}@example.test", f"Question {i}", "en", state, team,
            iso(arrival), iso(arrival), iso(arrival + timedelta(hours=24)), iso(due_bd),
            iso(arrival), answered)


def build(path: Path, count: int, open_share: float) -> float:
    store = Store(path)
    rng = random.Random(7)
    started = time.perf_counter()
    with store.db.conn:
        store.db.conn.executemany(
            f"insert into tickets ({', '.join(COLUMNS)}) values ({', '.join('?' * len(COLUMNS))})",
            (ticket_row(rng, i, open_share) for i in range(count)))
        store.db.conn.execute(
            "insert into notices (ticket_id, kind, deadline, due_at, clock_start, at) "
            "select id, 'breach', 'business_day', due_business_day, awaiting_since, ? "
            "from tickets where state = 'open' and due_business_day <= ?",
            [iso(NOW), iso(NOW - timedelta(hours=1))])
        store.db.conn.execute(
            "insert into notices (ticket_id, kind, deadline, due_at, clock_start, at) "
            "select id, 'breach', '24h', due_24h, awaiting_since, ? "
            "from tickets where state = 'open' and due_24h <= ?",
            [iso(NOW), iso(NOW - timedelta(hours=1))])
        store.db.conn.execute(
            "update tickets set notices_done_for = awaiting_since where state = 'open' and "
            "due_24h <= ? and due_business_day <= ?", [iso(NOW - timedelta(hours=1))] * 2)
    store.db.execute("analyze")
    store.close()
    return time.perf_counter() - started


def median_ms(fn, runs: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(store: Store, now: datetime) -> dict[str, object]:
    until = now + POLICY.warn_before
    rows = store.clock_candidates(until)
    notices = plan_notices(now, CAL, POLICY, [waiting(r) for r in rows])
    query_ms = median_ms(lambda: store.clock_candidates(until))
    plan_ms = median_ms(lambda: plan_notices(now, CAL, POLICY,
                                             [waiting(r) for r in store.clock_candidates(until)]))
    started = time.perf_counter()
    store.db.execute("select count(*) from tickets t not indexed where t.state = 'open' and "
                     "t.sweep_due_at <= ?", [iso(until)]).fetchone()
    scan_ms = (time.perf_counter() - started) * 1000
    counts = {k: sum(1 for n in notices if n.kind == k) for k in ("warning", "breach")}
    return {"now": now, "candidates": len(rows), "query_ms": query_ms, "plan_ms": plan_ms,
            "scan_ms": scan_ms, **counts}


def query_plan(store: Store) -> list[str]:
    rows = store.db.execute("explain query plan " + CLOCK_CANDIDATES_SQL, [iso(NOW)]).fetchall()
    return [row[3] for row in rows]


def overdue_ms(store: Store) -> float:
    """The query of `inboxd tickets --overdue` (all overdue open tickets, handled or not)."""
    return median_ms(lambda: store.tickets("state = 'open' and next_due_at <= ?", [iso(NOW)]))


def report(count: int, open_count: int, build_s: float, size_mb: float,
           figures: list[dict[str, object]], plan: list[str], overdue: tuple[int, float]) -> str:
    lines = [f"# Deadline sweep over {count:,} tickets (SQLite file, one process)", "",
             f"{open_count:,} open tickets (arrivals over the last 5 days), the rest answered. "
             f"Built in {build_s:.1f} s; the store is {size_mb:.0f} MB. warn_before = 2h. "
             "Medians of 5 runs. Notices are planned, not recorded, so the later rows show what "
             "a first sweep after a pause since the first row would find.", "",
             "| now (UTC) | candidates | candidate query | query + plan_notices | notices due "
             "(warning/breach) | same query without the index |",
             "| --- | ---: | ---: | ---: | --- | ---: |"]
    for f in figures:
        lines.append(f"| {f['now']:%a %Y-%m-%d %H:%M} | {f['candidates']:,} | "  # type: ignore[str-format]
                     f"{f['query_ms']:.1f} ms | {f['plan_ms']:.1f} ms | "
                     f"{f['warning']}/{f['breach']} | {f['scan_ms']:.0f} ms |")
    lines += ["", f"`inboxd tickets --overdue` query ({overdue[0]:,} tickets, read into Ticket "
              f"values): {overdue[1]:.0f} ms.",
              "", "EXPLAIN QUERY PLAN of the candidate query:", "", "```",
              *plan, "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--open-share", type=float, default=0.02)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "inboxd.sqlite3"
        build_s = build(path, args.tickets, args.open_share)
        store = Store(path)
        open_count = store.db.execute(
            "select count(*) from tickets where state = 'open'").fetchone()[0]
        moments = [NOW, NOW + timedelta(hours=4), NOW + timedelta(days=1, hours=-2),
                   NOW + timedelta(days=3)]
        figures = [measure(store, now) for now in moments]
        plan = query_plan(store)
        overdue = (len(store.tickets("state = 'open' and next_due_at <= ?", [iso(NOW)])),
                   overdue_ms(store))
        store.close()
        size_mb = sum(p.stat().st_size for p in Path(folder).iterdir()) / 1e6
    text = report(args.tickets, open_count, build_s, size_mb, figures, plan, overdue)
    out = ROOT / "benchmarks" / "results" / "sweep.md"
    out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
