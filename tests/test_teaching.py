"""Learn folders: an agent moves (or copies) a customer's message into Support/Learn/<faq-id>,
the customer sees nothing, and inboxd learns the question once and files the message away.
Against the real Dovecot and SMTP server."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from harness import Installation, body_text, mail
from servers import Dovecot, SmtpServer

from inboxd.core.lessons import LEARNED, NO_QUESTION, UNKNOWN_FAQ, lesson
from inboxd.mail.imap import Mailbox

CUSTOMER = "customer@example.test"
CUSTOMER2 = "customer2@example.test"
QUESTION = "The shoes are too small, can I exchange them for a bigger size?"
SIMILAR_QUESTION = "These shoes are too small for me. Can I exchange them for a larger size?"
IDS = frozenset({"returns", "shipping-time"})
LEARN = "Support/Learn/returns"


LESSONS = [  # faq id, question, waiting in, already there -> outcome, target
    ("returns", "Can I swap?", None, False, LEARNED, "Support/Answered"),
    ("returns", "Can I swap?", "Support/Queue/orders", False, LEARNED, "Support/Queue/orders"),
    ("returns", "Can I swap?", "Support/Queue", True, LEARNED, "Support/Answered"),  # a copy
    ("returns", "  ", None, False, NO_QUESTION, "Support/Answered"),
    ("exchanges", "Can I swap?", "Support/Queue", False, UNKNOWN_FAQ, None),
]


@pytest.mark.parametrize("faq_id, question, waiting_in, there, outcome, target", LESSONS)
def test_lesson(faq_id: str, question: str, waiting_in: str | None, there: bool, outcome: str,
                target: str | None) -> None:
    found = lesson(faq_id, IDS, question, f"Support/Learn/{faq_id}", waiting_in, there,
                   "Support/Answered")
    assert (found.outcome, found.target) == (outcome, target)


@pytest.fixture
def inboxd(tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> Installation:
    # 0.7: before learning, the model's best guess for QUESTION is wrong and below it
    return Installation(tmp_path, fresh_dovecot, fresh_smtp, faq={"threshold": 0.7}).start()


def query(setup: Installation, sql: str) -> list[tuple]:
    db = sqlite3.connect(setup.folder_path("inboxd.sqlite3"))
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def tickets(setup: Installation, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert setup.run("tickets", "--json") == 0
    return json.loads(capsys.readouterr().out)


def agent_files(setup: Installation, source: str, target: str, copy: bool = False) -> None:
    """The agent drags every message of ``source`` into ``target`` in their mail client."""
    with setup.dovecot.imap(setup.dovecot.support) as client:
        client.select_folder(source)
        uids = client.search("ALL")
        client.copy(uids, target) if copy else client.move(uids, target)


def test_moving_into_a_learn_folder_teaches_once_and_files_the_message(
        inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    question = mail(CUSTOMER, "Exchange", QUESTION, message_id="<shoes@customer.example>")
    inboxd.send(question)
    assert inboxd.run("once") == 0
    with inboxd.dovecot.imap(inboxd.dovecot.support) as client:  # made for the agents to use
        for faq_id in ("shipping-time", "password-reset", "returns"):
            assert client.folder_exists(f"Support/Learn/{faq_id}")
    # the agent answers from the shared mailbox (no #faq line the customer would see) ...
    reply = mail("support@example.test", "Re: Exchange", "Hi! You can swap them in 30 days.",
                 in_reply_to="<shoes@customer.example>", to=CUSTOMER)
    with inboxd.dovecot.imap(inboxd.dovecot.support) as client:
        client.append("Sent", reply, flags=[b"\\Seen"])
    # ... and drags the customer's message from the queue into the learn folder
    agent_files(inboxd, "Support/Queue", LEARN)
    assert inboxd.run("once") == 0
    assert query(inboxd, "select faq_id, text, ticket_id, source from learned_examples") == [
        ("returns", f"Exchange\n\n{QUESTION}", 1, "folder")]
    [ticket] = tickets(inboxd, capsys)
    assert (ticket["state"], ticket["faq"]) == ("answered", "returns")
    assert inboxd.folder(LEARN) == []
    assert [m["Message-ID"] for m in inboxd.folder("Support/Answered")] == \
        ["<shoes@customer.example>"]

    assert inboxd.run("once") == 0  # nothing again
    assert len(query(inboxd, "select id from learned_examples")) == 1
    assert query(inboxd, "select kind from events where kind like 'learn%'") == [("learned",)]
    [ack] = inboxd.replies_to(CUSTOMER)
    assert "#faq" not in body_text(ack)

    capsys.readouterr()
    assert inboxd.run("train") == 0
    assert "1 learned examples" in capsys.readouterr().out
    inboxd.send(mail(CUSTOMER2, "Exchange", SIMILAR_QUESTION))
    assert inboxd.run("once") == 0
    [answer] = inboxd.replies_to(CUSTOMER2)
    assert "You can return any item within 30 days." in body_text(answer)


def test_a_copy_of_a_waiting_ticket_teaches_and_the_queue_keeps_the_original(
        inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    inboxd.send(mail(CUSTOMER, "Exchange", QUESTION, message_id="<shoes@customer.example>"))
    assert inboxd.run("once") == 0
    agent_files(inboxd, "Support/Queue", LEARN, copy=True)
    assert inboxd.run("once") == 0
    assert len(query(inboxd, "select id from learned_examples")) == 1
    [ticket] = tickets(inboxd, capsys)
    assert (ticket["state"], ticket["faq"]) == ("open", "returns")  # still waits for a person
    assert len(inboxd.folder("Support/Queue")) == 1
    assert len(inboxd.folder("Support/Answered")) == 1 and inboxd.folder(LEARN) == []


def test_a_moved_waiting_ticket_goes_back_to_its_queue(
        inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    inboxd.send(mail(CUSTOMER, "Exchange", QUESTION, message_id="<shoes@customer.example>"))
    assert inboxd.run("once") == 0
    agent_files(inboxd, "Support/Queue", LEARN)
    assert inboxd.run("once") == 0
    assert len(query(inboxd, "select id from learned_examples")) == 1
    assert [m["Message-ID"] for m in inboxd.folder("Support/Queue")] == \
        ["<shoes@customer.example>"]
    assert inboxd.folder(LEARN) == []


def test_an_unknown_faq_folder_leaves_the_message_for_a_person(
        inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    inboxd.send(mail(CUSTOMER, "Exchange", QUESTION, message_id="<shoes@customer.example>"))
    assert inboxd.run("once") == 0
    with inboxd.dovecot.imap(inboxd.dovecot.support) as client:
        client.create_folder("Support/Learn/exchanges")
    agent_files(inboxd, "Support/Queue", "Support/Learn/exchanges")
    assert inboxd.run("once") == 0
    assert inboxd.run("once") == 0
    assert query(inboxd, "select id from learned_examples") == []
    [(ticket_id, detail)] = query(inboxd, "select ticket_id, detail from events "
                                          "where kind = 'learn-unknown-faq'")
    assert ticket_id == 1 and "no FAQ has the id 'exchanges'" in detail
    assert len(inboxd.folder("Support/Learn/exchanges")) == 1


def test_learn_folders_follow_the_servers_separator() -> None:
    server = Dovecot(separator=".")
    try:
        server.start()
        server.deliver(server.support, b"From: a@example.test\r\nSubject: x\r\n\r\nhi\r\n")
        with Mailbox(server.imap_settings()) as mailbox:
            for faq_id in ("returns", "shipping-time"):
                mailbox.ensure_folder(f"Support/Learn/{faq_id}")
            mailbox.select("INBOX")
            mailbox.move("INBOX", mailbox.uids_after("INBOX", 0), "Support/Learn/returns")
            assert mailbox.children("Support/Learn") == ["returns", "shipping-time"]
            assert mailbox.message_count("Support/Learn/returns") == 1
            assert mailbox.message_count("Support/Learn/shipping-time") == 0
        with server.imap(server.support) as client:
            names = {name for _, _, name in client.list_folders()}
            assert {"Support.Learn.returns", "Support.Learn.shipping-time"} <= names
    finally:
        server.cleanup()


def test_a_message_inboxd_fails_on_stays_in_the_folder_once(
        inboxd: Installation, monkeypatch: pytest.MonkeyPatch) -> None:
    inboxd.send(mail(CUSTOMER, "Exchange", QUESTION, message_id="<shoes@customer.example>"))
    assert inboxd.run("once") == 0
    agent_files(inboxd, "Support/Queue", LEARN)

    def defect(*args: object) -> None:
        raise RuntimeError("a defect")

    monkeypatch.setattr("inboxd.steps.lessons._ticket_and_question", defect)
    assert inboxd.run("once") == 0  # the rest of the run goes on
    assert inboxd.run("once") == 0
    [(detail,)] = query(inboxd, "select detail from events where kind = 'learn-failed'")
    assert "RuntimeError: a defect" in detail
    assert len(inboxd.folder(LEARN)) == 1


def test_forget_removes_what_was_learned_from_a_message_inboxd_had_not_seen(
        inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    assert inboxd.run("once") == 0  # the learn folders exist
    with inboxd.dovecot.imap(inboxd.dovecot.support) as client:  # e.g. from an older folder
        client.append(LEARN, mail(CUSTOMER, "Exchange", QUESTION))
    assert inboxd.run("once") == 0
    assert query(inboxd, "select ticket_id, source from learned_examples") == [(None, "folder")]
    capsys.readouterr()
    assert inboxd.run("forget", CUSTOMER) == 0
    assert "0 tickets, 0 messages, 0 outgoing mails, 0 deadline notices, 1 learned examples, " \
           "1 learn-folder records" in capsys.readouterr().out
    assert query(inboxd, "select count(*) from learned_examples") == [(0,)]
    assert query(inboxd, "select count(*) from lessons") == [(0,)]
