"""``inboxd train``, ``inboxd classify`` and ``inboxd eval``: the FAQ model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from inboxd.commands.common import config_from, number_in, print_json
from inboxd.commands.terminal import working
from inboxd.errors import InboxdError
from inboxd.config.policy import DEFAULT_SUGGEST_THRESHOLD, DEFAULT_UNKNOWN_SHARE
from inboxd.core.decide import AutoAnswer, Acknowledge
from inboxd.mail.imap import Fetched
from inboxd.steps.inbox import Triage, triage
from inboxd.runtime import build_offline_runtime, encoder_in_use


def register_train(sub: Any) -> None:
    p = sub.add_parser("train", help="build the classifier from the FAQ file")
    p.set_defaults(handler=cmd_train)


def register_classify(sub: Any) -> None:
    p = sub.add_parser("classify", help="print the decision for one message (FILE.eml or -)")
    p.add_argument("file", help="a message file in RFC 5322 format, or - for standard input")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(handler=cmd_classify)


def register_eval(sub: Any) -> None:
    p = sub.add_parser("eval", help="train on labelled rows and report accuracy and coverage")
    p.add_argument("--train", type=Path, required=True, help="CSV with text,category")
    p.add_argument("--test", type=Path, required=True, help="CSV with text,category")
    p.add_argument("--threshold", type=share, default=None,
                   help="confidence threshold (default: chosen by cross-validation)")
    p.add_argument("--target-precision", type=share, default=0.97)
    p.add_argument("--suggest-threshold", type=share, default=DEFAULT_SUGGEST_THRESHOLD,
                   help="report how often a draft at or above this confidence (below the "
                        "threshold) suggests the right FAQ, as faq.suggest_threshold "
                        "(default: %(default)s; 0 = off)")
    p.add_argument("--unknown-share", type=unknown_share, default=DEFAULT_UNKNOWN_SHARE,
                   help="share of the questions that categories left out of each "
                        "cross-validation model play, as faq.unknown_share (default: "
                        "%(default)s; 0 = none)")
    p.add_argument("--words-only", action="store_true",
                   help="evaluate the model on words alone (TF-IDF), without the encoder")
    p.add_argument("--answers-from", type=Path, default=None, metavar="FAQ_FILE",
                   help="compare the questions with the answers of this FAQ file's FAQs too, "
                        "as `inboxd train` does (categories are its FAQ ids)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_eval)


unknown_share = number_in(float, "a number", 0.0, 0.5)
share = number_in(float, "a number", 0.0, 1.0)


def cmd_train(args: argparse.Namespace) -> int:
    from inboxd.commands.train import run_train

    return run_train(config_from(args))


def _read_mail(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InboxdError(f"cannot read {path}: {exc.strerror or exc}") from None


def cmd_classify(args: argparse.Namespace) -> int:
    config = config_from(args)
    raw = sys.stdin.buffer.read() if args.file == "-" else _read_mail(Path(args.file))
    rt = build_offline_runtime(config)
    t = triage(rt, Fetched(uid=0, raw=raw, flags=(), internaldate=None))
    rt.store.close()
    result = {**triage_json(t), "encoder": encoder_in_use(rt)}
    if args.json:
        print_json(result)
    else:
        for key, value in result.items():
            print(f"{key:>12}: {value}")
    return 0


def triage_json(t: Triage) -> dict[str, Any]:
    d = t.decision
    best = t.match
    return {"decision": type(d).__name__, "reason": d.reason,
            "faq": d.faq_id if isinstance(d, (AutoAnswer, Acknowledge)) else None,
            "confidence": round(best.confidence, 4) if best else None,
            "best_faq": best.faq_id if best else None,
            "language": t.language, "folder": t.folder, "automated": t.parsed.automated,
            "from": t.parsed.sender, "subject": t.parsed.subject,
            "defects": list(t.parsed.defects)}


def cmd_eval(args: argparse.Namespace) -> int:
    from inboxd.faq import load_faq
    from inboxd.model import encoder
    from inboxd.model.embedding_cache import default_cache_path
    from inboxd.model.evaluate import evaluate, format_report, read_labelled_csv

    sentence_encoder = None if args.words_only else encoder.load(encoder.training_threads())
    if sentence_encoder is None and not args.words_only:
        print(f"inboxd: encoder {encoder.describe(None)}", file=sys.stderr)
    train, test = read_labelled_csv(args.train), read_labelled_csv(args.test)
    answers = None if args.answers_from is None else load_faq(args.answers_from).answer_texts()
    with working(f"evaluating on {len(train)} training and {len(test)} test rows"):
        report = evaluate(train, test, threshold=args.threshold,
                          target_precision=args.target_precision,
                          unknown_share=args.unknown_share, embedder=sentence_encoder,
                          cache=default_cache_path(), suggest_threshold=args.suggest_threshold,
                          answers=answers)
    if args.json:
        print_json(report.to_json())
    else:
        print(format_report(report))
    return 0
