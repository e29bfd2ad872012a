"""Offline evaluation of the FAQ classifier on labelled rows (``inboxd eval``).

Rows are ``(text, category)``. A category of ``oos`` or empty marks a question no FAQ covers:
in the training set such rows are trained as messages no FAQ answers (``NONE``), as ``inboxd
train`` trains the FAQ's background messages; in the test set they show how often the threshold
keeps them away from automatic answers. When no threshold is given, it is chosen by cross-validation on
the training rows, never on the test rows. With an encoder, the embeddings of the training and
test rows are read from (and added to) an embedding cache; the speed is measured on test rows
embedded afresh (``SPEED_ROWS`` of them), as the daemon would.
"""

from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence, TextIO

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from inboxd.config.policy import DEFAULT_UNKNOWN_SHARE
from inboxd.core.classify import (NO_ENCODER, NONE, Answers, Embedder, FaqClassifier,
                                  choose_threshold, coverage_at_precision)
from inboxd.model.embedding_cache import embed_answers, embed_cached
from inboxd.errors import InboxdError
from inboxd.steps.inbox import FETCH_BATCH
from inboxd.model.training import left_out, unknown_weight

OUT_OF_SCOPE = frozenset({"oos", ""})
PRECISIONS = ("0.95", "0.97", "0.99")
_CV_FOLDS = 3
_NOTHING_ANSWERED = float(np.nextafter(1.0, 2.0))  # above any confidence: answer nothing
SPEED_ROWS = 300  # test rows classified afresh (embedded too) to measure the speed

Row = tuple[str, str]


@dataclass(frozen=True)
class EvalReport:
    """What one train/test evaluation measured; shares are fractions in [0, 1]."""

    accuracy: float  # in-scope test rows whose best FAQ is right
    macro_f1: float  # over in-scope test rows
    threshold: float  # confidence at or above which a message is auto-answered
    auto_answered: float  # share of all test rows auto-answered at the threshold
    auto_precision: float  # share of those answers that are right (1.0 when none)
    coverage_at_precision: dict[str, float]  # "0.97" -> in-scope rows answered right at 97 %
    oos_left_to_human: float | None  # out-of-scope test rows below the threshold; None if none
    train_s: float
    messages_per_s: float  # classified in batches of FETCH_BATCH, as the daemon does
    n_train: int  # in-scope training rows
    n_test: int  # all test rows
    encoder: str = NO_ENCODER  # the sentence encoder the model used; "" for words alone
    suggestions: Suggestions | None = None  # drafts below the threshold; None: not measured

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Suggestions:
    """The test rows below the answer threshold and what ``suggest_threshold`` would do with
    them: a draft with the best FAQ's answer at or above it (0: suggestions off)."""

    suggest_threshold: float
    below_threshold: int  # test rows not answered automatically
    suggested: float  # share of those that would get a draft
    right: float  # share of the drafts whose FAQ is the right one (1.0 when none)
    right_of_below: float  # share of the in-scope rows below the threshold given the right FAQ


def suggestion_figures(truth: np.ndarray, guess: np.ndarray, conf: np.ndarray,
                       threshold: float, suggest_threshold: float) -> Suggestions:
    scope = np.array([c not in OUT_OF_SCOPE for c in truth], dtype=bool)
    below = conf < threshold
    suggested = below & (conf >= suggest_threshold) if suggest_threshold > 0 else \
        np.zeros_like(below)
    right = suggested & scope & (guess == truth)
    return Suggestions(suggest_threshold=float(suggest_threshold),
                       below_threshold=int(below.sum()), suggested=_share(suggested[below]),
                       right=_share(right[suggested]) if suggested.any() else 1.0,
                       right_of_below=_share(right[below & scope]))


def read_labelled_csv(path: Path) -> list[Row]:
    """Rows of a UTF-8 CSV with a ``text,category`` header; InboxdError names a bad line."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as source:
            return _parse_rows(path, source)
    except OSError as exc:
        raise InboxdError(f"{path}: cannot read ({exc.strerror})") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InboxdError(f"{path}: not a UTF-8 CSV file ({exc})") from exc


def _parse_rows(path: Path, source: TextIO) -> list[Row]:
    reader = csv.reader(source)
    header = [h.strip().lower() for h in next(reader, [])]
    if "text" not in header or "category" not in header:
        raise InboxdError(f"{path}:1: header must name the columns text and category")
    text_at, category_at = header.index("text"), header.index("category")
    rows = []
    for record in reader:
        if len(record) != len(header):
            raise InboxdError(f"{path}:{reader.line_num}: expected {len(header)} fields, "
                              f"found {len(record)}")
        if not record[text_at].strip():
            raise InboxdError(f"{path}:{reader.line_num}: empty text")
        rows.append((record[text_at], record[category_at].strip()))
    return rows


def evaluate(train: Sequence[Row], test: Sequence[Row], *, threshold: float | None,
             target_precision: float = 0.97, seed: int = 0,
             unknown_share: float = DEFAULT_UNKNOWN_SHARE, embedder: Embedder | None = None,
             cache: Path | None = None, suggest_threshold: float | None = None,
             answers: Mapping[str, Sequence[str]] | None = None) -> EvalReport:
    """Train on the in-scope ``train`` rows and measure on ``test``; with an ``embedder`` on
    the rows' meaning too (embeddings kept in ``cache``), and on the FAQs' ``answers`` (FAQ
    id -> answer texts) when given."""
    vectors = _Vectors(embedder, cache)
    embedded = None if embedder is None else embed_answers(embedder, answers or {}, cache)
    texts, labels = _training_rows(train)
    if threshold is None:
        threshold = _cross_validated_threshold(train, target_precision, seed, unknown_share,
                                               embedder, vectors.of([t for t, _ in train]),
                                               embedded)
    started = time.perf_counter()
    model = FaqClassifier.train(texts, labels, seed=seed, embedder=embedder,
                                vectors=vectors.of(texts), answers=embedded)
    train_s = time.perf_counter() - started
    test_texts = [text for text, _ in test]
    test_vectors = vectors.of(test_texts)
    matches = [m for start in range(0, len(test), FETCH_BATCH)  # as the daemon: a batch at once
               for m in model.predict_many(test_texts[start:start + FETCH_BATCH],
                                           _rows(test_vectors, start, FETCH_BATCH))]
    report = _report(test, [m.faq_id for m in matches], [m.confidence for m in matches],
                     threshold, train_s, _speed(model, test_texts),
                     sum(1 for label in labels if label != NONE), model.encoder)
    if suggest_threshold is None:
        return report
    figures = suggestion_figures(np.array([c for _, c in test], dtype=object),
                                 np.array([m.faq_id for m in matches], dtype=object),
                                 np.array([m.confidence for m in matches], dtype=float),
                                 threshold, suggest_threshold)
    return replace(report, suggestions=figures)


class _Vectors:
    """Embeddings of texts through the cache; None without an encoder."""

    def __init__(self, embedder: Embedder | None, cache: Path | None) -> None:
        self.embedder, self.cache = embedder, cache

    def of(self, texts: Sequence[str]) -> np.ndarray | None:
        if self.embedder is None:
            return None
        return embed_cached(self.embedder, texts, self.cache)


def _rows(vectors: np.ndarray | None, start: int, count: int) -> np.ndarray | None:
    return None if vectors is None else vectors[start:start + count]


def _speed(model: FaqClassifier, texts: list[str]) -> float:
    """Messages per second classified afresh (embedding included), in batches as the daemon."""
    sample = texts[:SPEED_ROWS]
    started = time.perf_counter()
    for start in range(0, len(sample), FETCH_BATCH):
        model.predict_many(sample[start:start + FETCH_BATCH])
    return len(sample) / max(time.perf_counter() - started, 1e-9)


def _training_rows(rows: Sequence[Row]) -> tuple[list[str], list[str]]:
    """Texts and labels to train on: out-of-scope rows labelled NONE."""
    if all(category in OUT_OF_SCOPE for _, category in rows):
        raise InboxdError("no in-scope training rows (every category is oos or empty)")
    return ([text for text, _ in rows],
            [NONE if category in OUT_OF_SCOPE else category for _, category in rows])


def _cross_validated_threshold(train: Sequence[Row], target_precision: float, seed: int,
                               unknown_share: float, embedder: Embedder | None = None,
                               vectors: np.ndarray | None = None,
                               answers: Answers | None = None) -> float:
    """The threshold reaching ``target_precision`` on held-out folds of the training rows, each
    fold's model trained without some categories, as ``inboxd train`` does (``left_out``)."""
    groups = np.array([c if c not in OUT_OF_SCOPE else "oos" for _, c in train])
    folds = min(_CV_FOLDS, int(np.unique(groups, return_counts=True)[1].min()))
    if folds < 2:
        return _NOTHING_ANSWERED
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(groups, groups))
    fold = np.zeros(len(train), dtype=int)
    for k, (_, held_at) in enumerate(splits):
        fold[held_at] = k
    labels = [NONE if g == "oos" else g for g in groups.tolist()]
    confidences, correct = np.zeros(len(train)), np.zeros(len(train), dtype=bool)
    weights = np.ones(len(train))
    for (fit_at, held_at), missing in zip(splits, left_out(labels, fold, unknown_share, seed)):
        left = np.isin(groups, list(missing))
        fit = [i for i in fit_at if not left[i]]
        if all(groups[i] == "oos" for i in fit):  # a fold left without any FAQ example
            return _NOTHING_ANSWERED
        model = FaqClassifier.train(*_training_rows([train[i] for i in fit]), seed=seed,
                                    embedder=embedder, answers=answers,
                                    vectors=None if vectors is None else vectors[fit])
        matches = model.predict_many([train[i][0] for i in held_at],
                                     None if vectors is None else vectors[held_at])
        for i, match in zip(held_at, matches):
            confidences[i] = match.confidence
            correct[i] = not left[i] and groups[i] != "oos" and match.faq_id == groups[i]
        weights[held_at[left[held_at]]] = unknown_weight(
            left[held_at], ~left[held_at] & (groups[held_at] != "oos"), unknown_share)
    chosen = choose_threshold(confidences, correct, target_precision, weights)
    return _NOTHING_ANSWERED if chosen is None else chosen


def _report(test: Sequence[Row], predicted: list[str], confidences: list[float],
            threshold: float, train_s: float, messages_per_s: float,
            n_train: int, encoder: str = NO_ENCODER) -> EvalReport:
    truth = np.array([category for _, category in test], dtype=object)
    guess = np.array(predicted, dtype=object)
    conf = np.array(confidences, dtype=float)
    scope = np.array([c not in OUT_OF_SCOPE for c in truth], dtype=bool)
    correct = scope & (guess == truth)
    answered = conf >= threshold
    return EvalReport(
        accuracy=_share(correct[scope]),
        macro_f1=_macro_f1(truth[scope], guess[scope]),
        threshold=float(threshold),
        auto_answered=_share(answered),
        auto_precision=_share(correct[answered]) if answered.any() else 1.0,
        coverage_at_precision={p: coverage_at_precision(conf, correct, scope, float(p))
                               for p in PRECISIONS},
        oos_left_to_human=_share(~answered[~scope]) if (~scope).any() else None,
        train_s=train_s, messages_per_s=messages_per_s, n_train=n_train, n_test=len(test),
        encoder=encoder)


def _share(flags: np.ndarray) -> float:
    return float(flags.mean()) if len(flags) else 0.0


def _macro_f1(truth: np.ndarray, guess: np.ndarray) -> float:
    if not len(truth):
        return 0.0
    return float(f1_score(truth.astype(str), guess.astype(str), average="macro", zero_division=0))


def _suggestion_lines(s: Suggestions | None) -> list[tuple[str, str]]:
    if s is None:
        return []
    return [("suggest threshold", f"{s.suggest_threshold:.3f}" if s.suggest_threshold else "off"),
            ("below the threshold", f"{s.below_threshold}"),
            ("of those given a draft", f"{s.suggested:.1%}"),
            ("drafts with the right FAQ", f"{s.right:.1%}"),
            ("right FAQ drafted (in scope)", f"{s.right_of_below:.1%}")]


def format_report(report: EvalReport) -> str:
    """A readable table of ``report`` for the terminal."""
    oos = report.oos_left_to_human
    lines = [
        ("encoder", report.encoder or "none (words alone)"),
        ("training rows (in scope)", f"{report.n_train}"),
        ("test rows", f"{report.n_test}"),
        ("accuracy (in scope)", f"{report.accuracy:.1%}"),
        ("macro F1 (in scope)", f"{report.macro_f1:.3f}"),
        ("threshold", f"{report.threshold:.3f}" if report.threshold <= 1 else "none (> 1)"),
        ("auto-answered", f"{report.auto_answered:.1%}"),
        ("precision of auto-answers", f"{report.auto_precision:.1%}"),
        *[(f"answered right at {float(p):.0%} precision", f"{v:.1%}")
          for p, v in report.coverage_at_precision.items()],
        ("out-of-scope left to a human", "n/a" if oos is None else f"{oos:.1%}"),
        *_suggestion_lines(report.suggestions),
        ("training time", f"{report.train_s:.1f} s"),
        ("classify rate", f"{report.messages_per_s:,.0f} messages/s"),
    ]
    width = max(len(name) for name, _ in lines)
    return "\n".join(f"{name:<{width}}  {value:>12}" for name, value in lines)
