"""Storage: a large attachment is kept once, however many mails carry it; ``inboxd forget``
erases a customer's data. Pure tables for the splitting, real SQLite for the store, and the
relay flow against the real Dovecot and SMTP server."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from harness import Installation, mail
from servers import Dovecot, SmtpServer
from test_relay_flow import AGENT, CUSTOMER, CUSTOMER2, HUMAN, RELAY, agent_message

from inboxd.core.blobs import MIN_PIECE_BYTES, join, split
from inboxd.core.message import parse_message
from inboxd.core.outgoing import Envelope, attached_files, build_forward, build_relayed
from inboxd.store import Store
from inboxd.store_blobs import crlf

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
FILE = os.urandom(400_000)  # about 540 kB in base64


def with_file(data: bytes = FILE, sender: str = CUSTOMER, subject: str = "Invoice") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "support@example.test", subject
    msg["Message-ID"] = f"<{subject.lower()}@customer.example>"
    msg.set_content("The invoice is attached. Why is it so high?")
    msg.add_attachment(data, maintype="application", subtype="pdf", filename="invoice.pdf")
    return msg.as_bytes(policy=policy.SMTP)  # as IMAP hands it over: CRLF


def envelope() -> Envelope:
    return Envelope("Support <support@example.test>", "<out@example.test>", NOW)


# -- splitting (pure) ----------------------------------------------------------------------------

ROUND_TRIPS = {
    "small mail": mail(CUSTOMER, "Hi", "short"),
    "attachment": with_file(),
    "two attachments": with_file(FILE + FILE[:100]),
    "no closing boundary": with_file().rsplit(b"--", 2)[0],
    "garbage": os.urandom(200_000),
    "single part body": b"Subject: x\r\n\r\n" + b"A" * (MIN_PIECE_BYTES + 10),
}


@pytest.mark.parametrize("raw", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_split_and_join_give_back_the_same_bytes(raw: bytes) -> None:
    skeleton, pieces = split(raw)
    assert join(skeleton, [(p.offset, p.sha256) for p in pieces],
                {p.sha256: p.data for p in pieces}.__getitem__) == raw


def test_the_same_attachment_is_the_same_piece_in_a_forward_and_a_relayed_mail() -> None:
    raw = with_file()
    skeleton, [piece] = split(raw)
    assert len(skeleton) < 2_000 and len(piece.data) > len(FILE)
    forward = build_forward(envelope(), parse_message(raw), raw, 1, [AGENT],
                            "support@example.test", "Ticket #1", [])
    relayed = build_relayed(envelope(), CUSTOMER, "Ana", 1, "Invoice", None, "Here it is.",
                            attached_files(raw))
    for mail_bytes in (bytes(forward), bytes(relayed)):
        _, pieces = split(crlf(mail_bytes))
        assert [p.sha256 for p in pieces] == [piece.sha256]
    assert split(mail(CUSTOMER, "Hi", "short"))[1] == []


# -- the store (real SQLite) --------------------------------------------------------------------

def stored_bytes(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        tables = {r[0] for r in db.execute("select name from sqlite_master where type = 'table'")}
        return sum(db.execute(f"select coalesce(sum(length({column})), 0) from {table}")
                   .fetchone()[0] for table, column in
                   (("messages", "raw"), ("outbox", "raw"), ("blobs", "data")) if table in tables)
    finally:
        db.close()


def test_store_keeps_the_attachment_once_and_hands_out_whole_mails(tmp_path: Path) -> None:
    raw = with_file()
    store = Store(tmp_path / "s.sqlite3")
    with store.transaction():
        ticket_id = store.insert_ticket({"customer": CUSTOMER, "state": "open",
                                         "created_at": NOW.isoformat()})
        store.insert_message({"ticket_id": ticket_id, "direction": "in", "folder": "INBOX",
                              "uidvalidity": 1, "uid": 1, "message_id": "<invoice@c>",
                              "raw": raw})
        forward = bytes(build_forward(envelope(), parse_message(raw), raw, 1, [AGENT],
                                      "support@example.test", "Ticket #1", []))
        store.queue_outgoing({"ticket_id": ticket_id, "kind": "forward",
                              "message_id": "<out@example.test>", "recipient": AGENT,
                              "raw": forward, "created_at": NOW.isoformat()})
    assert store.first_inbound_raw(ticket_id) == raw
    assert store.messages(ticket_id)[0]["raw"] == raw
    [pending] = store.outbox("pending")
    assert pending["raw"] == crlf(forward)
    store.close()
    assert stored_bytes(tmp_path / "s.sqlite3") < len(raw) + 5_000  # not twice


def test_migration_splits_rows_stored_before(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    raw = with_file()
    Store(path).close()
    db = sqlite3.connect(path)
    db.executescript("drop table blobs; drop table blob_refs; "
                     "delete from _migrations where name = '011_blobs';")
    db.execute("insert into messages (direction, folder, uidvalidity, uid, raw) values "
               "('in', 'INBOX', 1, 1, ?)", [raw])
    db.execute("insert into outbox (kind, message_id, recipient, raw, state) values "
               "('forward', '<f@x>', ?, ?, 'pending')", [AGENT, raw.replace(b"\r\n", b"\n")])
    db.commit()
    db.close()
    assert stored_bytes(path) > 1.9 * len(raw)  # twice, before
    store = Store(path)
    assert store.inbound_by_message_id("<invoice@customer.example>") is None  # no id stored
    assert store.outbox("pending")[0]["raw"] == raw
    [(message_raw,)] = store.db.execute("select raw from messages").fetchall()
    assert len(message_raw) < 2_000
    store.close()
    assert stored_bytes(path) < len(raw) + 5_000


# -- the relay flow (real Dovecot and SMTP) ------------------------------------------------------

@pytest.fixture
def relay(tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> Installation:
    return Installation(tmp_path, fresh_dovecot, fresh_smtp, relay=RELAY, faq=HUMAN).start()


def test_relay_flow_keeps_each_attachment_once(relay: Installation) -> None:
    relay.send(with_file())
    assert relay.run("once") == 0
    [forward] = relay.replies_to(AGENT)
    [original] = [p for p in forward.iter_attachments() if p.get_content_type() == "message/rfc822"]
    [pdf] = original.get_content().iter_attachments()
    assert pdf.get_content() == FILE

    label = os.urandom(300_000)
    reply = agent_message(forward, "Here is the corrected invoice.")
    reply.add_attachment(label, "application", "pdf", filename="corrected.pdf")
    relay.send(bytes(reply))
    assert relay.run("once") == 0
    ack, answer = relay.replies_to(CUSTOMER)
    [sent_file] = list(answer.iter_attachments())
    assert sent_file.get_content() == label
    copies = [m for m in relay.folder("Sent") if m["Message-ID"] == answer["Message-ID"]]
    assert [list(c.iter_attachments())[0].get_content() for c in copies] == [label]

    db = sqlite3.connect(relay.folder_path("inboxd.sqlite3"))
    try:
        assert db.execute("select count(*) from blobs").fetchone()[0] == 2
        assert db.execute("select count(*) from blob_refs").fetchone()[0] == 4
    finally:
        db.close()
    both = len(FILE) + len(label)
    assert stored_bytes(Path(relay.folder_path("inboxd.sqlite3"))) < both * 1.37 + 50_000


# -- forget ---------------------------------------------------------------------------------------

def count(path: str, sql: str) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute(sql).fetchone()[0])
    finally:
        db.close()


def test_forget_erases_one_customer_and_keeps_the_others(
        relay: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    relay.send(with_file())
    relay.send(mail(CUSTOMER2, "Wrong colour", "The sofa I got is green, not blue."))
    assert relay.run("once") == 0
    relay.send(mail(CUSTOMER, "status", "", message_id="<st@customer.example>"))
    assert relay.run("once") == 0
    store_path = relay.folder_path("inboxd.sqlite3")
    db = sqlite3.connect(store_path)
    db.execute("insert into learned_examples (faq_id, text, ticket_id, source, created_at) "
               "values ('returns', 'Why is the invoice so high?', 1, 'folder', 'x')")
    db.commit()
    db.close()
    before = {t: count(store_path, f"select count(*) from {t}")
              for t in ("tickets", "messages", "outbox", "events", "blobs", "learned_examples")}

    capsys.readouterr()
    assert relay.run("forget", CUSTOMER.upper(), "--dry-run") == 0
    out = capsys.readouterr().out
    assert (f"would remove for {CUSTOMER}: 1 tickets, 2 messages, 3 outgoing mails, "
            "0 deadline notices, 1 learned examples") in out
    assert "1 stored attachments" in out and "dry run: nothing was removed" in out
    assert {t: count(store_path, f"select count(*) from {t}") for t in before} == before

    assert relay.run("forget", CUSTOMER) == 0
    out = capsys.readouterr().out
    assert f"removed for {CUSTOMER}: 1 tickets, 2 messages, 3 outgoing mails" in out
    assert "run `inboxd train`" in out
    assert count(store_path, "select count(*) from tickets") == 1
    assert count(store_path, f"select count(*) from tickets where customer = '{CUSTOMER2}'") == 1
    assert count(store_path, "select count(*) from messages") == 1
    assert count(store_path, "select count(*) from outbox") == 2  # CUSTOMER2's ack and forward
    assert count(store_path, "select count(*) from blobs") == 0
    assert count(store_path, "select count(*) from learned_examples") == 0
    assert count(store_path, "select count(*) from events where ticket_id = 1 or "
                             f"detail like '%{CUSTOMER}%'") == 0
    files = b"".join(p.read_bytes() for p in Path(store_path).parent.glob("inboxd.sqlite3*"))
    assert CUSTOMER.encode() not in files, "the bytes are gone from the database files"
    assert FILE[1000:1100] not in files
    assert CUSTOMER2.encode() in files

    assert relay.run("forget", CUSTOMER) == 0
    assert f"nothing stored about {CUSTOMER}" in capsys.readouterr().out


def test_forget_erases_events_naming_the_address_not_longer_addresses_containing_it() -> None:
    from inboxd.steps.forget import plan_forget

    store = Store(Path(":memory:"))
    at = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
    store.add_event(None, at, "note", "mail from Bob@Example.com.")
    store.add_event(None, at, "note", "<bob@example.com> asked again")
    store.add_event(None, at, "note", "mail from jimbob@example.com")
    store.add_event(None, at, "note", "mail from bob@example.com.au")
    erasure = plan_forget(store, "bob@example.com")
    assert erasure.rows["events"] == [1, 2]  # the first two events name the address
    store.close()


def test_forget_erases_the_digests_of_old_breaches_that_list_the_address() -> None:
    from inboxd.core.notice_mail import DigestMail, build_digest
    from inboxd.steps.forget import apply_forget, plan_forget

    store = Store(Path(":memory:"))
    at = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
    bodies = ["#4 from bob@example.com: Lamp, in Support/Overdue\n",
              "#5 from jimbob@example.com: Sofa, in Support/Overdue\n"]
    for n, body in enumerate(bodies):
        msg = build_digest(DigestMail(1, "7 days", body, "support@shop.example",
                                      ("lead@shop.example",), f"<d{n}@shop.example>", at))
        store.queue_outgoing({"ticket_id": None, "kind": "escalation", "recipient":
                              "lead@shop.example", "message_id": f"<d{n}@shop.example>",
                              "raw": msg.as_bytes(policy=policy.SMTP), "created_at": at.isoformat()})
    erasure = plan_forget(store, "Bob@Example.com")
    assert erasure.rows["outbox"] == [1], "the digest naming bob, not the one naming jimbob"
    apply_forget(store, erasure)
    assert [r["message_id"] for r in store.db.table("outbox").rows] == ["<d1@shop.example>"]
    store.close()
