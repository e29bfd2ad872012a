"""The IMAP and SMTP adapters against a real Dovecot and a real aiosmtpd server."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from email.message import EmailMessage

import pytest
from servers import Dovecot, SmtpServer, free_port

from inboxd.config import Secret, SmtpSettings
from inboxd.errors import (MailboxAuthFailed, MailboxError, MailboxUnavailable, SendDeferred,
                           SendFailed, SendUncertain, SendUnavailable)
from inboxd.mail.imap import Mailbox
from inboxd.mail.smtp import Sender


def mail(subject: str, message_id: str = "<m1@example.test>",
         sender: str = "customer@example.test") -> bytes:
    return (f"From: {sender}\r\nTo: support@example.test\r\nSubject: {subject}\r\n"
            f"Message-ID: {message_id}\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\n"
            f"Hello, {subject}\r\n").encode()


@pytest.fixture
def inbox(fresh_dovecot: Dovecot) -> Iterator[Mailbox]:
    with Mailbox(fresh_dovecot.imap_settings()) as mailbox:
        yield mailbox


# -- connecting ------------------------------------------------------------------------------

def test_implicit_tls_with_the_ca_logs_in(fresh_dovecot: Dovecot) -> None:
    with Mailbox(fresh_dovecot.imap_settings(security="tls")) as mailbox:
        state = mailbox.select("INBOX")
        assert state.uidvalidity > 0 and state.uidnext >= 1
        assert mailbox.has_idle and mailbox.has_move


def test_starttls_with_the_ca_logs_in(fresh_dovecot: Dovecot) -> None:
    with Mailbox(fresh_dovecot.imap_settings(security="starttls")) as mailbox:
        assert mailbox.select("INBOX").uidvalidity > 0


def test_plain_connection_on_loopback_logs_in(fresh_dovecot: Dovecot) -> None:
    with Mailbox(fresh_dovecot.imap_settings(security="none")) as mailbox:
        assert mailbox.uids_after("INBOX", 0) == []


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_untrusted_certificate_is_a_permanent_error(fresh_dovecot: Dovecot,
                                                    security: str) -> None:
    mailbox = Mailbox(fresh_dovecot.imap_settings(security=security, ca=False))
    with pytest.raises(MailboxError) as caught:
        mailbox.connect()
    assert not isinstance(caught.value, MailboxUnavailable)
    assert "not trusted" in str(caught.value) and "imap.ca_file" in str(caught.value)


def test_wrong_password_is_refused_and_later_logins_are_not_delayed(
        fresh_dovecot: Dovecot) -> None:
    settings = fresh_dovecot.imap_settings(password="wrong-password-1234")
    with pytest.raises(MailboxAuthFailed) as caught:
        Mailbox(settings).connect()
    message = str(caught.value)
    assert f"127.0.0.1:{settings.port}" in message
    assert "wrong-password-1234" not in message
    # With Dovecot's auth penalty a login right after a failure waits 4-6 s; this one may
    # not take more than 3 s, or the read times out and the login fails.
    with Mailbox(fresh_dovecot.imap_settings(timeout_s=3.0)) as mailbox:
        assert mailbox.select("INBOX").uidvalidity > 0


def test_closed_port_is_unavailable(fresh_dovecot: Dovecot) -> None:
    settings = dataclasses.replace(fresh_dovecot.imap_settings(), port=free_port())
    with pytest.raises(MailboxUnavailable, match=f"127.0.0.1:{settings.port}"):
        Mailbox(settings).connect()


def test_calls_before_connect_are_unavailable(fresh_dovecot: Dovecot) -> None:
    with pytest.raises(MailboxUnavailable, match="not connected"):
        Mailbox(fresh_dovecot.imap_settings()).uids_after("INBOX", 0)


# -- folders and reading ----------------------------------------------------------------------

def test_ensure_folder_creates_and_subscribes_nested_folders_once(
        inbox: Mailbox, fresh_dovecot: Dovecot) -> None:
    inbox.ensure_folder("Support/Queue")
    inbox.ensure_folder("Support/Queue")
    with fresh_dovecot.imap(fresh_dovecot.support) as client:
        names = {name for _, _, name in client.list_folders()}
        subscribed = {name for _, _, name in client.list_sub_folders()}
    assert {"Support", "Support/Queue"} <= names
    assert {"Support", "Support/Queue"} <= subscribed


def test_ensure_folder_accepts_a_folder_made_by_another_client(
        inbox: Mailbox, fresh_dovecot: Dovecot) -> None:
    with fresh_dovecot.imap(fresh_dovecot.support) as client:
        client.create_folder("Support/Answered")
    inbox.ensure_folder("Support/Answered")
    assert inbox.select("Support/Answered").uidvalidity > 0


def test_uids_after_lists_only_newer_messages(inbox: Mailbox, fresh_dovecot: Dovecot) -> None:
    for n in range(3):
        fresh_dovecot.deliver(fresh_dovecot.support, mail(f"n{n}", f"<n{n}@example.test>"))
    uids = inbox.uids_after("INBOX", 0)
    assert len(uids) == 3 and uids == sorted(uids)
    assert inbox.uids_after("INBOX", uids[0]) == uids[1:]
    assert inbox.uids_after("INBOX", uids[-1]) == []  # "n:*" alone would return uids[-1]


def test_uids_after_sees_mail_delivered_while_selected(inbox: Mailbox,
                                                       fresh_dovecot: Dovecot) -> None:
    assert inbox.uids_after("INBOX", 0) == []
    fresh_dovecot.deliver(fresh_dovecot.support, mail("late"))
    assert len(inbox.uids_after("INBOX", 0)) == 1


def test_fetch_returns_messages_in_uid_order_without_setting_seen(
        inbox: Mailbox, fresh_dovecot: Dovecot) -> None:
    for n in range(2):
        fresh_dovecot.deliver(fresh_dovecot.support, mail(f"f{n}", f"<f{n}@example.test>"))
    uids = inbox.uids_after("INBOX", 0)
    fetched = inbox.fetch("INBOX", list(reversed(uids)))
    assert [f.uid for f in fetched] == uids
    assert b"Subject: f0" in fetched[0].raw and b"Subject: f1" in fetched[1].raw
    assert all("\\Seen" not in f.flags for f in fetched)
    assert fetched[0].internaldate is not None and fetched[0].internaldate.tzinfo is not None
    assert all(b"\\Seen" not in flags for flags in fresh_dovecot.flags(fresh_dovecot.support))


def test_fetch_headers_returns_only_the_header_block(inbox: Mailbox,
                                                     fresh_dovecot: Dovecot) -> None:
    fresh_dovecot.deliver(fresh_dovecot.support, mail("headers only"))
    [uid] = inbox.uids_after("INBOX", 0)
    headers = inbox.fetch_headers("INBOX", [uid])[uid]
    assert b"Subject: headers only" in headers and b"Hello" not in headers


def test_find_by_message_id(inbox: Mailbox, fresh_dovecot: Dovecot) -> None:
    fresh_dovecot.deliver(fresh_dovecot.support, mail("a", "<a-1@example.test>"))
    fresh_dovecot.deliver(fresh_dovecot.support, mail("b", "<b-2@example.test>"))
    uids = inbox.uids_after("INBOX", 0)
    assert inbox.find_by_message_id("INBOX", "<b-2@example.test>") == [uids[1]]
    assert inbox.find_by_message_id("INBOX", "<c-3@example.test>") == []


def test_special_use_search_by_subject_and_delete(inbox: Mailbox,
                                                  fresh_dovecot: Dovecot) -> None:
    assert inbox.special_use("\\Drafts") == "Drafts"  # announced by the test server
    assert inbox.special_use("\\Junk") is None
    inbox.append("Drafts", mail("Re: Shoes [#12]", "<d-1@example.test>"), flags=("\\Draft",))
    inbox.append("Drafts", mail("Re: Shoes [#123]", "<d-2@example.test>"), flags=("\\Draft",))
    first, second = inbox.uids_after("Drafts", 0)
    assert inbox.find_by_subject("Drafts", "[#12]") == [first]
    inbox.delete("Drafts", [first])
    assert inbox.uids_after("Drafts", 0) == [second]


def test_answered_flag_is_set_and_found(inbox: Mailbox, fresh_dovecot: Dovecot) -> None:
    for n in range(2):
        fresh_dovecot.deliver(fresh_dovecot.support, mail(f"q{n}", f"<q{n}@example.test>"))
    uids = inbox.uids_after("INBOX", 0)
    assert inbox.answered_uids("INBOX") == []
    inbox.add_flags("INBOX", [uids[1]], ["\\Answered"])
    assert inbox.answered_uids("INBOX") == [uids[1]]


# -- changing ---------------------------------------------------------------------------------

class _MailboxWithoutMove(Mailbox):
    @property
    def has_move(self) -> bool:
        return False


@pytest.mark.parametrize("mailbox_class", [Mailbox, _MailboxWithoutMove])
def test_move_creates_the_target_and_moves_only_the_given_messages(
        fresh_dovecot: Dovecot, mailbox_class: type[Mailbox]) -> None:
    for n in range(3):
        fresh_dovecot.deliver(fresh_dovecot.support, mail(f"m{n}", f"<m{n}@example.test>"))
    with mailbox_class(fresh_dovecot.imap_settings()) as mailbox:
        uids = mailbox.uids_after("INBOX", 0)
        mailbox.move("INBOX", uids[:2], "Support/Queue")
        assert mailbox.uids_after("INBOX", 0) == uids[2:]
    moved = fresh_dovecot.messages(fresh_dovecot.support, "Support/Queue")
    assert [b"Subject: m0" in moved[0], b"Subject: m1" in moved[1]] == [True, True]


def test_append_stores_a_seen_message_with_its_date(inbox: Mailbox,
                                                    fresh_dovecot: Dovecot) -> None:
    when = datetime(2026, 3, 2, 10, 30, tzinfo=timezone.utc)
    inbox.append("Sent", mail("our reply", "<r1@example.test>", "support@example.test"),
                  when=when)
    [raw] = fresh_dovecot.messages(fresh_dovecot.support, "Sent")
    assert b"Subject: our reply" in raw
    assert fresh_dovecot.flags(fresh_dovecot.support, "Sent") == [(b"\\Seen",)]
    [uid] = inbox.uids_after("Sent", 0)
    assert inbox.fetch("Sent", [uid])[0].internaldate == when


def test_append_creates_a_missing_folder(inbox: Mailbox, fresh_dovecot: Dovecot) -> None:
    inbox.append("Support/Automated", mail("bounce"), flags=())
    assert len(fresh_dovecot.messages(fresh_dovecot.support, "Support/Automated")) == 1
    assert fresh_dovecot.flags(fresh_dovecot.support, "Support/Automated") == [()]


# -- waiting ----------------------------------------------------------------------------------

def test_wait_for_change_wakes_up_on_delivery(inbox: Mailbox, fresh_dovecot: Dovecot) -> None:
    inbox.uids_after("INBOX", 0)
    timer = threading.Timer(0.3, fresh_dovecot.deliver, (fresh_dovecot.support, mail("idle")))
    timer.start()
    try:
        assert inbox.wait_for_change("INBOX", timeout_s=20) is True
    finally:
        timer.join()
    assert len(inbox.uids_after("INBOX", 0)) == 1  # IDLE was left; the connection works


@pytest.mark.parametrize("security", ["tls", "none"])
def test_mail_delivered_just_before_idle_is_reported_at_once(fresh_dovecot: Dovecot,
                                                            security: str) -> None:
    # the server says so before its "+ idling", or right after it, often in the same read
    with Mailbox(fresh_dovecot.imap_settings(security=security)) as inbox:
        for round_no in range(1, 6):
            inbox.uids_after("INBOX", 0)
            fresh_dovecot.deliver(fresh_dovecot.support, mail(f"before idle {round_no}"))
            assert inbox.wait_for_change("INBOX", timeout_s=15) is True, f"round {round_no}"
            assert len(inbox.uids_after("INBOX", 0)) == round_no


def test_wait_for_change_returns_false_when_nothing_happens(inbox: Mailbox) -> None:
    assert inbox.wait_for_change("INBOX", timeout_s=1.5) is False
    assert inbox.uids_after("INBOX", 0) == []


def test_wait_for_change_returns_false_when_stopped(inbox: Mailbox) -> None:
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    assert inbox.wait_for_change("INBOX", timeout_s=600, stop=stop) is False
    timer.join()


def test_folder_names_follow_the_servers_separator() -> None:
    server = Dovecot(separator=".")  # as many servers are set up: "Support.Queue"
    try:
        server.start()
        server.deliver(server.support, b"From: a@example.test\r\nSubject: x\r\n\r\nhi\r\n")
        with Mailbox(server.imap_settings()) as mailbox:
            assert mailbox.server_name("Support/Queue/orders") == "Support.Queue.orders"
            mailbox.select("INBOX")
            [uid] = mailbox.uids_after("INBOX", 0)
            mailbox.move("INBOX", [uid], "Support/Queue/orders")
            assert mailbox.folder_exists("Support/Queue/orders")
        with server.imap(server.support) as client:
            names = {name for _, _, name in client.list_folders()}
            assert {"Support", "Support.Queue", "Support.Queue.orders"} <= names
            client.select_folder("Support.Queue.orders")
            assert len(client.search("ALL")) == 1
    finally:
        server.cleanup()


def test_server_going_away_is_unavailable_and_reconnecting_works() -> None:
    server = Dovecot()  # a private instance: this test kills it
    try:
        server.start()
        mailbox = Mailbox(server.imap_settings())
        mailbox.connect()
        mailbox.select("INBOX")
        stopping = threading.Timer(0.3, server.stop)
        stopping.start()
        with pytest.raises(MailboxUnavailable):
            mailbox.wait_for_change("INBOX", timeout_s=600)
        with pytest.raises(MailboxUnavailable):
            mailbox.uids_after("INBOX", 0)
        stopping.join()  # the stop is over before the server starts again
        server.start()
        with mailbox:
            assert mailbox.uids_after("INBOX", 0) == []
    finally:
        server.cleanup()


# -- SMTP -------------------------------------------------------------------------------------

def reply(to: str = "customer@example.test", subject: str = "Re: help") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Example Support <support@example.test>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = "<reply-1@example.test>"
    message.set_content("Here is the answer.\n")
    return message


def test_sent_mail_arrives_in_the_recipients_mailbox(fresh_smtp: SmtpServer,
                                                     fresh_dovecot: Dovecot) -> None:
    with Sender(fresh_smtp.settings()) as sender:
        sender.send(reply())
    [envelope] = fresh_smtp.received
    assert envelope.mail_from == "support@example.test"
    assert envelope.rcpt_tos == ("customer@example.test",)
    [raw] = fresh_dovecot.messages(fresh_dovecot.customer)
    assert b"Subject: Re: help" in raw and b"Here is the answer." in raw


def test_explicit_envelope_overrides_the_headers(fresh_smtp: SmtpServer,
                                                 fresh_dovecot: Dovecot) -> None:
    with Sender(fresh_smtp.settings()) as sender:
        sender.send(reply(), sender="bounces@example.test",
                    recipients=["customer2@example.test"])
    assert [(e.mail_from, e.rcpt_tos) for e in fresh_smtp.received] == [
        ("bounces@example.test", ("customer2@example.test",))]
    assert fresh_dovecot.messages(fresh_dovecot.customer) == []
    assert len(fresh_dovecot.messages(fresh_dovecot.customer2)) == 1


def test_one_sender_sends_several_messages(fresh_smtp: SmtpServer) -> None:
    with Sender(fresh_smtp.settings()) as sender:
        for n in range(3):
            sender.send(reply(subject=f"Re: {n}"))
    assert len(fresh_smtp.received) == 3


def test_check_login_without_auth(fresh_smtp: SmtpServer) -> None:
    with Sender(fresh_smtp.settings()) as sender:
        sender.check_login()
    assert fresh_smtp.received == []


def test_username_on_a_loopback_server_without_auth_sends_without_login(
        fresh_smtp: SmtpServer) -> None:
    settings = dataclasses.replace(fresh_smtp.settings(), username="support")
    with Sender(settings) as sender:
        sender.send(reply())
    assert len(fresh_smtp.received) == 1


def test_closed_port_is_unavailable_for_sending(fresh_smtp: SmtpServer) -> None:
    settings = dataclasses.replace(fresh_smtp.settings(), port=free_port())
    with Sender(settings) as sender, pytest.raises(SendUnavailable,
                                                   match=f"127.0.0.1:{settings.port}"):
        sender.send(reply())


def test_permanently_refused_recipient_fails(fresh_smtp: SmtpServer) -> None:
    fresh_smtp.refuse("customer@example.test", "550 5.1.1 No such user")
    with Sender(fresh_smtp.settings()) as sender, pytest.raises(SendFailed) as caught:
        sender.send(reply())
    assert not isinstance(caught.value, SendUnavailable)
    assert "550" in str(caught.value)
    assert fresh_smtp.received == []


def test_temporarily_refused_recipient_is_unavailable(fresh_smtp: SmtpServer) -> None:
    fresh_smtp.refuse("customer@example.test", "450 4.2.1 Mailbox busy, try later")
    with Sender(fresh_smtp.settings()) as sender, pytest.raises(SendUnavailable, match="450"):
        sender.send(reply())


# What a failure means depends on when it comes: before the data (retry), at the data's answer
# (final), after the data without an answer (uncertain: never send again).
SEND_FAULTS = [
    ("drop-at-mail", SendUnavailable, False, 0),
    ("drop-at-rcpt", SendUnavailable, False, 0),
    ("refuse-data", SendFailed, True, 0),
    ("drop-after-data", SendUncertain, True, 1),
    ("slow-data", SendUncertain, True, 1),
]


@pytest.mark.parametrize("fault, error, data_reached, delivered", SEND_FAULTS,
                         ids=[f[0] for f in SEND_FAULTS])
def test_smtp_failures_say_whether_the_message_may_have_gone_out(
        fresh_smtp: SmtpServer, fresh_dovecot: Dovecot, fault: str, error: type[Exception],
        data_reached: bool, delivered: int) -> None:
    fresh_smtp.fail(fault, delay_s=2.0)
    calls = []
    with Sender(fresh_smtp.settings(timeout_s=1.0)) as sender, pytest.raises(error) as caught:
        sender.send(reply(), before_data=lambda: calls.append("data"))
    assert type(caught.value) is error
    assert calls == (["data"] if data_reached else []), "called just before the data, once"
    assert len(fresh_dovecot.messages(fresh_dovecot.customer)) == delivered


def test_a_recipient_put_off_defers_that_message_only(fresh_smtp: SmtpServer) -> None:
    fresh_smtp.refuse("customer@example.test", "452 4.2.2 Mailbox full")
    with Sender(fresh_smtp.settings()) as sender, sender.session():
        with pytest.raises(SendDeferred, match="452"):
            sender.send(reply())
        sender.send(reply(), recipients=["customer2@example.test"])
    assert [e.rcpt_tos for e in fresh_smtp.received] == [("customer2@example.test",)]


def test_untrusted_smtp_certificate_is_a_permanent_error(fresh_dovecot: Dovecot) -> None:
    # Dovecot's IMAPS port is the TLS server at hand; the handshake fails before any SMTP.
    settings = SmtpSettings(host=fresh_dovecot.host, port=fresh_dovecot.imaps_port,
                            security="tls", username="", password=Secret(""), ca_file=None,
                            timeout_s=5.0, sender="support@example.test")
    with Sender(settings) as sender, pytest.raises(SendFailed) as caught:
        sender.send(reply())
    assert not isinstance(caught.value, SendUnavailable)
    assert "not trusted" in str(caught.value) and "smtp.ca_file" in str(caught.value)
