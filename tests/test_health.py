"""`inboxd health`: exit 0 while the daemon checks the mailbox and its mail goes out, else 1 with
one line saying what is wrong. Against a real store filled the way the daemon fills it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from harness import FAQ_TOML, offline_config

from inboxd.cli import main
from inboxd.store import Store, iso
from inboxd.store_figures import MAILBOX_CHECKED

POLL_S = 60  # offline_config leaves imap.poll_interval_s at its default


def health(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["-c", str(config), "health"])
    captured = capsys.readouterr()
    return code, (captured.out + captured.err).strip()


def store(tmp_path: Path, checked_ago_s: float | None, waiting_ago_min: list[float]) -> Path:
    config = offline_config(tmp_path, FAQ_TOML, "")
    now = datetime.now(timezone.utc)
    db = Store(tmp_path / "inboxd.sqlite3")
    if checked_ago_s is not None:
        db.set_stamp(MAILBOX_CHECKED, now - timedelta(seconds=checked_ago_s))
    for i, minutes in enumerate(waiting_ago_min):
        db.queue_outgoing({"kind": "answer", "message_id": f"<{i}@x>", "recipient": "c@x.test",
                           "raw": b"Subject: x\r\n\r\nx\r\n",
                           "created_at": iso(now - timedelta(minutes=minutes))})
    db.queue_outgoing({"kind": "answer", "message_id": "<old-sent@x>", "recipient": "c@x.test",
                       "raw": b"Subject: x\r\n\r\nx\r\n", "state": "sent",
                       "created_at": iso(now - timedelta(days=2))})
    db.close()
    return config


def test_healthy_when_checked_recently_and_nothing_waits_long(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = store(tmp_path, checked_ago_s=2 * POLL_S, waiting_ago_min=[1, 14])
    code, out = health(config, capsys)
    assert code == 0, out
    assert out.startswith("ok: mailbox checked 2 min") and "\n" not in out


def test_unwell_after_three_poll_intervals_without_a_check(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = store(tmp_path, checked_ago_s=3 * POLL_S + 5, waiting_ago_min=[])
    code, out = health(config, capsys)
    assert code == 1
    assert out.startswith("inboxd: the mailbox was last checked 3 min ")
    assert out.endswith(" ago, more than 3 poll intervals (3 × 1 min)")


def test_unwell_when_mail_is_stuck_in_the_outbox(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = store(tmp_path, checked_ago_s=1, waiting_ago_min=[16, 40, 3])
    code, out = health(config, capsys)
    assert code == 1
    assert out.startswith("inboxd: 2 mail(s) waiting in the outbox for more than 15 min, "
                          "the oldest for 40 min")
    assert "\n" not in out


def test_never_checked_and_no_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = offline_config(tmp_path, FAQ_TOML, "")
    code, out = health(config, capsys)
    assert code == 1 and out.startswith("inboxd: no store at ") and "\n" not in out
    assert not (tmp_path / "inboxd.sqlite3").exists(), "health must not create the store"
    config = store(tmp_path, checked_ago_s=None, waiting_ago_min=[])
    code, out = health(config, capsys)
    assert code == 1 and out == "inboxd: the mailbox was never checked: is `inboxd run` running?"


def test_unwell_while_an_alarm_is_open_and_well_once_it_is_over(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from inboxd.store_oauth import open_incident, resolve_incident

    config = store(tmp_path, checked_ago_s=1, waiting_ago_min=[])
    db = Store(tmp_path / "inboxd.sqlite3")
    started = datetime.now(timezone.utc) - timedelta(minutes=20)
    open_incident(db, "smtp", "login-refused", "535 5.7.8 bad credentials", started)
    db.close()
    code, out = health(config, capsys)
    assert code == 1
    assert out.startswith("inboxd: SMTP login refused for 20 min")  # and the seconds since
    assert out.endswith(": 535 5.7.8 bad credentials") and "\n" not in out
    db = Store(tmp_path / "inboxd.sqlite3")
    resolve_incident(db, "smtp", datetime.now(timezone.utc))
    db.close()
    code, out = health(config, capsys)
    assert code == 0, out
