"""The whole flow against a real Dovecot and a real SMTP server: the six behaviours users see."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from harness import Installation, body_text, mail, parse
from servers import Dovecot, SmtpServer

from inboxd.core.render import format_when

CUSTOMER = "customer@example.test"
CUSTOMER2 = "customer2@example.test"


@pytest.fixture
def inboxd(tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> Installation:
    return Installation(tmp_path, fresh_dovecot, fresh_smtp).start()


def tickets(setup: Installation, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert setup.run("tickets", "--json") == 0
    return json.loads(capsys.readouterr().out)


# -- 1. a frequent question is answered at once, in the customer's language ---------------------

@pytest.mark.parametrize("question, language, answer", [
    ("Hi, how long does delivery take to Germany?", "en", "Orders ship within 2 business days."),
    ("你好,我的订单什么时候到?", "zh", "订单在两个工作日内发货。"),
    ("Hej! Hur lång tid tar leveransen till Malmö?", "sv", "Beställningar skickas inom 2 arbetsdagar."),
    ("Hola, ¿cuánto tarda el envío a Madrid?", "es", "Los pedidos se envían en 2 días hábiles."),
])
def test_frequent_question_gets_threaded_answer_in_its_language(
        inboxd: Installation, capsys: pytest.CaptureFixture[str], question: str, language: str,
        answer: str) -> None:
    original = mail(CUSTOMER, "Delivery question", question, name="Ana Customer",
                    message_id="<q1@customer.example>", headers={"References": "<older@x>"})
    inboxd.send(original)
    assert inboxd.run("once") == 0

    [reply] = inboxd.replies_to(CUSTOMER)
    assert reply["Subject"] == "Re: Delivery question [#1]"
    assert reply["In-Reply-To"] == "<q1@customer.example>"
    assert reply["References"].split() == ["<older@x>", "<q1@customer.example>"]
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["Content-Language"] == language
    assert reply["From"].addresses[0].addr_spec == "support@example.test"
    assert reply["To"].addresses[0].addr_spec == CUSTOMER
    text = body_text(reply)
    assert answer in text
    assert "#1" in text
    assert not inboxd.folder("INBOX"), "the question left the inbox"
    [moved] = inboxd.folder("Support/Answered")
    assert moved["Message-ID"] == "<q1@customer.example>"
    [copy] = inboxd.folder("Sent")
    assert copy["Message-ID"] == reply["Message-ID"]
    [ticket] = tickets(inboxd, capsys)
    assert (ticket["state"], ticket["answered_by"], ticket["faq"], ticket["language"]) == \
        ("answered", "auto", "shipping-time", language)
    assert ticket["first_response_at"] is not None


def test_answer_ends_with_the_way_to_a_person(inboxd: Installation) -> None:
    inboxd.send(mail(CUSTOMER, "Password", "I forgot my password, how can I reset it?"))
    inboxd.run("once")
    [reply] = inboxd.replies_to(CUSTOMER)
    text = body_text(reply).strip()
    assert "reply to this message and a member of our team will answer within one business day" \
        in text
    assert text.index("reply to this message") > text.index("Forgot password")


# -- 2. anything else is acknowledged with a ticket number and a time, and queued -------------

def test_other_question_is_acknowledged_and_queued(
        inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    inboxd.send(mail(CUSTOMER, "Broken lamp", "The lamp I got arrived with a cracked shade and "
                     "the cable is frayed. What should I do?", message_id="<lamp@customer.example>"))
    assert inboxd.run("once") == 0

    [ack] = inboxd.replies_to(CUSTOMER)
    assert ack["Subject"] == "Re: Broken lamp [#1]"
    assert ack["In-Reply-To"] == "<lamp@customer.example>"
    assert ack["Auto-Submitted"] == "auto-replied"
    text = body_text(ack)
    assert "ticket #1" in text
    [ticket] = tickets(inboxd, capsys)
    due = min(datetime.fromisoformat(ticket["due_24h"]),
              datetime.fromisoformat(ticket["due_business_day"]))
    assert format_when(due.astimezone(ZoneInfo("Europe/Stockholm")), "en") in text
    assert "Europe/Stockholm" in text
    assert ticket["state"] == "open" and ticket["faq"] is None
    [queued] = inboxd.folder("Support/Queue")
    assert queued["Message-ID"] == "<lamp@customer.example>"
    assert not inboxd.folder("INBOX")


def test_unsure_match_routes_to_the_faq_team_folder(tmp_path: Path, fresh_dovecot: Dovecot,
                                                    fresh_smtp: SmtpServer) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp,
                         faq={"threshold": 0.99, "route_threshold": 0.2}).start()
    setup.send(mail(CUSTOMER, "Parcel", "The parcel, any idea when?"))
    setup.run("once")
    [ack] = setup.replies_to(CUSTOMER)
    assert "ticket #1" in body_text(ack)
    assert len(setup.folder("Support/Queue/orders")) == 1


# -- 3. a reply in a thread joins its ticket and goes to a person ------------------------------

def test_reply_to_auto_answer_goes_to_a_person(
        inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    inboxd.send(mail(CUSTOMER, "Shipping", "How long does delivery take?",
                     message_id="<a@customer.example>"))
    inboxd.run("once")
    [answer] = inboxd.replies_to(CUSTOMER)

    inboxd.send(mail(CUSTOMER, "Re: Shipping [#1]", "That did not help, my parcel is lost.",
                     in_reply_to=answer["Message-ID"]))
    inboxd.run("once")

    assert len(inboxd.replies_to(CUSTOMER)) == 1, "no second automatic mail"
    [ticket] = tickets(inboxd, capsys)
    assert ticket["state"] == "open"
    assert ticket["first_response_at"] is None, "an answer that did not help is no response"
    [queued] = inboxd.folder("Support/Queue/orders")
    assert "did not help" in body_text(queued)


def test_subject_tag_joins_only_for_the_ticket_customer(
        inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    inboxd.send(mail(CUSTOMER, "Broken lamp", "My lamp arrived broken."))
    inboxd.run("once")
    inboxd.send(mail(CUSTOMER, "More about [#1]", "Here is a photo of the lamp."))
    inboxd.send(mail(CUSTOMER2, "Re: Broken lamp [#1]", "I am someone else using that number."))
    inboxd.run("once")

    rows = tickets(inboxd, capsys)
    assert [t["customer"] for t in rows] == [CUSTOMER, CUSTOMER2]
    assert len(inboxd.replies_to(CUSTOMER)) == 1, "the follow-up got no new acknowledgement"
    assert len(inboxd.replies_to(CUSTOMER2)) == 1
    assert "#2" in inboxd.replies_to(CUSTOMER2)[0]["Subject"]


# -- 4. an agent's reply from the shared mailbox stops the clock --------------------------------

def agent_reply(to_msg: bytes, text: str) -> bytes:
    original = parse(to_msg)
    return mail("support@example.test", f"Re: {original['Subject']}", text,
                in_reply_to=original["Message-ID"], to=original["From"])


def test_agent_reply_saved_in_sent_is_linked_and_stops_the_clock(
        inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    question = mail(CUSTOMER, "Broken lamp", "My lamp arrived broken.")
    inboxd.send(question)
    inboxd.run("once")
    with inboxd.dovecot.imap(inboxd.dovecot.support) as client:  # the agent's mail client
        client.append("Sent", agent_reply(question, "Sorry! A new lamp is on its way."),
                      flags=[b"\\Seen"])
    inboxd.run("once")

    [ticket] = tickets(inboxd, capsys)
    assert ticket["state"] == "answered"
    assert ticket["first_response_at"] is not None
    assert datetime.fromisoformat(ticket["first_response_at"]) >= \
        datetime.fromisoformat(ticket["created_at"])
    db = sqlite3.connect(inboxd.folder_path("inboxd.sqlite3"))
    kinds = [r[0] for r in db.execute("select direction from messages order by id")]
    assert kinds == ["in", "agent"]


def test_a_reply_all_whose_copy_reaches_the_inbox_first_still_stops_the_clock(
        inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    question = mail(CUSTOMER, "Broken lamp", "My lamp arrived broken.")
    inboxd.send(question)
    inboxd.run("once")
    reply = parse(agent_reply(question, "Sorry! A new lamp is on its way."))
    reply["Cc"] = "support@example.test"  # reply-all: the support address gets a copy
    inboxd.send(bytes(reply))
    inboxd.run("once")  # the copy is read first, as inboxd's own address's mail
    with inboxd.dovecot.imap(inboxd.dovecot.support) as client:
        client.append("Sent", bytes(reply), flags=[b"\\Seen"])
    inboxd.run("once")
    [ticket] = tickets(inboxd, capsys)
    assert ticket["state"] == "answered"
    assert ticket["first_response_by"] == "agent"


def test_a_forward_to_a_colleague_is_no_answer_to_the_customer(
        inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    question = mail(CUSTOMER, "Broken lamp", "My lamp arrived broken.")
    inboxd.send(question)
    inboxd.run("once")
    forward = mail("support@example.test", "FW: Broken lamp [#1]",
                   "Please check the stock.\n\n-----Original Message-----\nMy lamp arrived broken.",
                   in_reply_to=parse(question)["Message-ID"], to="warehouse@example.test")
    with inboxd.dovecot.imap(inboxd.dovecot.support) as client:
        client.append("Sent", forward, flags=[b"\\Seen"])
    inboxd.run("once")
    [ticket] = tickets(inboxd, capsys)
    assert ticket["state"] == "open"
    assert ticket["first_response_at"] is None
    assert len(inboxd.folder("Support/Queue")) == 1
    blind = parse(forward)
    blind.replace_header("To", "warehouse@example.test")
    blind["Bcc"] = CUSTOMER  # the customer in Bcc is still an answer to them
    del blind["Message-ID"]
    blind["Message-ID"] = "<blind-copy@example.test>"
    with inboxd.dovecot.imap(inboxd.dovecot.support) as client:
        client.append("Sent", bytes(blind), flags=[b"\\Seen"])
    inboxd.run("once")
    assert tickets(inboxd, capsys)[0]["state"] == "answered"


def test_answered_flag_in_queue_stops_the_clock(
        inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    inboxd.send(mail(CUSTOMER, "Broken lamp", "My lamp arrived broken."))
    inboxd.run("once")
    assert tickets(inboxd, capsys)[0]["state"] == "open"
    with inboxd.dovecot.imap(inboxd.dovecot.support) as client:
        client.select_folder("Support/Queue")
        client.add_flags(client.search("ALL"), [b"\\Answered"])
    inboxd.run("once")
    [ticket] = tickets(inboxd, capsys)
    assert ticket["state"] == "answered"
    assert ticket["first_response_at"] is not None


# -- 5. automated mail is recorded, never answered -----------------------------------------------

AUTOMATED = [
    ("vacation", {"Auto-Submitted": "auto-replied"}, CUSTOMER),
    ("auto-generated", {"Auto-Submitted": "auto-generated"}, CUSTOMER),
    ("exchange", {"X-Auto-Response-Suppress": "All"}, CUSTOMER),
    ("list", {"List-Id": "<news.lists.example>"}, CUSTOMER),
    ("bulk", {"Precedence": "bulk"}, CUSTOMER),
    ("junk", {"Precedence": "junk"}, CUSTOMER),
    ("no-reply", {}, "no-reply@example.test"),
    ("mailer-daemon", {}, "MAILER-DAEMON@example.test"),
    ("own mail", {}, "support@example.test"),
    ("own header", {"X-Inboxd-Ticket": "7"}, CUSTOMER),
]


@pytest.mark.parametrize("kind, headers, sender", AUTOMATED, ids=[a[0] for a in AUTOMATED])
def test_automated_mail_is_recorded_not_answered(
        inboxd: Installation, kind: str, headers: dict[str, str], sender: str) -> None:
    inboxd.send(mail(sender, "How long does delivery take?", "How long does delivery take?",
                     headers=headers))
    assert inboxd.run("once") == 0
    assert inboxd.smtp.received == []
    assert len(inboxd.folder("Support/Automated")) == 1
    db = sqlite3.connect(inboxd.folder_path("inboxd.sqlite3"))
    [(decision, automated, raw)] = db.execute("select decision, automated, raw from messages")
    assert decision == "Record" and automated
    assert b"How long does delivery take?" in raw
    assert db.execute("select count(*) from tickets").fetchone()[0] == 0


def test_bounce_with_empty_return_path_is_not_answered(inboxd: Installation) -> None:
    bounce = (b"Return-Path: <>\r\nFrom: Mail Delivery System <postmaster@example.test>\r\n"
              b"To: support@example.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
              b"Message-ID: <b1@example.test>\r\nMIME-Version: 1.0\r\n"
              b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
              b"--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
              b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
              b"Reporting-MTA: dns; example.test\r\n\r\nFinal-Recipient: rfc822; x@y\r\n"
              b"Action: failed\r\nStatus: 5.1.1\r\n--B--\r\n")
    inboxd.send(bounce)
    inboxd.run("once")
    assert inboxd.smtp.received == []
    assert len(inboxd.folder("Support/Automated")) == 1


# -- 6. tickets carry what operators need ---------------------------------------------------------

def test_tickets_json_has_every_field_with_offsets(
        inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    inboxd.send(mail(CUSTOMER, "Delivery", "How long does delivery take?"))
    inboxd.send(mail(CUSTOMER2, "Lamp", "My lamp arrived broken."))
    inboxd.run("once")
    rows = tickets(inboxd, capsys)
    assert [r["id"] for r in rows] == [1, 2]
    for row in rows:
        for key in ("id", "customer", "subject", "language", "faq", "confidence", "state",
                    "created_at", "first_response_at", "due_24h", "due_business_day"):
            assert key in row
        created = datetime.fromisoformat(row["created_at"])
        assert created.utcoffset() is not None
        assert re.search(r"[+-]\d\d:\d\d$", row["due_24h"])
        assert (datetime.fromisoformat(row["due_24h"]) - created).total_seconds() == 24 * 3600
        assert datetime.fromisoformat(row["due_business_day"]) > created
    assert rows[0]["faq"] == "shipping-time" and 0.5 <= rows[0]["confidence"] <= 1
    assert rows[1]["faq"] is None and rows[1]["confidence"] is None


def test_tickets_table_is_readable(inboxd: Installation,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    inboxd.send(mail(CUSTOMER, "Lamp", "My lamp arrived broken."))
    inboxd.run("once")
    capsys.readouterr()
    assert inboxd.run("tickets") == 0
    out = capsys.readouterr().out
    assert "due business day" in out and CUSTOMER in out and "open" in out
