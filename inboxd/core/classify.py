"""FAQ classifier: example questions per FAQ -> linear model; text -> best FAQ and its confidence.

Two views of every text. The words: TF-IDF weights (sublinear tf) of word 1-2-grams and of
character 2-5-grams taken inside word boundaries, so languages written without spaces (Chinese,
Japanese) still match. The meaning, when an encoder is handed in (``Embedder``, see
``inboxd.model.encoder``): the sentence embedding, less the offset of the text's language (when
the encoder gives them), centred on the mean of the training examples and re-normalised, so that
an example in one language helps a question in another. A linear SVM scores every FAQ on the
words; with the meaning, a logistic regression on the embedding gives log-probabilities and the
nearest example of each FAQ its cosine similarity. An FAQ's score is ``WORDS_WEIGHT`` x the share
of the text's words the examples hold x its SVM score + its log-probability + ``NEAREST_WEIGHT``
x that similarity (a product of experts: a question whose words the FAQ never uses, e.g. in
another language, is decided by its meaning; this fusion beat one SVM on both views concatenated
on BANKING77, see benchmarks/README.md). When the FAQs' answers are given (``Answers``, embedded
as passages: the encoder was trained to find the passage that answers a query), each FAQ also
gains ``ANSWER_WEIGHT`` x the best cosine similarity between the question and one of its
answers. One temperature, fitted on cross-validated scores of the
training examples, turns the scores into probabilities (``Match.confidence``). With a single FAQ
there is nothing to tell apart: the confidence is then the cosine similarity to its nearest
example (words only).

Models are saved as ``.npz`` archives of plain arrays (no pickled objects) with a format version
and the name of the encoder they were trained with; loading one with another encoder, or
without it, is a ModelError asking to retrain.
"""

from __future__ import annotations

import functools
import math
import os
import re
import unicodedata
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from inboxd.errors import ModelError

# scikit-learn and scipy.optimize are imported where a model is built or loaded: commands that
# never touch one (`inboxd tickets`, `inboxd check`) start a second sooner without them.

FORMAT = "inboxd-faq-classifier"
FORMAT_VERSION = 3
_VIEWS: dict[str, dict] = {
    # words; a CJK ideograph or kana is a word of its own (those scripts write no spaces)
    "word": {"analyzer": "word", "ngram_range": (1, 2),
             "token_pattern": r"(?u)[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]|"
                              r"[^\W\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]+"},
    "char": {"analyzer": "char_wb", "ngram_range": (2, 5)},
}
_SVM_C = 1.0
_CV_FOLDS = 3
_DEFAULT_TEMPERATURE = 0.15  # typical fitted value; used when some FAQ has a single example
_TEMPERATURE_BOUNDS = (0.01, 10.0)
_DIGITS = re.compile(r"\d")
_WORD = re.compile(_VIEWS["word"]["token_pattern"])
_CACHED_WORDS = 50_000  # words whose char n-gram columns are remembered, per view
_LONGEST_CACHED_WORD = 40
_RETRAIN = "run `inboxd train`"
WORDS_WEIGHT = 2.0  # SVM score units per log-probability unit of the embedding's model, for a
# text all of whose words the examples hold; less in proportion for a text with unknown words
NEAREST_WEIGHT = 5.0  # log-probability units per unit of cosine similarity to the nearest example
ANSWER_WEIGHT = 60.0  # log-probability units per unit of cosine similarity to the FAQ's answer
_MEANING_C = 30.0  # inverse regularisation of the logistic regression on the embedding
NONE = ""  # the label of background examples: "none of the FAQs"; never returned as a match
NO_ENCODER = ""  # the encoder name of a model trained on words alone


class Embedder(Protocol):
    """A sentence encoder: ``embed`` gives one L2-normalised row per text."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

# An Embedder may also have ``language_offsets() -> (languages, offsets)``: the vector offset of
# each language, taken off the vectors of texts in it (``_without_language``), and
# ``passages() -> Embedder``: the same encoder embedding texts as passages that answer a query
# (the FAQs' answers, ``Answers``).


@dataclass(frozen=True)
class Answers:
    """The FAQs' answers embedded as passages: one row per answer (an FAQ has one per language
    it answers in), each labelled with its FAQ id."""

    labels: tuple[str, ...]
    vectors: np.ndarray


@dataclass(frozen=True)
class Match:
    """The best FAQ for a text and the calibrated probability that it is the right one."""

    faq_id: str
    confidence: float


def normalise(text: str) -> str:
    """NFKC, case-folded, every digit as 0, whitespace collapsed to single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_DIGITS.sub("0", text).split())


class _View:
    """One TF-IDF view of a normalised text: a vocabulary and its idf weights."""

    def __init__(self, name: str, terms: Sequence[str], idf: np.ndarray) -> None:
        self.name = name
        self.terms = list(terms)
        self.idf = np.asarray(idf, dtype=np.float64)
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.analyse = TfidfVectorizer(lowercase=False, **_VIEWS[name]).build_analyzer()

    @classmethod
    def fit(cls, name: str, texts: Sequence[str]) -> tuple[_View, sp.csr_matrix]:
        """The view of normalised ``texts`` and their TF-IDF rows."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(lowercase=False, sublinear_tf=True, **_VIEWS[name])
        try:
            rows = vectorizer.fit_transform(texts)
        except ValueError:  # no term at all, e.g. only punctuation for the word view
            return cls(name, [], np.empty(0)), sp.csr_matrix((len(texts), 0))
        return cls(name, vectorizer.get_feature_names_out(), vectorizer.idf_), rows

    def column_finder(self, offset: int) -> Callable[[str], list[np.ndarray]]:
        """A function: normalised text -> arrays of ``offset`` + the vocabulary column of each
        of the analyser's terms in it, one per occurrence (unknown terms left out)."""
        lookup = {term: offset + i for i, term in enumerate(self.terms)}.get
        analyse = self.analyse

        def columns(text: str) -> np.ndarray:
            found = np.array([c for c in map(lookup, analyse(text)) if c is not None], np.intp)
            found.flags.writeable = False  # may be shared through the cache below
            return found

        if self.name != "char":
            return lambda text: [columns(text)]
        cached = functools.lru_cache(maxsize=_CACHED_WORDS)(columns)

        def by_word(text: str) -> list[np.ndarray]:  # char_wb n-grams never cross a space
            return [cached(word) if len(word) <= _LONGEST_CACHED_WORD else columns(word)
                    for word in text.split()]

        return by_word


class _Features:
    """Concatenated views; each view's block has length 1/sqrt(number of views)."""

    def __init__(self, views: Sequence[_View]) -> None:
        self.views = list(views)
        sizes = [len(v.terms) for v in self.views]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
        self.scale = 1.0 / math.sqrt(len(self.views))
        self._idf = np.concatenate([v.idf for v in self.views])
        self._finders = [v.column_finder(off) for v, off in zip(self.views, self.offsets.tolist())]

    @classmethod
    def fit(cls, texts: Sequence[str]) -> tuple[_Features, sp.csr_matrix]:
        """Features of raw ``texts`` and the texts' feature rows."""
        normalised = [normalise(t) for t in texts]
        fitted = [_View.fit(name, normalised) for name in _VIEWS]
        features = cls([view for view, _ in fitted])
        return features, sp.hstack([rows for _, rows in fitted]).tocsr() * features.scale

    @property
    def size(self) -> int:
        return int(self.offsets[-1])

    def known_share(self, texts: Sequence[str]) -> np.ndarray:
        """For each raw text, the share of its words that are terms of the word view (1.0 for
        a text without words)."""
        known = self._known_words
        shares = []
        for text in texts:
            words = _WORD.findall(normalise(text))
            shares.append(sum(w in known for w in words) / len(words) if words else 1.0)
        return np.asarray(shares, dtype=np.float64)

    @functools.cached_property
    def _known_words(self) -> frozenset[str]:
        return frozenset(t for t in self.views[0].terms if " " not in t)

    def rows(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Feature rows of raw ``texts``, as ``fit`` returns them for its own texts.

        Sublinear TF-IDF as sklearn computes it, each view's block scaled to unit length; the
        terms of each text are looked up in Python, the arithmetic is done for all texts at once.
        """
        pieces: list[np.ndarray] = []  # arrays of term columns; piece_text: whose they are
        piece_text: list[int] = []
        for i, text in enumerate(texts):
            text = normalise(text)
            for columns_of in self._finders:
                found = columns_of(text)
                pieces += found
                piece_text += [i] * len(found)
        return self._weigh(self._term_counts(len(texts), pieces, piece_text))

    def _term_counts(self, n_texts: int, pieces: list[np.ndarray],
                     piece_text: list[int]) -> sp.csr_matrix:
        """How often each term occurs in each text."""
        sizes = np.fromiter(map(len, pieces), np.intp, len(pieces))
        per_text = np.bincount(np.asarray(piece_text, np.intp), weights=sizes, minlength=n_texts)
        indptr = np.concatenate([[0], np.cumsum(per_text, dtype=np.intp)])
        columns = np.concatenate(pieces) if pieces else np.empty(0, np.intp)
        counts = sp.csr_matrix((np.ones(len(columns)), columns, indptr),
                               shape=(n_texts, self.size))
        counts.sum_duplicates()
        return counts

    def _weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Term counts -> sublinear TF-IDF, each view's block of a row scaled to unit length."""
        columns, indptr = counts.indices, counts.indptr
        values = (1.0 + np.log(counts.data)) * self._idf[columns]
        block = np.repeat(np.arange(counts.shape[0]) * len(self.views), np.diff(indptr))
        for start in self.offsets[1:-1]:
            block += columns >= start  # the index of the column's view
        values *= self.scale / np.sqrt(np.bincount(block, weights=values * values))[block]
        return sp.csr_matrix((values.astype(np.float32), columns, indptr), shape=counts.shape)


class _Semantic:
    """The embedding view. Each vector loses the offset of its text's language (when the encoder
    gives them, ``Embedder.language_offsets``), is centred on the training examples' mean and
    re-normalised; a logistic regression (weights: dimensions x labels) gives log-probabilities
    and each label's nearest example its cosine similarity, ``NEAREST_WEIGHT`` times; each FAQ's
    answer (``answers``) adds ``ANSWER_WEIGHT`` x its similarity to the text as it was embedded."""

    def __init__(self, encoder: str, centre: np.ndarray, weights: np.ndarray,
                 bias: np.ndarray, examples: np.ndarray, starts: np.ndarray,
                 languages: Sequence[str] = (), offsets: np.ndarray | None = None,
                 answers: _AnswerRows | None = None) -> None:
        self.encoder = encoder
        self.answers = answers or _AnswerRows.none(len(centre))
        self.centre = np.asarray(centre, dtype=np.float32)
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float64)
        self.examples = np.ascontiguousarray(examples, dtype=np.float16)  # sorted by label
        self.starts = np.asarray(starts, dtype=np.intp)  # each label's first row in examples
        self.languages = tuple(languages)
        self.offsets = (np.zeros((0, len(self.centre)), np.float32) if offsets is None
                        else np.asarray(offsets, dtype=np.float32))
        if len(self.offsets) != len(self.languages):
            raise ValueError("one language offset per language")

    @classmethod
    def fit(cls, encoder: str, vectors: np.ndarray, y: np.ndarray, seed: int,
            texts: Sequence[str], offsets: LanguageOffsets | None,
            answers: Answers | None = None) -> _Semantic:
        from sklearn.linear_model import LogisticRegression

        languages, shifts = offsets if offsets is not None else ((), None)
        neutral = _without_language(vectors, texts, languages, shifts)
        centre = neutral.mean(axis=0)
        rows = _centred(neutral, centre)
        model = LogisticRegression(C=_MEANING_C, class_weight="balanced", max_iter=3000,
                                   random_state=seed).fit(rows, y)
        weights, bias = model.coef_.T, model.intercept_
        if weights.shape[1] == 1:  # two classes: one column of log-odds for the second
            weights, bias = np.hstack([-weights / 2, weights / 2]), np.array([-bias[0] / 2,
                                                                               bias[0] / 2])
        order = np.argsort(y, kind="stable")  # np.unique's label order, as the model's columns
        starts = np.searchsorted(y[order], np.unique(y))
        return cls(encoder, centre, weights, bias, rows[order], starts, languages, shifts,
                   _AnswerRows.of(answers, np.unique(y).tolist(), len(centre)))

    def scores(self, vectors: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """Each label's score for each text: log-probability + NEAREST_WEIGHT x similarity to
        its nearest example + ANSWER_WEIGHT x similarity to its best answer."""
        from scipy.special import log_softmax

        rows = _centred(_without_language(vectors, texts, self.languages, self.offsets),
                        self.centre)
        logits = (rows @ self.weights).astype(np.float64) + self.bias
        similarity = rows @ self.examples.astype(np.float32).T
        nearest = np.maximum.reduceat(similarity, self.starts, axis=1)
        return (log_softmax(logits, axis=1) + NEAREST_WEIGHT * nearest
                + ANSWER_WEIGHT * self.answers.similarity(vectors, len(self.bias)))


class _AnswerRows:
    """The answers a model holds: rows sorted by the column of their label, ``starts`` the
    first row of each column that has answers (``columns``)."""

    def __init__(self, vectors: np.ndarray, starts: np.ndarray, columns: np.ndarray) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float16)
        self.starts = np.asarray(starts, dtype=np.intp)
        self.columns = np.asarray(columns, dtype=np.intp)
        if len(self.starts) != len(self.columns) or (len(self.starts) and (
                self.starts[0] != 0 or np.any(np.diff(self.starts) <= 0)
                or self.starts[-1] >= len(self.vectors))):
            raise ValueError("answer rows do not fit their labels")

    @classmethod
    def none(cls, dim: int) -> _AnswerRows:
        return cls(np.zeros((0, dim)), np.zeros(0), np.zeros(0))

    @classmethod
    def of(cls, answers: Answers | None, labels: list[str], dim: int) -> _AnswerRows:
        """The rows of ``answers`` whose FAQ is one of ``labels`` (the model's columns)."""
        if answers is None:
            return cls.none(dim)
        column = {label: i for i, label in enumerate(labels) if label != NONE}
        kept = [(column[label], i) for i, label in enumerate(answers.labels) if label in column]
        if not kept:
            return cls.none(dim)
        kept.sort()
        columns = np.array([c for c, _ in kept])
        first = np.flatnonzero(np.append(True, columns[1:] != columns[:-1]))
        return cls(np.asarray(answers.vectors)[[i for _, i in kept]], first, columns[first])

    def similarity(self, vectors: np.ndarray, labels: int) -> np.ndarray:
        """Each label's best cosine similarity between ``vectors`` and one of its answers; a
        label without answers (``NONE`` too) gets the mean of the others, so it neither gains
        nor loses against them."""
        if not len(self.columns):
            return np.zeros((len(vectors), labels))
        rows = np.asarray(vectors, dtype=np.float32) @ self.vectors.astype(np.float32).T
        best = np.maximum.reduceat(rows, self.starts, axis=1).astype(np.float64)
        out = np.repeat(best.mean(axis=1, keepdims=True), labels, axis=1)
        out[:, self.columns] = best
        return out


LanguageOffsets = tuple[Sequence[str], np.ndarray]  # languages, a row of offset per language


def _without_language(vectors: np.ndarray, texts: Sequence[str], languages: Sequence[str],
                      offsets: np.ndarray | None) -> np.ndarray:
    """``vectors`` less the offset of their text's language (none when it is unsure), unit length."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if offsets is None or not len(languages):
        return vectors
    from inboxd.core.language import detect_language

    index = {lang: i for i, lang in enumerate(languages)}
    padded = np.vstack([offsets, np.zeros((1, offsets.shape[1]), np.float32)])  # unsure: none
    which = [index.get(detect_language(t, languages, ""), len(languages)) for t in texts]
    shifted = vectors - padded[which]
    return shifted / np.maximum(np.linalg.norm(shifted, axis=1, keepdims=True), 1e-6)


def _centred(vectors: np.ndarray, centre: np.ndarray) -> np.ndarray:
    centred = np.asarray(vectors, dtype=np.float32) - centre
    return centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-6)


class FaqClassifier:
    """Tells which FAQ a text asks about; build with ``train`` or ``load``."""

    def __init__(self, labels: Sequence[str], features: _Features, weights: np.ndarray,
                 bias: np.ndarray, temperature: float,
                 examples: sp.csr_matrix | None = None, semantic: _Semantic | None = None,
                 embedder: Embedder | None = None) -> None:
        self._all_labels: tuple[str, ...] = tuple(labels)
        self.labels: tuple[str, ...] = tuple(label for label in labels if label != NONE)
        self._candidates = np.array([label != NONE for label in labels])
        self._features = features
        self._weights = np.ascontiguousarray(weights, dtype=np.float32)  # features x labels
        self._bias = np.asarray(bias, dtype=np.float64)
        self._temperature = float(temperature)
        self._examples = examples  # only with a single FAQ
        self._semantic = semantic
        self._embedder = embedder
        if semantic is not None and embedder is not None and embedder.name != semantic.encoder:
            raise ModelError(f"model trained with the encoder {semantic.encoder!r}, "
                             f"not {embedder.name!r}; {_RETRAIN}")

    @property
    def encoder(self) -> str:
        """The name of the encoder the model uses; NO_ENCODER when it uses words alone."""
        return self._semantic.encoder if self._semantic is not None else NO_ENCODER

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str], *, seed: int = 0,
              embedder: Embedder | None = None, vectors: np.ndarray | None = None,
              answers: Answers | None = None) -> FaqClassifier:
        """Fit on example texts, each labelled with its FAQ id; with an ``embedder`` on their
        meaning too (``vectors``: the texts' embeddings when the caller has them already), and
        on the ``answers`` of the FAQs among ``labels``."""
        from sklearn.svm import LinearSVC

        _check_examples(texts, labels)
        features, x = _Features.fit(texts)
        y = np.asarray(labels, dtype=str)
        names = tuple(str(name) for name in np.unique(y))
        if len(names) == 1:
            return cls(names, features, np.zeros((features.size, 1)), np.zeros(1), 1.0, x)
        semantic, offsets = None, None
        if embedder is not None:
            vectors = embedder.embed(texts) if vectors is None else np.asarray(vectors)
            offsets = _offsets_of(embedder)
            semantic = _Semantic.fit(embedder.name, vectors, y, seed, texts, offsets, answers)
        svm = LinearSVC(C=_SVM_C, class_weight="balanced", random_state=seed).fit(x, y)
        weights, bias = _scores_as_columns(svm.coef_.T, svm.intercept_)
        temperature = _fit_temperature(x, y, seed, texts, None if semantic is None else vectors,
                                       embedder.name if embedder is not None else NO_ENCODER,
                                       offsets, answers)
        return cls(names, features, weights, bias, temperature, semantic=semantic,
                   embedder=embedder)

    def predict(self, text: str) -> Match:
        """The best FAQ for ``text``."""
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str],
                     vectors: np.ndarray | None = None) -> list[Match]:
        """The best FAQ for each of ``texts`` (``vectors``: their embeddings, when the caller
        has them already); faster per text than ``predict`` one by one."""
        if not texts:
            return []
        rows = self._features.rows(texts)
        if self._examples is not None:
            similarity = (rows @ self._examples.T).toarray().max(axis=1)
            return [Match(self.labels[0], c) for c in np.clip(similarity, 0.0, 1.0).tolist()]
        scores = (rows @ self._weights).astype(np.float64) + self._bias
        if self._semantic is not None:
            if vectors is None:
                if self._embedder is None:
                    raise ModelError(f"the model needs the encoder {self.encoder!r}; {_RETRAIN}")
                vectors = self._embedder.embed(texts)
            scores = _fused(scores, self._semantic.scores(vectors, texts),
                            self._features.known_share(texts))
        best = np.argmax(np.where(self._candidates, scores, -np.inf), axis=1)
        top = np.take_along_axis(scores, best[:, None], axis=1)
        with np.errstate(over="ignore"):  # a non-candidate far above the best: confidence 0
            confidence = 1.0 / np.exp((scores - top) / self._temperature).sum(axis=1)
        labels = self._all_labels
        return [Match(labels[b], c) for b, c in zip(best.tolist(), confidence.tolist())]

    def save(self, path: Path) -> None:
        """Write the model to ``path`` atomically (a temporary file, then a rename)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        try:
            with open(tmp, "wb") as out:
                np.savez_compressed(out, **self._state())
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ModelError(f"{path}: cannot write the model ({exc.strerror})") from exc

    @classmethod
    def load(cls, path: Path, embedder: Embedder | None = None) -> FaqClassifier:
        """Read a model written by ``save``; ModelError if missing, unreadable, outdated, or
        trained with an encoder other than ``embedder`` (a model trained on words alone loads
        with or without one, and uses words alone)."""
        state = _read_state(Path(path))
        trained_with = _unpack_one(state.get("encoder"))
        if trained_with != NO_ENCODER and (embedder is None or embedder.name != trained_with):
            now = f"the encoder {embedder.name!r}" if embedder is not None else "no encoder"
            raise ModelError(f"{path}: model trained with the encoder {trained_with!r}, but "
                             f"this inboxd has {now}; {_RETRAIN}")
        try:
            return cls._from_state(state, embedder if trained_with != NO_ENCODER else None)
        except (KeyError, ValueError, IndexError, UnicodeDecodeError) as exc:
            raise ModelError(f"{path}: damaged model file ({exc}); {_RETRAIN}") from exc

    def _state(self) -> dict[str, np.ndarray]:
        state = {"format": np.array(FORMAT), "version": np.array(FORMAT_VERSION),
                 "labels": _pack(self._all_labels), "weights": self._weights, "bias": self._bias,
                 "temperature": np.array(self._temperature), "encoder": _pack([self.encoder])}
        if self._semantic is not None:
            meaning = self._semantic
            state.update(semantic_centre=meaning.centre, semantic_weights=meaning.weights,
                         semantic_bias=meaning.bias, semantic_examples=meaning.examples,
                         semantic_starts=meaning.starts,
                         semantic_languages=_pack(meaning.languages),
                         semantic_offsets=meaning.offsets,
                         semantic_answers=meaning.answers.vectors,
                         semantic_answer_starts=meaning.answers.starts,
                         semantic_answer_columns=meaning.answers.columns)
        for view in self._features.views:
            state[f"{view.name}_terms"] = _pack(view.terms)
            state[f"{view.name}_idf"] = view.idf
        if self._examples is not None:
            ex = self._examples
            state.update(examples_data=ex.data, examples_indices=ex.indices,
                         examples_indptr=ex.indptr, examples_shape=np.array(ex.shape))
        return state

    @classmethod
    def _from_state(cls, state: dict[str, np.ndarray],
                    embedder: Embedder | None) -> FaqClassifier:
        views = [_View(n, _unpack(state[f"{n}_terms"]), state[f"{n}_idf"]) for n in _VIEWS]
        examples = None
        if "examples_data" in state:
            parts = (state["examples_data"], state["examples_indices"], state["examples_indptr"])
            examples = sp.csr_matrix(parts, shape=tuple(state["examples_shape"]))
        semantic = None
        features = _Features(views)
        if embedder is not None:
            semantic = _Semantic(embedder.name, state["semantic_centre"],
                                 state["semantic_weights"], state["semantic_bias"],
                                 state["semantic_examples"], state["semantic_starts"],
                                 _unpack(state["semantic_languages"]), state["semantic_offsets"],
                                 _answers_of(state))
            if semantic.weights.shape != (len(semantic.centre), len(state["bias"])):
                raise ValueError("the meaning's weights do not fit the labels")
            answers = semantic.answers
            if answers.vectors.shape[1] != len(semantic.centre) or (
                    len(answers.columns) and answers.columns.max() >= len(state["bias"])):
                raise ValueError("the answers do not fit the labels")
        return cls(_unpack(state["labels"]), features, state["weights"], state["bias"],
                   float(state["temperature"]), examples, semantic, embedder)


def _answers_of(state: dict[str, np.ndarray]) -> _AnswerRows | None:
    """The answers a saved model holds; None for a model saved without them."""
    if "semantic_answers" not in state:
        return None
    return _AnswerRows(state["semantic_answers"], state["semantic_answer_starts"],
                       state["semantic_answer_columns"])


def _check_examples(texts: Sequence[str], labels: Sequence[str]) -> None:
    if len(texts) != len(labels):
        raise ModelError(f"{len(texts)} example texts but {len(labels)} labels")
    if not texts:
        raise ModelError("no FAQ examples to train on")
    if any("\n" in label for label in labels):
        raise ModelError("a FAQ id contains a line break")
    if all(label == NONE for label in labels):
        raise ModelError("no FAQ examples to train on, only background messages")
    empty = [i for i, t in enumerate(texts) if not normalise(t)]
    if empty:
        raise ModelError(f"FAQ example {empty[0]} (labelled {labels[empty[0]]!r}) is empty")


def _scores_as_columns(weights: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A two-class SVM has one score column (for the second class); give each class one."""
    if weights.shape[1] == 1:
        return np.hstack([-weights, weights]), np.concatenate([-bias, bias])
    return weights, bias


def _fused(word_scores: np.ndarray, meaning: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The two views' scores of each label: SVM scores on words, weighed by the share of the
    text's words the examples hold (``known``: words in a language the FAQ has no example in
    tell nothing), plus the meaning's scores."""
    return (WORDS_WEIGHT * known)[:, None] * word_scores + meaning


def _offsets_of(embedder: Embedder) -> LanguageOffsets | None:
    offsets = getattr(embedder, "language_offsets", None)
    return offsets() if callable(offsets) else None


def _fit_temperature(x: sp.csr_matrix, y: np.ndarray, seed: int, texts: Sequence[str],
                     vectors: np.ndarray | None = None, encoder: str = NO_ENCODER,
                     offsets: LanguageOffsets | None = None,
                     answers: Answers | None = None) -> float:
    """The temperature minimising the log-loss of cross-validated scores (words, and meaning
    when ``vectors`` are given)."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.svm import LinearSVC

    _, target, counts = np.unique(y, return_inverse=True, return_counts=True)
    folds = min(_CV_FOLDS, int(counts.min()))
    if folds < 2:
        return _DEFAULT_TEMPERATURE
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    svm = LinearSVC(C=_SVM_C, class_weight="balanced", random_state=seed)
    raw = cross_val_predict(svm, x, y, cv=cv, method="decision_function")
    scores = np.column_stack([-raw, raw]) if raw.ndim == 1 else raw
    if vectors is not None:
        meaning = np.zeros_like(scores)
        for fit, held in cv.split(x, y):
            semantic = _Semantic.fit(encoder, vectors[fit], y[fit], seed,
                                     [texts[i] for i in fit], offsets, answers)
            meaning[held] = semantic.scores(vectors[held], [texts[i] for i in held])
        scores = _fused(scores, meaning, np.ones(len(y)))
    rows = np.arange(len(y))

    def log_loss(log_t: float) -> float:
        return float(-log_softmax(scores / math.exp(log_t), axis=1)[rows, target].mean())

    low, high = (math.log(b) for b in _TEMPERATURE_BOUNDS)
    return math.exp(minimize_scalar(log_loss, bounds=(low, high), method="bounded").x)


def _pack(strings: Sequence[str]) -> np.ndarray:
    """Strings as UTF-8 bytes joined by newlines (no term or label holds a newline)."""
    return np.frombuffer("\n".join(strings).encode("utf-8"), dtype=np.uint8)


def _unpack(packed: np.ndarray) -> list[str]:
    text = packed.tobytes().decode("utf-8")
    return text.split("\n") if text else []


def _unpack_one(packed: np.ndarray | None) -> str:
    try:
        return packed.tobytes().decode("utf-8") if packed is not None else NO_ENCODER
    except UnicodeDecodeError:
        return "(unreadable)"


def _read_state(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            state = {name: archive[name] for name in archive.files}
    except FileNotFoundError as exc:
        raise ModelError(f"{path}: no trained model; {_RETRAIN}") from exc
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, AttributeError) as exc:
        raise ModelError(f"{path}: not a readable model file; {_RETRAIN}") from exc
    if state.get("format", np.array("")).item() != FORMAT:
        raise ModelError(f"{path}: not an inboxd FAQ model; {_RETRAIN}")
    version = int(state.get("version", np.array(-1)))
    if version != FORMAT_VERSION:
        raise ModelError(f"{path}: model format {version}, expected {FORMAT_VERSION}; {_RETRAIN}")
    return state


def choose_threshold(confidences: Sequence[float], correct: Sequence[bool],
                     target_precision: float,
                     weights: Sequence[float] | None = None) -> float | None:
    """Smallest threshold whose answered set (confidence >= it) has precision >= target; each
    row counts ``weights[i]`` times (once without weights)."""
    conf, hits = np.asarray(confidences, dtype=float), np.asarray(correct, dtype=bool)
    ends, answered, right = _cumulative_by_confidence(conf, hits, weights)
    reachable = right >= target_precision * answered - 1e-12
    if not reachable.any():
        return None
    return float(np.sort(conf)[::-1][ends[reachable][-1]])


def coverage_at_precision(confidences: Sequence[float], correct: Sequence[bool],
                          in_scope: Sequence[bool], target_precision: float) -> float:
    """Largest share of in-scope rows answered correctly, answering the most confident first,
    while the precision of all answers (an answered out-of-scope row is wrong) stays >= target."""
    scope = np.asarray(in_scope, dtype=bool)
    hits = np.asarray(correct, dtype=bool) & scope
    if not scope.any():
        return 0.0
    _, answered, right = _cumulative_by_confidence(np.asarray(confidences, dtype=float), hits)
    reachable = right >= target_precision * answered - 1e-12
    return float(right[reachable].max() / scope.sum()) if reachable.any() else 0.0


def _cumulative_by_confidence(conf: np.ndarray, hits: np.ndarray, weights: Sequence[float] | None
                              = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each distinct confidence, most confident first: the index of the last row at it
    (in descending order), and how many rows (by weight) are answered and right at that
    threshold."""
    if not len(conf):
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp), np.empty(0)
    order = np.argsort(-conf, kind="stable")
    sorted_conf = conf[order]
    ends = np.flatnonzero(np.append(sorted_conf[1:] != sorted_conf[:-1], True))
    if weights is None:
        return ends, ends + 1, np.cumsum(hits[order])[ends]
    weight = np.asarray(weights, dtype=float)[order]
    return ends, np.cumsum(weight)[ends], np.cumsum(weight * hits[order])[ends]
