"""OAuth2 logins against real servers: Dovecot checking XOAUTH2 tokens itself, an SMTP relay
with XOAUTH2, and the local token server of ``oauth_server.py`` that msal and the Google flow
talk to over HTTPS (device code, rotating one-time refresh tokens, revocation, expiry)."""

from __future__ import annotations

import io
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from harness import Installation, mail
from oauth_server import CLIENT_ID, CLIENT_SECRET, TENANT, TokenServer
from servers import AuthSmtpServer, Dovecot

from inboxd.faults import CRASH_EXIT_CODE, CRASH_ENV

CUSTOMER = "customer@example.test"


@pytest.fixture(scope="session")
def token_server(dovecot: Dovecot) -> Iterator[TokenServer]:
    server = TokenServer(dovecot.oauth2_key)
    yield server
    server.stop()


@pytest.fixture
def tokens(token_server: TokenServer) -> TokenServer:
    token_server.access_lifetime_s = 3600.0
    token_server.refreshes = token_server.refused_refreshes = 0
    token_server.issued.clear()
    return token_server


@pytest.fixture(scope="session")
def auth_smtp_server(dovecot: Dovecot) -> Iterator[AuthSmtpServer]:
    server = AuthSmtpServer(dovecot)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def auth_smtp(auth_smtp_server: AuthSmtpServer, fresh_dovecot: Dovecot) -> AuthSmtpServer:
    auth_smtp_server.reset()
    return auth_smtp_server


def microsoft(tokens: TokenServer, **more: Any) -> dict[str, Any]:
    return {"provider": "microsoft", "client_id": CLIENT_ID, "tenant": TENANT,
            "authority": tokens.authority, "ca_file": str(tokens.ca_file), **more}


def oauth_setup(tmp_path: Path, dovecot: Dovecot, smtp: AuthSmtpServer, tokens: TokenServer,
                imap_oauth: bool = True, smtp_oauth: bool = True,
                **overrides: dict[str, Any]) -> Installation:
    imap = {"auth": "oauth2", "password": None} if imap_oauth else {}
    smtp_login = {"auth": "oauth2", "username": dovecot.support, "password": None} \
        if smtp_oauth else {"username": dovecot.support, "password": dovecot.password}
    tables = {"imap": imap, "smtp": smtp_login, "oauth2": microsoft(tokens)}
    for name, values in overrides.items():
        tables.setdefault(name, {}).update(values)
    return Installation(tmp_path, dovecot, smtp, **tables)


def device_login(setup: Installation, tokens: TokenServer, user: str,
                 capsys: pytest.CaptureFixture[str]) -> str:
    tokens.approve_soon(user)
    assert setup.run("login") == 0
    return capsys.readouterr().out


def token_row(setup: Installation) -> dict[str, Any]:
    conn = sqlite3.connect(setup.folder_path("inboxd.sqlite3"))
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("select * from oauth_tokens").fetchone())
    finally:
        conn.close()


def refresh_token_of(row: dict[str, Any]) -> str:
    import json

    (entry,) = json.loads(row["state"])["RefreshToken"].values()
    return str(entry["secret"])


def test_first_login_by_device_code_then_mail_is_read_and_answered_over_xoauth2(
        tmp_path: Path, fresh_dovecot: Dovecot, auth_smtp: AuthSmtpServer, tokens: TokenServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = oauth_setup(tmp_path, fresh_dovecot, auth_smtp, tokens)
    out = device_login(setup, tokens, fresh_dovecot.support, capsys)
    assert f"{tokens.base}/devicelogin" in out and "enter the code" in out
    assert f"logged in as {fresh_dovecot.support}" in out
    store = Path(setup.folder_path("inboxd.sqlite3"))
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    row = token_row(setup)
    assert row["access_token"] and refresh_token_of(row) in tokens.valid_refresh_tokens(
        fresh_dovecot.support)
    assert row["access_token"] not in out and refresh_token_of(row) not in out

    setup.start()
    setup.send(mail(CUSTOMER, "Delivery", "How long does delivery take?"))
    assert setup.run("once") == 0
    assert [m["Subject"] for m in setup.replies_to(CUSTOMER)] == ["Re: Delivery [#1]"]
    assert ("XOAUTH2", fresh_dovecot.support) in auth_smtp.logins
    assert "method=XOAUTH2" in fresh_dovecot.log() or "XOAUTH2" in fresh_dovecot.log()

    capsys.readouterr()
    assert setup.run("check") == 0
    out = capsys.readouterr().out
    assert "imap support@example.test@127.0.0.1" in out and "oauth2 (microsoft, device)" in out
    assert "refresh ok" in out and "login ok (XOAUTH2)" in out


def test_every_refresh_rotates_the_refresh_token_and_the_old_one_is_refused(
        tmp_path: Path, fresh_dovecot: Dovecot, auth_smtp: AuthSmtpServer, tokens: TokenServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = oauth_setup(tmp_path, fresh_dovecot, auth_smtp, tokens)
    device_login(setup, tokens, fresh_dovecot.support, capsys)
    seen = [refresh_token_of(token_row(setup))]
    for _ in range(2):
        assert setup.run("login", "--status") == 0
        seen.append(refresh_token_of(token_row(setup)))
    assert "refresh ok" in capsys.readouterr().out
    assert len(set(seen)) == 3, "a new refresh token on every refresh"
    valid = tokens.valid_refresh_tokens(fresh_dovecot.support)
    assert seen[-1] in valid and not set(seen[:-1]) & set(valid)
    answer = requests.post(f"{tokens.authority}/oauth2/v2.0/token", verify=str(tokens.ca_file),
                           data={"grant_type": "refresh_token", "refresh_token": seen[0],
                                 "client_id": CLIENT_ID})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert token_row(setup)["generation"] == 3


def test_a_token_the_server_refuses_is_refreshed_once_and_the_login_tried_again(
        tmp_path: Path, fresh_dovecot: Dovecot, auth_smtp: AuthSmtpServer, tokens: TokenServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The store's token looks valid for an hour, but the servers refuse it (its key is not
    theirs): IMAP and SMTP each refresh once and log in with the new token."""
    import jwt

    setup = oauth_setup(tmp_path, fresh_dovecot, auth_smtp, tokens)
    device_login(setup, tokens, fresh_dovecot.support, capsys)
    forged = jwt.encode({"sub": "x", "email": fresh_dovecot.support,
                         "exp": int(time.time()) + 3600}, "k" * 32, headers={"typ": "JWT"})
    conn = sqlite3.connect(setup.folder_path("inboxd.sqlite3"))
    with conn:
        conn.execute("update oauth_tokens set access_token = ?", [forged])
    conn.close()
    setup.start()
    assert tokens.refreshes >= 1
    assert token_row(setup)["access_token"] != forged


def test_a_password_account_works_next_to_an_oauth2_one(
        tmp_path: Path, fresh_dovecot: Dovecot, auth_smtp: AuthSmtpServer, tokens: TokenServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    """IMAP by XOAUTH2 and SMTP by password in one setup; a second setup on the same Dovecot
    logs in with a password alone."""
    setup = oauth_setup(tmp_path / "a", fresh_dovecot, auth_smtp, tokens, smtp_oauth=False) \
        if (tmp_path / "a").mkdir() is None else None
    assert setup is not None
    device_login(setup, tokens, fresh_dovecot.support, capsys)
    setup.start()
    setup.send(mail(CUSTOMER, "Delivery", "How long does delivery take?"))
    assert setup.run("once") == 0
    assert ("PLAIN", fresh_dovecot.support) in auth_smtp.logins or \
        ("LOGIN", fresh_dovecot.support) in auth_smtp.logins
    (tmp_path / "b").mkdir()
    other = Installation(tmp_path / "b", fresh_dovecot, auth_smtp,
                         imap={"username": fresh_dovecot.agent},
                         smtp={"username": fresh_dovecot.agent,
                               "password": fresh_dovecot.password})
    other.train()
    assert other.run("once") == 0
    assert [m["Subject"] for m in setup.replies_to(CUSTOMER)] == ["Re: Delivery [#1]"]


def test_the_daemon_runs_across_several_access_token_expiries(
        tmp_path: Path, fresh_dovecot: Dovecot, auth_smtp: AuthSmtpServer, tokens: TokenServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Tokens live 3 s: each reply's SMTP login and the IMAP login after a server restart need
    a new one, refreshed ahead of expiry with a rotated refresh token each time."""
    from test_daemon import Daemon, wait_for

    tokens.access_lifetime_s = 3.0
    setup = oauth_setup(tmp_path, fresh_dovecot, auth_smtp, tokens)
    device_login(setup, tokens, fresh_dovecot.support, capsys)
    setup.start()
    daemon = Daemon(setup)
    try:
        assert wait_for(lambda: daemon.said("connected to"), timeout_s=60), "never connected"
        for i in range(3):
            if i == 2:
                fresh_dovecot.stop()  # the IMAP login after it needs a token again
                fresh_dovecot.start()
            setup.send(mail(CUSTOMER, f"Delivery {i}", "How long does delivery take?"))
            assert wait_for(lambda: len(auth_smtp.received) == i + 1, timeout_s=30), \
                f"no reply to message {i}"
            time.sleep(3.5)  # the token used is expired now
    finally:
        code, out = daemon.stop()
    assert code == 0, out
    assert tokens.refreshes >= 3 and tokens.refused_refreshes == 0
    assert sum(m == "XOAUTH2" for m, _ in auth_smtp.logins) >= 3
    assert len(set(tokens.issued)) >= 4
    assert "refused" not in out.lower() and "ALARM" not in out
    assert sum("connected to" in line for line in out.splitlines()) == 2


def test_a_revoked_grant_raises_the_alarm_and_mail_waits_until_the_next_login(
        tmp_path: Path, fresh_dovecot: Dovecot, auth_smtp: AuthSmtpServer, tokens: TokenServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    """IMAP by XOAUTH2, SMTP by password. The grant is revoked: at the next IMAP login the
    refresh is refused, the alarm mail reaches [alert] to within alert.after, customers' mail
    waits in the inbox, and after `inboxd login` it is answered and the recovery announced."""
    from test_daemon import Daemon, wait_for

    tokens.access_lifetime_s = 2.0
    operator = fresh_dovecot.agent
    setup = oauth_setup(tmp_path, fresh_dovecot, auth_smtp, tokens, smtp_oauth=False,
                        alert={"to": operator, "after": "20s"})
    device_login(setup, tokens, fresh_dovecot.support, capsys)
    setup.start()
    daemon = Daemon(setup)
    started = time.monotonic()
    try:
        assert wait_for(lambda: daemon.said("connected to"), timeout_s=60), "never connected"
        tokens.revoke(fresh_dovecot.support)
        time.sleep(2.5)
        fresh_dovecot.stop()  # the next IMAP login needs a refresh, which is refused
        fresh_dovecot.start()
        started = time.monotonic()
        setup.send(mail(CUSTOMER, "Delivery", "How long does delivery take?"))
        assert wait_for(lambda: any("ALARM" in (m["Subject"] or "")
                                    for m in setup.replies_to(operator)), timeout_s=20), \
            "no alarm within alert.after:\n" + "".join(daemon.lines)
        assert time.monotonic() - started < 20
        alarm = next(m for m in setup.replies_to(operator) if "ALARM" in m["Subject"])
        assert alarm["Auto-Submitted"] == "auto-generated"
        assert "inboxd login" in alarm.get_content()
        assert len(fresh_dovecot.messages(fresh_dovecot.support)) == 1, "the mail waits"
        assert setup.replies_to(CUSTOMER) == []

        tokens.approve_soon(fresh_dovecot.support)
        assert setup.run("login") == 0  # the daemon keeps running
        assert wait_for(lambda: len(setup.replies_to(CUSTOMER)) == 1, timeout_s=20), \
            "the waiting mail was not answered after the new login:\n" + "".join(daemon.lines)
        assert wait_for(lambda: any("works again" in (m["Subject"] or "")
                                    for m in setup.replies_to(operator)), timeout_s=20)
        time.sleep(1.0)
    finally:
        code, out = daemon.stop()
    assert code == 0, out
    subjects = [m["Subject"] for m in setup.replies_to(operator)]
    assert sum("ALARM" in s for s in subjects) == 1, subjects  # once per incident
    assert sum("works again" in s for s in subjects) == 1, subjects
    assert len(setup.replies_to(CUSTOMER)) == 1


def test_smtp_refused_puts_the_alarm_in_the_alert_folder_and_triage_goes_on(
        tmp_path: Path, fresh_dovecot: Dovecot, auth_smtp: AuthSmtpServer, tokens: TokenServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    """IMAP by password, SMTP by XOAUTH2 with a revoked grant: the alarm is APPENDed to
    Support/Alerts, new mail is still ticketed and filed, the replies wait in the outbox and go
    out after the new login; the recovery then goes by mail."""
    from test_daemon import Daemon, db_value, wait_for

    tokens.access_lifetime_s = 2.0
    operator = fresh_dovecot.agent
    setup = oauth_setup(tmp_path, fresh_dovecot, auth_smtp, tokens, imap_oauth=False,
                        alert={"to": operator})
    device_login(setup, tokens, fresh_dovecot.support, capsys)
    setup.start()
    tokens.revoke(fresh_dovecot.support)
    time.sleep(2.5)
    daemon = Daemon(setup)
    try:
        setup.send(mail(CUSTOMER, "Delivery", "How long does delivery take?"))
        setup.send(mail("customer2@example.test", "Lamp", "My lamp arrived broken."))
        assert wait_for(lambda: len(setup.folder("Support/Alerts")) == 1, timeout_s=30), \
            "no alarm in Support/Alerts:\n" + "".join(daemon.lines)
        alarm = setup.folder("Support/Alerts")[0]
        assert "sending mail (SMTP)" in alarm["Subject"]
        assert wait_for(lambda: len(setup.folder("Support/Queue")) == 1), "triage stopped"
        assert db_value(setup, "select count(*) from tickets") == 2
        assert db_value(setup, "select count(*) from outbox where state = 'pending' "
                               "and kind != 'alert'") >= 1
        assert auth_smtp.received == []

        tokens.approve_soon(fresh_dovecot.support)
        assert setup.run("login") == 0
        assert wait_for(lambda: len(setup.replies_to(CUSTOMER)) == 1, timeout_s=20), \
            "the waiting reply was not sent after the new login:\n" + "".join(daemon.lines)
        assert wait_for(lambda: any("works again" in (m["Subject"] or "")
                                    for m in setup.replies_to(operator)), timeout_s=20)
    finally:
        code, out = daemon.stop()
    assert code == 0, out
    assert len(setup.folder("Support/Alerts")) == 1  # once per incident
    assert db_value(setup, "select count(*) from outbox where state = 'failed'") == 0


def test_a_crash_between_refresh_and_save_loses_no_mail(
        tmp_path: Path, fresh_dovecot: Dovecot, auth_smtp: AuthSmtpServer, tokens: TokenServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    """inboxd dies right after the token server rotated the refresh token, before the store
    has it. The stored row is whole (the previous grant); the token server has already retired
    that refresh token, so the next run's login is refused and says to log in again; the mail
    waits in the inbox and is answered after `inboxd login`."""
    tokens.access_lifetime_s = 2.0
    setup = oauth_setup(tmp_path, fresh_dovecot, auth_smtp, tokens)
    device_login(setup, tokens, fresh_dovecot.support, capsys)
    setup.start()
    before = token_row(setup)
    time.sleep(2.5)
    setup.send(mail(CUSTOMER, "Delivery", "How long does delivery take?"))
    crashed = setup.run_process("once", env={CRASH_ENV: "oauth-refreshed"})
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    after = token_row(setup)
    assert after == before, "the store holds the previous grant, whole"
    assert refresh_token_of(after) not in tokens.valid_refresh_tokens(fresh_dovecot.support)

    refused = setup.run_process("once")
    assert refused.returncode != 0
    assert "inboxd login" in refused.stderr and refresh_token_of(after) not in refused.stderr
    assert len(fresh_dovecot.messages(fresh_dovecot.support)) == 1, "the mail waits"

    tokens.approve_soon(fresh_dovecot.support)
    assert setup.run("login") == 0
    assert setup.run("once") == 0
    assert [m["Subject"] for m in setup.replies_to(CUSTOMER)] == ["Re: Delivery [#1]"]


def test_google_installed_app_login_from_the_pasted_redirect(
        tmp_path: Path, fresh_dovecot: Dovecot, auth_smtp: AuthSmtpServer, tokens: TokenServer,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The person opens the printed address, signs in, and pastes the loopback address the
    browser was sent to; refreshes keep the same refresh token (Google's way)."""
    os.environ["TEST_GOOGLE_SECRET"] = CLIENT_SECRET
    google = {"provider": "google", "client_id": CLIENT_ID, "tenant": None, "authority": None,
              "client_secret_env": "TEST_GOOGLE_SECRET", "auth_url": f"{tokens.base}/g/authorize",
              "token_url": f"{tokens.base}/g/token", "ca_file": str(tokens.ca_file)}
    setup = oauth_setup(tmp_path, fresh_dovecot, auth_smtp, tokens, oauth2=google)
    tokens.google_user = fresh_dovecot.support

    class Person(io.StringIO):
        """Reads the printed address, "signs in", pastes where the browser ended up."""

        def readline(self, *args: Any) -> str:
            printed = capsys.readouterr().out
            url = next(line for line in printed.splitlines() if "/g/authorize?" in line)
            assert "scope=https%3A%2F%2Fmail.google.com%2F" in url and "code_challenge=" in url
            answer = requests.get(url, verify=str(tokens.ca_file), allow_redirects=False)
            return answer.headers["Location"] + "\n"

    monkeypatch.setattr("sys.stdin", Person())
    assert setup.run("login") == 0
    row = token_row(setup)
    assert setup.run("login", "--status") == 0
    assert "refresh ok" in capsys.readouterr().out
    import json

    assert json.loads(token_row(setup)["state"])["refresh_token"] == \
        json.loads(row["state"])["refresh_token"]
    setup.start()
    setup.send(mail(CUSTOMER, "Delivery", "How long does delivery take?"))
    assert setup.run("once") == 0
    assert len(setup.replies_to(CUSTOMER)) == 1


def test_no_mailbox_check_for_alert_after_mails_the_alarm_and_then_the_recovery(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: Any) -> None:
    """Dovecot is gone longer than alert.after: one alarm by mail (SMTP still works), one on
    recovery; a short outage before raised none."""
    from test_daemon import Daemon, wait_for

    operator = "ops@elsewhere.example"  # the relay takes its mail without Dovecot
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp,
                         alert={"to": operator, "after": "4s"})
    setup.start()
    daemon = Daemon(setup)

    def to_operator() -> list[str]:
        return [parse_subject(e.raw) for e in fresh_smtp.received if operator in e.rcpt_tos]

    try:
        assert wait_for(lambda: daemon.said("connected to"), timeout_s=60), "never connected"
        fresh_dovecot.stop()
        time.sleep(2.0)
        fresh_dovecot.start()  # shorter than alert.after: no alarm
        assert wait_for(lambda: sum("connected to" in line for line in daemon.lines) == 2)
        assert to_operator() == []
        fresh_dovecot.stop()
        assert wait_for(lambda: len(to_operator()) == 1, timeout_s=20), \
            "no alarm:\n" + "".join(daemon.lines)
        assert "reading the support mailbox (IMAP) stopped" in to_operator()[0]
        fresh_dovecot.start()
        assert wait_for(lambda: len(to_operator()) == 2, timeout_s=30), \
            "no recovery:\n" + "".join(daemon.lines)
    finally:
        code, out = daemon.stop()
    assert code == 0, out
    assert "works again" in to_operator()[1]


def parse_subject(raw: bytes) -> str:
    from harness import parse

    return str(parse(raw)["Subject"])


@pytest.mark.parametrize("change, words", [
    ({"authority": "/wrong-tenant"}, "check oauth2.tenant"),
    ({"client_id": "someone-else"}, "AADSTS700016"),
])
def test_login_names_a_wrong_tenant_or_client(
        tmp_path: Path, fresh_dovecot: Dovecot, auth_smtp: AuthSmtpServer, tokens: TokenServer,
        capsys: pytest.CaptureFixture[str], change: dict[str, str], words: str) -> None:
    values = {k: tokens.base + v if k == "authority" else v for k, v in change.items()}
    setup = oauth_setup(tmp_path, fresh_dovecot, auth_smtp, tokens, oauth2=values)
    assert setup.run("login") == 1
    err = capsys.readouterr().err
    assert "login failed" in err and words in err, err


def test_app_only_login_with_client_credentials(
        tmp_path: Path, fresh_dovecot: Dovecot, auth_smtp: AuthSmtpServer, tokens: TokenServer,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """No person and no refresh token: the app's secret gets each access token."""
    monkeypatch.setenv("TEST_APP_SECRET", CLIENT_SECRET)
    tokens.app_user = fresh_dovecot.support
    setup = oauth_setup(tmp_path, fresh_dovecot, auth_smtp, tokens,
                        oauth2={"flow": "client_credentials",
                                "client_secret_env": "TEST_APP_SECRET"})
    assert setup.run("login") == 0
    assert "app-only token" in capsys.readouterr().out
    assert token_row(setup)["state"] == ""  # nothing to refresh with: the secret does it
    setup.start()
    setup.send(mail(CUSTOMER, "Delivery", "How long does delivery take?"))
    assert setup.run("once") == 0
    assert len(setup.replies_to(CUSTOMER)) == 1
    monkeypatch.setenv("TEST_APP_SECRET", "wrong")
    assert setup.run("login", "--status") == 1
    assert "AADSTS7000215" in capsys.readouterr().out
