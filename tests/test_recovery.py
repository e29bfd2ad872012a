"""Nothing lost, nothing twice: crashes between steps, outages, first starts, bad mail, dry runs."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from harness import Installation, body_text, mail, store_claimed_elsewhere
from servers import Dovecot, SmtpServer, free_port

from inboxd.faults import CRASH_ENV, CRASH_EXIT_CODE

CUSTOMER = "customer@example.test"
FAQ_QUESTION = "How long does delivery take?"


@pytest.fixture
def inboxd(tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> Installation:
    return Installation(tmp_path, fresh_dovecot, fresh_smtp).start()


def db(setup: Installation) -> sqlite3.Connection:
    return sqlite3.connect(setup.folder_path("inboxd.sqlite3"))


def crash_at(setup: Installation, point: str) -> None:
    result = setup.run_process("once", env={CRASH_ENV: point})
    assert result.returncode == CRASH_EXIT_CODE, result.stderr


# -- crashes between steps -----------------------------------------------------------------------

def test_crash_after_commit_sends_once_on_restart(inboxd: Installation) -> None:
    inboxd.send(mail(CUSTOMER, "Delivery", FAQ_QUESTION))
    crash_at(inboxd, "after-commit")
    assert inboxd.replies_to(CUSTOMER) == [], "nothing was sent before the crash"
    assert len(inboxd.folder("INBOX")) == 1, "nothing was moved before the crash"

    assert inboxd.run("once") == 0
    assert len(inboxd.replies_to(CUSTOMER)) == 1
    assert len(inboxd.folder("Support/Answered")) == 1
    assert inboxd.folder("INBOX") == []
    assert db(inboxd).execute("select count(*) from tickets").fetchone()[0] == 1
    assert inboxd.run("once") == 0
    assert len(inboxd.replies_to(CUSTOMER)) == 1, "a third run changes nothing"


def test_crash_after_send_never_sends_twice_and_leaves_it_to_a_person(
        inboxd: Installation) -> None:
    inboxd.send(mail(CUSTOMER, "Delivery", FAQ_QUESTION))
    crash_at(inboxd, "after-send")
    assert len(inboxd.replies_to(CUSTOMER)) == 1, "the server took the reply before the crash"

    assert inboxd.run("once") == 0
    assert len(inboxd.replies_to(CUSTOMER)) == 1, "not sent again"
    conn = db(inboxd)
    assert conn.execute("select state from outbox").fetchone()[0] == "uncertain"
    assert conn.execute("select state from tickets").fetchone()[0] == "open"
    assert conn.execute("select count(*) from events where kind = 'send-uncertain'"
                        ).fetchone()[0] == 1
    assert len(inboxd.folder("Support/Queue/orders")) == 1, "a person sees the question"
    assert inboxd.folder("Support/Answered") == []


def test_crash_after_copying_to_sent_leaves_one_copy(inboxd: Installation) -> None:
    inboxd.send(mail(CUSTOMER, "Delivery", FAQ_QUESTION))
    crash_at(inboxd, "after-copy")
    assert len(inboxd.folder("Sent")) == 1, "copied before the crash"
    assert inboxd.run("once") == 0
    assert len(inboxd.folder("Sent")) == 1, "not copied again"
    assert len(inboxd.replies_to(CUSTOMER)) == 1
    assert db(inboxd).execute("select copied_at is not null from outbox").fetchone()[0] == 1


def test_crash_after_move_finishes_cleanly(inboxd: Installation) -> None:
    inboxd.send(mail(CUSTOMER, "Delivery", FAQ_QUESTION))
    crash_at(inboxd, "after-move")
    assert inboxd.folder("INBOX") == []
    assert inboxd.run("once") == 0
    assert len(inboxd.replies_to(CUSTOMER)) == 1
    assert len(inboxd.folder("Support/Answered")) == 1
    conn = db(inboxd)
    assert conn.execute("select state from actions").fetchall() == [("done",)]


def test_smtp_outage_keeps_the_reply_until_the_server_is_back(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> None:
    down = Installation(tmp_path, fresh_dovecot, fresh_smtp, smtp={"port": free_port()}).start()
    down.send(mail(CUSTOMER, "Delivery", FAQ_QUESTION))
    assert down.run("once") == 1, "an unreachable SMTP server is a runtime error"
    assert down.replies_to(CUSTOMER) == []
    assert db(down).execute("select state from outbox").fetchone()[0] == "pending"
    assert len(down.folder("INBOX")) == 1, "not moved before its reply is sent"

    back = Installation(tmp_path, fresh_dovecot, fresh_smtp)  # same store, server reachable
    assert back.run("once") == 0
    assert len(back.replies_to(CUSTOMER)) == 1
    assert len(back.folder("Support/Answered")) == 1


def test_refused_reply_leaves_the_ticket_to_a_person(
        inboxd: Installation, fresh_smtp: SmtpServer) -> None:
    fresh_smtp.refuse(CUSTOMER)
    inboxd.send(mail(CUSTOMER, "Delivery", FAQ_QUESTION))
    assert inboxd.run("once") == 0
    conn = db(inboxd)
    assert conn.execute("select state from outbox").fetchone()[0] == "failed"
    assert conn.execute("select state from tickets").fetchone()[0] == "open"
    assert len(inboxd.folder("Support/Queue/orders")) == 1


def test_same_message_twice_is_answered_once(inboxd: Installation) -> None:
    raw = mail(CUSTOMER, "Delivery", FAQ_QUESTION, message_id="<same@customer.example>")
    inboxd.send(raw)
    inboxd.send(raw)
    assert inboxd.run("once") == 0
    assert len(inboxd.replies_to(CUSTOMER)) == 1
    assert db(inboxd).execute("select count(*) from tickets").fetchone()[0] == 1


# -- first start on a mailbox that already holds mail ----------------------------------------------

@pytest.mark.parametrize("backlog", ["ignore", "ticket"])
def test_first_start_never_replies_to_the_backlog(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer, backlog: str) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp, policy={"backlog": backlog})
    setup.train()
    for i in range(3):
        setup.send(mail(CUSTOMER, f"Old {i}", FAQ_QUESTION))
    assert setup.run("once") == 0
    assert fresh_smtp.received == []
    count = db(setup).execute("select count(*) from tickets").fetchone()[0]
    if backlog == "ignore":
        assert count == 0 and len(setup.folder("INBOX")) == 3
    else:
        assert count == 3 and len(setup.folder("Support/Queue")) == 3
    setup.send(mail(CUSTOMER, "New", FAQ_QUESTION))
    assert setup.run("once") == 0
    assert len(setup.replies_to(CUSTOMER)) == 1, "new mail after the first start is answered"


# -- bad mail becomes a ticket for a person, raw bytes kept ---------------------------------------

BROKEN = [
    ("garbage charset", b"From: Ana <customer@example.test>\r\nSubject: =?x-nope?B?SGVq?=\r\n"
     b"Message-ID: <g1@customer.example>\r\nContent-Type: text/plain; charset=x-unknown-8\r\n\r\n"
     b"Hej \xff\xfe\x80 where is my \x00 order\r\n"),
    ("broken multipart", b"From: customer@example.test\r\nSubject: Order\r\n"
     b"Message-ID: <g2@customer.example>\r\nMIME-Version: 1.0\r\n"
     b"Content-Type: multipart/mixed; boundary=\"never\"\r\n\r\nno boundary ever appears\r\n"),
]


@pytest.mark.parametrize("kind, raw", BROKEN, ids=[b[0] for b in BROKEN])
def test_bad_mail_becomes_a_ticket_for_a_person_with_raw_bytes(inboxd: Installation, kind: str,
                                                               raw: bytes) -> None:
    inboxd.send(raw)
    assert inboxd.run("once") == 0
    conn = db(inboxd)
    [(ticket_id, stored, defects)] = conn.execute("select ticket_id, raw, defects from messages")
    assert ticket_id == 1 and defects
    [on_server] = inboxd.raw_folder("Support/Queue")
    assert stored == on_server, "the bytes as the server holds them, not a re-encoding"
    assert raw.split(b"\r\n\r\n")[1][:4] in stored
    [ack] = inboxd.replies_to(CUSTOMER)
    assert "ticket #1" in body_text(ack)


def test_html_only_mail_is_read(inboxd: Installation) -> None:
    inboxd.send(b"From: customer@example.test\r\nSubject: Pedido\r\n"
                b"Message-ID: <g3@customer.example>\r\nContent-Type: text/html; charset=utf-8\r\n"
                b"\r\n<html><style>p{}</style><p>Hola, &iquest;cu&aacute;nto tarda el env&iacute;o?"
                b"</p></html>\r\n")
    assert inboxd.run("once") == 0
    [reply] = inboxd.replies_to(CUSTOMER)
    assert "Los pedidos se envían en 2 días hábiles." in body_text(reply)


def test_mail_without_sender_is_queued_without_reply(inboxd: Installation) -> None:
    inboxd.send(b"Subject: no from\r\nMessage-ID: <nf@x>\r\n\r\nwho am I\r\n")
    assert inboxd.run("once") == 0
    assert inboxd.smtp.received == []
    assert len(inboxd.folder("Support/Queue")) == 1


def test_huge_message_is_handled(inboxd: Installation) -> None:
    blob = ("x" * 76 + "\r\n").encode() * 200_000  # about 15 MB
    raw = (b"From: customer@example.test\r\nSubject: Photos\r\nMessage-ID: <big@customer.example>"
           b"\r\nContent-Type: text/plain\r\n\r\nMy lamp broke, see below.\r\n" + blob)
    inboxd.send(raw)
    assert inboxd.run("once") == 0
    assert len(inboxd.folder("Support/Queue")) == 1
    [ack] = inboxd.replies_to(CUSTOMER)
    assert "ticket #1" in body_text(ack)


# -- dry run --------------------------------------------------------------------------------------

def test_dry_run_changes_nothing(inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    inboxd.send(mail(CUSTOMER, "Delivery", FAQ_QUESTION))
    inboxd.send(mail(CUSTOMER, "Lamp", "My lamp arrived broken."))
    before = Path(inboxd.folder_path("inboxd.sqlite3")).read_bytes()
    capsys.readouterr()
    assert inboxd.run("once", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "AutoAnswer" in out and "Acknowledge" in out and "dry run" in out
    assert inboxd.smtp.received == []
    assert len(inboxd.folder("INBOX")) == 2
    assert Path(inboxd.folder_path("inboxd.sqlite3")).read_bytes() == before
    assert inboxd.run("once") == 0
    assert len(inboxd.replies_to(CUSTOMER)) == 2


def test_classify_prints_the_decision(inboxd: Installation, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    eml = tmp_path / "q.eml"
    eml.write_bytes(mail(CUSTOMER, "Envío", "¿Cuánto tarda el envío a Sevilla?"))
    capsys.readouterr()
    assert inboxd.run("classify", str(eml), "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["decision"] == "AutoAnswer"
    assert result["faq"] == "shipping-time"
    assert result["language"] == "es"


def test_dry_run_on_a_fresh_installation_writes_no_store(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp, policy={"backlog": "ticket"})
    setup.train()
    setup.send(mail(CUSTOMER, "Delivery", FAQ_QUESTION))
    capsys.readouterr()
    assert setup.run("once", "--dry-run") == 0
    assert "Queue" in capsys.readouterr().out, "the backlog decision is shown"
    assert not Path(setup.folder_path("inboxd.sqlite3")).exists()
    assert fresh_smtp.received == [] and len(setup.folder("INBOX")) == 1


def test_a_message_inboxd_fails_on_goes_to_a_person_and_the_rest_flows(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    # a variable it is given, but an attribute it lacks: only rendering can tell
    (templates / "acknowledgement.en.txt.j2").write_text(
        "Ticket {{ ticket_id }} {{ customer_name.nickname }}")
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp,
                         templates={"path": str(templates)}).start()
    setup.send(mail(CUSTOMER, "Lamp", "My lamp arrived broken."))
    setup.send(mail("customer2@example.test", "Delivery", FAQ_QUESTION))
    assert setup.run("once") == 0
    conn = db(setup)
    rows = conn.execute("select decision, reason from messages order by id").fetchall()
    assert rows[0][0] == "Queue" and "UndefinedError" in rows[0][1]
    assert rows[1][0] == "AutoAnswer", "the next message is handled as usual"
    assert len(setup.folder("Support/Queue")) == 1 and setup.folder("INBOX") == []
    assert [e.rcpt_tos for e in fresh_smtp.received] == [("customer2@example.test",)]


def test_one_inboxd_at_a_time_acts_on_a_store(inboxd: Installation,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """While another inboxd process acts on the store, `inboxd once` refuses at once and sends
    nothing, so no two send the same mail."""
    inboxd.send(mail(CUSTOMER, "Delivery", "How long does delivery take?"))
    with store_claimed_elsewhere(Path(inboxd.folder_path("inboxd.sqlite3"))) as pid:
        capsys.readouterr()
        assert inboxd.run("once") == 1
        err = capsys.readouterr().err
        assert f"another inboxd (process {pid}) is working with the store" in err
        assert inboxd.replies_to(CUSTOMER) == [] and len(inboxd.folder("INBOX")) == 1
    assert inboxd.run("once") == 0
    assert len(inboxd.replies_to(CUSTOMER)) == 1
    assert inboxd.run("once") == 0, "the lock is given back when a run ends"
    assert len(inboxd.replies_to(CUSTOMER)) == 1


def test_a_backlog_pass_reports_each_message_it_handled(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> None:
    """What `inboxd once` draws its progress bar from on a terminal."""
    from inboxd.commands.mailbox import run_once
    from inboxd.config import load_config
    from inboxd.runtime import build_runtime

    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp, policy={"backlog": "ticket"})
    setup.train()
    for i in range(3):
        setup.send(mail(CUSTOMER, f"Old {i}", FAQ_QUESTION))
    seen: list[tuple[int, int]] = []
    rt = build_runtime(load_config(setup.config_path))
    try:
        outcomes = run_once(rt, progress=lambda done, total: seen.append((done, total)))
    finally:
        rt.close()
    assert len(outcomes) == 3
    assert seen == [(1, 3), (2, 3), (3, 3)]
