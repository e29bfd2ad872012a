"""Suggested answers as drafts, end to end against the real Dovecot and SMTP server: the draft,
the agent's send from a mail client (Thunderbird keeps a draft's headers, Outlook drops the
X- ones), what that teaches, stale, edited and replaced drafts, "draft" mode, crashes."""

from __future__ import annotations

import base64
import sqlite3
from email.message import EmailMessage
from datetime import datetime, timedelta, timezone
from email.utils import make_msgid
from pathlib import Path

import pytest
from harness import Installation, body_text, mail, parse
from servers import Dovecot, SmtpServer

from inboxd.faults import CRASH_ENV, CRASH_EXIT_CODE
from inboxd.store import Store

CUSTOMER = "customer@example.test"
REPLY_TO = "customer2@example.test"
QUESTION = "Hola, ¿cuánto tarda el envío de mi pedido a Valencia?"
ANSWER_ES = "Los pedidos se envían en 2 días hábiles."
ANSWER_EN = "Orders ship within 2 business days."


@pytest.fixture
def inboxd(tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> Installation:
    # nothing is sure enough to be answered: every FAQ question gets a suggestion
    return Installation(tmp_path, fresh_dovecot, fresh_smtp,
                        faq={"threshold": 1.0, "suggest_threshold": 0.2}).start()


def db(setup: Installation) -> sqlite3.Connection:
    return sqlite3.connect(setup.folder_path("inboxd.sqlite3"))


def drafts(setup: Installation) -> list[EmailMessage]:
    return setup.folder("Drafts")


def ask(setup: Installation, body: str = QUESTION, **headers: str) -> bytes:
    question = mail(CUSTOMER, "Envío", body, name="Ana", headers=headers or None)
    setup.send(question)
    assert setup.run("once") == 0
    return question


def client_sends(setup: Installation, draft: EmailMessage, *, keep_x_headers: bool,
                 body: str | None = None) -> None:
    """A mail client sends the draft: a new Message-ID and Date, the copy filed in Sent, the
    draft removed; Outlook-like clients drop the draft's X- headers."""
    sent = EmailMessage()
    for name, value in draft.items():
        if name.lower() in ("message-id", "date", "content-type", "content-transfer-encoding",
                            "mime-version") or (not keep_x_headers and name.lower().startswith("x-")):
            continue
        sent[name] = value
    sent["Message-ID"] = make_msgid(domain="client.example")
    sent["Date"] = draft["Date"]
    sent.set_content(body if body is not None else body_text(draft))
    with setup.dovecot.imap(setup.dovecot.support) as client:
        client.select_folder("Drafts")
        uids = client.search(["HEADER", "Message-ID", draft["Message-ID"]])
        client.delete_messages(uids)
        client.expunge()
        client.append("Sent", bytes(sent), flags=[b"\\Seen"])


def client_saves_edit(setup: Installation, draft: EmailMessage, body: str) -> None:
    """The agent edits the draft: the client saves a new message and removes the old one."""
    edited = EmailMessage()
    for name, value in draft.items():
        if name.lower() not in ("content-type", "content-transfer-encoding", "mime-version"):
            edited[name] = value
    edited.set_content(body)
    with setup.dovecot.imap(setup.dovecot.support) as client:
        client.select_folder("Drafts")
        uids = client.search(["HEADER", "Message-ID", draft["Message-ID"]])
        client.delete_messages(uids)
        client.expunge()
        client.append("Drafts", bytes(edited), flags=[b"\\Draft", b"\\Seen"])


def agent_replies(setup: Installation, question: bytes, text: str) -> None:
    original = parse(question)
    reply = mail("support@example.test", f"Re: {original['Subject']}", text,
                 in_reply_to=original["Message-ID"], to=original["From"])
    with setup.dovecot.imap(setup.dovecot.support) as client:
        client.append("Sent", reply, flags=[b"\\Seen"])


def fates(setup: Installation) -> list[tuple[str, str | None, str]]:
    return db(setup).execute("select faq_id, fate, state from drafts order by id").fetchall()


def counts(setup: Installation) -> list[dict[str, object]]:
    """The weekly figures: suggestions of the last week per FAQ."""
    store = Store(setup.folder_path("inboxd.sqlite3"))
    try:
        now = datetime.now(timezone.utc)
        return store.suggestion_counts(now - timedelta(days=7), now + timedelta(minutes=1))
    finally:
        store.close()


def learned(setup: Installation) -> list[tuple[str, str, str]]:
    return db(setup).execute("select faq_id, text, source from learned_examples").fetchall()


def test_one_draft_threaded_and_addressed_and_the_customer_gets_only_the_acknowledgement(
        inboxd: Installation) -> None:
    question = ask(inboxd, **{"Reply-To": f"Ana <{REPLY_TO}>"})
    [draft] = drafts(inboxd)
    original = parse(question)
    assert draft["From"] == f"Example Support <{inboxd.dovecot.support}>"
    assert draft["To"].addresses[0].addr_spec == REPLY_TO
    assert draft["Subject"] == "Re: Envío [#1]"
    assert draft["In-Reply-To"] == original["Message-ID"]
    assert draft["References"] == original["Message-ID"]
    assert draft["Thread-Topic"] == "Envío"
    assert len(base64.b64decode(draft["Thread-Index"])) == 27, "a reply's Thread-Index"
    assert (draft["X-Inboxd-Ticket"], draft["X-Inboxd-Suggested-Faq"]) == ("1", "shipping-time")
    assert draft["Auto-Submitted"] is None, "a person sends it"
    text = body_text(draft)
    assert ANSWER_ES in text and text.startswith("Hola Ana:")
    assert "automátic" not in text
    [flags] = inboxd.dovecot.flags(inboxd.dovecot.support, "Drafts")
    assert set(flags) == {b"\\Draft", b"\\Seen"}

    [ack] = inboxd.replies_to(REPLY_TO)
    assert "#1" in body_text(ack) and ANSWER_ES not in body_text(ack)
    assert inboxd.replies_to(CUSTOMER) == []
    assert inboxd.run("once") == 0
    assert len(drafts(inboxd)) == 1, "written once"
    assert len(inboxd.replies_to(REPLY_TO)) == 1


def test_sent_unchanged_from_a_thunderbird_like_client_answers_and_teaches(
        inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    ask(inboxd)
    [draft] = drafts(inboxd)
    client_sends(inboxd, draft, keep_x_headers=True)
    assert inboxd.run("once") == 0
    conn = db(inboxd)
    assert conn.execute("select state, first_response_by from tickets").fetchone() == \
        ("answered", "agent")
    assert fates(inboxd) == [("shipping-time", "sent unchanged", "sent")]
    assert learned(inboxd) == [("shipping-time", f"Envío\n\n{QUESTION}", "suggestion")]
    assert counts(inboxd) == [{"faq_id": "shipping-time", "made": 1, "sent_unchanged": 1,
                               "sent_edited": 0, "rejected": 0, "open": 0}]
    capsys.readouterr()
    assert inboxd.run("train") == 0
    assert "1 learned examples" in capsys.readouterr().out


def test_sent_edited_from_an_outlook_like_client_is_recognised_by_its_body(
        inboxd: Installation) -> None:
    ask(inboxd)
    [draft] = drafts(inboxd)
    edited = body_text(draft).replace("Gracias por su mensaje.",
                                      "Gracias por escribirnos, y perdone la espera.")
    client_sends(inboxd, draft, keep_x_headers=False, body=edited)
    assert inboxd.run("once") == 0
    assert fates(inboxd) == [("shipping-time", "sent edited", "sent")]
    assert learned(inboxd) == [("shipping-time", f"Envío\n\n{QUESTION}", "suggestion")]


def test_a_reply_without_the_suggestion_removes_the_stale_draft_and_teaches_nothing(
        inboxd: Installation) -> None:
    question = ask(inboxd)
    agent_replies(inboxd, question, "Hola Ana, su paquete ya salió ayer. Saludos, Marta")
    assert inboxd.run("once") == 0
    assert drafts(inboxd) == []
    assert fates(inboxd) == [("shipping-time", "rejected", "removed")]
    assert learned(inboxd) == []
    assert [(c["made"], c["rejected"]) for c in counts(inboxd)] == [(1, 1)]


def test_an_edited_draft_is_never_removed(inboxd: Installation) -> None:
    question = ask(inboxd)
    [draft] = drafts(inboxd)
    client_saves_edit(inboxd, draft, "Hola Ana, lo miro y le escribo mañana.")
    agent_replies(inboxd, question, "Hola Ana, su paquete ya salió ayer.")
    assert inboxd.run("once") == 0
    [kept] = drafts(inboxd)
    assert "lo miro" in body_text(kept)
    assert fates(inboxd) == [("shipping-time", "rejected", "kept")]


def test_a_draft_deleted_unsent_is_rejected(inboxd: Installation) -> None:
    ask(inboxd)
    with inboxd.dovecot.imap(inboxd.dovecot.support) as client:
        client.select_folder("Drafts")
        client.delete_messages(client.search("ALL"))
        client.expunge()
    assert inboxd.run("once") == 0
    assert fates(inboxd) == [("shipping-time", "rejected", "gone")]
    assert learned(inboxd) == []


def test_of_several_drafts_only_the_one_deleted_is_rejected(inboxd: Installation) -> None:
    ask(inboxd)
    inboxd.send(mail(REPLY_TO, "Envío", QUESTION, name="Luis"))
    assert inboxd.run("once") == 0
    first, second = sorted(drafts(inboxd), key=lambda d: str(d["Subject"]))
    assert "[#1]" in first["Subject"] and "[#2]" in second["Subject"]
    with inboxd.dovecot.imap(inboxd.dovecot.support) as client:
        client.select_folder("Drafts")
        for draft in (first, second):  # the second is saved anew below, under a new Message-ID
            client.delete_messages(client.search(["HEADER", "Message-ID", draft["Message-ID"]]))
        client.expunge()
    del second["Message-ID"]
    second["Message-ID"] = make_msgid(domain="client.example")
    client_saves_edit(inboxd, second, "Hola Luis, lo miro y le escribo mañana.")
    assert [str(d["Message-ID"]) for d in drafts(inboxd)] == [second["Message-ID"]]
    assert inboxd.run("once") == 0
    assert fates(inboxd) == [("shipping-time", "rejected", "gone"),
                             ("shipping-time", None, "live")]


def test_a_follow_up_replaces_an_unedited_draft_and_leaves_an_edited_one(
        inboxd: Installation) -> None:
    question = ask(inboxd)
    follow_up = mail(CUSTOMER, "Re: Envío [#1]", "¿Y a Canarias también?", name="Ana",
                     in_reply_to=parse(question)["Message-ID"])
    inboxd.send(follow_up)
    assert inboxd.run("once") == 0
    [draft] = drafts(inboxd)
    assert draft["In-Reply-To"] == parse(follow_up)["Message-ID"]
    assert fates(inboxd) == [("shipping-time", "replaced", "removed"),
                             ("shipping-time", None, "live")]

    client_saves_edit(inboxd, draft, "Hola Ana, a Canarias tarda una semana.")
    inboxd.send(mail(CUSTOMER, "Re: Envío [#1]", "¿Hola?", name="Ana",
                     in_reply_to=parse(follow_up)["Message-ID"]))
    assert inboxd.run("once") == 0
    [kept] = drafts(inboxd)
    assert "Canarias tarda" in body_text(kept)
    assert [state for _, _, state in fates(inboxd)][1:] == ["kept", "skipped"]


def test_draft_mode_is_never_sent_however_sure_and_folders_drafts_is_created(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp, faq={"threshold": 0.3},
                         folders={"drafts": "Support/Drafts"})
    faq = setup.dir / "faq.toml"
    faq.write_text(faq.read_text().replace('id = "shipping-time"\n',
                                           'id = "shipping-time"\nmode = "draft"\n', 1))
    setup.start()
    setup.send(mail(CUSTOMER, "Delivery", "How long does delivery take?"))
    setup.send(mail(REPLY_TO, "Password", "I forgot my password"))
    assert setup.run("once") == 0
    [ack] = setup.replies_to(CUSTOMER)
    assert ANSWER_EN not in body_text(ack)
    [answer] = setup.replies_to(REPLY_TO)
    assert "Forgot password" in body_text(answer), "an FAQ in auto mode is still answered"
    assert drafts(setup) == []
    [draft] = setup.folder("Support/Drafts")
    assert ANSWER_EN in body_text(draft)


@pytest.mark.parametrize("point", ["after-commit", "after-draft"])
def test_crash_writes_no_draft_twice(inboxd: Installation, point: str) -> None:
    inboxd.send(mail(CUSTOMER, "Envío", QUESTION))
    result = inboxd.run_process("once", env={CRASH_ENV: point})
    assert result.returncode == CRASH_EXIT_CODE, result.stderr
    assert len(drafts(inboxd)) == (1 if point == "after-draft" else 0)
    assert inboxd.run("once") == 0
    assert inboxd.run("once") == 0
    assert len(drafts(inboxd)) == 1
    assert len(inboxd.replies_to(CUSTOMER)) == 1


def test_ticket_shows_the_suggestion_and_its_fate_and_dry_run_shows_the_draft(
        inboxd: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    inboxd.send(mail(CUSTOMER, "Envío", QUESTION))
    capsys.readouterr()
    assert inboxd.run("once", "--dry-run") == 0
    out = capsys.readouterr().out
    assert (f": draft reply to {CUSTOMER} with the answer of FAQ shipping-time "
            "(its new ticket)") in out
    assert drafts(inboxd) == [], "a dry run writes nothing"

    assert inboxd.run("once") == 0
    [draft] = drafts(inboxd)
    client_sends(inboxd, draft, keep_x_headers=True)
    assert inboxd.run("once") == 0
    capsys.readouterr()
    assert inboxd.run("ticket", "1") == 0
    out = capsys.readouterr().out
    assert "suggested answers (drafts)" in out
    line = next(line for line in out.splitlines() if "shipping-time" in line and "Drafts" in line)
    assert "sent unchanged" in line and " sent " in line


def test_resolving_the_ticket_in_the_mail_client_removes_its_unsent_draft(
        inboxd: Installation) -> None:
    ask(inboxd)
    assert len(drafts(inboxd)) == 1
    [queue] = [f for f in ("Support/Queue", "Support/Queue/orders") if inboxd.folder(f)]
    with inboxd.dovecot.imap(inboxd.dovecot.support) as client:  # the agent drags it to Done
        client.select_folder(queue)
        client.move(client.search("ALL"), "Support/Done")
    assert inboxd.run("once") == 0
    assert db(inboxd).execute("select state from tickets").fetchone()[0] == "resolved"
    assert drafts(inboxd) == []
    assert fates(inboxd) == [("shipping-time", "rejected", "removed")]
    assert learned(inboxd) == []
