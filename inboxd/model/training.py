"""Training the FAQ model on the FAQ's examples and the examples learned from agents' answers.

Training also cross-validates the model on those examples and on the background messages (mail
no FAQ answers, labelled ``NONE``): each row is classified by a model trained on the other
folds. That gives, for any threshold, the expected share of the FAQs' questions answered right
automatically (coverage) and the share of all automatic answers that are right (precision; an
answered background message is wrong). With ``faq.target_precision`` set, the threshold is the
smallest one reaching it. Customers also ask about things close to an FAQ that no FAQ covers:
to check the threshold against those too, each fold's model is trained without some of the
FAQs, whose held-out questions then count as wrong if answered, weighted to make up
``faq.unknown_share`` of the questions (and left out of the coverage figures). Without
background messages nothing far from the FAQs was checked, so a trained threshold is then never
set below ``TRAINED_THRESHOLD_FLOOR``.

With an encoder (``inboxd.model.encoder``) the model also uses the meaning of the texts; their
embeddings are computed once per training (cross-validation folds share them) and kept in a cache
next to the model (``inboxd.model.embedding_cache``), so a retrain embeds only new examples.

The chosen threshold and the figures are kept next to the model in ``<model>.meta.json``. At run
time the threshold is ``faq.threshold`` when the configuration sets it, else the trained one,
else ``DEFAULT_THRESHOLD`` (:func:`effective_threshold`). A target precision the examples do not
reach never falls back to a looser threshold: nothing is then answered automatically
(``NO_AUTO_ANSWER``), and the model's sidecar says why and which FAQs need more examples.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from inboxd.config import FaqSettings
from inboxd.core.classify import (NO_ENCODER, NONE, Answers, Embedder, FaqClassifier,
                                  choose_threshold)
from inboxd.model.embedding_cache import embed_answers, embed_cached
from inboxd.errors import ModelError
from inboxd.faq import Faq

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.6
NO_AUTO_ANSWER = math.inf  # the threshold when a target precision is not met: answer nothing
CONFUSED_ROWS = 10  # the most confident wrong answers that name the FAQs needing examples
TRAINED_THRESHOLD_FLOOR = 0.5
CV_FOLDS = 5
FEWEST_FAQS_TO_LEAVE_OUT = 5  # with fewer, every fold's model knows every FAQ
META_SUFFIX = ".meta.json"
Progress = Callable[[int, int], None]  # (steps done, steps in all)


@dataclass(frozen=True)
class ModelMeta:
    """What ``inboxd train`` wrote next to the model."""

    threshold: float | None  # chosen for target_precision; None when not asked or unreachable
    target_precision: float | None
    reported_threshold: float  # the threshold the figures below are for
    expected_precision: float | None  # cross-validated; None when not measurable
    expected_coverage: float | None
    coverage_by_faq: dict[str, float] = field(default_factory=dict)
    faq_examples: int = 0
    learned_examples: int = 0
    learned_max_id: int = 0  # the newest learned example trained on
    trained_at: str = ""
    threshold_problem: str = ""  # why target_precision was not met, and what to do
    faq_ids: list[str] = field(default_factory=list)  # the FAQs the model knows
    faq_digest: str = ""  # of the FAQ file's ids and examples trained on (inboxd.model.modelfile)
    encoder: str = NO_ENCODER  # the sentence encoder the model uses; "" for words alone
    answers_digest: str = ""  # of the answers it compares questions with; "" for words alone


@dataclass(frozen=True)
class TrainingSet:
    texts: list[str]
    labels: list[str]
    faq_examples: int
    background: int  # rows labelled NONE
    learned_by_faq: dict[str, int]
    learned_max_id: int
    ignored: int  # learned examples of FAQs no longer in the file
    answers: dict[str, list[str]] = field(default_factory=dict)  # FAQ id -> its answer texts

    @property
    def learned_examples(self) -> int:
        return sum(self.learned_by_faq.values())


@dataclass(frozen=True)
class CrossValidation:
    labels: list[str]
    confidences: np.ndarray
    correct: np.ndarray
    unknown: np.ndarray  # rows whose FAQ their fold's model was trained without
    weights: np.ndarray  # how much each row counts in the precision: in each fold the unknown
                         # ones make up faq.unknown_share of the FAQ questions


@dataclass(frozen=True)
class TrainResult:
    model: FaqClassifier
    meta: ModelMeta
    data: TrainingSet
    notes: list[str]  # what the operator should know, e.g. an unreachable target
    unknown_checked: bool = False  # cross-validation left FAQs out (faq.unknown_share)
    answers_by_faq: dict[str, int] = field(default_factory=dict)  # answers the model compares


def training_set(faq: Faq, learned: Sequence[dict[str, Any]]) -> TrainingSet:
    """The FAQ's examples plus learned rows (``id``, ``faq_id``, ``text``) of current FAQs."""
    texts, labels = faq.training_rows()
    background = sum(1 for label in labels if label == NONE)
    known = [row for row in learned if faq.get(row["faq_id"]) is not None]
    by_faq: dict[str, int] = {}
    for row in known:
        by_faq[row["faq_id"]] = by_faq.get(row["faq_id"], 0) + 1
    return TrainingSet(texts + [r["text"] for r in known], labels + [r["faq_id"] for r in known],
                       len(texts) - background, background, by_faq,
                       max((int(r["id"]) for r in learned), default=0),
                       len(learned) - len(known), faq.answer_texts())


def fold_of(labels: Sequence[str], folds: int, seed: int) -> np.ndarray:
    """A fold number per row: each FAQ's rows shuffled and dealt round the folds."""
    rng = np.random.default_rng(seed)
    result = np.zeros(len(labels), dtype=int)
    y = np.asarray(labels, dtype=object)
    for label in sorted(set(labels)):
        rows = rng.permutation(np.flatnonzero(y == label))
        result[rows] = np.arange(len(rows)) % folds
    return result


def cv_folds(labels: Sequence[str]) -> int:
    """How many folds to cross-validate with; 0 with fewer than two FAQs (nothing to tell apart)."""
    return min(CV_FOLDS, max(2, len(labels) // 2)) if len(set(labels)) >= 2 else 0


def left_out(labels: Sequence[str], fold: np.ndarray, share: float,
             seed: int) -> list[frozenset[str]]:
    """For each fold, the FAQs its model is trained without: about ``share`` of the FAQs it
    holds questions of (at least one, never all), drawn among those that keep examples in a
    fold whose model knows them (so every FAQ is known to some model); none with fewer than
    FEWEST_FAQS_TO_LEAVE_OUT FAQs."""
    folds = int(fold.max()) + 1 if len(fold) else 0
    faqs = sorted(set(labels) - {NONE})
    if share <= 0 or len(faqs) < FEWEST_FAQS_TO_LEAVE_OUT:
        return [frozenset()] * folds
    y = np.asarray(labels, dtype=object)
    known_in = {faq: set(fold[y == faq].tolist()) for faq in faqs}  # folds that know it
    rank = dict(zip(faqs, np.random.default_rng(seed).permutation(len(faqs)).tolist()))
    times = dict.fromkeys(faqs, 0)  # how often each was left out: spread them evenly
    missing = []
    for k in range(folds):
        present = [faq for faq in faqs if k in known_in[faq] and len(known_in[faq]) > 1]
        count = min(len(present) - 1, max(1, round(share * len(present))))  # one stays known
        chosen = frozenset(sorted(present, key=lambda f: (times[f], rank[f]))[:max(count, 0)])
        for faq in chosen:
            known_in[faq].discard(k)
            times[faq] += 1
        missing.append(chosen)
    return missing


def unknown_weight(unknown: np.ndarray, known: np.ndarray, share: float) -> float:
    """The weight that makes a fold's ``unknown`` rows ``share`` of its FAQ questions, the
    ``known`` rows counting once each."""
    if not unknown.any() or share >= 1.0:
        return 0.0
    return share / (1.0 - share) * int(known.sum()) / int(unknown.sum())


def cross_validate(texts: Sequence[str], labels: Sequence[str], progress: Progress,
                   seed: int = 0, unknown_share: float = 0.0, embedder: Embedder | None = None,
                   vectors: np.ndarray | None = None,
                   answers: Answers | None = None) -> CrossValidation | None:
    """Held-out confidences and hits of every row; None with fewer than two FAQs. With an
    ``embedder``, ``vectors`` are the texts' embeddings (and ``answers`` the FAQs' answers: a
    fold's model holds those of the FAQs it is trained on)."""
    folds = cv_folds(labels)
    if not folds:
        return None
    fold = fold_of(labels, folds, seed)
    y = np.asarray(labels, dtype=object)
    unknown, weights = np.zeros(len(texts), dtype=bool), np.ones(len(texts))
    confidences, correct = np.zeros(len(texts)), np.zeros(len(texts), dtype=bool)
    for k, missing in enumerate(left_out(labels, fold, unknown_share, seed)):
        progress(k, folds + 1)
        left = np.isin(y, list(missing))
        fit, held = np.flatnonzero((fold != k) & ~left), np.flatnonzero(fold == k)
        unknown[held] = left[held]
        try:
            model = FaqClassifier.train([texts[i] for i in fit], [labels[i] for i in fit],
                                        seed=seed, embedder=embedder,
                                        vectors=None if vectors is None else vectors[fit],
                                        answers=answers)
        except ModelError:  # a fold left without any FAQ example
            return None
        matches = model.predict_many([texts[i] for i in held],
                                     None if vectors is None else vectors[held])
        for i, match in zip(held, matches):
            confidences[i] = match.confidence
            correct[i] = not unknown[i] and match.faq_id == labels[i]
        weights[held[left[held]]] = unknown_weight(left[held], ~left[held] & (y[held] != NONE),
                                                   unknown_share)
    return CrossValidation(list(labels), confidences, correct, unknown, weights)


def train(settings: FaqSettings, data: TrainingSet, now: datetime,
          progress: Progress = lambda done, total: None, seed: int = 0,
          embedder: Embedder | None = None, cache: Path | None = None) -> TrainResult:
    """Cross-validate, choose the threshold, and fit the model on every row; with an
    ``embedder``, on the texts' meaning too (embeddings read from and added to ``cache``)."""
    steps = cv_folds(data.labels) + 1
    vectors, answers = None, None
    if embedder is not None:
        progress(0, steps)
        vectors = embed_cached(embedder, data.texts, cache)  # type: ignore[arg-type]
        answers = embed_answers(embedder, data.answers, cache)
    cv = cross_validate(data.texts, data.labels, progress, seed, settings.unknown_share,
                        embedder, vectors, answers)
    chosen, notes = _chosen_threshold(settings, cv, floor=not data.background)
    progress(steps - 1, steps)
    model = FaqClassifier.train(data.texts, data.labels, seed=seed, embedder=embedder,
                                vectors=vectors, answers=answers)
    progress(steps, steps)
    meta = ModelMeta(threshold=chosen, target_precision=settings.target_precision,
                     reported_threshold=0.0, expected_precision=None, expected_coverage=None,
                     faq_examples=data.faq_examples, learned_examples=data.learned_examples,
                     learned_max_id=data.learned_max_id, trained_at=now.isoformat(),
                     threshold_problem=notes[0] if chosen is None and notes else "",
                     faq_ids=sorted(set(data.labels) - {NONE}),
                     encoder=model.encoder)
    reported = effective_threshold(settings, meta)
    checked = cv is not None and bool(cv.unknown.any())
    by_faq: dict[str, int] = {}
    for faq_id in answers.labels if answers is not None else ():
        by_faq[faq_id] = by_faq.get(faq_id, 0) + 1
    return TrainResult(model, _with_figures(meta, cv, reported), data, notes, checked, by_faq)


def _chosen_threshold(settings: FaqSettings, cv: CrossValidation | None,
                      floor: bool) -> tuple[float | None, list[str]]:
    target = settings.target_precision
    if target is None:
        return None, []
    if cv is None:
        return None, [f"target precision {target:.0%} cannot be measured on these examples "
                      "(they need at least two FAQs, each with examples in two folds): "
                      "add examples to every FAQ"]
    chosen = choose_threshold(cv.confidences, cv.correct, target, cv.weights)
    if chosen is None:
        return None, [_unreachable(target, cv)]
    if floor and chosen < TRAINED_THRESHOLD_FLOOR:
        return TRAINED_THRESHOLD_FLOOR, [
            f"threshold raised from {chosen:.3f} to {TRAINED_THRESHOLD_FLOOR} (the examples hold "
            "no question outside every FAQ, so a lower one could not be checked)"]
    return chosen, []


def _unreachable(target: float, cv: CrossValidation) -> str:
    """What an operator reads when no threshold reaches ``target``: the best precision the
    examples reach, and whose questions got the most confident wrong answers."""
    best, at = best_precision(cv)
    confused = confused_faqs(cv)
    named = ", ".join(f"{'messages no FAQ answers' if faq == NONE else faq} ({n})"
                      for faq, n in confused.items())
    faqs = [faq for faq in confused if faq != NONE]
    advice = (f"add more examples, worded unlike the other FAQs', to {', '.join(faqs)}"
              if faqs else "add more examples to the FAQs")
    return (f"target precision {target:.0%} is not reachable on these examples (the best is "
            f"{best:.1%}, at threshold {at:.3f}); the most confident wrong answers in "
            f"cross-validation were to questions of {named}. To fix: {advice} and run "
            "`inboxd train` again; or lower faq.target_precision; or set faq.threshold to "
            "accept a lower precision")


def best_precision(cv: CrossValidation) -> tuple[float, float]:
    """The highest precision any threshold reaches in cross-validation, and the lowest
    threshold reaching it."""
    order = np.argsort(-cv.confidences, kind="stable")
    conf, weight = cv.confidences[order], cv.weights[order]
    ends = np.flatnonzero(np.append(conf[1:] != conf[:-1], True))
    answered = np.cumsum(weight)[ends]
    right = np.cumsum(weight * cv.correct[order])[ends]
    precision = np.divide(right, answered, out=np.zeros(len(ends)), where=answered > 0)
    best = len(precision) - 1 - int(np.argmax(precision[::-1]))
    return float(precision[best]), float(conf[ends[best]])


def confused_faqs(cv: CrossValidation) -> dict[str, int]:
    """The FAQs (NONE: messages no FAQ answers) whose questions were among the CONFUSED_ROWS
    most confident wrong answers, most often first."""
    wrong = np.flatnonzero(~cv.correct)
    top = wrong[np.argsort(-cv.confidences[wrong], kind="stable")][:CONFUSED_ROWS]
    counts: dict[str, int] = {}
    for i in top.tolist():
        counts[cv.labels[i]] = counts.get(cv.labels[i], 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _with_figures(meta: ModelMeta, cv: CrossValidation | None, threshold: float) -> ModelMeta:
    if cv is None:
        return replace(meta, reported_threshold=threshold)
    answered = cv.confidences >= threshold
    right = answered & cv.correct
    labels = np.asarray(cv.labels, dtype=object)
    known = ~cv.unknown  # coverage: of the questions whose FAQ the model knew
    faqs = sorted(set(cv.labels) - {NONE})
    by_faq = {str(label): float(right[known & (labels == label)].mean()) for label in faqs}
    precision = float(cv.weights[right].sum() / cv.weights[answered].sum()) \
        if answered.any() else None
    return replace(meta, reported_threshold=threshold, expected_precision=precision,
                   expected_coverage=float(right[known & (labels != NONE)].mean()),
                   coverage_by_faq=by_faq)


def effective_threshold(settings: FaqSettings, meta: ModelMeta | None) -> float:
    """faq.threshold when set in the file, else the trained threshold; NO_AUTO_ANSWER when a
    target precision was asked for and not met (or the model was not trained for it); else the
    default."""
    if settings.threshold_set:
        return settings.threshold
    if meta is not None and meta.threshold is not None:
        return meta.threshold
    if settings.target_precision is not None or (meta is not None and meta.target_precision):
        return NO_AUTO_ANSWER
    return DEFAULT_THRESHOLD


def threshold_source(settings: FaqSettings, meta: ModelMeta | None) -> str:
    if settings.threshold_set:
        return "faq.threshold"
    if meta is not None and meta.threshold is not None:
        return f"trained for {meta.target_precision:.0%} precision"
    if meta is not None and meta.target_precision:
        return f"target precision {meta.target_precision:.0%} not reached"
    if settings.target_precision is not None:
        return (f"the model was not trained for faq.target_precision "
                f"{settings.target_precision:.0%}")
    return "default"


# -- the sidecar file -----------------------------------------------------------------------------

def meta_path(model: Path) -> Path:
    return model.with_name(model.name + META_SUFFIX)


def save(model_path: Path, result: TrainResult) -> None:
    """Write the model, then its sidecar, each atomically."""
    model_path.parent.mkdir(parents=True, exist_ok=True)
    result.model.save(model_path)
    path = meta_path(model_path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        json.dump(asdict(result.meta), out, indent=2, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def read_meta(model_path: Path) -> ModelMeta | None:
    """The sidecar of a model; None when missing or unreadable (a warning is logged)."""
    path = meta_path(model_path)
    try:
        return ModelMeta(**json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        log.warning("%s is unreadable (%s); ignoring the trained threshold", path, exc)
        return None
