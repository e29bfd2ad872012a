"""Suggested answers: how often the draft below the answer threshold names the right FAQ.

Run from the repository root:  .venv/bin/python benchmarks/suggestions.py
(with the sentence encoder when it loads; embeddings in the cache)
The small multilingual FAQ of benchmarks/multilingual.py (3 examples per question per language,
half of each language's off-topic questions trained), 3 draws. The answer threshold is chosen
by cross-validation on the training rows for 97 % precision, as `inboxd train` does; for each
`faq.suggest_threshold` the questions below it are measured as `inboxd eval` does. Writes
benchmarks/results/suggestions.md and prints it. Everything runs on one core.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: one core throughout

import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from multilingual import CACHE, DATA, EMBEDDER, TARGET_PRECISION, few_per_language, load  # noqa: E402

from inboxd.model.evaluate import Suggestions, evaluate  # noqa: E402

RESULT = Path(__file__).resolve().parent / "results" / "suggestions.md"
DRAWS = (0, 1, 2)
SUGGEST_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def measure(seed: int) -> tuple[float, dict[float, Suggestions]]:
    split = few_per_language(load(DATA), seed)
    pooled = [row for test in split.tests.values() for row in test]
    chosen = evaluate(split.train, pooled, threshold=None, target_precision=TARGET_PRECISION,
                      seed=seed, embedder=EMBEDDER, cache=CACHE).threshold
    figures = {}
    for suggest in SUGGEST_THRESHOLDS:
        report = evaluate(split.train, pooled, threshold=chosen, seed=seed, embedder=EMBEDDER,
                          cache=CACHE, suggest_threshold=min(suggest, chosen))
        assert report.suggestions is not None
        figures[suggest] = report.suggestions
    return chosen, figures


def spread(values: list[float]) -> str:
    return f"{statistics.mean(values):.1%} ± {statistics.pstdev(values):.1%}"


def main() -> int:
    started = time.perf_counter()
    runs = [measure(seed) for seed in DRAWS]
    lines = ["# Suggested answers below the answer threshold", "",
             "Small multilingual FAQ (18 questions, 3 examples per question in each of en, zh, "
             "sv, es; benchmarks/data/multilingual_faq.toml), answer threshold by 3-fold "
             f"cross-validation for {TARGET_PRECISION:.0%} precision; {len(DRAWS)} draws, "
             "mean ± standard deviation. Of the test questions below the threshold (off-topic "
             "ones included): *given a draft* — at or above the suggest threshold; *right "
             "FAQ* — share of those drafts whose FAQ is the question's (an off-topic question's "
             "draft is wrong); *right drafts of the in-scope* — in-scope questions below the "
             "threshold that got a draft with the right FAQ.", "",
             f"Answer thresholds chosen: {', '.join(f'{t:.3f}' for t, _ in runs)}; "
             f"questions below: {', '.join(str(f[0.2].below_threshold) for _, f in runs)}.", "",
             "| suggest_threshold | given a draft | right FAQ | right drafts of the in-scope |",
             "|---|---|---|---|"]
    for suggest in SUGGEST_THRESHOLDS:
        found = [f[suggest] for _, f in runs]
        lines.append(f"| {suggest:.1f} | {spread([s.suggested for s in found])} | "
                     f"{spread([s.right for s in found])} | "
                     f"{spread([s.right_of_below for s in found])} |")
    lines += ["", f"Encoder: {EMBEDDER.name if EMBEDDER else 'none (words alone)'}. "
              f"Python {platform.python_version()} on {platform.machine()}, one thread; "
              f"whole run {time.perf_counter() - started:.0f} s."]
    text = "\n".join(lines) + "\n"
    RESULT.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
