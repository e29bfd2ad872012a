"""``inboxd gaps``: the questions people had to answer, grouped; candidates for new FAQs.

It looks at tickets created in the last ``--days`` whose first response came from an agent or
that are still open, and that no FAQ was matched to (an automatic answer that could not be
sent leaves its ticket open, but its question has an FAQ). It re-reads each one's first message
from the store, groups similar questions (:mod:`inboxd.core.gaps`), leaving out the stopwords
of the FAQ's languages and the customers' names, and lists the largest groups with sample
questions, their characteristic words and the closest existing FAQ with its similarity.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from typing import Any

from inboxd.commands.common import MOST_DAYS, config_from, existing_store, number_in, print_json
from inboxd.faq import load_faq


def register(sub: Any) -> None:
    p = sub.add_parser("gaps", help="group the questions people answered: candidates for new FAQs")
    p.add_argument("--days", type=number_in(int, "a whole number of days", 1, MOST_DAYS),
                   default=30, help="tickets of the last DAYS days (30)")
    p.add_argument("--top", type=number_in(int, "a whole number", 1), default=10,
                   help="how many groups to list (10)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler=cmd_gaps)


def cmd_gaps(args: argparse.Namespace) -> int:
    from inboxd.core.gaps import find_gaps, human_asked

    config = config_from(args)
    store = existing_store(config)
    faq = load_faq(config.faq.path)
    try:
        rows = store.human_questions(datetime.now(timezone.utc) - timedelta(days=args.days))
    finally:
        store.close()
    asked = human_asked(rows)
    groups = find_gaps(asked, faq.languages | {config.faq.default_language},
                       {e.id: e.examples for e in faq.entries}, args.top)
    if args.json:
        print_json(groups)
    else:
        print(format_gaps(groups, len(asked), args.days))
    return 0


def format_gaps(groups: list[dict[str, Any]], questions: int, days: int) -> str:
    lines = [f"{questions} questions answered by people or still open in the last {days} days; "
             f"{len(groups)} groups"]
    for rank, group in enumerate(groups, 1):
        closest = group["closest_faq"]
        near = (f"closest FAQ {closest['id']} (similarity {closest['similarity']:.2f})"
                if closest else "no FAQ to compare with")
        lines += ["", f"{rank}. {group['size']} questions; {near}",
                  f"   terms: {', '.join(group['terms']) or '-'}"]
        lines += [f"   - {_one_line(q)}" for q in group["samples"]]
    return "\n".join(lines)


def _one_line(text: str, width: int = 100) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[:width - 1] + "…"
