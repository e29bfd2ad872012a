"""Which of the operator's languages a customer wrote in (py3langid, restricted to candidates).

The model is read from disk once, on first use; each set of candidates gets its own restricted
copy, cached, so a call costs well under a millisecond.
"""

from __future__ import annotations

import copy
import re
import functools
import threading
from collections.abc import Collection

from py3langid.langid import MODEL_FILE, LanguageIdentifier

LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}$")  # an ISO 639 code as FAQ answers and templates use

MIN_CONFIDENCE = 0.7
OTHER_LANGUAGE_CONFIDENCE = 0.9  # sure it is a language none of the candidates is: default
MAX_SAMPLE_CHARS = 2_000
_ALIASES = {"nb": "no"}  # Norwegian Bokmål is "no" in the model
_load_lock = threading.Lock()


def detect_language(text: str, candidates: Collection[str], default: str) -> str:
    """One of ``candidates`` (returned as given, e.g. "zh-CN"), or ``default`` when unsure.

    Unsure means: no candidate the model knows, no letters in ``text``, or a confidence
    below :data:`MIN_CONFIDENCE` among the candidates. A text the whole model is sure is in
    another language (German or French among en/sv/es/zh, say) gets ``default`` too, rather
    than the nearest candidate (French would otherwise be answered in Spanish).
    """
    sample = text[:MAX_SAMPLE_CHARS]
    if not any(ch.isalpha() for ch in sample):
        return default
    by_code = _model_codes(frozenset(candidates))
    if not by_code:
        return default
    other, sure = _full_model().classify(sample)
    if other not in by_code and sure >= OTHER_LANGUAGE_CONFIDENCE:
        return default
    code, confidence = _identifier(frozenset(by_code)).classify(sample)
    return by_code[code] if confidence >= MIN_CONFIDENCE and code in by_code else default


@functools.lru_cache(maxsize=64)
def _model_codes(candidates: frozenset[str]) -> dict[str, str]:
    """Model code -> the candidate as the operator spelled it; unknown codes left out."""
    known = set(_full_model().labels)
    by_code: dict[str, str] = {}
    for candidate in sorted(candidates):
        primary = candidate.strip().lower().replace("_", "-").split("-")[0]
        code = _ALIASES.get(primary, primary)
        if code in known:
            by_code.setdefault(code, candidate)
    return by_code


@functools.lru_cache(maxsize=64)
def _identifier(codes: frozenset[str]) -> LanguageIdentifier:
    restricted = copy.copy(_full_model())
    restricted.set_languages(sorted(codes))
    return restricted


def _full_model() -> LanguageIdentifier:
    with _load_lock:
        return _load_full_model()


@functools.cache
def _load_full_model() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
