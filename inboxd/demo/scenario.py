"""The demo's story: a fresh inboxd meets a morning of customer mail, then one reply.

``run_demo`` writes a configuration for the running :class:`DemoServers`, trains the sample FAQ,
starts inboxd once on the empty inbox (which sets its checkpoint), delivers the first round of
mail and runs inboxd once more, then delivers a customer's reply to one automatic answer and
runs a third time. It returns everything that happened as data.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from inboxd.model import encoder
from inboxd.commands.mailbox import run_once
from inboxd.config import Config, load_config
from inboxd.core.classify import FaqClassifier
from inboxd.demo import sample_faq_path, samples
from inboxd.model.embedding_cache import default_cache_path, embed_answers, embed_cached
from inboxd.demo.samples import Sample
from inboxd.demo.servers import HOST, Captured, DemoServers
from inboxd.faq import load_faq
from inboxd.steps.inbox import Outcome
from inboxd.runtime import Runtime, build_runtime
from inboxd.store import Ticket

SUPPORT_FROM = "Demo Shop Support <support@demo.example>"
THRESHOLD = 0.6  # inboxd's default: the sample questions score above it, the complaint below
TIMEZONE = "Europe/Stockholm"


@dataclass(frozen=True)
class Round:
    """Mail delivered together, and what one ``inboxd once`` did with it."""

    title: str
    samples: tuple[Sample, ...]
    outcomes: tuple[Outcome, ...]


@dataclass(frozen=True)
class DemoResult:
    config: Config
    rounds: tuple[Round, ...]
    replies: tuple[Captured, ...]  # every mail the SMTP server received, in order
    tickets: tuple[Ticket, ...]
    folders: dict[str, int]  # IMAP folder -> number of messages, read back at the end
    took_s: float


def run_demo(servers: DemoServers, workdir: Path) -> DemoResult:
    """Play the demo against ``servers``, keeping config, model and store in ``workdir``."""
    started = time.perf_counter()
    config = load_config(write_config(workdir, servers))
    train(config)
    rt = build_runtime(config)
    try:
        run_once(rt)  # first start on an empty inbox: only sets the checkpoint
        first = deliver_and_run(rt, servers, "seven customer mails arrive",
                                samples.first_round(rt.clock()))
        answer = first_answer_to(servers.captured, samples.FIRST_ROUND[0].address)
        second = deliver_and_run(rt, servers, "Emily replies to her automatic answer",
                                 [samples.follow_up(answer, rt.clock())])
        tickets = tuple(rt.store.tickets())
    finally:
        rt.close()
    with servers.client() as client:
        folders = client.folder_counts()
    return DemoResult(config, (first, second), tuple(servers.captured), tickets, folders,
                      time.perf_counter() - started)


def write_config(workdir: Path, servers: DemoServers) -> Path:
    """An ``inboxd.toml`` for the demo servers; store and model live next to it."""
    path = workdir / "inboxd.toml"
    path.write_text(to_toml(demo_settings(servers)), encoding="utf-8")
    return path


def demo_settings(servers: DemoServers) -> dict[str, dict[str, Any]]:
    return {
        "imap": {"host": HOST, "port": servers.imap.port, "security": "none",
                 "username": servers.username, "password": servers.password, "timeout_s": 10},
        "smtp": {"host": HOST, "port": servers.smtp.port, "security": "none",  # no login
                 "from": SUPPORT_FROM, "timeout_s": 10},
        "faq": {"path": str(sample_faq_path()), "model": "faq-model.npz",
                "threshold": THRESHOLD},
        "store": {"path": "inboxd.sqlite3"},
        "deadlines": {"timezone": TIMEZONE, "business_hours": "09:00-17:00", "holidays": "SE"},
        "policy": {"support_name": "Demo Shop Support"},
    }


def to_toml(tables: dict[str, dict[str, Any]]) -> str:
    """TOML for tables of strings and numbers (JSON string escapes are valid TOML)."""
    lines = []
    for name, values in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {json.dumps(value, ensure_ascii=False)}"
                  for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


def train(config: Config) -> None:
    """The model on the sample FAQ, with the encoder when it can be loaded."""
    faq = load_faq(config.faq.path)
    texts, labels = faq.training_rows()
    sentence_encoder = encoder.load(threads=1)
    vectors, answers = None, None
    if sentence_encoder is not None:
        vectors = embed_cached(sentence_encoder, texts, default_cache_path())
        answers = embed_answers(sentence_encoder, faq.answer_texts(), default_cache_path())
    FaqClassifier.train(texts, labels, embedder=sentence_encoder, vectors=vectors,
                        answers=answers).save(config.faq.model)


def deliver_and_run(rt: Runtime, servers: DemoServers, title: str,
                    mails: list[Sample]) -> Round:
    with servers.client() as client:
        for mail in mails:
            client.deliver(mail.raw, mail.received_at)
    return Round(title, tuple(mails), tuple(run_once(rt)))


def first_answer_to(captured: list[Captured], address: str) -> EmailMessage:
    """The first mail the SMTP server received for ``address``."""
    for mail in captured:
        if address in mail.recipients:
            return mail.message()
    raise LookupError(f"no reply to {address} was sent")

