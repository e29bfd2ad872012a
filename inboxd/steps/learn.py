"""Learning from agents: their FAQ answers become training examples; the model is retrained.

When an agent answers a ticket with an FAQ (the ``#faq <id>`` first line, or a near-copy of an
answer: see :mod:`inboxd.core.learn`), the question of the ticket's first incoming message is
stored as a learned example of that FAQ. ``inboxd train`` and the daemon's retrain job (every
``faq.retrain_interval_h`` hours, only when there are new examples) train on them too, each
on the FAQ file as it is when it starts and never two at once (:mod:`inboxd.model.modelfile`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from inboxd.core.bodytext import question_text
from inboxd.core.learn import Learned, learned_from_reply
from inboxd.core.message import ParsedMessage, parse_message
from inboxd.faq import Faq
from inboxd.runtime import Runtime
from inboxd.store import Ticket, iso
from inboxd.model.modelfile import format_threshold, train_files
from inboxd.model.training import TrainResult

log = logging.getLogger(__name__)


def faq_answers(faq: Faq) -> dict[str, list[str]]:
    """Each FAQ's plain-text answers in every language (template-only FAQs have none)."""
    return {e.id: list(e.answers.values()) for e in faq.entries if e.answers}


def learn_from_agent(rt: Runtime, ticket: Ticket, reply: ParsedMessage,
                     now: datetime) -> Learned | None:
    """Record what an agent's reply teaches, inside the caller's transaction."""
    outcome = learned_from_reply(question_text(reply.text, ""), faq_answers(rt.faq),
                                 frozenset(e.id for e in rt.faq.entries))
    if isinstance(outcome, str):
        rt.store.add_event(ticket.id, now, "learn-skipped", outcome)
        log.warning("ticket #%d: %s", ticket.id, outcome)
        return None
    if outcome is None:
        return None
    raw = rt.store.first_inbound_raw(ticket.id)
    question = parse_message(raw).question.strip() if raw else ""
    if not question:
        return None
    how = "#faq marker" if outcome.source == "marker" else \
        f"reply similar to its answer, {outcome.similarity:.2f}"
    record_learned(rt, ticket.id, outcome.faq_id, question, outcome.source, how, now)
    return outcome


def record_learned(rt: Runtime, ticket_id: int | None, faq_id: str, question: str, source: str,
                   how: str, now: datetime) -> bool:
    """Store ``question`` as an example of ``faq_id`` and mark the ticket as answered with that
    FAQ, inside the caller's transaction; False when it was an example already."""
    ticket = rt.store.ticket(ticket_id) if ticket_id is not None else None
    if ticket is not None and ticket.faq != faq_id:  # the classifier's confidence was for another
        rt.store.update_ticket(ticket.id, {"faq": faq_id, "confidence": None,
                                           "updated_at": iso(now)})
    if not rt.store.add_learned_example(faq_id, question, ticket_id, source, now):
        return False
    rt.store.add_event(ticket_id, now, "learned",
                       f"question added as an example of FAQ {faq_id} ({how})")
    log.info("ticket #%s: question learned for FAQ %s", ticket_id or "-", faq_id)
    return True


def has_new_examples(rt: Runtime) -> bool:
    trained = rt.model_meta.learned_max_id if rt.model_meta else 0
    return rt.store.learned_max_id() > trained


def retrain(rt: Runtime) -> TrainResult | None:
    """Retrain when examples were learned since the model in use was trained, on the FAQ file
    as it is now; writes the model (the daemon's reloader then takes it up). None when there
    is nothing new, or another training is running (it trains on the same examples)."""
    if not has_new_examples(rt):
        return None
    trained = train_files(rt.config, rt.store.learned_examples, rt.clock(), wait=False,
                          embedder=rt.encoder)
    if trained is None:
        log.info("another training of %s is running; not retraining now", rt.config.faq.model)
        return None
    _, result = trained
    log.info("model retrained on %d FAQ and %d learned examples; threshold %s; encoder %s",
             result.data.faq_examples, result.data.learned_examples,
             format_threshold(result.meta.reported_threshold),
             result.model.encoder or "none (words alone)")
    return result
