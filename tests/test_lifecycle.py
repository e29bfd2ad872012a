"""A ticket's whole life end to end, against the real Dovecot and SMTP server: resolved by the
Done folder, a #done line, a thank-you or time; reopened; closed; the queue emptied as answers
are recorded; status replies; raw bytes removed; the satisfaction survey and its ratings.

Later points in time are reached with ``inboxd once --now`` (the mail itself arrives now)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest
from harness import Installation, body_text, mail, parse
from servers import Dovecot, SmtpServer

CUSTOMER = "customer@example.test"
CUSTOMER2 = "customer2@example.test"
LAMP = "My lamp arrived broken. What should I do?"
NO_AUTO = {"threshold": 0.99, "route_threshold": 0.99}


def install(tmp_path: Path, dovecot: Dovecot, smtp: SmtpServer, **tables: dict) -> Installation:
    return Installation(tmp_path, dovecot, smtp, **tables).start()  # type: ignore[arg-type]


def later(hours: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(hours=hours)).isoformat(timespec="seconds")


def once_at(setup: Installation, hours: float) -> None:
    assert setup.run("once", "--now", later(hours)) == 0


def ticket(setup: Installation, capsys: pytest.CaptureFixture[str], ticket_id: int = 1) -> dict:
    capsys.readouterr()
    assert setup.run("ticket", str(ticket_id), "--json") == 0
    return json.loads(capsys.readouterr().out)


def listed(setup: Installation, capsys: pytest.CaptureFixture[str], state: str) -> list[int]:
    capsys.readouterr()
    assert setup.run("tickets", "--json", "--state", state) == 0
    return [t["id"] for t in json.loads(capsys.readouterr().out)]


def events(history: dict) -> list[str]:
    return [e["kind"] for e in history["events"]]


def move(setup: Installation, source: str, target: str) -> None:
    """An agent drags every message of ``source`` to ``target`` in their mail client."""
    with setup.dovecot.imap(setup.dovecot.support) as client:
        client.select_folder(source)
        client.move(client.search("ALL"), target)


def to(setup: Installation, address: str) -> list[EmailMessage]:
    return [parse(e.raw) for e in setup.smtp.received if address in e.rcpt_tos]


def reply_to(msg: EmailMessage, text: str, sender: str = CUSTOMER,
             subject: str | None = None) -> bytes:
    """A reply to ``msg`` from ``sender``: to the support address, or from it to ``msg``'s sender."""
    to = msg["From"] if sender == "support@example.test" else "support@example.test"
    return mail(sender, subject or f"Re: {msg['Subject']}", text, in_reply_to=msg["Message-ID"],
                to=to)


def db(setup: Installation) -> sqlite3.Connection:
    return sqlite3.connect(setup.folder_path("inboxd.sqlite3"))


def test_done_folder_resolves_moving_back_and_writing_again_reopen(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = install(tmp_path, fresh_dovecot, fresh_smtp, faq=NO_AUTO)
    setup.send(mail(CUSTOMER, "Broken lamp", LAMP))
    assert setup.run("once") == 0
    assert listed(setup, capsys, "open") == [1]

    move(setup, "Support/Queue", "Support/Done")
    assert setup.run("once") == 0
    history = ticket(setup, capsys)
    assert history["ticket"]["state"] == "resolved"
    assert history["ticket"]["resolved_at"] is not None
    assert history["events"][-1]["detail"] == "an agent moved it to Support/Done"
    assert listed(setup, capsys, "resolved") == [1] and listed(setup, capsys, "open") == []
    capsys.readouterr()
    assert setup.run("ticket", "1") == 0
    assert "(done-folder)" in capsys.readouterr().out

    move(setup, "Support/Done", "Support/Queue")
    assert setup.run("once") == 0
    history = ticket(setup, capsys)
    assert history["ticket"]["state"] == "open" and history["ticket"]["resolved_at"] is None
    assert events(history)[-1] == "reopened"

    move(setup, "Support/Queue", "Support/Done")
    assert setup.run("once") == 0
    assert listed(setup, capsys, "resolved") == [1]
    [ack] = to(setup, CUSTOMER)
    setup.send(reply_to(ack, "It still does not work. What now?"))
    assert setup.run("once") == 0
    history = ticket(setup, capsys)
    assert history["ticket"]["state"] == "open"
    assert events(history)[-2:] == ["reopened", "received"]
    assert [m["Subject"] for m in setup.folder("Support/Queue")] == [f"Re: {ack['Subject']}"]
    assert events(history).count("resolved") == 2


def test_recorded_answers_leave_the_queue_and_done_resolves(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = install(tmp_path, fresh_dovecot, fresh_smtp, faq=NO_AUTO)
    first = mail(CUSTOMER, "Broken lamp", LAMP)
    second = mail(CUSTOMER2, "Wrong colour", "The chair is red, I ordered a blue one.")
    setup.send(first)
    setup.send(second)
    assert setup.run("once") == 0
    assert len(setup.folder("Support/Queue")) == 2
    with setup.dovecot.imap(setup.dovecot.support) as client:  # the agents' mail client
        client.append("Sent", reply_to(parse(first), "Sorry! A new lamp is on its way.",
                                       "support@example.test"), flags=[b"\\Seen"])
        client.append("Sent", reply_to(parse(second), "#done\nA blue chair is on its way.",
                                       "support@example.test"), flags=[b"\\Seen"])
    assert setup.run("once") == 0
    assert setup.folder("Support/Queue") == []
    answered = setup.folder("Support/Answered")
    assert sorted(m["Message-ID"] for m in answered) == \
        sorted([parse(first)["Message-ID"], parse(second)["Message-ID"]])
    assert all(b"\\Answered" in f for f in setup.dovecot.flags(setup.dovecot.support,
                                                             "Support/Answered"))
    assert ticket(setup, capsys, 1)["ticket"]["state"] == "answered"
    done = ticket(setup, capsys, 2)
    assert (done["ticket"]["state"], done["ticket"]["resolved_by"]) == ("resolved", "#done")


def test_an_automatic_answer_resolves_after_resolve_after_then_closes(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = install(tmp_path, fresh_dovecot, fresh_smtp, policy={
        "support_name": "Example Support", "keep_raw_days": 0})
    setup.send(mail(CUSTOMER, "Delivery", "How long does delivery take?"))
    setup.send(mail(CUSTOMER, "Lamp", LAMP))
    assert setup.run("once") == 0
    assert listed(setup, capsys, "answered") == [1] and listed(setup, capsys, "open") == [2]
    once_at(setup, 71)
    assert listed(setup, capsys, "answered") == [1]
    once_at(setup, 73)
    history = ticket(setup, capsys)
    assert (history["ticket"]["state"], history["ticket"]["resolved_by"]) == \
        ("resolved", "timeout")
    assert "no word from the customer for 3 days after our answer" in \
        [e["detail"] for e in history["events"]]

    setup.send(mail(CUSTOMER, "status", "status"))
    once_at(setup, 74)
    status = to(setup, CUSTOMER)[-1]
    assert "#2 Lamp" in body_text(status) and "#1 " not in body_text(status)

    move(setup, "Support/Queue", "Support/Done")
    once_at(setup, 75)
    setup.send(mail(CUSTOMER, "status", "status"))
    once_at(setup, 76)
    assert "there are no open tickets for your address. Your last request was resolved on" \
        in body_text(to(setup, CUSTOMER)[-1])

    once_at(setup, 73 + 14 * 24)
    assert listed(setup, capsys, "closed") == [1]
    once_at(setup, 73 + 14 * 24 + 1)  # keep_raw_days = 0: the next sweep removes the bytes
    history = ticket(setup, capsys)
    assert "raw-removed" in events(history)
    rows = db(setup).execute("select raw, text from messages where ticket_id = 1").fetchall()
    assert [raw for raw, _ in rows] == [None]
    assert "How long does delivery take?" in rows[0][1]
    assert db(setup).execute("select count(*) from outbox where ticket_id = 1 and raw is not "
                             "null").fetchone()[0] == 0

    [answer] = [m for m in to(setup, CUSTOMER) if m["Subject"].startswith("Re: Delivery")]
    setup.send(reply_to(answer, "And how long does delivery to Norway take?"))
    once_at(setup, 73 + 14 * 24 + 2)
    [new] = [t for t in json.loads(_tickets(setup, capsys)) if t["follows_ticket"] == 1]
    assert new["id"] == 3
    assert "followed" in events(ticket(setup, capsys, 1))


def _tickets(setup: Installation, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert setup.run("tickets", "--json") == 0
    return capsys.readouterr().out


def test_a_thank_you_resolves_and_confirms_the_faq(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = install(tmp_path, fresh_dovecot, fresh_smtp)
    setup.send(mail(CUSTOMER, "Delivery", "How long does delivery take to Oslo?"))
    assert setup.run("once") == 0
    [answer] = to(setup, CUSTOMER)
    setup.send(reply_to(answer, "Great, thanks a lot! That answers my question.\n\n"
                                "> Orders ship within 2 business days."))
    assert setup.run("once") == 0
    assert len(to(setup, CUSTOMER)) == 1, "a thank-you gets no reply"
    history = ticket(setup, capsys)
    assert (history["ticket"]["state"], history["ticket"]["resolved_by"]) == \
        ("resolved", "thanks")
    assert "warning" not in events(history)
    assert setup.folder("Support/Queue") == []
    assert db(setup).execute("select faq_id, text, source from learned_examples").fetchall() == \
        [("shipping-time", "Delivery\n\nHow long does delivery take to Oslo?", "thanks")]


def test_after_a_survey_a_new_problem_in_the_thread_is_no_rating(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = install(tmp_path, fresh_dovecot, fresh_smtp, faq=NO_AUTO,
                    survey={"enabled": True, "after": "24h"})
    setup.send(mail(CUSTOMER2, "Broken lamp", LAMP))
    assert setup.run("once") == 0
    [acknowledgement] = to(setup, CUSTOMER2)
    move(setup, "Support/Queue", "Support/Done")
    assert setup.run("once") == 0
    once_at(setup, 25)
    assert [m for m in to(setup, CUSTOMER2) if m["Auto-Submitted"] == "auto-generated"]
    setup.send(reply_to(acknowledgement, "Ok so the replacement lamp arrived today and it is "
                                         "broken too. Please send a refund.", CUSTOMER2))
    once_at(setup, 26)
    history = ticket(setup, capsys)["ticket"]
    assert (history["rating"], history["state"]) == (None, "open")
    [waiting] = setup.folder("Support/Queue")
    assert "broken too" in body_text(waiting)


def test_survey_goes_out_once_and_ratings_are_recorded(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = install(tmp_path, fresh_dovecot, fresh_smtp, faq=NO_AUTO,
                    survey={"enabled": True, "after": "24h"})
    setup.send(mail(CUSTOMER, "Trasig lampa", "Min lampa kom trasig. Vad ska jag göra nu?"))
    setup.send(mail(CUSTOMER2, "Broken lamp", LAMP))
    assert setup.run("once") == 0
    move(setup, "Support/Queue", "Support/Done")
    assert setup.run("once") == 0
    assert listed(setup, capsys, "resolved") == [1, 2]
    once_at(setup, 23)
    assert [m for m in to(setup, CUSTOMER) if "[#1]" in m["Subject"] and
            m["Auto-Submitted"] == "auto-generated"] == []
    once_at(setup, 25)
    once_at(setup, 26)
    [survey] = [m for m in to(setup, CUSTOMER) if m["Auto-Submitted"] == "auto-generated"]
    assert survey["Subject"] == "[#1] Hur gjorde vi?"
    assert survey["Content-Language"] == "sv"
    text = body_text(survey)
    assert "Svara med 1 (bra), 2 (okej) eller 3 (dåligt)" in text
    assert "mailto:support@example.test?subject=%5B%231%5D%20Betyg%3A%201" in text
    [survey2] = [m for m in to(setup, CUSTOMER2) if m["Auto-Submitted"] == "auto-generated"]
    assert "Reply with 1 (good), 2 (okay) or 3 (bad)" in body_text(survey2)

    replies_before = len(setup.smtp.received)
    setup.send(reply_to(survey, "1"))
    setup.send(reply_to(survey2, "3 the parcel was wet", CUSTOMER2))
    once_at(setup, 27)
    assert len(setup.smtp.received) == replies_before, "a rating gets no answer"
    assert json.loads(_tickets(setup, capsys)).__len__() == 2, "a rating opens no ticket"
    good = ticket(setup, capsys, 1)["ticket"]
    assert (good["state"], good["rating"], good["rating_comment"]) == ("resolved", 1, None)
    bad = ticket(setup, capsys, 2)
    assert (bad["ticket"]["rating"], bad["ticket"]["rating_comment"]) == \
        (3, "the parcel was wet")
    assert "rating-follow-up" in events(bad)
    [for_person] = setup.folder("Support/Queue")
    assert body_text(for_person).startswith("3 the parcel was wet")
    assert [m["Subject"] for m in setup.folder("Support/Answered")] == [f"Re: {survey['Subject']}"]
