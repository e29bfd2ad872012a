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
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Sequence

from inboxd.commands.common import config_from, print_json
from inboxd.core.message import ParsedMessage, parse_message
from inboxd.errors import InboxdError
from inboxd.faq import load_faq
from inboxd.store import Store

if TYPE_CHECKING:  # inboxd.core.gaps loads scikit-learn: imported when `inboxd gaps` runs
    from inboxd.core.gaps import Cluster


def register(sub: Any) -> None:
    p = sub.add_parser("gaps", help="group the questions people answered: candidates for new FAQs")
    p.add_argument("--days", type=int, default=30, help="tickets of the last DAYS days (30)")
    p.add_argument("--top", type=int, default=10, help="how many groups to list (10)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler=cmd_gaps)


def cmd_gaps(args: argparse.Namespace) -> int:
    from inboxd.core.gaps import cluster_questions, ignored_words

    config = config_from(args)
    if not config.store_path.is_file():
        raise InboxdError(f"{config.store_path}: no store yet; run inboxd first")
    faq = load_faq(config.faq.path)
    store = Store(config.store_path)
    try:
        rows = store.human_questions(datetime.now(timezone.utc) - timedelta(days=args.days))
    finally:
        store.close()
    asked = _questions(rows)
    languages = faq.languages | {config.faq.default_language}
    ignore = ignored_words(languages, {n for q in asked for n in q.names})
    questions = [q.text for q in asked]
    clusters = cluster_questions(questions, ignore=ignore,
                                 faqs={e.id: e.examples for e in faq.entries})
    groups = [gap_json(c, [q.ticket_id for q in asked], questions) for c in clusters]
    groups = groups[:max(args.top, 0)]
    if args.json:
        print_json(groups)
    else:
        print(format_gaps(groups, len(questions), args.days))
    return 0


@dataclass(frozen=True)
class _Question:
    ticket_id: int
    text: str
    names: tuple[str, ...]  # the words of the customer's name and address


def _questions(rows: Sequence[dict[str, Any]]) -> list[_Question]:
    """The questions of tickets no FAQ was matched to."""
    found = []
    for row in rows:
        if not row["raw"] or row["faq"]:
            continue
        parsed = parse_message(row["raw"])
        if parsed.question.strip():
            found.append(_Question(row["ticket_id"], parsed.question.strip(), _names(parsed)))
    return found


def _names(parsed: ParsedMessage) -> tuple[str, ...]:
    local = (parsed.reply_to or parsed.sender or "").partition("@")[0]
    return tuple(w for w in re.split(r"[\W_]+", f"{parsed.sender_name} {local}") if len(w) > 1)


def gap_json(cluster: Cluster, tickets: list[int], questions: list[str]) -> dict[str, Any]:
    from inboxd.core.gaps import SAMPLES

    members = [questions[i] for i in cluster.members]
    closest = ({"id": cluster.closest[0], "similarity": round(cluster.closest[1], 3)}
               if cluster.closest else None)
    return {"size": cluster.size, "samples": members[:SAMPLES], "terms": list(cluster.terms),
            "closest_faq": closest, "tickets": sorted(tickets[i] for i in cluster.members)}


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
