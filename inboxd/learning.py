"""Learning from agents: their FAQ answers become training examples; the model is retrained.

When an agent answers a ticket with an FAQ (the ``#faq <id>`` first line, or a near-copy of an
answer: see :mod:`inboxd.core.learn`), the question of the ticket's first incoming message is
stored as a learned example of that FAQ. ``inboxd train`` and the daemon's retrain job (every
``faq.retrain_interval_h`` hours, only when there are new examples) train on them too.
"""

from __future__ import annotations

import logging
from datetime import datetime

from inboxd.core.bodytext import question_text
from inboxd.embedding_cache import cache_path_for
from inboxd.core.learn import Learned, learned_from_reply
from inboxd.core.message import ParsedMessage, parse_message
from inboxd.faq import Faq
from inboxd.runtime import Runtime
from inboxd.store import Ticket
from inboxd.training import TrainResult, save, train, training_set

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
    if rt.store.add_learned_example(outcome.faq_id, question, ticket.id, outcome.source, now):
        how = "#faq marker" if outcome.source == "marker" else \
            f"reply similar to its answer, {outcome.similarity:.2f}"
        rt.store.add_event(ticket.id, now, "learned",
                           f"question added as an example of FAQ {outcome.faq_id} ({how})")
        log.info("ticket #%d: question learned for FAQ %s", ticket.id, outcome.faq_id)
    return outcome


def has_new_examples(rt: Runtime) -> bool:
    trained = rt.model_meta.learned_max_id if rt.model_meta else 0
    return rt.store.learned_max_id() > trained


def retrain(rt: Runtime) -> TrainResult | None:
    """Retrain when examples were learned since the model was trained; swaps the model in."""
    if not has_new_examples(rt):
        return None
    data = training_set(rt.faq, rt.store.learned_examples())
    result = train(rt.config.faq, data, rt.clock(), embedder=rt.encoder,
                   cache=cache_path_for(rt.config.faq.model))
    save(rt.config.faq.model, result)
    rt.classifier, rt.model_meta = result.model, result.meta
    log.info("model retrained on %d FAQ and %d learned examples; threshold %.3f; encoder %s",
             data.faq_examples, data.learned_examples, result.meta.reported_threshold,
             result.model.encoder or "none (words alone)")
    return result
