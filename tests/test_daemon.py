"""`inboxd run` as its own process: new mail is handled as it arrives, and SIGTERM stops it."""

from __future__ import annotations

import os
import sqlite3
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from harness import Installation, mail
from servers import Dovecot, SmtpServer

CUSTOMER = "customer@example.test"
CUSTOMER2 = "customer2@example.test"
WAIT_S = 20.0


class Daemon:
    """`inboxd run` as a process, its output collected line by line as it comes."""

    def __init__(self, setup: Installation) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "inboxd", "-c", str(setup.config_path), "run"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def said(self, words: str) -> bool:
        return any(words in line for line in self.lines)

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail("inboxd did not stop within 10 s of SIGTERM:\n" + "".join(self.lines))
        self.reader.join(timeout=5)
        return self.process.returncode, "".join(self.lines)


def wait_for(predicate, timeout_s: float = WAIT_S) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("idle", [True, False], ids=["idle", "polling"])
def test_daemon_answers_mail_as_it_arrives_and_stops_on_sigterm(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer, idle: bool) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp,
                         imap={"idle": idle, "poll_interval_s": 1 if not idle else 30})
    setup.start()
    daemon = Daemon(setup)
    try:
        assert wait_for(lambda: daemon.said("connected to"), timeout_s=60), "never connected"
        time.sleep(0.5)  # let it settle into its wait
        for i in range(2):
            setup.send(mail(CUSTOMER, f"Delivery {i}", "How long does delivery take?"))
            assert wait_for(lambda: len(fresh_smtp.received) == i + 1), \
                f"no reply to message {i} within {WAIT_S} s"
    finally:
        code, out = daemon.stop()
    assert code == 0, out
    assert "stopping (SIGTERM)" in out
    assert len(fresh_smtp.received) == 2
    assert len(setup.folder("Support/Answered")) == 2


def test_daemon_survives_imap_outage(tmp_path: Path, fresh_dovecot: Dovecot,
                                     fresh_smtp: SmtpServer) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp).start()
    daemon = Daemon(setup)
    try:
        assert wait_for(lambda: daemon.said("connected to"), timeout_s=60), "never connected"
        time.sleep(0.5)
        fresh_dovecot.stop()
        time.sleep(2.0)
        fresh_dovecot.start()
        setup.send(mail(CUSTOMER, "Delivery", "How long does delivery take?"))
        assert wait_for(lambda: len(fresh_smtp.received) == 1, timeout_s=30), \
            "no reply after the IMAP server came back"
    finally:
        code, out = daemon.stop()
    assert code == 0, out
    assert len([line for line in out.splitlines() if "trying again" in line]) == 1, out
    assert sum("connected to" in line for line in out.splitlines()) == 2, "reconnected once"


def db_value(setup: Installation, sql: str) -> object:
    conn = sqlite3.connect(setup.folder_path("inboxd.sqlite3"))
    try:
        row = conn.execute(sql).fetchone()
        return row[0] if row else None
    finally:
        conn.close()


def lines_with(out: str, *words: str) -> list[str]:
    return [line for line in out.splitlines() if all(w in line for w in words)]


def test_outages_of_imap_and_smtp_stop_only_what_needs_that_server(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> None:
    """SMTP down: mail is still triaged and filed, the reply waits. IMAP down as well, then SMTP
    back: the waiting reply goes out without IMAP. Each server is noticed back within 15 s
    however long it was gone, and each outage is logged once, not once per retry."""
    remote = "remote@elsewhere.example"  # the test relay takes its mail without Dovecot
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp).start()
    daemon = Daemon(setup)
    try:
        assert wait_for(lambda: daemon.said("connected to"), timeout_s=60), "never connected"
        fresh_smtp.stop()
        setup.send(mail(remote, "Delivery", "How long does delivery take?"))
        setup.send(mail(CUSTOMER2, "Lamp", "My lamp arrived broken."))
        assert wait_for(lambda: len(setup.folder("Support/Queue")) == 1), \
            "mail was not triaged and filed while SMTP was down"
        assert db_value(setup, "select count(*) from tickets") == 2
        assert db_value(setup, "select count(*) from outbox where state = 'pending'") == 2
        time.sleep(16)  # long enough for an uncapped doubling backoff to wait 16 s and more

        fresh_dovecot.stop()
        fresh_smtp.start()
        back = time.monotonic()
        assert wait_for(lambda: any(e.rcpt_tos == (remote,) for e in fresh_smtp.received),
                        timeout_s=20), "the waiting reply did not go out while IMAP was down"
        assert time.monotonic() - back < 15, "SMTP was not noticed back within 15 s"

        time.sleep(3)
        fresh_dovecot.start()
        assert wait_for(lambda: len(setup.folder("Support/Answered")) == 1, timeout_s=20), \
            "the answered message was not filed once IMAP was back"
        assert wait_for(lambda: len(setup.replies_to(CUSTOMER2)) == 1, timeout_s=20)
    finally:
        code, out = daemon.stop()
    assert code == 0, out
    smtp_address = f"SMTP {fresh_smtp.host}:{fresh_smtp.port}"
    imap_address = f"IMAP {fresh_dovecot.host}:{fresh_dovecot.imaps_port}"
    assert len(lines_with(out, smtp_address, "trying again")) == 1, out
    assert len(lines_with(out, smtp_address, "is back after")) == 1, out
    assert len(lines_with(out, imap_address, "trying again")) == 1, out
    assert len(lines_with(out, imap_address, "is back after")) == 1, out
    assert len([e for e in fresh_smtp.received if e.rcpt_tos == (remote,)]) == 1, \
        "the reply was sent once"


def test_a_refused_imap_login_is_an_error_not_retried_every_second(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> None:
    Installation(tmp_path, fresh_dovecot, fresh_smtp).start()
    wrong = Installation(tmp_path, fresh_dovecot, fresh_smtp, imap={"password": "wrong"})
    daemon = Daemon(wrong)
    try:
        assert wait_for(lambda: daemon.said("refused"), timeout_s=60), "no word of the refusal"
        time.sleep(5)
    finally:
        code, out = daemon.stop()
    assert code == 0, out
    refusals = lines_with(out, "refused")
    assert len(refusals) == 1, out
    refusal = refusals[0]
    assert " ERROR " in refusal and "imap.username" in refusal and "30 min" in refusal
