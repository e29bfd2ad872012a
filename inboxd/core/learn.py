"""Which FAQ an agent's reply gave, if any: the ``#faq <id>`` marker or a near-copy of an answer.

When an agent answers a queued ticket with an FAQ, the customer's question becomes a new example
of that FAQ. Two signals say which FAQ it was:

- the reply's first non-empty line is ``#faq <id>`` (the agent's own marker);
- the reply's new text (quoted history left out) is very similar to one FAQ's answer in any of
  its languages: the cosine of their TF-IDF vectors of character 2-4-grams within words is at
  least ``SIMILARITY_BAR``. Measured on the demo FAQ (four FAQs in four languages), an answer
  pasted between a greeting and a signature scores 0.60-0.92 against its own FAQ and at most
  0.39 against the others; replies that give no FAQ's answer scored at most 0.26.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from inboxd.core.classify import normalise

SIMILARITY_BAR = 0.55
_MARKER = re.compile(r"^#faq[ \t]+([A-Za-z0-9][A-Za-z0-9_.-]*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Learned:
    """The FAQ an agent's reply gave, and how that was seen."""

    faq_id: str
    source: str  # "marker" or "similar"
    similarity: float | None = None  # for "similar": the cosine to the closest answer


def faq_marker(text: str) -> str | None:
    """The FAQ id of a ``#faq <id>`` first line (lower-cased), or None."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    found = _MARKER.match(first)
    return found.group(1).lower() if found else None


def similar_faq(reply: str, answers: Mapping[str, Sequence[str]],
                bar: float = SIMILARITY_BAR) -> Learned | None:
    """The FAQ whose answer (in any language) ``reply`` repeats, or None below ``bar``."""
    pairs = [(faq_id, normalise(text)) for faq_id, texts in answers.items() for text in texts]
    reply = normalise(reply)
    if not pairs or not reply:
        return None
    # slow to import: only here, so that commands which never compare start sooner
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    try:
        vectors = vectorizer.fit_transform([reply, *(text for _, text in pairs)])
    except ValueError:  # nothing to compare
        return None
    cosines = (vectors[1:] @ vectors[0].T).toarray().ravel()
    best = int(np.argmax(cosines))
    if cosines[best] < bar:
        return None
    return Learned(pairs[best][0], "similar", round(float(cosines[best]), 4))


def learned_from_reply(reply: str, answers: Mapping[str, Sequence[str]],
                       faq_ids: frozenset[str]) -> Learned | str | None:
    """What an agent's reply teaches: a :class:`Learned`, a problem to record (an unknown
    marker id, as text), or None when the reply names no FAQ."""
    marked = faq_marker(reply)
    if marked is not None:
        return Learned(marked, "marker") if marked in faq_ids else \
            f"#faq {marked}: no FAQ has that id"
    return similar_faq(reply, answers)
