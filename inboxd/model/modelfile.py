"""The model files on disk: one training at a time, and whether the model fits the FAQ file.

Every training — ``inboxd train`` and the daemon's retrain job — goes through
:func:`train_files`: it takes the exclusive lock ``<model>.lock`` (an ``fcntl`` lock, so it also
holds between processes), reads the FAQ file as it is now, trains, and writes the model and its
sidecar. Two trainings never interleave, and a daemon loading the model takes the same lock
shared, so it never reads a model of one training with the sidecar of another.

The sidecar records the FAQ ids the model knows and a digest of the FAQ file's ids and examples
(``faq_digest``), so :func:`model_problems` can tell when the FAQ changed since training. A model
that uses the meaning of texts also compares questions with the FAQs' answers: their digest
(``answers_digest``) tells when an answer was rewritten since. Rules are in neither: changing
them needs no retraining.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from inboxd.core.classify import NO_ENCODER, Embedder
from inboxd.model.embedding_cache import cache_path_for
from inboxd.config import Config, FaqSettings
from inboxd.errors import ModelError
from inboxd.faq import Faq, load_faq
from inboxd.model.training import (NO_AUTO_ANSWER, ModelMeta, Progress, TrainResult,
                             effective_threshold, save, threshold_source, train, training_set)

LOCK_SUFFIX = ".lock"
RETRAIN = "run `inboxd train`"


def lock_path(model: Path) -> Path:
    return model.with_name(model.name + LOCK_SUFFIX)


@contextmanager
def training_lock(model: Path, wait: bool = True,
                  on_wait: Callable[[], None] = lambda: None) -> Iterator[bool]:
    """Hold the exclusive training lock of ``model``. Yields True once held; with ``wait`` off,
    False at once when another training holds it. ``on_wait`` is called before waiting."""
    try:
        model.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path(model), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ModelError(f"cannot write the model {model}: {exc.strerror or exc} "
                         f"({exc.filename or model.parent}); check faq.model") from None
    try:
        if not _try_lock(fd, fcntl.LOCK_EX):
            if not wait:
                yield False
                return
            on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield True
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def reading_lock(model: Path) -> Iterator[bool]:
    """Hold the training lock shared, for reading model and sidecar together. Yields False when
    a training holds it (read later); True also when there is no lock file to take (a folder
    inboxd cannot write: nothing trains there)."""
    try:
        fd = os.open(lock_path(model), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield True
        return
    try:
        yield _try_lock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)


def _try_lock(fd: int, kind: int) -> bool:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def faq_digest(faq: Faq) -> str:
    """A digest of what a model is trained on from the FAQ file: ids, examples, background."""
    return _digest([[e.id, list(e.examples)] for e in faq.entries] + [list(faq.background)])


def answers_digest(answers: Mapping[str, Sequence[str]]) -> str:
    """A digest of the answers a model compares questions with: FAQ id -> answer texts, as
    ``Faq.answer_texts`` gives them."""
    return _digest(sorted((faq_id, list(texts)) for faq_id, texts in answers.items()))


def _digest(content: Any) -> str:
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode("utf-8")).hexdigest()


def train_files(config: Config, learned: Callable[[], Sequence[dict[str, Any]]], now: datetime,
                progress: Progress = lambda done, total: None, *, wait: bool = True,
                on_wait: Callable[[], None] = lambda: None,
                embedder: Embedder | None = None) -> tuple[Faq, TrainResult] | None:
    """Under the training lock: read the FAQ file now, train on it and the ``learned`` rows
    (with ``embedder``, on their meaning too; embeddings cached next to the model), write the
    model. None when ``wait`` is off and another training is running."""
    with training_lock(config.faq.model, wait, on_wait) as held:
        if not held:
            return None
        faq = load_faq(config.faq.path)
        result = train(config.faq, training_set(faq, learned()), now, progress,
                       embedder=embedder, cache=cache_path_for(config.faq.model))
        compared = answers_digest(result.data.answers) if result.meta.encoder != NO_ENCODER else ""
        result = replace(result, meta=replace(result.meta, faq_digest=faq_digest(faq),
                                              answers_digest=compared))
        save(config.faq.model, result)
    return faq, result


def model_problems(settings: FaqSettings, faq: Faq, meta: ModelMeta | None) -> list[str]:
    """Why the model on disk does not fit the FAQ file and configuration, each with what to
    do; empty when it fits."""
    if not settings.model.is_file():
        return [f"missing: {RETRAIN}"]
    if meta is None:
        return [f"its sidecar {settings.model.name}.meta.json is missing or unreadable: {RETRAIN}"]
    problems = _id_problems(faq, meta)
    if not problems and meta.faq_digest and meta.faq_digest != faq_digest(faq):
        problems.append(f"the FAQ file's examples (or inboxd's background messages) changed "
                        f"since it was trained: {RETRAIN}")
    elif not meta.faq_digest and _older_than(settings.model, settings.path):
        problems.append(f"it is older than the FAQ file {settings.path}: {RETRAIN}")
    if not problems and meta.answers_digest and meta.answers_digest != answers_digest(
            faq.answer_texts()):
        problems.append(f"an FAQ's answer changed since it was trained (the new one is sent, "
                        f"but questions are still compared with the old one): {RETRAIN}")
    if not settings.threshold_set and settings.target_precision != meta.target_precision:
        asked = "none" if settings.target_precision is None else f"{settings.target_precision:.0%}"
        trained = "none" if meta.target_precision is None else f"{meta.target_precision:.0%}"
        problems.append(f"it was trained for target precision {trained}, faq.target_precision "
                        f"is {asked}: {RETRAIN}")
    return problems


def _id_problems(faq: Faq, meta: ModelMeta) -> list[str]:
    if not meta.faq_ids:
        return []
    ids, known = {e.id for e in faq.entries}, set(meta.faq_ids)
    problems = []
    if ids - known:
        problems.append(f"it does not know FAQ {', '.join(sorted(ids - known))} of the FAQ file "
                        f"(never answered automatically until then): {RETRAIN}")
    if known - ids:
        problems.append(f"it was trained on FAQ {', '.join(sorted(known - ids))}, no longer in "
                        f"the FAQ file: {RETRAIN}")
    return problems


def _older_than(model: Path, faq_path: Path) -> bool:
    try:
        return model.stat().st_mtime_ns < faq_path.stat().st_mtime_ns
    except OSError:
        return False


def threshold_warning(settings: FaqSettings, meta: ModelMeta | None) -> str | None:
    """What an operator must hear about the threshold: that nothing is answered automatically
    and why, or that faq.threshold is used although the target precision was not met."""
    problem = meta.threshold_problem if meta else ""
    if settings.threshold_set:
        if not problem:
            return None
        return (f"{problem}. faq.threshold {settings.threshold:g} is used as set; expected "
                f"precision at it: {_share(meta.expected_precision if meta else None)}")
    if effective_threshold(settings, meta) != NO_AUTO_ANSWER:
        return None
    why = problem or (f"faq.target_precision is set but the model was not trained for it: "
                      f"{RETRAIN}")
    return f"nothing is answered automatically: {why}"


def format_threshold(threshold: float) -> str:
    return "none (nothing is answered automatically)" if threshold == NO_AUTO_ANSWER \
        else f"{threshold:.3f}"


def describe_model(settings: FaqSettings, meta: ModelMeta | None) -> str:
    """One line on the model in use: file, when and on what it was trained, the threshold."""
    threshold = effective_threshold(settings, meta)
    where = f"{settings.model}"
    if meta is None:
        return f"{where}; threshold {format_threshold(threshold)} (no sidecar)"
    faqs = f" of FAQs {', '.join(meta.faq_ids)}" if meta.faq_ids else ""
    return (f"{where} (trained {meta.trained_at or _mtime(settings.model)} on "
            f"{meta.faq_examples} FAQ and {meta.learned_examples} learned examples{faqs}); "
            f"threshold {format_threshold(threshold)} ({threshold_source(settings, meta)})")


def _share(value: float | None) -> str:
    return "not measurable" if value is None else f"{value:.1%}"


def _mtime(path: Path) -> str:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat()
    except OSError:
        return "?"
