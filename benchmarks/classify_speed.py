"""Time per message on one core, parsing included, on mails of real length.

    .venv/bin/python benchmarks/classify_speed.py [--messages 300]

Each BANKING77 test question becomes a realistic ~10 KB RFC 5322 message: From, To, Subject,
Date, Message-ID; a new text of a few sentences (greeting, the question, a second sentence,
thanks), a signature with a legal disclaimer, and the quoted history of an earlier exchange
(UTF-8, quoted-printable). The model is trained on the BANKING77 training rows plus inboxd's
background messages, as `inboxd train` would, once on words alone and once with the encoder
(embeddings of the training rows from the cache). Per message, one at a time as when mail
trickles in: median and 95th percentile of parse, language, classification and of all three
(``inboxd.steps.inbox.read``, what the daemon runs on what it fetches); and messages per second of
``steps.inbox.read`` on batches of FETCH_BATCH (a backlog). Writes
benchmarks/results/classify_speed.md.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from email.message import EmailMessage  # noqa: E402
from email.utils import format_datetime, make_msgid  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

from inboxd.model import encoder  # noqa: E402
from inboxd.config import load_config  # noqa: E402
from inboxd.core.classify import NONE, FaqClassifier  # noqa: E402
from inboxd.core.language import detect_language  # noqa: E402
from inboxd.core.message import parse_message  # noqa: E402
from inboxd.demo import sample_faq_path  # noqa: E402
from inboxd.demo.scenario import to_toml  # noqa: E402
from inboxd.model.embedding_cache import default_cache_path, embed_cached  # noqa: E402
from inboxd.model.evaluate import read_labelled_csv  # noqa: E402
from inboxd.faq import packaged_background  # noqa: E402
from inboxd.mail.imap import Fetched  # noqa: E402
from inboxd.steps.inbox import FETCH_BATCH, read  # noqa: E402
from inboxd.runtime import Runtime, build_offline_runtime  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("INBOXD_SHARED", ROOT.parent / "shared")) / "data" / "banking77"


HISTORY_TURN = (
    "Thank you for contacting us. We have looked into your account and everything appears to "
    "be in order on our side. If the problem persists, please reply to this message with the "
    "date of the transaction, the amount and the last four digits of your card, and we will "
    "investigate further. Kind regards, the support team.")
DISCLAIMER = (
    "This e-mail and any attachments are confidential and intended solely for the addressee. "
    "If you have received it in error, please notify the sender and delete it. Any views or "
    "opinions expressed are those of the author and do not necessarily represent those of the "
    "company. ") * 3


def as_mail(i: int, question: str, context: str) -> bytes:
    """A ~10 KB mail: a few sentences of new text, a signature, and quoted history."""
    msg = EmailMessage()
    msg["From"] = f"Customer {i} <customer{i}@example.com>"
    msg["To"] = "Support <support@example.com>"
    msg["Subject"] = "Re: Question about my account"
    msg["Date"] = format_datetime(datetime(2026, 11, 23, 10, i % 60, tzinfo=timezone.utc))
    msg["Message-ID"] = make_msgid(domain="example.com")
    history = []
    for turn in range(22):
        quote = "> " * (turn % 3 + 1)
        history += [f"{quote}On Monday {turn + 1} Nov, Support wrote:", quote.rstrip(),
                    *(quote + line for line in _wrap(HISTORY_TURN)), quote.rstrip()]
    body = (f"Hi,\n\n{question} {context}\n\nI have been a customer for years and would "
            f"appreciate a quick answer.\n\nThanks in advance,\nSam Taylor\n\n-- \n"
            f"Sam Taylor | Taylor & Sons Ltd | +44 20 7946 0000\n{DISCLAIMER}\n\n"
            + "\n".join(history) + "\n")
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    return bytes(msg)


def _wrap(text: str, width: int = 72) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if len(line) + len(word) >= width:
            lines.append(line)
            line = ""
        line = f"{line} {word}".strip()
    return lines + [line]


def latencies(work: Callable[[object], object], items: Sequence) -> list[float]:
    """Seconds per call of ``work`` on each item, after a warm-up on the first ten."""
    for item in items[:10]:
        work(item)
    times = []
    for item in items:
        started = time.perf_counter()
        work(item)
        times.append(time.perf_counter() - started)
    return times


def rate(work: Callable[[Sequence], object], batches: Sequence[Sequence]) -> float:
    """Messages per second handing ``work`` each batch in turn (after one warm-up batch)."""
    work(batches[0])
    started = time.perf_counter()
    for batch in batches:
        work(batch)
    return sum(map(len, batches)) / (time.perf_counter() - started)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def runtime(workdir: Path, model: FaqClassifier) -> Runtime:
    """An offline runtime (nothing connects) with the demo FAQ's languages and ``model``."""
    model.save(workdir / "model.npz")
    never = {"host": "127.0.0.1", "port": 9, "security": "none", "username": "", "password": ""}
    config = workdir / "inboxd.toml"
    config.write_text(to_toml({
        "imap": dict(never, username="support"), "smtp": dict(never, **{"from": "support@example.com"}),
        "faq": {"path": str(sample_faq_path()), "model": "model.npz"},
        "store": {"path": "inboxd.sqlite3"}}), encoding="utf-8")
    return build_offline_runtime(load_config(config))


def in_batches(items: Sequence, size: int) -> list[Sequence]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    train = read_labelled_csv(DATA / "train.csv")
    test = read_labelled_csv(DATA / "test.csv")
    background = packaged_background()
    texts = [t for t, _ in train] + list(background)
    labels = [c for _, c in train] + [NONE] * len(background)
    e5 = encoder.load(threads=1)
    if e5 is None:
        raise SystemExit(f"the encoder is not available: {encoder.unavailable_reason()}")
    models = {"words alone": FaqClassifier.train(texts, labels),
              f"words + {e5.name}": FaqClassifier.train(
                  texts, labels, embedder=e5, vectors=embed_cached(e5, texts, default_cache_path()))}
    step = max(1, len(test) // args.messages)
    chosen = test[::step][:args.messages]
    mails = [as_mail(i, text, test[-1 - i][0]) for i, (text, _) in enumerate(chosen)]
    fetched = [Fetched(uid=i + 1, raw=m, flags=(), internaldate=None) for i, m in enumerate(mails)]
    questions = [parse_message(m).question for m in mails]
    rows: list[tuple[str, str, list[float] | float]] = []
    with tempfile.TemporaryDirectory() as workdir:
        rows.append(("parse_message", "", latencies(parse_message, mails)))
        for name, model in models.items():
            (Path(workdir) / name).mkdir()
            rt = runtime(Path(workdir) / name, model)
            languages = sorted(rt.faq.languages | rt.templates.languages("acknowledgement"))
            if not rows[1:]:
                rows.append(("detect_language", "",
                             latencies(lambda q: detect_language(q, languages, "en"), questions)))
            rows.append(("classify (predict)", name, latencies(rt.classifier.predict, questions)))
            rows.append(("all three: pipeline.read, one message", name,
                         latencies(lambda f: read(rt, [f]), fetched)))
            rows.append((f"all three: pipeline.read, batches of {FETCH_BATCH}", name,
                         rate(lambda b: read(rt, b), in_batches(fetched, FETCH_BATCH))))
            rt.close()
    sizes = sorted(map(len, mails))
    new_text = sorted(len(q) for q in questions)
    table = "\n".join(
        ["| step | model | median ms | p95 ms | messages/s |", "| --- | --- | --- | --- | --- |"] +
        [f"| {step} | {model} | {statistics.median(v) * 1e3:.2f} | {p95(v) * 1e3:.2f} | "
         f"{1 / statistics.fmean(v):,.0f} |" if isinstance(v, list) else
         f"| {step} | {model} | | | {v:,.0f} |" for step, model, v in rows])
    out = ROOT / "benchmarks" / "results" / "classify_speed.md"
    out.write_text(
        f"# Time per message, {len(mails)} BANKING77 questions as e-mails of real length\n\n"
        f"Mails {sizes[len(sizes) // 2]:,} bytes (median; {sizes[0]:,}–{sizes[-1]:,}), quoted "
        f"history and signature included; what is classified (the new text, history and "
        f"signature removed): median {new_text[len(new_text) // 2]} characters. Languages "
        f"detected among: {', '.join(languages)}. One core (one thread); load average at the "
        f"end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.\n\n{table}\n",
        encoding="utf-8")
    print(out.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
