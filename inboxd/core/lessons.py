"""Teaching by folder: what to do with a message an agent put into ``Support/Learn/<faq-id>``.

In the shared mailbox the agent's own mail client sends the reply, so a ``#faq`` line in it
reaches the customer. Moving (or copying) the customer's message into the folder named after
the FAQ teaches inboxd without the customer seeing anything. Pure: the caller looks up the
ticket and applies the lesson.
"""

from __future__ import annotations

from dataclasses import dataclass

LEARNED = "learned"
UNKNOWN_FAQ = "unknown-faq"
NO_QUESTION = "no-question"
FAILED = "failed"  # inboxd could not read the message: it stays for a person


@dataclass(frozen=True)
class Lesson:
    """What a message in a learn folder teaches, and where it goes afterwards."""

    outcome: str  # LEARNED, UNKNOWN_FAQ or NO_QUESTION
    faq_id: str
    target: str | None  # the folder it is moved to; None: it stays for a person
    detail: str  # for the ticket's events and the log


def lesson(faq_id: str, faq_ids: frozenset[str], question: str, folder: str,
           waiting_in: str | None, already_there: bool, answered_folder: str) -> Lesson:
    """The lesson of one message in the learn ``folder`` of ``faq_id``.

    ``waiting_in`` is the queue folder of the message's ticket while it still waits for a
    person (None when it was answered, or has no ticket): the message goes back there, unless
    ``already_there`` (the agent copied it rather than moved it); otherwise to the answered
    folder, where inboxd files what it answered itself.
    """
    if faq_id not in faq_ids:
        return Lesson(UNKNOWN_FAQ, faq_id, None,
                      f"{folder}: no FAQ has the id {faq_id!r}, so nothing was learned; the "
                      "message stays there for a person to move into the folder of an FAQ")
    target = waiting_in if waiting_in is not None and not already_there else answered_folder
    if not question.strip():
        return Lesson(NO_QUESTION, faq_id, target,
                      f"{folder}: the message has no question text to learn from; "
                      f"moved to {target}")
    return Lesson(LEARNED, faq_id, target,
                  f"put into {folder} by an agent; moved to {target}")
