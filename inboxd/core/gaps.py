"""Groups of similar questions: candidates for new FAQs (``inboxd gaps``).

Questions become TF-IDF vectors of character 3-5-grams within words (any language, no word
splitting needed); above ``DENSE_LIMIT`` questions they are reduced to ``LSA_DIMENSIONS`` by
truncated SVD. Average-linkage agglomerative clustering on cosine distance builds one tree; it
is cut at the height (between 0.5 and 0.95) whose groups have the best silhouette, so the number
of groups follows from the data and one-off questions stay alone. Memory grows with the square
of the number of questions (about 100 MB at 5,000).

Words that say nothing about the theme — the stopwords of the FAQ's languages, greetings and
sign-offs, the customers' names, numbers — are taken out of the texts before anything is
counted, so that neither the grouping nor a group's terms rest on "can I", "kann ich" or "Ana".
Each group's closest FAQ is the one whose examples are, on average over the group's questions,
the most similar (cosine of the same vectors; 1 is the same text; above ``DENSE_LIMIT``
questions the reduced vectors make every similarity higher).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import normalize

from inboxd.core.classify import normalise
from inboxd.core.message import ParsedMessage, parse_message
from inboxd.core.status import GREETINGS, SIGN_OFFS

CUT_HEIGHTS = tuple(np.round(np.arange(0.5, 0.951, 0.025), 3))  # cosine distances tried
SILHOUETTE_SAMPLE = 1000
DENSE_LIMIT = 1000
LSA_DIMENSIONS = 100
TERMS = 5
SAMPLES = 3
_WORD = re.compile(r"\w+")


def ignored_words(languages: Iterable[str], names: Iterable[str] = ()) -> frozenset[str]:
    """The words ``cluster_questions`` leaves out: the stopwords of ``languages`` (those the
    stop-words package knows), greetings and sign-offs, and ``names``; as ``normalise`` writes
    them."""
    from stop_words import StopWordError, get_stop_words

    words: set[str] = set()
    for language in languages:
        try:
            words.update(get_stop_words(language))
        except StopWordError:
            continue
    for table in (GREETINGS, SIGN_OFFS):
        words.update(w for phrases in table.values() for p in phrases for w in p.split())
    words.update(names)
    return frozenset(normalise(w) for w in words if w.strip())


@dataclass(frozen=True)
class Cluster:
    members: tuple[int, ...]  # indices into the questions, most typical first
    terms: tuple[str, ...]  # the words that set the group apart
    closest: tuple[str, float] | None = None  # the closest FAQ and its similarity

    @property
    def size(self) -> int:
        return len(self.members)


def cluster_questions(questions: Sequence[str], min_size: int = 2,
                      ignore: Collection[str] = frozenset(),
                      faqs: Mapping[str, Sequence[str]] | None = None) -> list[Cluster]:
    """Groups of at least ``min_size`` similar questions, largest first. ``ignore``: words left
    out (see ``ignored_words``); ``faqs``: each FAQ's examples, for each group's closest FAQ."""
    texts = [_without(normalise(q), ignore) or normalise(q) for q in questions]
    if len(texts) < max(3, min_size):
        return []
    vectors, embed = _vectors(texts)
    labels = _labels(vectors)
    words, weights = _word_weights(texts)
    clusters = [_cluster(np.flatnonzero(labels == label), vectors, words, weights)
                for label in np.unique(labels)]
    kept = [c for c in clusters if c.size >= min_size]
    if faqs:
        kept = _with_closest(kept, vectors, embed, faqs, ignore)
    return sorted(kept, key=lambda c: (-c.size, c.members[0]))


def _without(text: str, ignore: Collection[str]) -> str:
    """``text`` without the ignored words, numbers (``normalise`` made them 0s) and single
    Latin letters (the "t" of "can't")."""
    return " ".join(w for w in _WORD.findall(text) if w not in ignore and w.strip("0_")
                    and not (len(w) == 1 and w.isascii()))


def _vectors(texts: list[str]) -> tuple[sp.csr_matrix | np.ndarray, Any]:
    """Unit-length rows: sparse TF-IDF, or its SVD reduction for many questions; and the
    function that maps other texts into the same space."""
    tfidf = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    try:
        x = tfidf.fit_transform(texts)
    except ValueError:  # only blanks
        return sp.csr_matrix(np.ones((len(texts), 1))), None
    if len(texts) > DENSE_LIMIT and x.shape[1] > LSA_DIMENSIONS:
        svd = TruncatedSVD(LSA_DIMENSIONS, random_state=0)
        reduced = normalize(svd.fit_transform(x))
        return reduced, lambda more: normalize(svd.transform(tfidf.transform(more)))
    return x, tfidf.transform


def _with_closest(clusters: list[Cluster], vectors: sp.csr_matrix | np.ndarray, embed: Any,
                  faqs: Mapping[str, Sequence[str]], ignore: Collection[str]) -> list[Cluster]:
    """Each group with the FAQ whose examples are on average the most similar to its
    questions (the most similar example of that FAQ counted for each question)."""
    names = sorted(faq_id for faq_id, examples in faqs.items() if examples)
    examples = [_without(normalise(e), ignore) or normalise(e) for name in names
                for e in faqs[name]]
    if embed is None or not examples:
        return clusters
    starts = np.cumsum([0] + [len(faqs[name]) for name in names[:-1]])
    embedded = embed(examples)  # rows grouped by FAQ, in the order of ``names``
    out = []
    for cluster in clusters:
        similar = vectors[list(cluster.members)] @ embedded.T
        similar = similar.toarray() if sp.issparse(similar) else np.asarray(similar)
        means = np.maximum.reduceat(similar, starts, axis=1).mean(axis=0)
        top = int(np.argmax(means))
        out.append(Cluster(cluster.members, cluster.terms,
                           (names[top], float(np.clip(means[top], 0.0, 1.0)))))
    return out


def _labels(vectors: sp.csr_matrix | np.ndarray) -> np.ndarray:
    """A group number per question: the tree cut with the best silhouette."""
    if sp.issparse(vectors):
        square = np.clip(1.0 - (vectors @ vectors.T).toarray(), 0.0, 2.0)
        np.fill_diagonal(square, 0.0)
        tree = linkage(squareform(square, checks=False), method="average")
    else:
        square, tree = None, linkage(vectors, method="average", metric="cosine")
    best, best_score = np.zeros(vectors.shape[0], dtype=int), -2.0
    for height in CUT_HEIGHTS:
        labels = fcluster(tree, height, criterion="distance")
        if not 2 <= len(np.unique(labels)) < len(labels):
            continue
        score = _silhouette(vectors, square, labels)
        if score > best_score:
            best, best_score = labels, score
    return best


def _silhouette(vectors: sp.csr_matrix | np.ndarray, square: np.ndarray | None,
                labels: np.ndarray) -> float:
    if square is not None:
        return float(silhouette_score(square, labels, metric="precomputed"))
    return float(silhouette_score(vectors, labels, metric="cosine",
                                  sample_size=min(SILHOUETTE_SAMPLE, len(labels)), random_state=0))


def _word_weights(texts: list[str]) -> tuple[np.ndarray, sp.csr_matrix]:
    """The words, and their TF-IDF weights (rows: questions)."""
    tfidf = TfidfVectorizer(token_pattern=r"(?u)\b\w\w+\b", sublinear_tf=True)
    try:
        weights = tfidf.fit_transform(texts)
    except ValueError:  # no word of two letters anywhere
        return np.array([], dtype=object), sp.csr_matrix((len(texts), 0))
    return tfidf.get_feature_names_out(), weights.tocsr()


def _mean(rows: sp.csr_matrix | np.ndarray) -> np.ndarray:
    return np.asarray(rows.mean(axis=0)).ravel()


def _cluster(rows: np.ndarray, vectors: sp.csr_matrix | np.ndarray, words: np.ndarray,
             weights: sp.csr_matrix) -> Cluster:
    closeness = np.asarray(vectors[rows] @ _mean(vectors[rows])).ravel()
    typical = rows[np.argsort(-closeness, kind="stable")]
    lift = _mean(weights[rows]) - _mean(weights) if len(words) else np.zeros(0)
    top = [str(words[i]) for i in np.argsort(-lift, kind="stable")[:TERMS] if lift[i] > 0]
    return Cluster(tuple(int(i) for i in typical), tuple(top))


# -- the questions of the store's tickets, grouped (`inboxd gaps`, the report) --------------------

@dataclass(frozen=True)
class Question:
    ticket_id: int
    text: str
    names: tuple[str, ...]  # the words of the customer's name and address


def human_asked(rows: Sequence[Mapping[str, Any]]) -> list[Question]:
    """The questions of the store's ``human_questions`` rows that no FAQ was matched to."""
    found = []
    for row in rows:
        if not row["raw"] or row["faq"]:
            continue
        parsed = parse_message(row["raw"])
        if parsed.question.strip():
            found.append(Question(row["ticket_id"], parsed.question.strip(), _names(parsed)))
    return found


def _names(parsed: ParsedMessage) -> tuple[str, ...]:
    local = (parsed.reply_to or parsed.sender or "").partition("@")[0]
    return tuple(w for w in re.split(r"[\W_]+", f"{parsed.sender_name} {local}") if len(w) > 1)


def find_gaps(asked: Sequence[Question], languages: Iterable[str],
              faqs: Mapping[str, Sequence[str]], top: int) -> list[dict[str, Any]]:
    """The ``top`` largest groups of ``asked`` as JSON-ready values: size, sample questions,
    characteristic words, the closest FAQ with its similarity, and the tickets."""
    ignore = ignored_words(languages, {n for q in asked for n in q.names})
    questions = [q.text for q in asked]
    clusters = cluster_questions(questions, ignore=ignore, faqs=faqs)
    return [_gap_json(c, [q.ticket_id for q in asked], questions) for c in clusters[:max(top, 0)]]


def _gap_json(cluster: Cluster, tickets: list[int], questions: list[str]) -> dict[str, Any]:
    members = [questions[i] for i in cluster.members]
    closest = ({"id": cluster.closest[0], "similarity": round(cluster.closest[1], 3)}
               if cluster.closest else None)
    return {"size": cluster.size, "samples": members[:SAMPLES], "terms": list(cluster.terms),
            "closest_faq": closest, "tickets": sorted(tickets[i] for i in cluster.members)}
