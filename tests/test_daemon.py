"""`inboxd run` as its own process: new mail is handled as it arrives, and SIGTERM stops it."""

from __future__ import annotations

import os
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
    assert "retrying in" in out
    assert sum("connected to" in line for line in out.splitlines()) == 2, "reconnected once"
