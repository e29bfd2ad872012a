"""Deadline warnings, breaches and escalations end to end, against the real Dovecot and SMTP
server, with the clock under the test's control (a runtime built with a fixed clock).

The customer's mail is appended with a fixed arrival time, Monday 2025-11-24 10:00 in
Stockholm (in the past: Dovecot stores no future arrival time), with business hours
09:00-17:00, so both deadlines fall on Tuesday 10:00. Nothing is answered from the FAQ
(threshold 0.99) unless a test says otherwise.
"""

from __future__ import annotations

import json
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from harness import Installation, body_text, mail, parse
from servers import Dovecot, SmtpServer

from inboxd.commands.mailbox import run_once
from inboxd.config import load_config
from inboxd.runtime import build_runtime

STHLM = ZoneInfo("Europe/Stockholm")
CUSTOMER = "customer@example.test"
LEADS = "leads@example.com"
ESCALATIONS = "escalations@example.com"
LAMP = ("The lamp I ordered arrived with a cracked shade.\nThe cable is frayed too.\n"
        "What should I do?")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=STHLM)


def install(tmp_path: Path, dovecot: Dovecot, smtp: SmtpServer, threshold: float = 0.99,
            **notify: object) -> Installation:
    (tmp_path / "models").mkdir(exist_ok=True)
    settings = {"default_address": LEADS, "escalation_address": ESCALATIONS,
                "warn_before": "2h", **notify}
    faq = {"threshold": threshold, "route_threshold": threshold}
    return Installation(tmp_path, dovecot, smtp, notify=settings,  # type: ignore[arg-type]
                        faq=faq).start()


@pytest.fixture
def setup(tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> Installation:
    return install(tmp_path, fresh_dovecot, fresh_smtp)


def run_at(setup: Installation, when: str) -> None:
    """One `inboxd once` as if it were ``when`` (Stockholm time)."""
    rt = build_runtime(load_config(setup.config_path), clock=lambda: at(when))
    try:
        run_once(rt)
    finally:
        rt.close()


def arrive(setup: Installation, raw: bytes, when: str = "2025-11-24 10:00") -> None:
    with setup.dovecot.imap(setup.dovecot.support) as client:
        client.append("INBOX", raw, msg_time=at(when))


def sent_to(setup: Installation, address: str) -> list[EmailMessage]:
    return [parse(e.raw) for e in setup.smtp.received if address in e.rcpt_tos]


def history(setup: Installation, capsys: pytest.CaptureFixture[str], ticket_id: int) -> dict:
    capsys.readouterr()
    assert setup.run("ticket", str(ticket_id), "--json") == 0
    return json.loads(capsys.readouterr().out)


def flags_in(setup: Installation, folder: str) -> list[tuple[bytes, ...]]:
    return setup.dovecot.flags(setup.dovecot.support, folder)


def test_warning_then_breach_then_escalation_each_once(
        setup: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    arrive(setup, mail(CUSTOMER, "Broken lamp", LAMP, message_id="<lamp@customer.example>"))
    run_at(setup, "2025-11-24 10:01")
    assert len(sent_to(setup, CUSTOMER)) == 1, "acknowledged"

    run_at(setup, "2025-11-25 08:30")  # in the warning window, but the business is closed
    assert sent_to(setup, LEADS) == []

    run_at(setup, "2025-11-25 09:00")  # opening: the warning goes out
    run_at(setup, "2025-11-25 09:30")
    [warning] = sent_to(setup, LEADS)
    assert warning["Subject"] == "[#1] Due soon: Broken lamp"
    assert warning["Auto-Submitted"] == "auto-generated"
    assert warning["X-Inboxd-Ticket"] == "1"
    text = body_text(warning)
    assert "Tuesday, November 25, 2025, 10:00\u202fAM" in text and "Europe/Stockholm" in text
    assert CUSTOMER in text and "cracked shade" in text and "cable is frayed" in text
    assert sent_to(setup, ESCALATIONS) == [] and flags_in(setup, "Support/Queue") == [()]

    run_at(setup, "2025-11-25 10:00")  # both deadlines pass
    run_at(setup, "2025-11-25 10:30")
    [escalation] = sent_to(setup, ESCALATIONS)
    assert escalation["Subject"] == "[#1] Overdue: Broken lamp"
    assert escalation["Auto-Submitted"] == "auto-generated"
    text = body_text(escalation)
    assert "one business day, due Tuesday, November 25, 2025, 10:00\u202fAM" in text
    assert "24 hours, due Tuesday, November 25, 2025, 10:00\u202fAM" in text
    assert "Support/Overdue" in text
    [queued_flags] = flags_in(setup, "Support/Queue")
    assert b"\\Flagged" in queued_flags
    [overdue] = setup.folder("Support/Overdue")
    assert overdue["Message-ID"] == "<lamp@customer.example>"
    assert b"\\Flagged" in flags_in(setup, "Support/Overdue")[0]
    assert len(sent_to(setup, CUSTOMER)) == 1, "no courtesy mail unless enabled"
    assert len(sent_to(setup, LEADS)) == 1

    record = history(setup, capsys, 1)
    assert sorted((n["kind"], n["deadline"]) for n in record["notices"]) == [
        ("breach", "24h"), ("breach", "business_day"), ("warning", "business_day")]
    assert [(o["kind"], o["state"]) for o in record["outbox"]] == [
        ("acknowledgement", "sent"), ("warning", "sent"), ("escalation", "sent")]
    assert record["ticket"]["state"] == "open"


def test_warning_quotes_the_question_and_then_the_latest_follow_up(
        setup: Installation) -> None:
    arrive(setup, mail(CUSTOMER, "Broken lamp", LAMP, message_id="<lamp3@customer.example>"))
    run_at(setup, "2025-11-24 10:01")
    arrive(setup, mail(CUSTOMER, "Re: Broken lamp [#1]", "Any news? I need the lamp by Friday.",
                       in_reply_to="<lamp3@customer.example>"), when="2025-11-24 15:00")
    run_at(setup, "2025-11-24 15:01")
    run_at(setup, "2025-11-25 09:00")

    [warning] = sent_to(setup, LEADS)
    text = body_text(warning)
    question = text.index("The question:")
    latest = text.index("Their latest message:")
    assert question < text.index("cracked shade") < latest < text.index("Any news?")


def test_courtesy_mail_in_the_customers_language_and_zone(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> None:
    setup = install(tmp_path, fresh_dovecot, fresh_smtp, courtesy_on_breach=True)
    question = parse(mail(CUSTOMER, "Lámpara rota", "Hola, la lámpara que compré llegó con la "
                          "pantalla rota y el cable dañado. ¿Qué debo hacer ahora?",
                          name="Ana", message_id="<lampara@customer.example>"))
    question.replace_header("Date", "Mon, 24 Nov 2025 04:00:00 -0500")
    arrive(setup, bytes(question))
    run_at(setup, "2025-11-24 10:01")
    run_at(setup, "2025-11-25 10:00")
    run_at(setup, "2025-11-25 10:30")

    acknowledgement, courtesy = sent_to(setup, CUSTOMER)
    assert courtesy["In-Reply-To"] == "<lampara@customer.example>"
    assert courtesy["Subject"] == "Re: Lámpara rota [#1]"
    assert courtesy["Content-Language"] == "es"
    text = body_text(courtesy)
    assert "No nos hemos olvidado de usted" in text and "#1" in text
    # one more business day from Tue 10:00 Stockholm = Wed 10:00 = 04:00 at the customer's -05:00
    assert "miércoles, 26 de noviembre de 2025, 4:00 UTC-05:00" in text
    assert len(sent_to(setup, ESCALATIONS)) == 1


def test_agent_reply_before_the_deadline_prevents_notices_until_the_customer_writes_again(
        setup: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    question = mail(CUSTOMER, "Broken lamp", LAMP, message_id="<lamp2@customer.example>")
    arrive(setup, question)
    run_at(setup, "2025-11-24 10:01")
    reply = parse(mail("support@example.test", "Re: Broken lamp [#1]", "A new lamp is on its way.",
                       in_reply_to="<lamp2@customer.example>", to=CUSTOMER))
    reply.replace_header("Date", "Mon, 24 Nov 2025 12:00:00 +0100")
    with setup.dovecot.imap(setup.dovecot.support) as client:  # the agent's mail client
        client.append("Sent", bytes(reply), flags=[b"\\Seen"])
    run_at(setup, "2025-11-24 12:05")
    ticket = history(setup, capsys, 1)["ticket"]
    assert ticket["state"] == "answered"
    assert (ticket["first_response_wall_min"], ticket["first_response_business_min"]) == \
        (120.0, 120.0)

    for when in ("2025-11-25 09:00", "2025-11-25 10:00", "2025-11-26 10:00"):
        run_at(setup, when)
    assert sent_to(setup, LEADS) == [] and sent_to(setup, ESCALATIONS) == []
    assert setup.folder("Support/Overdue") == []

    arrive(setup, mail(CUSTOMER, "Re: Broken lamp [#1]", "The new lamp is broken too.",
                       in_reply_to=reply["Message-ID"]), when="2025-11-26 11:00")
    run_at(setup, "2025-11-26 11:01")
    run_at(setup, "2025-11-27 09:00")  # the new clock's deadlines: Thursday 11:00
    [warning] = sent_to(setup, LEADS)
    assert "Thursday, November 27, 2025, 11:00\u202fAM" in body_text(warning)


def test_auto_answer_records_response_minutes(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = install(tmp_path, fresh_dovecot, fresh_smtp, threshold=0.5)
    arrive(setup, mail(CUSTOMER, "Delivery", "How long does delivery take?"))
    run_at(setup, "2025-11-24 10:03")
    ticket = history(setup, capsys, 1)["ticket"]
    assert (ticket["state"], ticket["answered_by"]) == ("answered", "auto")
    assert (ticket["first_response_wall_min"], ticket["first_response_business_min"]) == (3.0, 3.0)
    for when in ("2025-11-25 09:00", "2025-11-25 10:00"):
        run_at(setup, when)
    assert sent_to(setup, LEADS) == [] and sent_to(setup, ESCALATIONS) == []


def test_dry_run_with_now_previews_notices_and_sends_nothing(
        setup: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    arrive(setup, mail(CUSTOMER, "Broken lamp", LAMP))
    run_at(setup, "2025-11-24 10:01")
    capsys.readouterr()
    assert setup.run("once", "--dry-run", "--now", "2025-11-25T09:00:00+01:00") == 0
    out = capsys.readouterr().out
    assert "#1 warning: one business day, due Tuesday, November 25, 2025, 10:00\u202fAM" in out
    assert sent_to(setup, LEADS) == []
    assert setup.run("once", "--dry-run", "--now", "2025-12-03T10:00:00+01:00") == 0
    assert "#1 breach: one business day, due Tuesday, November 25, 2025, 10:00\u202fAM CET (Europe/Stockholm); " \
           "older than notify.max_age: in the digest" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:  # argparse's usage error
        setup.run("once", "--dry-run", "--now", "2025-11-25T09:00:00")
    assert refused.value.code == 2
    assert "has no UTC offset" in capsys.readouterr().err
    assert sent_to(setup, LEADS) == []
    assert setup.run("once", "--now", "2025-11-25T09:00:00+01:00") == 0  # acts as at that time
    [warning] = sent_to(setup, LEADS)
    assert warning["Subject"].startswith("[#1] Due soon")


def test_refused_warning_is_recorded_and_not_retried(
        setup: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    setup.smtp.refuse(LEADS)
    arrive(setup, mail(CUSTOMER, "Broken lamp", LAMP))
    run_at(setup, "2025-11-24 10:01")
    run_at(setup, "2025-11-25 09:00")
    run_at(setup, "2025-11-25 09:30")
    record = history(setup, capsys, 1)
    assert [(o["kind"], o["state"]) for o in record["outbox"]] == [
        ("acknowledgement", "sent"), ("warning", "failed")]
    assert record["ticket"]["state"] == "open"
    assert "send-failed" in [e["kind"] for e in record["events"]]
    assert sent_to(setup, LEADS) == []


def test_old_breaches_are_listed_in_one_digest_once(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Notices enabled on a mailbox of old mail: the backlog becomes 30 tickets whose deadlines
    passed two weeks ago, plus one that passed yesterday."""
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp, policy={"backlog": "ticket"},
                         faq={"threshold": 0.99, "route_threshold": 0.99},
                         notify={"default_address": LEADS, "escalation_address": ESCALATIONS,
                                 "courtesy_on_breach": True})  # type: ignore[arg-type]
    setup.train()
    old = [f"old{i}@customers.example" for i in range(30)]
    for i, sender in enumerate(old):
        arrive(setup, mail(sender, f"Broken lamp {i}", LAMP), when="2025-11-10 10:00")
    arrive(setup, mail(CUSTOMER, "Cracked vase", "The vase arrived cracked."),
           when="2025-11-24 10:00")  # due Tuesday 10:00, a day before the sweep
    run_at(setup, "2025-11-26 10:00")

    digest, escalation = sorted(sent_to(setup, ESCALATIONS), key=lambda m: "[#" in m["Subject"])
    assert digest["Subject"] == "Overdue for more than 7 days: 30 tickets"
    assert digest["Auto-Submitted"] == "auto-generated" and "X-Inboxd-Ticket" not in digest
    text = body_text(digest)
    lines = text.splitlines()
    assert all(f"#{n}  {old[n - 1]}  Broken lamp {n - 1}" in lines for n in range(1, 31))
    assert text.count("Passed: one business day, due Tuesday, November 11, 2025, 10:00\u202fAM") == 30
    assert "Cracked vase" not in text and "Support/Overdue" in text
    assert escalation["Subject"] == "[#31] Overdue: Cracked vase"
    assert [parse(e.raw)["Subject"] for e in setup.smtp.received
            if e.rcpt_tos != (ESCALATIONS,)] == ["Re: Cracked vase [#31]"], \
        "a courtesy mail for the recent breach only"
    assert len(setup.folder("Support/Overdue")) == 31
    assert all(b"\\Flagged" in flags for flags in flags_in(setup, "Support/Queue"))

    record = history(setup, capsys, 1)
    assert sorted((n["kind"], n["deadline"]) for n in record["notices"]) == [
        ("breach", "24h"), ("breach", "business_day"), ("courtesy", "business_day")]
    assert "listed in the digest of 30 old breaches" in " ".join(
        e["detail"] for e in record["events"])

    received = len(setup.smtp.received)
    run_at(setup, "2025-11-26 10:05")  # a restart, and a later sweep: nothing again
    run_at(setup, "2025-12-20 10:00")
    assert len(setup.smtp.received) == received


def test_relay_mode_warning_tells_agents_to_answer_the_forward(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> None:
    (tmp_path / "models").mkdir(exist_ok=True)
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp,
                         notify={"default_address": LEADS, "warn_before": "2h"},
                         relay={"default_addresses": ["agent@example.test"]},
                         faq={"threshold": 0.99, "route_threshold": 0.99}).start()
    arrive(setup, mail(CUSTOMER, "Broken lamp", LAMP, message_id="<lamp@customer.example>"))
    run_at(setup, "2025-11-24 10:01")
    run_at(setup, "2025-11-25 09:00")
    [warning] = sent_to(setup, LEADS)
    text = " ".join(body_text(warning).split())
    assert "support mailbox" not in text
    assert "Reply to the forwarded ticket mail ([#1] in its subject) from your own mailbox" in text
