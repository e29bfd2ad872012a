"""The FAQ classifier on BANKING77: full data, 10 examples per intent, unseen intents, speed;
the model on words alone (TF-IDF) and on words and meaning (the sentence encoder) side by side.

Run from the repository root:  .venv/bin/python benchmarks/banking77.py [--words-only]
Reads ../shared/data/banking77 (or $INBOXD_SHARED/data/banking77); writes
benchmarks/results/banking77.md and prints it. Everything runs on one core. Embeddings of the
13,083 questions are kept in the embedding cache ($INBOXD_EMBEDDING_CACHE, else
~/.cache/inboxd/embeddings.sqlite): the first run embeds them (~4-5 min on one idle core), later
runs read them.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: one core throughout

import platform  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from inboxd.model import encoder  # noqa: E402
from inboxd.config.policy import DEFAULT_UNKNOWN_SHARE  # noqa: E402
from inboxd.model.embedding_cache import default_cache_path, embed_cached  # noqa: E402
from inboxd.core.classify import coverage_at_precision  # noqa: E402
from inboxd.model.evaluate import (SPEED_ROWS, EvalReport, Row, evaluate,  # noqa: E402
                                   read_labelled_csv)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("INBOXD_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data" / "banking77"
RESULT = ROOT / "benchmarks" / "results" / "banking77.md"
FEW_SHOT = 10
DRAWS = (0, 1, 2, 3, 4)
HELD_OUT_INTENTS = 10
TARGET_PRECISION = 0.97

COLUMNS = ("model", "setting", "train rows", "accuracy", "macro F1", "threshold", "auto-answered",
           "auto precision", "right @95 %", "right @97 %", "right @99 %",
           "unknown left to human", "train s", "msg/s (1 core)")


def few_shot(train: list[Row], per_intent: int, seed: int) -> list[Row]:
    """``per_intent`` rows of each intent, drawn with ``seed``."""
    by_intent: dict[str, list[Row]] = defaultdict(list)
    for row in train:
        by_intent[row[1]].append(row)
    rng = random.Random(seed)
    return [row for intent in sorted(by_intent) for row in rng.sample(by_intent[intent], per_intent)]


def hold_out(train: list[Row], test: list[Row], n_intents: int,
             seed: int) -> tuple[list[Row], list[Row]]:
    """Drop ``n_intents`` whole intents from training; their test rows become ``oos``."""
    intents = sorted({c for _, c in train})
    unknown = set(random.Random(seed).sample(intents, n_intents))
    kept = [row for row in train if row[1] not in unknown]
    return kept, [(t, "oos" if c in unknown else c) for t, c in test]


def cells(report: EvalReport) -> list[float | None]:
    cov = report.coverage_at_precision
    return [report.n_train, report.accuracy, report.macro_f1, report.threshold,
            report.auto_answered, report.auto_precision, cov["0.95"], cov["0.97"], cov["0.99"],
            report.oos_left_to_human, report.train_s, report.messages_per_s]


def fmt(values: list[float | None], column: str) -> str:
    if any(v is None for v in values):
        return "–"
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else None
    if column == "train rows":
        return f"{mean:.0f}"
    if column in ("threshold",):
        return f"{mean:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")
    if column == "train s":
        return f"{mean:.1f}" + (f" ± {sd:.1f}" if sd is not None else "")
    if column.startswith("msg/s"):
        return f"{mean:,.0f}"
    return f"{mean:.1%}" + (f" ± {sd:.1%}" if sd is not None else "")


BASELINE_COLUMNS = ("setting", "accuracy", "macro F1", "right @95 %", "right @97 %",
                    "right @99 %", "train s")


def plain_baseline(train: list[Row], test: list[Row]) -> list[float]:
    """A plain TF-IDF + logistic regression (scikit-learn defaults) on the same rows, ranked
    by its largest class probability: accuracy, macro F1, right @95/97/99 %, train s."""
    started = time.perf_counter()
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))
    model.fit([t for t, _ in train], [c for _, c in train])
    train_s = time.perf_counter() - started
    truth = np.array([c for _, c in test])
    probabilities = model.predict_proba([t for t, _ in test])
    guess = model.classes_[probabilities.argmax(axis=1)]
    right, everyone = guess == truth, np.ones(len(test), dtype=bool)
    cover = [coverage_at_precision(probabilities.max(axis=1), right, everyone, p)
             for p in (0.95, 0.97, 0.99)]
    return [float(right.mean()), float(f1_score(truth, guess, average="macro")), *cover, train_s]


def baseline_row(setting: str, runs: list[list[float]]) -> str:
    columns = list(zip(*runs))
    return "| " + " | ".join([setting] + [fmt(list(v), c) for v, c in
                                          zip(columns, BASELINE_COLUMNS[1:])]) + " |"


def table_row(model: str, setting: str, reports: list[EvalReport]) -> str:
    columns = list(zip(*(cells(r) for r in reports)))
    return "| " + " | ".join([model, setting] + [fmt(list(v), c) for v, c in
                                                 zip(columns, COLUMNS[2:])]) + " |"


def main() -> int:
    if not (DATA / "train.csv").exists():
        print(f"BANKING77 not found under {DATA}; set INBOXD_SHARED", file=sys.stderr)
        return 2
    started = time.perf_counter()
    train, test = read_labelled_csv(DATA / "train.csv"), read_labelled_csv(DATA / "test.csv")
    e5 = None if "--words-only" in sys.argv else encoder.load(threads=1)
    cache = default_cache_path()
    if e5 is not None:
        embedding_s = time.perf_counter()
        embed_cached(e5, [t for t, _ in train + test], cache)  # once; read back below
        embedding_s = time.perf_counter() - embedding_s
    unknown = hold_out(train, test, HELD_OUT_INTENTS, seed=0)
    models = [("words (TF-IDF)", None)] + ([("words + meaning", e5)] if e5 is not None else [])
    rows = []
    for name, embedder in models:
        def run(tr: list[Row], te: list[Row], seed: int = 0, target: float = TARGET_PRECISION,
                share: float = DEFAULT_UNKNOWN_SHARE) -> EvalReport:
            return evaluate(tr, te, threshold=None, target_precision=target, seed=seed,
                            unknown_share=share, embedder=embedder, cache=cache)

        rows += [
            table_row(name, "full training set", [run(train, test)]),
            table_row(name, "full training set, no intent left out in cross-validation",
                      [run(train, test, share=0.0)]),
            table_row(name, f"{FEW_SHOT} per intent ({len(DRAWS)} draws)",
                      [run(few_shot(train, FEW_SHOT, s), test, s) for s in DRAWS]),
            table_row(name, f"{HELD_OUT_INTENTS} intents unknown", [run(*unknown)]),
        ]
        print(*rows[-4:], sep="\n", flush=True)
    baseline = [
        baseline_row("full training set", [plain_baseline(train, test)]),
        baseline_row(f"{FEW_SHOT} per intent ({len(DRAWS)} draws)",
                     [plain_baseline(few_shot(train, FEW_SHOT, s), test) for s in DRAWS]),
    ]
    took_s = time.perf_counter() - started
    encoder_note = (f"Encoder: {e5.name}; embedding the questions not yet in the cache took "
                    f"{embedding_s:.0f} s of the run." if e5 is not None else
                    f"Encoder: {encoder.describe(None) if '--words-only' not in sys.argv else 'none (--words-only)'}.")
    text = render(rows, baseline, took_s, encoder_note)
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(text, encoding="utf-8")
    print(text)
    return 0


def render(rows: list[str], baseline: list[str], took_s: float, encoder_note: str) -> str:
    head = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS)
    baseline_head = ("| " + " | ".join(BASELINE_COLUMNS) + " |\n|" +
                     "---|" * len(BASELINE_COLUMNS))
    return "\n".join([
        "# BANKING77",
        "",
        f"Threshold chosen by 3-fold cross-validation on the training rows for "
        f"{TARGET_PRECISION:.0%} precision (unless the row says otherwise), each fold's model "
        f"trained without {DEFAULT_UNKNOWN_SHARE:.0%} of the intents (the default "
        f"`faq.unknown_share`), whose held-out questions count as wrong if answered; test rows "
        f"never tune anything. "
        f"Shares of the test set (3,080 rows; 77 intents). \"right @p\": the largest share of "
        f"in-scope test rows answered right with a hindsight threshold keeping precision >= p. "
        f"msg/s: {SPEED_ROWS} test questions classified afresh in batches of 100 (embedding "
        f"included). See benchmarks/README.md. {encoder_note}",
        "",
        head, *rows,
        "",
        "For comparison, a plain `TfidfVectorizer()` + `LogisticRegression()` (scikit-learn "
        "defaults) on the same rows, answering the most probable rows first:",
        "",
        baseline_head, *baseline,
        "",
        f"Python {platform.python_version()} on {platform.machine()}, one thread; "
        f"whole run {took_s:.0f} s; load average at the end "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (rates drop on a busy machine).",
        "",
    ])


if __name__ == "__main__":
    sys.exit(main())
