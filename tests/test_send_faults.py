"""A reply is sent at most once whatever the SMTP server does.

Trouble before the message data goes out (a dropped connection at MAIL FROM or RCPT TO, a 4xx
answer, a kill while waiting for the server) leaves the reply waiting and it is sent later.
Trouble after it (the connection drops, the answer comes too late) means the server may have
the message: it is never sent again, and the ticket goes to a person, as after a crash. Each
case runs `inboxd once` at least twice against a real aiosmtpd playing the fault."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import Installation, mail
from servers import Dovecot, SmtpServer

from inboxd.faults import CRASH_ENV, CRASH_EXIT_CODE

CUSTOMER = "customer@example.test"
CUSTOMER2 = "customer2@example.test"
FAQ_QUESTION = "How long does delivery take?"
TIMEOUT_S = 1


@pytest.fixture
def inboxd(tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> Installation:
    return Installation(tmp_path, fresh_dovecot, fresh_smtp,
                        smtp={"timeout_s": TIMEOUT_S}).start()


def db(setup: Installation) -> sqlite3.Connection:
    return sqlite3.connect(setup.folder_path("inboxd.sqlite3"))


def answer_state(setup: Installation) -> str:
    return db(setup).execute("select state from outbox where kind = 'answer'").fetchone()[0]


def ticket_state(setup: Installation, ticket_id: int = 1) -> str:
    """The ticket's state, and who answered it when it is answered ("answered by auto")."""
    state, by = db(setup).execute("select state, answered_by from tickets where id = ?",
                                  [ticket_id]).fetchone()
    return f"{state} by {by}" if state == "answered" else state


@pytest.mark.parametrize("fault", ["drop-after-data", "slow-data"])
def test_no_answer_to_the_data_means_never_sent_again(inboxd: Installation,
                                                       fresh_smtp: SmtpServer, fault: str) -> None:
    fresh_smtp.fail(fault, delay_s=TIMEOUT_S + 1.5)
    inboxd.send(mail(CUSTOMER, "Delivery", FAQ_QUESTION))
    assert inboxd.run("once") == 0
    assert len(inboxd.replies_to(CUSTOMER)) == 1, "the server delivered it before the trouble"
    fresh_smtp.fail(None)
    assert inboxd.run("once") == 0
    assert len(inboxd.replies_to(CUSTOMER)) == 1, "not sent a second time"
    assert answer_state(inboxd) == "uncertain"
    assert ticket_state(inboxd) == "open"
    events = db(inboxd).execute("select detail from events where kind = 'send-uncertain'"
                                ).fetchall()
    assert len(events) == 1 and "may not have arrived" in events[0][0]
    assert len(inboxd.folder("Support/Queue/orders")) == 1, "a person sees the question"
    assert inboxd.folder("Support/Answered") == []


@pytest.mark.parametrize("fault", ["drop-at-mail", "drop-at-rcpt", "rcpt-4xx"])
def test_trouble_before_the_data_is_retried_and_other_mail_is_filed_meanwhile(
        inboxd: Installation, fresh_smtp: SmtpServer, fault: str) -> None:
    if fault == "rcpt-4xx":
        fresh_smtp.refuse(CUSTOMER, "450 4.2.1 Mailbox busy, try again later")
    else:
        fresh_smtp.fail(fault)
    inboxd.send(mail(CUSTOMER, "Delivery", FAQ_QUESTION))
    inboxd.send(mail(CUSTOMER2, "Lamp", "My lamp arrived broken."))
    for _ in range(2):
        assert inboxd.run("once") == (0 if fault == "rcpt-4xx" else 1)
        assert inboxd.replies_to(CUSTOMER) == []
        assert answer_state(inboxd) == "pending"
        assert ticket_state(inboxd) == "answered by auto"
    assert len(inboxd.folder("INBOX")) == 1, "the question waits for its answer"
    assert len(inboxd.folder("Support/Queue")) == 1, "the other message is filed meanwhile"
    if fault == "rcpt-4xx":
        assert len(inboxd.replies_to(CUSTOMER2)) == 1, "one recipient put off stops no other"

    fresh_smtp.reset()
    assert inboxd.run("once") == 0
    assert len(inboxd.replies_to(CUSTOMER)) == 1
    assert len(inboxd.replies_to(CUSTOMER2)) == 1
    assert answer_state(inboxd) == "sent"
    assert len(inboxd.folder("Support/Answered")) == 1 and inboxd.folder("INBOX") == []
    assert inboxd.run("once") == 0
    assert len(inboxd.replies_to(CUSTOMER)) == 1


def test_a_reply_put_off_for_a_day_is_given_up_to_a_person(inboxd: Installation,
                                                           fresh_smtp: SmtpServer) -> None:
    fresh_smtp.refuse(CUSTOMER, "450 4.2.1 Mailbox busy, try again later")
    inboxd.send(mail(CUSTOMER, "Delivery", FAQ_QUESTION))
    assert inboxd.run("once") == 0
    assert answer_state(inboxd) == "pending", "put off once: tried again later"
    with db(inboxd) as conn:  # the answer has waited 25 hours
        conn.execute("update outbox set created_at = '2000-01-01T00:00:00+00:00' "
                     "where kind = 'answer'")
    assert inboxd.run("once") == 0
    assert answer_state(inboxd) == "failed"
    assert ticket_state(inboxd) == "open"
    events = db(inboxd).execute("select detail from events where kind = 'send-failed'"
                                ).fetchall()
    assert len(events) == 1 and "put off for more than 24 hours" in events[0][0]
    assert "450 4.2.1" in events[0][0]
    assert len(inboxd.folder("Support/Queue/orders")) == 1, "a person sees the question"
    fresh_smtp.reset()
    assert inboxd.run("once") == 0
    assert inboxd.replies_to(CUSTOMER) == [], "given up: never sent later"


def test_a_kill_while_the_server_considers_the_recipient_is_sent_later(
        inboxd: Installation, fresh_smtp: SmtpServer) -> None:
    fresh_smtp.fail("slow-rcpt", delay_s=30)
    inboxd.send(mail(CUSTOMER, "Delivery", FAQ_QUESTION))
    process = subprocess.Popen([sys.executable, "-m", "inboxd", "-c", str(inboxd.config_path),
                                "once"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while fresh_smtp.handler.rcpt_seen == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fresh_smtp.handler.rcpt_seen == 1, "inboxd never named the recipient"
    process.kill()
    process.wait()
    fresh_smtp.fail(None)
    assert inboxd.run("once") == 0
    assert len(inboxd.replies_to(CUSTOMER)) == 1, "the reply still goes out, once"
    assert answer_state(inboxd) == "sent"
    assert ticket_state(inboxd) == "answered by auto"
    assert inboxd.run("once") == 0
    assert len(inboxd.replies_to(CUSTOMER)) == 1


def test_a_crash_before_the_data_goes_out_sends_it_once_later(inboxd: Installation) -> None:
    inboxd.send(mail(CUSTOMER, "Delivery", FAQ_QUESTION))
    result = inboxd.run_process("once", env={CRASH_ENV: "before-data"})
    assert result.returncode == CRASH_EXIT_CODE, result.stderr
    assert inboxd.replies_to(CUSTOMER) == []
    assert answer_state(inboxd) == "pending", "nothing went out: not uncertain"
    assert inboxd.run("once") == 0
    assert inboxd.run("once") == 0
    assert len(inboxd.replies_to(CUSTOMER)) == 1
    assert answer_state(inboxd) == "sent"


# -- a reply that did not go out: the question goes to a person, robots stay robots ---------------

def _question_duplicate_and_robot(setup: Installation) -> None:
    """A question, the same message again, and a colleague's out-of-office reply to it, all in
    one batch: the two last ones join the question's ticket and go to Automated."""
    question = mail(CUSTOMER, "Delivery", FAQ_QUESTION, message_id="<q1@customer.example>")
    setup.send(question)
    setup.send(question)
    setup.send(mail("colleague@customer.example", "Out of office", "I am away until Monday.",
                    headers={"Auto-Submitted": "auto-replied"},
                    in_reply_to="<q1@customer.example>"))


def _assert_only_the_question_goes_to_a_person(setup: Installation) -> None:
    rows = db(setup).execute("select ticket_id, decision from messages order by id").fetchall()
    assert rows == [(1, "AutoAnswer"), (1, "Record"), (1, "Record")]
    assert ticket_state(setup) == "open"
    assert [m["Message-ID"] for m in setup.folder("Support/Queue/orders")] == \
        ["<q1@customer.example>"]
    automated = setup.folder("Support/Automated")
    assert sorted(m["Subject"] for m in automated) == ["Delivery", "Out of office"]
    assert setup.folder("Support/Answered") == [] and setup.folder("INBOX") == []


def test_refused_data_hands_only_the_question_to_a_person(inboxd: Installation,
                                                          fresh_smtp: SmtpServer) -> None:
    fresh_smtp.fail("refuse-data")
    _question_duplicate_and_robot(inboxd)
    assert inboxd.run("once") == 0
    assert inboxd.run("once") == 0
    assert answer_state(inboxd) == "failed"
    assert fresh_smtp.received == [] and inboxd.replies_to(CUSTOMER) == []
    _assert_only_the_question_goes_to_a_person(inboxd)


def test_crash_after_send_hands_only_the_question_to_a_person(inboxd: Installation) -> None:
    _question_duplicate_and_robot(inboxd)
    result = inboxd.run_process("once", env={CRASH_ENV: "after-send"})
    assert result.returncode == CRASH_EXIT_CODE, result.stderr
    assert inboxd.run("once") == 0
    assert inboxd.run("once") == 0
    assert answer_state(inboxd) == "uncertain"
    assert len(inboxd.replies_to(CUSTOMER)) == 1
    _assert_only_the_question_goes_to_a_person(inboxd)
