"""``inboxd train``: fit the model on FAQ and learned examples, choose and report the threshold."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from typing import Any

from rich.table import Table

from inboxd.model import encoder
from inboxd.commands.common import EXIT_CONFIG
from inboxd.commands.terminal import progress_bar, show, table
from inboxd.config import Config
from inboxd.model.modelfile import format_threshold, lock_path, threshold_warning, train_files
from inboxd.store import Store
from inboxd.model.training import (FEWEST_FAQS_TO_LEAVE_OUT, TrainResult, TrainingSet,
                                   threshold_source)


def learned_rows(config: Config) -> list[dict[str, Any]]:
    """The learned examples in the store; none when there is no store yet."""
    if not config.store_path.is_file():
        return []
    store = Store(config.store_path)
    try:
        return store.learned_examples()
    finally:
        store.close()


def run_train(config: Config) -> int:
    started = time.perf_counter()
    sentence_encoder = encoder.load(threads=encoder.training_threads())
    print(f"encoder: {encoder.describe(sentence_encoder)}")
    with progress_bar("training") as progress:
        trained = train_files(config, lambda: learned_rows(config), datetime.now(timezone.utc),
                              progress, on_wait=lambda: _waiting(config),
                              embedder=sentence_encoder)
    assert trained is not None  # train_files waits for the lock
    faq, result = trained
    data = result.data
    took_s = time.perf_counter() - started
    print(f"trained on {data.faq_examples} FAQ examples and {data.learned_examples} learned "
          f"examples for {len(faq.entries)} FAQs (languages: {', '.join(sorted(faq.languages))}), "
          f"with {data.background} background messages, in {took_s:.1f} s")
    if result.answers_by_faq:
        print(f"questions are also compared with {sum(result.answers_by_faq.values())} answers "
              f"of {len(result.answers_by_faq)} FAQs")
    if data.ignored:
        print(f"{data.ignored} learned examples belong to FAQs no longer in the file; not used")
    print(f"model written to {config.faq.model}")
    print(format_result(config, result))
    if result.meta.expected_coverage is not None and result.meta.coverage_by_faq:
        show(coverage_table(data, result.meta.coverage_by_faq))
    warning = threshold_warning(config.faq, result.meta)
    if warning:
        print(f"\nWARNING: {warning}", file=sys.stderr)  # as `inboxd check` writes it
    return EXIT_CONFIG if result.meta.threshold_problem else 0


def _waiting(config: Config) -> None:
    print(f"waiting for another training of {config.faq.model} to finish "
          f"({lock_path(config.faq.model)})", file=sys.stderr, flush=True)


def format_result(config: Config, result: TrainResult) -> str:
    """The threshold, where it comes from, and the expected coverage overall and per FAQ."""
    meta, settings = result.meta, config.faq
    lines = [f"note: {note}" for note in result.notes if note != meta.threshold_problem]
    source = threshold_source(settings, meta)
    lines.append(f"threshold {format_threshold(meta.reported_threshold)} ({source})")
    if settings.threshold_set and meta.threshold is not None:
        lines.append(f"  faq.threshold overrides the trained {meta.threshold:.3f}; remove it "
                     "to use the trained one")
    if meta.expected_coverage is None:
        lines.append("expected coverage: not measurable on these examples")
        return "\n".join(lines)
    precision = "n/a" if meta.expected_precision is None else f"{meta.expected_precision:.1%}"
    lines.append(f"expected in cross-validation: {meta.expected_coverage:.1%} of questions like "
                 f"the examples answered right automatically; {precision} of all automatic "
                 "answers right")
    if result.unknown_checked:
        lines.append(f"  (each cross-validation model was trained without some FAQs; their "
                     f"questions, weighted as {settings.unknown_share:.0%} of all, counted as "
                     "wrong if answered: faq.unknown_share)")
    elif settings.unknown_share:
        lines.append("  (no FAQ could be left out of cross-validation to play questions no FAQ "
                     f"covers: that needs {FEWEST_FAQS_TO_LEAVE_OUT} FAQs or more with examples "
                     "in two folds or more)")
    return "\n".join(lines)


def coverage_table(data: TrainingSet, coverage: dict[str, float]) -> Table:
    """Per FAQ: its examples from the file, those learned from agents, its expected coverage."""
    counts: dict[str, int] = {}
    for label in data.labels:
        counts[label] = counts.get(label, 0) + 1
    rows = [[faq_id, str(counts[faq_id] - data.learned_by_faq.get(faq_id, 0)),
             str(data.learned_by_faq.get(faq_id, 0)), f"{share:.1%}"]
            for faq_id, share in coverage.items()]
    return table(["FAQ", "examples", "learned", "coverage"], rows, numeric_from=1)
