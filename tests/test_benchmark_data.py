"""The multilingual benchmark's data file is complete and well formed (cheap: no model)."""

from __future__ import annotations

import copy
import tomllib
from collections import Counter
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "multilingual_faq.toml"
LANGUAGES = ("en", "zh", "sv", "es")
MIN_FAQS, MIN_ASKED, MIN_OFF_TOPIC = 15, 10, 30


def problems(data: dict) -> list[str]:
    """What is wrong with the parsed data file; empty when nothing is."""
    found = []
    faqs = data.get("faq", [])
    if len(faqs) < MIN_FAQS:
        found.append(f"{len(faqs)} questions, fewer than {MIN_FAQS}")
    ids = Counter(faq.get("id") for faq in faqs)
    found += [f"question id {i!r} used {n} times" for i, n in ids.items() if n > 1 or not i]
    texts: Counter[str] = Counter()
    for faq in faqs:
        for lang in LANGUAGES:
            asked = faq.get(lang, [])
            if len(asked) < MIN_ASKED:
                found.append(f"{faq.get('id')}: {len(asked)} {lang} texts, fewer than {MIN_ASKED}")
            texts.update(asked)
            answer = faq.get("answer", {}).get(lang)
            if not isinstance(answer, str) or not answer.strip():
                found.append(f"{faq.get('id')}: no {lang} answer")
    off_topic = data.get("off_topic", {})
    for lang in LANGUAGES:
        rows = off_topic.get(lang, [])
        if len(rows) < MIN_OFF_TOPIC:
            found.append(f"{len(rows)} {lang} off-topic texts, fewer than {MIN_OFF_TOPIC}")
        texts.update(rows)
    found += [f"empty or non-text entry {t!r}" for t in texts if not isinstance(t, str)
              or not t.strip()]
    normalised = Counter(" ".join(t.casefold().split()) for t in texts if isinstance(t, str))
    found += [f"duplicate text {t!r}" for t, n in normalised.items() if n > 1]
    return found


def test_the_data_file_is_complete_and_well_formed() -> None:
    text = DATA.read_text(encoding="utf-8")
    assert "Licence: MIT" in text.split("[[faq]]", 1)[0]
    assert problems(tomllib.loads(text)) == []


def test_the_checks_catch_a_short_language_a_duplicate_and_missing_off_topic() -> None:
    data = tomllib.loads(DATA.read_text(encoding="utf-8"))
    broken = copy.deepcopy(data)
    broken["faq"][0]["sv"] = broken["faq"][0]["sv"][:9]
    broken["faq"][1]["es"].append(broken["faq"][2]["es"][0].upper())
    broken["off_topic"]["zh"] = broken["off_topic"]["zh"][:29]
    del broken["faq"][3]["answer"]["es"]
    found = problems(broken)
    assert len(found) == 4
    assert f"{data['faq'][3]['id']}: no es answer" in found
    assert f"{data['faq'][0]['id']}: 9 sv texts, fewer than 10" in found
    assert "29 zh off-topic texts, fewer than 30" in found
    assert any(p.startswith("duplicate text") for p in found)
