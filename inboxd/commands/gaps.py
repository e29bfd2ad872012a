"""``inboxd gaps``: the questions people had to answer, grouped; candidates for new FAQs.

It looks at tickets created in the last ``--days`` whose first response came from an agent or
that are still open, re-reads each one's first message from the store, groups similar questions
(:mod:`inboxd.core.gaps`) and lists the largest groups with sample questions, their
characteristic words and the closest existing FAQ (the one the model picks for most of the
group's questions, when it picks one for at least half of them).
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Sequence

from inboxd.cli import config_from, print_json
from inboxd.core.classify import FaqClassifier
from inboxd.core.message import parse_message
from inboxd.errors import InboxdError, ModelError
from inboxd.store import Store

if TYPE_CHECKING:  # inboxd.core.gaps loads scikit-learn: imported when `inboxd gaps` runs
    from inboxd.core.gaps import Cluster

CLOSEST_SHARE = 0.5


def register(sub: Any) -> None:
    p = sub.add_parser("gaps", help="group the questions people answered: candidates for new FAQs")
    p.add_argument("--days", type=int, default=30, help="tickets of the last DAYS days (30)")
    p.add_argument("--top", type=int, default=10, help="how many groups to list (10)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler=cmd_gaps)


def cmd_gaps(args: argparse.Namespace) -> int:
    from inboxd.core.gaps import cluster_questions

    config = config_from(args)
    if not config.store_path.is_file():
        raise InboxdError(f"{config.store_path}: no store yet; run inboxd first")
    store = Store(config.store_path)
    try:
        rows = store.human_questions(datetime.now(timezone.utc) - timedelta(days=args.days))
    finally:
        store.close()
    tickets, questions = _questions(rows)
    model = _model(config.faq.model)
    groups = [gap_json(c, tickets, questions, model) for c in cluster_questions(questions)]
    groups = groups[:max(args.top, 0)]
    if args.json:
        print_json(groups)
    else:
        print(format_gaps(groups, len(questions), args.days))
    return 0


def _questions(rows: Sequence[dict[str, Any]]) -> tuple[list[int], list[str]]:
    pairs = [(row["ticket_id"], parse_message(row["raw"]).question.strip()) for row in rows
             if row["raw"]]
    kept = [(ticket, question) for ticket, question in pairs if question]
    return [t for t, _ in kept], [q for _, q in kept]


def _model(path: Any) -> FaqClassifier | None:
    from inboxd import encoder

    try:
        return FaqClassifier.load(path, encoder.load(threads=1))
    except ModelError:
        return None


def gap_json(cluster: Cluster, tickets: list[int], questions: list[str],
             model: FaqClassifier | None) -> dict[str, Any]:
    from inboxd.core.gaps import SAMPLES

    members = [questions[i] for i in cluster.members]
    return {"size": cluster.size, "samples": members[:SAMPLES], "terms": list(cluster.terms),
            "closest_faq": closest_faq(model, members) if model else None,
            "tickets": sorted(tickets[i] for i in cluster.members)}


def closest_faq(model: FaqClassifier, questions: Sequence[str]) -> dict[str, Any] | None:
    """The FAQ the model picks for most questions, if at least half of them."""
    matches = model.predict_many(questions)
    faq_id, votes = Counter(m.faq_id for m in matches).most_common(1)[0]
    if votes < CLOSEST_SHARE * len(matches):
        return None
    confidence = sum(m.confidence for m in matches if m.faq_id == faq_id) / votes
    return {"id": faq_id, "share": round(votes / len(matches), 3),
            "mean_confidence": round(confidence, 3)}


def format_gaps(groups: list[dict[str, Any]], questions: int, days: int) -> str:
    lines = [f"{questions} questions answered by people or still open in the last {days} days; "
             f"{len(groups)} groups"]
    for rank, group in enumerate(groups, 1):
        closest = group["closest_faq"]
        near = (f"closest FAQ {closest['id']} ({closest['share']:.0%} of the group, mean "
                f"confidence {closest['mean_confidence']:.2f})") if closest else "no close FAQ"
        lines += ["", f"{rank}. {group['size']} questions; {near}",
                  f"   terms: {', '.join(group['terms']) or '-'}"]
        lines += [f"   - {_one_line(q)}" for q in group["samples"]]
    return "\n".join(lines)


def _one_line(text: str, width: int = 100) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[:width - 1] + "…"
