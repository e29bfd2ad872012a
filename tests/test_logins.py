"""Logins as operators meet them: a local relay that takes mail without AUTH, passwords read only
when a server is used, and login errors that read cleanly."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from harness import Installation, mail
from servers import Dovecot, SmtpServer, free_port

from inboxd.cli import main
from inboxd.store import Store, iso

CUSTOMER = "customer@example.test"
NO_LOGIN = 'username = ""\npassword = ""\n'


def without_smtp_login(setup: Installation) -> Installation:
    """The [smtp] table with neither smtp.username nor a password key."""
    text = setup.config_path.read_text(encoding="utf-8")
    assert NO_LOGIN in text
    setup.config_path.write_text(text.replace(NO_LOGIN, "", 1), encoding="utf-8")
    return setup


def test_a_relay_without_auth_delivers_the_reply_when_no_login_is_configured(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> None:
    setup = without_smtp_login(Installation(tmp_path, fresh_dovecot, fresh_smtp)).start()
    setup.send(mail(CUSTOMER, "Leverans", "Hur lång tid tar leveransen till Sverige?"))
    assert setup.run("once") == 0
    [envelope] = fresh_smtp.received
    assert envelope.mail_from == fresh_dovecot.support and envelope.rcpt_tos == (CUSTOMER,)
    [reply] = setup.replies_to(CUSTOMER)
    assert reply["Auto-Submitted"] == "auto-replied" and "[#1]" in reply["Subject"]


def test_check_says_that_no_login_is_used(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = without_smtp_login(Installation(tmp_path, fresh_dovecot, fresh_smtp))
    setup.train()
    capsys.readouterr()
    assert setup.run("check") == 0
    [smtp_line] = [line for line in capsys.readouterr().out.splitlines()
                   if line.startswith("smtp ")]
    assert smtp_line == (f"smtp {fresh_smtp.host}:{fresh_smtp.port} (none): no login "
                         f"(smtp.username is not set); the server accepted a sender without AUTH")


class _Accept:
    async def handle_DATA(self, server, session, envelope):  # noqa: ANN
        return "250 OK"


@pytest.fixture
def auth_smtp() -> Iterator[int]:
    """An aiosmtpd that requires AUTH (support@example.test / right-password) before MAIL."""
    def authenticate(server, session, envelope, mechanism, auth_data):  # noqa: ANN
        ok = (auth_data.login, auth_data.password) == (b"support@example.test", b"right-password")
        return AuthResult(success=ok)

    port = free_port()
    warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")  # loopback test
    controller = Controller(_Accept(), hostname="127.0.0.1", port=port, auth_required=True,
                            auth_require_tls=False, authenticator=authenticate)
    controller.start()
    yield port
    controller.stop()


def test_check_reports_a_server_that_wants_a_login(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer, auth_smtp: int,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = without_smtp_login(Installation(tmp_path, fresh_dovecot, fresh_smtp,
                                            smtp={"port": auth_smtp}))
    setup.train()
    capsys.readouterr()
    assert setup.run("check") == 1
    err = capsys.readouterr().err
    assert f"smtp 127.0.0.1:{auth_smtp}: refused: 530" in err and "no login" not in err

    logged_in = Installation(tmp_path, fresh_dovecot, fresh_smtp, smtp={
        "port": auth_smtp, "username": "support@example.test", "password": "right-password"})
    assert logged_in.run("check") == 0
    assert f"smtp support@example.test@127.0.0.1:{auth_smtp} (none): login ok" in \
        capsys.readouterr().out


def test_a_refused_imap_login_reads_cleanly(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp, imap={"password": "wrong"})
    setup.train()
    capsys.readouterr()
    assert setup.run("check") == 1
    err = capsys.readouterr().err
    address = f"127.0.0.1:{fresh_dovecot.imaps_port}"
    assert f"imap {address}: login as 'support@example.test' refused: " \
           f"[AUTHENTICATIONFAILED] Authentication failed." in err.splitlines()
    assert err.count(address) == 1 and "b'" not in err


# -- commands that never connect -----------------------------------------------------------------

OFFLINE = {
    "train": [],
    "classify": ["question.eml"],
    "eval": ["--train", "labelled.csv", "--test", "labelled.csv", "--threshold", "0.5"],
    "tickets": [],
    "ticket": ["1"],
    "gaps": [],
}


@pytest.mark.parametrize("command", list(OFFLINE))
def test_offline_commands_need_no_password(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        command: str) -> None:
    monkeypatch.delenv("INBOXD_UNSET_IMAP", raising=False)
    monkeypatch.delenv("INBOXD_UNSET_SMTP", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "faq.toml").write_text(
        '[[faq]]\nid = "delivery"\nexamples = ["How long does delivery take?", '
        '"When will my order arrive?"]\nanswer.en = "Two days."\n'
        '[[faq]]\nid = "refund"\nexamples = ["I want my money back", "How do I get a refund?"]\n'
        'answer.en = "Within 30 days."\n', encoding="utf-8")
    config = tmp_path / "inboxd.toml"
    config.write_text(
        '[imap]\nhost = "imap.example.com"\nusername = "support@example.com"\n'
        'password_env = "INBOXD_UNSET_IMAP"\n'
        '[smtp]\nhost = "smtp.example.com"\nusername = "support@example.com"\n'
        'password_env = "INBOXD_UNSET_SMTP"\nfrom = "Support <support@example.com>"\n'
        '[faq]\npath = "faq.toml"\nmodel = "model.npz"\nthreshold = 0.5\n'
        '[store]\npath = "inboxd.sqlite3"\n', encoding="utf-8")
    (tmp_path / "question.eml").write_bytes(mail(CUSTOMER, "Delivery", "When will it arrive?"))
    (tmp_path / "labelled.csv").write_text(
        "text,category\n" + "".join(f"{q},{c}\n" for c in ("delivery", "refund")
                                    for q in (f"{c} question one", f"{c} question two",
                                              f"about my {c}", f"{c} please")), encoding="utf-8")
    if command == "classify":
        assert main(["-c", str(config), "train"]) == 0
    store = Store(tmp_path / "inboxd.sqlite3")
    store.insert_ticket({"customer": CUSTOMER, "subject": "Delivery", "state": "open",
                         "created_at": iso(datetime.now(timezone.utc))})
    store.close()
    capsys.readouterr()
    assert main(["-c", str(config), command, *OFFLINE[command]]) == 0
    captured = capsys.readouterr()
    assert "password_env" not in captured.err and "INBOXD_UNSET" not in captured.err
