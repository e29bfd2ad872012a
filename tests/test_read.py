"""``steps.inbox.read``: a fetched batch is parsed and classified at once, with the same result as
reading its messages one by one."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from inboxd.config import load_config
from inboxd.core.classify import FaqClassifier
from inboxd.demo import sample_faq_path
from inboxd.demo.samples import first_round
from inboxd.demo.scenario import to_toml
from inboxd.faq import load_faq
from inboxd.mail.imap import Fetched
from inboxd.steps.inbox import read
from inboxd.runtime import build_offline_runtime

NOWHERE = {"host": "127.0.0.1", "port": 9, "security": "none", "username": "support",
           "password": ""}


def test_a_batch_reads_as_its_messages_one_by_one(tmp_path: Path) -> None:
    config_path = tmp_path / "inboxd.toml"
    config_path.write_text(to_toml({
        "imap": NOWHERE, "smtp": dict(NOWHERE, **{"from": "support@example.com"}),
        "faq": {"path": str(sample_faq_path()), "model": "model.npz"},
        "store": {"path": "inboxd.sqlite3"}}), encoding="utf-8")
    config = load_config(config_path)
    FaqClassifier.train(*load_faq(config.faq.path).training_rows()).save(config.faq.model)
    rt = build_offline_runtime(config)
    samples = first_round(datetime(2026, 11, 23, 9, tzinfo=timezone.utc))
    batch = [Fetched(uid=i + 1, raw=s.raw, flags=(), internaldate=None)
             for i, s in enumerate(samples)]

    together = read(rt, batch)

    assert together == [read(rt, [fetched])[0] for fetched in batch]
    assert [r.match is None for r in together] == [bool(r.parsed.automated) for r in together]
    assert sum(bool(r.parsed.automated) for r in together) == 1, "the out-of-office reply"
    assert {r.language for r in together} == {"en", "zh", "sv", "es"}
    assert any(r.match is not None and r.match.confidence > 0.5 for r in together)
    assert not config.store_path.exists(), "reading writes nothing"
    rt.close()
