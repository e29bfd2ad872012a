"""Embeddings of training texts kept in a SQLite file, keyed by the encoder and the exact text,
so retraining after one new example, ``inboxd eval`` and the benchmarks embed only new texts.

A damaged or unwritable cache is never an error: the texts are embedded again (and a warning
logged). The cache holds the texts themselves (FAQ examples, learned questions); it lives next
to the model (``<model>.embeddings.sqlite``) or where the caller says.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from inboxd.core.classify import Answers, Embedder

log = logging.getLogger(__name__)

SUFFIX = ".embeddings.sqlite"
PATH_ENV = "INBOXD_EMBEDDING_CACHE"  # one cache file for every model, e.g. for a test suite
_BATCH = 64  # texts embedded per call: progress between calls, bounded memory
_LOOKUP = 500  # texts per SELECT (SQLite's variable limit)


def cache_path_for(model: Path) -> Path:
    """The cache of a model's training texts: next to it, unless $INBOXD_EMBEDDING_CACHE says."""
    override = os.environ.get(PATH_ENV)
    return Path(override) if override else model.with_name(model.name + SUFFIX)


def default_cache_path() -> Path:
    """For ``inboxd eval`` and the benchmarks: $INBOXD_EMBEDDING_CACHE, else under
    $XDG_CACHE_HOME (else ~/.cache)."""
    override = os.environ.get(PATH_ENV)
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "inboxd" / "embeddings.sqlite"


def embed_cached(encoder: Embedder, texts: Sequence[str], path: Path | None) -> np.ndarray:
    """``encoder.embed(texts)``, reading and adding rows of the cache at ``path`` (None: none)."""
    if not texts:
        return encoder.embed([])
    unique = list(dict.fromkeys(texts))
    found = _read(path, encoder.name, unique) if path is not None else {}
    missing = [t for t in unique if t not in found]
    new = {}
    for start in range(0, len(missing), _BATCH):
        chunk = missing[start:start + _BATCH]
        new.update(zip(chunk, encoder.embed(chunk)))
    if new and path is not None:
        _write(path, encoder.name, new)
    found.update(new)
    return np.stack([found[text] for text in texts]).astype(np.float32, copy=False)


def embed_answers(encoder: Embedder, answers: Mapping[str, Sequence[str]],
                  path: Path | None) -> Answers | None:
    """The FAQs' answers (FAQ id -> its answer texts) embedded as passages, through the cache;
    None when there are none or the encoder has no passage side."""
    passages = getattr(encoder, "passages", None)
    rows = [(faq_id, text) for faq_id, texts in answers.items() for text in texts]
    if not rows or not callable(passages):
        return None
    vectors = embed_cached(passages(), [text for _, text in rows], path)
    return Answers(tuple(faq_id for faq_id, _ in rows), vectors)


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30)
    db.execute("CREATE TABLE IF NOT EXISTS embedding (encoder TEXT NOT NULL, text TEXT NOT NULL,"
               " vector BLOB NOT NULL, PRIMARY KEY (encoder, text)) WITHOUT ROWID")
    return db


def _read(path: Path, encoder: str, texts: list[str]) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    found: dict[str, np.ndarray] = {}
    try:
        db = _connect(path)
        try:
            for start in range(0, len(texts), _LOOKUP):
                chunk = texts[start:start + _LOOKUP]
                marks = ",".join("?" * len(chunk))
                for text, blob in db.execute(
                        f"SELECT text, vector FROM embedding WHERE encoder = ? AND text IN ({marks})",
                        [encoder, *chunk]):
                    found[text] = np.frombuffer(blob, dtype=np.float32)
        finally:
            db.close()
    except sqlite3.Error as exc:
        log.warning("embedding cache %s unreadable (%s); embedding again", path, exc)
        return {}
    sizes = {len(v) for v in found.values()}
    if len(sizes) > 1:
        log.warning("embedding cache %s holds vectors of different sizes; embedding again", path)
        return {}
    return found


def _write(path: Path, encoder: str, vectors: dict[str, np.ndarray]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = _connect(path)
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO embedding VALUES (?, ?, ?)",
                               [(encoder, text, np.asarray(v, np.float32).tobytes())
                                for text, v in vectors.items()])
        finally:
            db.close()
    except (sqlite3.Error, OSError) as exc:
        log.warning("embedding cache %s not written (%s)", path, exc)
