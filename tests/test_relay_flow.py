"""Relay mode and status requests against the real Dovecot and SMTP relay.

``agent@example.test`` is both the team address tickets are forwarded to and the agent who
answers; the agent's replies are delivered into the support inbox over LMTP with the
Authentication-Results header the receiving server (``mx.example.test``) would add.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from harness import Installation, body_text, mail, parse
from servers import Dovecot, SmtpServer

CUSTOMER = "customer@example.test"
CUSTOMER2 = "customer2@example.test"
AGENT = "agent@example.test"
MX = "mx.example.test"
PASSED = f"{MX}; dkim=pass header.d=example.test header.s=sel; spf=pass smtp.mailfrom={AGENT}"
RELAY = {"default_addresses": [AGENT], "agent_addresses": [AGENT], "authserv_id": MX}
HUMAN = {"threshold": 0.99, "route_threshold": 0.99}  # every question goes to a person


@pytest.fixture
def relay(tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> Installation:
    return Installation(tmp_path, fresh_dovecot, fresh_smtp, relay=RELAY, faq=HUMAN).start()


@pytest.fixture
def inboxd(tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> Installation:
    return Installation(tmp_path, fresh_dovecot, fresh_smtp, faq=HUMAN).start()


def tickets(setup: Installation, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert setup.run("tickets", "--json") == 0
    return json.loads(capsys.readouterr().out)


def events(setup: Installation, kind: str) -> list[str]:
    db = sqlite3.connect(setup.folder_path("inboxd.sqlite3"))
    return [r[0] for r in db.execute("select detail from events where kind = ?", [kind])]


def agent_reply(forward: EmailMessage, text: str, auth: list[str] | None = None, *,
                threaded: bool = True) -> bytes:
    """The agent's answer to a forward, as the receiving server hands it to the mailbox."""
    return bytes(agent_message(forward, text, auth, threaded=threaded))


def agent_message(forward: EmailMessage, text: str, auth: list[str] | None = None, *,
                  threaded: bool = True) -> EmailMessage:
    msg = EmailMessage()
    for value in auth if auth is not None else [PASSED]:
        msg["Authentication-Results"] = value
    msg["From"] = f"Kim Agent <{AGENT}>"
    msg["To"] = forward["Reply-To"]
    msg["Subject"] = f"Re: {forward['Subject']}"
    msg["Message-ID"] = make_msgid(domain="example.test")
    if threaded:
        msg["In-Reply-To"] = forward["Message-ID"]
        msg["References"] = forward["Message-ID"]
    quoted = "\n".join(f"> {line}" for line in body_text(forward).splitlines())
    msg.set_content(f"{text}\n\nOn Monday, Example Support wrote:\n{quoted}\n")
    return msg


def open_ticket(setup: Installation) -> EmailMessage:
    """A customer's question that goes to a person; returns the forward the agent got."""
    setup.send(mail(CUSTOMER, "Broken lamp", "My lamp arrived with a cracked shade.",
                    name="Ana Customer", message_id="<lamp@customer.example>"))
    assert setup.run("once") == 0
    [forward] = setup.replies_to(AGENT)
    return forward


# -- forwarding --------------------------------------------------------------------------------

def test_routed_ticket_is_forwarded_to_the_team(
        relay: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    forward = open_ticket(relay)
    assert forward["Subject"] == "[#1] Broken lamp"
    assert forward["Reply-To"] == "support@example.test"
    assert forward["From"].addresses[0].addr_spec == "support@example.test"
    assert forward["Auto-Submitted"] == "auto-generated"
    assert forward["X-Inboxd-Ticket"] == "1"
    assert "My lamp arrived with a cracked shade." in body_text(forward)
    assert "Ana Customer <customer@example.test>" in body_text(forward)
    [ack] = relay.replies_to(CUSTOMER)
    assert "ticket #1" in body_text(ack)
    [ticket] = tickets(relay, capsys)
    assert ticket["state"] == "open" and ticket["first_response_at"] is None


# -- an agent's answer is relayed -------------------------------------------------------------

def test_agent_answer_reaches_the_customer_in_their_thread(
        relay: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    forward = open_ticket(relay)
    relay.send(agent_reply(forward, "Sorry! A new lamp is on its way."))
    assert relay.run("once") == 0

    ack, answer = relay.replies_to(CUSTOMER)
    assert answer["From"].addresses[0].addr_spec == "support@example.test"
    assert answer["In-Reply-To"] == "<lamp@customer.example>"
    assert "<lamp@customer.example>" in answer["References"].split()
    assert answer["Subject"] == "Re: Broken lamp [#1]"
    assert answer["Auto-Submitted"] is None
    text = body_text(answer)
    assert "Sorry! A new lamp is on its way." in text
    assert "cracked shade" not in text and "wrote:" not in text
    [ticket] = tickets(relay, capsys)
    assert ticket["state"] == "answered"
    assert ticket["first_response_at"] is not None
    filed = relay.folder("Support/Answered")  # the agent's reply, and the answered question
    assert sorted(f["From"].addresses[0].addr_spec for f in filed) == [AGENT, CUSTOMER]
    assert not relay.folder("INBOX") and not relay.folder("Support/Queue")

    relay.send(mail(CUSTOMER, "Re: Broken lamp [#1]", "Thank you, when does it ship?",
                    in_reply_to=answer["Message-ID"]))
    relay.run("once")
    assert len(relay.replies_to(CUSTOMER)) == 2, "no automatic mail to a follow-up"
    assert [f["Subject"] for f in relay.replies_to(AGENT)][-1] == "[#1] Re: Broken lamp"
    assert tickets(relay, capsys)[0]["state"] == "open"


def test_files_the_agent_attaches_reach_the_customer(relay: Installation) -> None:
    forward = open_ticket(relay)
    reply = agent_message(forward, "Here is your return label.")
    logo = b"\x89PNG\r\n\x1a\n logo"
    reply.add_related(logo, "image", "png", cid="<logo@example.test>", disposition="inline")
    label = b"%PDF-1.4 return label \x00\xff"
    reply.add_attachment(label, "application", "pdf", filename="return-label.pdf")
    manual = b"%PDF-1.4 manual"  # Apple Mail attaches files inline, with a name
    reply.add_attachment(manual, "application", "pdf", filename="manual.pdf",
                         disposition="inline")
    reply.add_attachment(parse(bytes(mail(CUSTOMER, "Broken lamp", "cracked shade"))))
    reply.add_attachment(b"\x78\x9f\x3e\x22 quoted ticket text", "application", "ms-tnef",
                         filename="winmail.dat")
    relay.send(bytes(reply))
    assert relay.run("once") == 0

    ack, answer = relay.replies_to(CUSTOMER)
    assert "Here is your return label." in body_text(answer)
    sent = {part.get_filename(): part for part in answer.iter_attachments()}
    assert sorted(sent) == ["manual.pdf", "return-label.pdf"], \
        "the customer's own mail and Outlook's winmail.dat stay behind"
    assert sent["return-label.pdf"].get_content_type() == "application/pdf"
    assert sent["return-label.pdf"].get_content() == label, "the file arrives byte for byte"
    assert sent["manual.pdf"].get_content() == manual
    assert not [p for p in answer.walk() if p.get_content_type() == "image/png"], \
        "the signature's inline logo stays behind"


def test_note_stays_internal_and_the_clock_keeps_running(
        relay: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    forward = open_ticket(relay)
    relay.send(agent_reply(forward, "#note asked the warehouse, waiting", threaded=False))
    assert relay.run("once") == 0

    assert len(relay.replies_to(CUSTOMER)) == 1, "only the acknowledgement"
    [ticket] = tickets(relay, capsys)
    assert ticket["state"] == "open" and ticket["first_response_at"] is None
    [note] = events(relay, "agent-note")
    assert "asked the warehouse" in note


# -- forged agents are not relayed -------------------------------------------------------------

FORGED = {
    "no header": [],
    "another server": ["mx.evil.test; dkim=pass header.d=example.test"],
    "failed here": [f"{MX}; dkim=fail header.d=example.test; spf=fail smtp.mailfrom={AGENT}"],
    "pass below a fail": [f"{MX}; dkim=none; spf=softfail smtp.mailfrom={AGENT}", PASSED],
    "other domain": [f"{MX}; dkim=pass header.d=evil.test"],
}


@pytest.mark.parametrize("auth", FORGED.values(), ids=FORGED.keys())
def test_unauthenticated_agent_is_not_relayed(
        relay: Installation, capsys: pytest.CaptureFixture[str], auth: list[str]) -> None:
    forward = open_ticket(relay)
    relay.send(agent_reply(forward, "Please pay the fee to evil.test first.", auth))
    assert relay.run("once") == 0

    assert len(relay.replies_to(CUSTOMER)) == 1, "nothing relayed to the customer"
    assert not any("evil.test first" in body_text(m) for m in relay.replies_to(CUSTOMER))
    rows = tickets(relay, capsys)
    assert rows[0]["state"] == "open" and rows[0]["first_response_at"] is None
    [failed] = events(relay, "agent-auth-failed")
    assert AGENT in failed


def test_agent_domain_without_authserv_id_is_a_config_error(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp,
                         relay={"default_addresses": [AGENT], "agent_domains": ["example.test"]})
    assert setup.run("check") == 2
    assert "relay.authserv_id" in capsys.readouterr().err


# -- status requests ---------------------------------------------------------------------------

def test_status_lists_only_the_senders_tickets(
        inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    inboxd.send(mail(CUSTOMER, "Broken lamp", "My lamp arrived broken."))
    inboxd.send(mail(CUSTOMER2, "Wrong colour", "The sofa I got is green, not blue."))
    inboxd.run("once")
    inboxd.send(mail(CUSTOMER, "status", "", name="Ana", message_id="<st@customer.example>"))
    assert inboxd.run("once") == 0

    ack, status = inboxd.replies_to(CUSTOMER)
    assert status["In-Reply-To"] == "<st@customer.example>"
    assert status["Subject"] == "Re: status [#1]"  # about one ticket: a reply joins it
    assert status["Auto-Submitted"] == "auto-replied"
    text = body_text(status)
    assert "#1 Broken lamp" in text and "Waiting for our team" in text
    assert "Europe/Stockholm" in text
    assert "#2" not in text and "Wrong colour" not in text
    assert len(tickets(inboxd, capsys)) == 2, "the request opened no ticket"
    [filed] = inboxd.folder("Support/Answered")
    assert filed["Message-ID"] == "<st@customer.example>"
    assert len(inboxd.replies_to(CUSTOMER2)) == 1
    inboxd.send(mail(CUSTOMER, f"Re: {status['Subject']}", "It is a fire hazard, please hurry!",
                     in_reply_to=status["Message-ID"]))
    assert inboxd.run("once") == 0
    assert len(tickets(inboxd, capsys)) == 2, "the reply to the status joined ticket #1"
    assert len(inboxd.replies_to(CUSTOMER)) == 2, "a follow-up gets no new acknowledgement"


def test_status_in_a_reply_to_the_acknowledgement_is_answered_not_queued(
        inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    inboxd.send(mail(CUSTOMER, "Broken lamp", "My lamp arrived broken.", name="Ana Lind"))
    inboxd.run("once")
    [ack] = inboxd.replies_to(CUSTOMER)
    inboxd.send(mail(CUSTOMER, ack["Subject"], "status\n\nAna Lind\n", name="Ana Lind",
                     in_reply_to=ack["Message-ID"]))
    assert inboxd.run("once") == 0

    ack, status = inboxd.replies_to(CUSTOMER)
    assert ack["Subject"] == "Re: Broken lamp [#1]"
    assert status["X-Inboxd-Ticket"] == "status"
    assert "#1 Broken lamp" in body_text(status)
    [queued] = inboxd.folder("Support/Queue")
    assert queued["Subject"] == "Broken lamp", "the request did not join the ticket's queue"
    assert len(inboxd.folder("Support/Answered")) == 1
    [ticket] = tickets(inboxd, capsys)
    assert ticket["state"] == "open"


def test_status_for_someone_elses_ticket_reveals_nothing(inboxd: Installation) -> None:
    inboxd.send(mail(CUSTOMER2, "Wrong colour", "The sofa I got is green, not blue."))
    inboxd.run("once")
    inboxd.send(mail(CUSTOMER, "Estado #1", ""))
    inboxd.run("once")

    [status] = inboxd.replies_to(CUSTOMER)
    text = body_text(status)
    assert "No hay ningún caso abierto con el número #1" in text
    assert "sofa" not in text and "Wrong colour" not in text
    assert status["Content-Language"] == "es"


def test_a_done_line_resolves_and_never_reaches_the_customer(
        relay: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    forward = open_ticket(relay)
    relay.send(agent_reply(forward, "#done\nA new shade is on its way."))
    assert relay.run("once") == 0
    [answer] = [m for m in relay.replies_to(CUSTOMER) if "new shade" in body_text(m)]
    assert "#done" not in body_text(answer)
    [ticket] = tickets(relay, capsys)
    assert (ticket["state"], ticket["resolved_by"]) == ("resolved", "#done")
    assert relay.folder("Support/Queue") == [], "the answered question left the queue"


def test_a_done_note_resolves_and_sends_nothing(
        relay: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    forward = open_ticket(relay)
    before = len(relay.replies_to(CUSTOMER))
    relay.send(agent_reply(forward, "#note #done refund issued by phone"))
    assert relay.run("once") == 0
    assert len(relay.replies_to(CUSTOMER)) == before
    [ticket] = tickets(relay, capsys)
    assert (ticket["state"], ticket["resolved_by"]) == ("resolved", "#done")


def test_a_bad_rating_is_forwarded_to_the_team_and_a_good_one_is_not(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> None:
    relay = Installation(tmp_path, fresh_dovecot, fresh_smtp, relay=RELAY, faq=HUMAN,
                         survey={"enabled": True, "after": "1h"}).start()
    forward = open_ticket(relay)
    relay.send(agent_reply(forward, "#done\nA new shade is on its way."))
    assert relay.run("once") == 0
    later = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat(timespec="seconds")
    assert relay.run("once", "--now", later) == 0
    [survey] = [m for m in relay.replies_to(CUSTOMER) if m["Subject"] == "[#1] How did we do?"]
    forwards_before = len(relay.replies_to(AGENT))
    relay.send(mail(CUSTOMER, f"Re: {survey['Subject']}", "1",
                    in_reply_to=survey["Message-ID"]))
    assert relay.run("once", "--now", later) == 0
    assert len(relay.replies_to(AGENT)) == forwards_before, "a good rating stays filed"
    relay.send(mail(CUSTOMER, f"Re: {survey['Subject']}", "3 the new shade is cracked too",
                    in_reply_to=survey["Message-ID"]))
    assert relay.run("once", "--now", later) == 0
    [rated] = relay.replies_to(AGENT)[forwards_before:]
    assert rated["Subject"] == "[#1] Re: How did we do?"
    assert body_text(rated).startswith(
        "customer@example.test rated ticket #1 3 (bad) in reply to the survey.")
    assert "the new shade is cracked too" in body_text(rated)
    assert rated["In-Reply-To"] == forward["Message-ID"], "threaded under the ticket's forward"
