"""Messages per second on one core: parsing, language, classification, and all three.

    .venv/bin/python benchmarks/classify_speed.py [--messages 2000]

Each BANKING77 test question becomes a realistic RFC 5322 message (From, To, Subject, Date,
Message-ID, a quoted earlier message and a signature, UTF-8 quoted-printable body). The model is
trained on the BANKING77 training rows plus inboxd's background messages, as `inboxd train`
would. Writes benchmarks/results/classify_speed.md.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from email.message import EmailMessage  # noqa: E402
from email.utils import format_datetime, make_msgid  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

from inboxd.core.classify import NONE, FaqClassifier  # noqa: E402
from inboxd.core.language import detect_language  # noqa: E402
from inboxd.core.message import parse_message  # noqa: E402
from inboxd.evaluate import read_labelled_csv  # noqa: E402
from inboxd.faq import packaged_background  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("INBOXD_SHARED", ROOT.parent / "shared")) / "data" / "banking77"
LANGUAGES = ("en", "sv", "es", "zh")


def as_mail(i: int, question: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer {i} <customer{i}@example.com>"
    msg["To"] = "Support <support@example.com>"
    msg["Subject"] = "Question about my account"
    msg["Date"] = format_datetime(datetime(2026, 11, 23, 10, i % 60, tzinfo=timezone.utc))
    msg["Message-ID"] = make_msgid(domain="example.com")
    msg.set_content(f"Hi,\n\n{question}\n\nThanks,\nSam\n\nOn Monday, Support wrote:\n"
                    f"> Thank you for your message.\n> Ticket #{i}\n", charset="utf-8",
                    cte="quoted-printable")
    return bytes(msg)


def rate(work: Callable[[bytes | str], object], items: Sequence[bytes | str]) -> float:
    for item in items[:50]:
        work(item)  # warm caches (language model, analyzers)
    started = time.perf_counter()
    for item in items:
        work(item)
    return len(items) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    train = read_labelled_csv(DATA / "train.csv")
    test = read_labelled_csv(DATA / "test.csv")[: args.messages]
    background = packaged_background()
    model = FaqClassifier.train([t for t, _ in train] + list(background),
                                [c for _, c in train] + [NONE] * len(background))
    mails = [as_mail(i, text) for i, (text, _) in enumerate(test)]
    parsed = [parse_message(m) for m in mails]
    questions = [p.question for p in parsed]

    def everything(raw: bytes | str) -> object:
        msg = parse_message(raw)  # type: ignore[arg-type]
        detect_language(msg.question, LANGUAGES, "en")
        return model.predict(msg.question)

    rows = [("parse_message", rate(lambda m: parse_message(m), mails)),  # type: ignore[arg-type]
            ("detect_language", rate(lambda q: detect_language(q, LANGUAGES, "en"), questions)),
            ("classify (predict)", rate(model.predict, questions)),  # type: ignore[arg-type]
            ("parse + language + classify", rate(everything, mails))]
    table = "\n".join(["| step | messages/s (one core) |", "| --- | --- |"] +
                      [f"| {name} | {value:,.0f} |" for name, value in rows])
    out = ROOT / "benchmarks" / "results" / "classify_speed.md"
    out.write_text(f"# Classification speed, {len(mails)} BANKING77 questions as e-mails\n\n"
                   f"{table}\n", encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
