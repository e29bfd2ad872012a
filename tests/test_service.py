"""`inboxd run` as a service: JSON log lines without passwords or message text, the metrics
endpoint, `inboxd health`, and SIGHUP reloading the configuration without a restart. Each
daemon is its own process against the real Dovecot and SMTP server."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.request
from pathlib import Path

import pytest
from harness import Installation, body_text, mail, parse
from prometheus_client.parser import text_string_to_metric_families
from servers import Dovecot, SmtpServer
from test_daemon import Daemon, wait_for
from test_metrics import free_port
from test_reload import GIFT_CARDS


BODY_SENTENCE = "My grandmother's porcelain teapot arrived in seventeen pieces"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The endpoint's samples: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def handled(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    return sum(v for (name, _), v in samples.items() if name == "inboxd_messages_handled_total")


def replies_for(smtp: SmtpServer, address: str) -> list[bytes]:
    return [e.raw for e in smtp.received if address in e.rcpt_tos]


def test_json_logs_metrics_and_health_of_a_running_daemon(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> None:
    port = free_port()
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp, imap={"poll_interval_s": 2},
                         log={"format": "json", "level": "debug"},
                         metrics={"listen": f"127.0.0.1:{port}"}).start()
    daemon = Daemon(setup)
    try:
        assert wait_for(lambda: daemon.said("connected to"), timeout_s=60), "never connected"
        setup.send(mail("asker@example.test", "Delivery", "How long does delivery take?"))
        setup.send(mail("teapot@example.test", "Broken", f"{BODY_SENTENCE}. What now?"))
        assert wait_for(lambda: len(fresh_smtp.received) == 2), "no two replies"
        assert wait_for(lambda: handled(scrape(port)) == 2), "not counted"  # after the pass
        samples = scrape(port)
        health = setup.run_process("health", timeout_s=30)
    finally:
        code, out = daemon.stop()
    assert code == 0, out

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("inboxd_messages_handled_total", decision="AutoAnswer") == 1
    assert value("inboxd_messages_handled_total", decision="Acknowledge") == 1
    assert value("inboxd_mails_sent_total", kind="answer") == 1
    assert value("inboxd_mails_sent_total", kind="acknowledgement") == 1
    assert value("inboxd_reply_latency_seconds_count", kind="answer") == 1
    assert value("inboxd_classifier_confidence_count") == 2
    assert value("inboxd_tickets", state="open") == 1
    assert value("inboxd_tickets", state="answered") == 1
    assert value("inboxd_tickets_overdue") == 0
    assert value("inboxd_outbox_mails", state="sent", kind="answer") == 1
    assert value("inboxd_first_response_seconds_count", by="auto") == 1
    assert value("inboxd_server_up", server="imap") == 1
    assert value("inboxd_server_up", server="smtp") == 1
    assert 0 <= time.time() - value("inboxd_last_mailbox_check_timestamp_seconds") < 30

    assert health.returncode == 0, health.stdout + health.stderr
    assert health.stdout.startswith("ok: mailbox checked ")

    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    decided = [line for line in lines if line.get("decision")]
    assert {line["decision"] for line in decided} == {"AutoAnswer", "Acknowledge"}
    assert all(isinstance(line["uid"], int) for line in decided)
    assert fresh_dovecot.password not in out
    assert BODY_SENTENCE not in out and "seventeen pieces" not in out


def notices(sock: socket.socket) -> list[bytes]:
    """What the daemon told "systemd" so far."""
    said = []
    sock.setblocking(False)
    try:
        while True:
            said.append(sock.recv(4096))
    except BlockingIOError:
        return said


def test_sighup_takes_up_a_new_faq_and_keeps_running_on_a_broken_config(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp,
                         imap={"idle": True, "poll_interval_s": 30}).start()
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(f"\0inboxd-test-{os.getpid()}-{id(tmp_path)}")
    monkeypatch.setenv("NOTIFY_SOCKET", f"@inboxd-test-{os.getpid()}-{id(tmp_path)}")
    daemon = Daemon(setup)
    said: list[bytes] = []
    try:
        assert wait_for(lambda: daemon.said("connected to"), timeout_s=60), "never connected"
        assert wait_for(lambda: bool(said.extend(notices(systemd)) or said))
        assert said[0].startswith(b"READY=1\n"), said
        # a new FAQ file and model, named by a new configuration: only a reload finds them
        (tmp_path / "faq2.toml").write_text((tmp_path / "faq.toml").read_text() + GIFT_CARDS)
        Installation(tmp_path, fresh_dovecot, fresh_smtp,
                     imap={"idle": True, "poll_interval_s": 30},
                     faq={"path": "faq2.toml", "model": "models2/faq-model.npz"}).train()
        daemon.process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: daemon.said("reloaded the configuration")), "no reload"
        assert wait_for(lambda: said.extend(notices(systemd)) or said[1:] == [b"RELOADING=1",
                                                                              b"READY=1"]), said
        setup.send(mail("gifts@example.test", "Gift", "Do you sell gift cards?"))
        assert wait_for(lambda: bool(replies_for(fresh_smtp, "gifts@example.test")))
        answer = parse(replies_for(fresh_smtp, "gifts@example.test")[0])
        assert "Gift cards are sold in our web shop." in body_text(answer)

        setup.config_path.write_text(setup.config_path.read_text().replace(
            f"port = {fresh_dovecot.imaps_port}", 'port = "nine-nine-three"'))
        daemon.process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: daemon.said("not reloaded")), "the broken file was not reported"
        assert daemon.said("imap.port"), "the broken key was not named"
        setup.send(mail("later@example.test", "Gift", "Can I buy a gift card?"))
        assert wait_for(lambda: bool(replies_for(fresh_smtp, "later@example.test"))), \
            "the daemon stopped answering after a broken reload"
        assert "Gift cards are sold" in body_text(
            parse(replies_for(fresh_smtp, "later@example.test")[0]))

        setup.config_path.write_text(setup.config_path.read_text().replace(
            'port = "nine-nine-three"', f"port = {fresh_dovecot.imaps_port}").replace(
            "models2/faq-model.npz", "models3/faq-model.npz"))  # a model never trained
        daemon.process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: sum("not reloaded" in line for line in daemon.lines) == 2)
        assert daemon.said("faq.model"), "the missing model was not named"
        setup.send(mail("last@example.test", "Gift", "Do you sell gift cards?"))
        assert wait_for(lambda: bool(replies_for(fresh_smtp, "last@example.test")))
        assert daemon.process.poll() is None
    finally:
        code, out = daemon.stop()
        print(out)  # the daemon's log, shown when the test fails
        said += notices(systemd)
        systemd.close()
    assert code == 0, out
    assert "stopping (SIGTERM)" in out
    assert said[1:] == [b"RELOADING=1", b"READY=1"] * 3 + [b"STOPPING=1"], said
