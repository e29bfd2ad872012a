"""`inboxd tickets --overdue / --due-within / --state` and `inboxd ticket ID`, on a real store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from inboxd.cli import main
from inboxd.store import Store, iso

CONFIG = """\
[imap]
host = "127.0.0.1"
security = "none"
username = "support@example.test"
password = "x"

[smtp]
host = "127.0.0.1"
security = "none"
username = ""
password = ""
from = "Support <support@example.test>"

[faq]
path = "faq.toml"

[deadlines]
timezone = "Asia/Shanghai"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """Tickets due 1 h ago, in 1 h and in 5 h, one answered and overdue; times from now."""
    path = tmp_path / "inboxd.toml"
    path.write_text(CONFIG, encoding="utf-8")
    store = Store(tmp_path / "inboxd.sqlite3")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for subject, state, due_in in (("late", "open", -1), ("soon", "open", 1),
                                   ("later", "open", 5), ("done", "answered", -1)):
        arrival = now + timedelta(hours=due_in - 24)
        ticket = store.insert_ticket({
            "customer": f"{subject}@example.test", "subject": subject, "state": state,
            "language": "en", "created_at": iso(arrival), "awaiting_since": iso(arrival),
            "due_24h": iso(arrival + timedelta(hours=24)),
            "due_business_day": iso(arrival + timedelta(hours=30))})
        store.insert_message({"ticket_id": ticket, "direction": "in", "folder": "INBOX",
                              "uidvalidity": 1, "uid": ticket, "sender": f"{subject}@example.test",
                              "subject": subject, "received_at": iso(arrival),
                              "decision": "Acknowledge", "reason": "no FAQ fits",
                              "message_id": f"<{subject}@example.test>"})
    store.record_notice({"ticket_id": 1, "kind": "breach", "deadline": "24h",
                         "due_at": iso(now - timedelta(hours=1)),
                         "clock_start": iso(now - timedelta(hours=25)), "at": iso(now)})
    store.add_event(1, now, "escalation", "queued to leads@example.com")
    store.close()
    return path


def subjects(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    capsys.readouterr()
    assert main(["-c", str(config), "tickets", "--json", *args]) == 0
    return [t["subject"] for t in json.loads(capsys.readouterr().out)]


@pytest.mark.parametrize("args, expected", [
    ((), ["late", "soon", "later", "done"]),
    (("--overdue",), ["late"]),
    (("--due-within", "2h"), ["late", "soon"]),
    (("--due-within", "6h"), ["late", "soon", "later"]),
    (("--due-within", "90m", "--overdue"), ["late"]),
    (("--state", "answered"), ["done"]),
    (("--state", "answered", "--overdue"), []),
    (("--state", "open", "--due-within", "2h"), ["late", "soon"]),
])
def test_ticket_filters(config: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
                        expected: list[str]) -> None:
    assert subjects(config, capsys, *args) == expected


def test_bad_duration_is_a_usage_error(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["-c", str(config), "tickets", "--due-within", "soon"])
    assert refused.value.code == 2
    assert "not a duration" in capsys.readouterr().err


def test_ticket_history_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["-c", str(config), "ticket", "1", "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert history["ticket"]["subject"] == "late" and history["ticket"]["state"] == "open"
    assert history["ticket"]["due_24h"].endswith("+08:00"), "in the configured time zone"
    [message] = history["messages"]
    assert (message["direction"], message["decision"], message["reason"]) == \
        ("in", "Acknowledge", "no FAQ fits")
    [notice] = history["notices"]
    assert (notice["kind"], notice["deadline"]) == ("breach", "24h")
    assert notice["due_at"].endswith("+08:00")
    assert [e["kind"] for e in history["events"]] == ["escalation"]
    assert history["outbox"] == []


def test_ticket_history_text(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["-c", str(config), "ticket", "1"]) == 0
    out = capsys.readouterr().out
    for expected in ("#1 open", "late@example.test", "due one business day", "messages",
                     "Acknowledge", "deadline notices", "breach  24 hours", "events",
                     "queued to leads@example.com", "times in Asia/Shanghai"):
        assert expected in out


def test_unknown_ticket(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", str(config), "ticket", "99"]) == 1
    assert "no ticket #99" in capsys.readouterr().out
