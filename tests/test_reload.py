"""Changes an operator makes while `inboxd run` is running: a new model from `inboxd train`,
FAQ answers and rules, templates; the retrain job and `inboxd train` never step on each other;
`inboxd check` says when the model does not fit the FAQ file."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from harness import FAQ_TOML, Installation, body_text, mail, offline_config, parse
from servers import Dovecot, SmtpServer
from test_daemon import Daemon as DaemonProcess
from test_daemon import wait_for

from inboxd.cli import main
from inboxd.config import load_config
from inboxd.daemon import Daemon
from inboxd.model.modelfile import lock_path, training_lock
from inboxd.reload import Reloader
from inboxd.runtime import Runtime, build_runtime
from inboxd.model.training import meta_path, read_meta

GIFT_CARDS = """
[[faq]]
id = "gift-cards"
examples = [
  "Can I buy a gift card?", "Do you sell gift cards?", "How do gift cards work?",
  "Where can I redeem my gift card?", "Is there a gift voucher?",
  "Kan jag köpa ett presentkort?", "Säljer ni presentkort?",
  "¿Venden tarjetas de regalo?", "¿Puedo comprar una tarjeta regalo?", "你们有礼品卡吗?",
]
answer.en = "Gift cards are sold in our web shop."
"""
LAWYER_RULE = """
[[rule]]
phrases = ["lawyer"]
route = "human"
"""
SHIPPING = "Orders ship within 2 business days."
SHIPPING_NOW = "Orders ship within 1 business day."


class Customers:
    """Each question from a new address (the per-sender limit stays out of the way); waits for
    the one mail inboxd sends back."""

    def __init__(self, setup: Installation, smtp: SmtpServer) -> None:
        self.setup, self.smtp, self.count = setup, smtp, 0

    def ask(self, subject: str, text: str) -> EmailMessage:
        self.count += 1
        sender = f"customer{self.count}@elsewhere.test"
        self.setup.send(mail(sender, subject, text))
        sent = lambda: [e for e in self.smtp.received if sender in e.rcpt_tos]  # noqa: E731
        assert wait_for(lambda: bool(sent())), f"no reply to {subject!r}"
        return parse(sent()[0].raw)


def said_times(daemon: DaemonProcess, words: str) -> int:
    return sum(words in line for line in daemon.lines)


def test_running_daemon_takes_up_faq_edits_rules_and_a_new_model(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp,
                         imap={"idle": False, "poll_interval_s": 1}).start()
    faq = setup.dir / "faq.toml"
    customers = Customers(setup, fresh_smtp)
    daemon = DaemonProcess(setup)
    try:
        assert wait_for(lambda: daemon.said("connected to"), timeout_s=60), "never connected"
        assert daemon.said("using model ")
        assert SHIPPING in body_text(customers.ask("Delivery", "How long does delivery take?"))

        faq.write_text(FAQ_TOML.replace(SHIPPING, SHIPPING_NOW) + GIFT_CARDS + LAWYER_RULE,
                       encoding="utf-8")
        assert wait_for(lambda: daemon.said("reloaded the FAQ file")), "FAQ edit not noticed"
        assert daemon.said("does not know FAQ gift-cards"), "".join(daemon.lines)
        assert SHIPPING_NOW in body_text(customers.ask("Delivery", "How long does delivery take?"))
        lawyer = customers.ask("Delivery", "How long does delivery take? Asking for my lawyer.")
        assert lawyer["Subject"].startswith("Re: Delivery [#") and SHIPPING_NOW not in \
            body_text(lawyer), "the new rule sends it to a person"
        assert "Gift cards are sold" not in body_text(customers.ask("Gift", "Can I buy a gift card?"))

        faq.write_text(FAQ_TOML.replace('id = "returns"', 'id = "Returns!"'), encoding="utf-8")
        assert wait_for(lambda: daemon.said("not reloaded: faq[2].id")), "".join(daemon.lines)
        assert SHIPPING_NOW in body_text(customers.ask("Delivery", "How long does delivery take?"))

        faq.write_text(FAQ_TOML.replace(SHIPPING, SHIPPING_NOW) + GIFT_CARDS, encoding="utf-8")
        assert wait_for(lambda: said_times(daemon, "reloaded the FAQ file") == 2)
        assert setup.run("train") == 0
        assert wait_for(lambda: daemon.said("now using model")), "new model not noticed"
        [switched] = [line for line in daemon.lines if "now using model" in line]
        assert "gift-cards" in switched and "trained 20" in switched
        answer = customers.ask("Gift", "Can I buy a gift card?")
        assert "Gift cards are sold in our web shop." in body_text(answer)
    finally:
        code, out = daemon.stop()
    assert code == 0, out


def test_a_broken_template_edit_keeps_the_templates_in_use(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    template = templates / "auto_answer.en.txt.j2"
    template.write_text("First words. {{ answer }}\n", encoding="utf-8")
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp, templates={"path": str(templates)},
                         imap={"idle": False, "poll_interval_s": 1}).start()
    customers = Customers(setup, fresh_smtp)
    daemon = DaemonProcess(setup)
    try:
        assert wait_for(lambda: daemon.said("connected to"), timeout_s=60), "never connected"
        assert "First words." in body_text(customers.ask("Delivery", "How long does delivery take?"))
        template.write_text("Broken {{ answer }\n", encoding="utf-8")
        assert wait_for(lambda: daemon.said(f"not reloaded: {template}:1: ")), \
            "".join(daemon.lines)
        reply = body_text(customers.ask("Delivery", "How long does delivery take?"))
        assert reply.startswith("First words.") and SHIPPING in reply
        template.write_text("Second words. {{ answer }}\n", encoding="utf-8")
        assert wait_for(lambda: daemon.said("reloaded the FAQ file"))
        assert "Second words." in body_text(customers.ask("Delivery", "How long does delivery take?"))
    finally:
        code, out = daemon.stop()
    assert code == 0, out
    assert "Traceback" not in out


def test_retrain_reads_the_faq_file_as_it_is_now(tmp_path: Path, fresh_dovecot: Dovecot,
                                                 fresh_smtp: SmtpServer) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp).start()
    rt = build_runtime(load_config(setup.config_path))
    try:
        daemon = Daemon(rt)  # loaded the FAQ of three FAQs
        (setup.dir / "faq.toml").write_text(FAQ_TOML + GIFT_CARDS, encoding="utf-8")
        with rt.store.transaction():
            rt.store.add_learned_example("returns", "Can I exchange the shoes?", None, "marker",
                                         datetime.now(timezone.utc))
        daemon.retrain_cycle()
        written = read_meta(rt.config.faq.model)
        assert written is not None and "gift-cards" in written.faq_ids
        assert written.learned_examples == 1
        assert rt.model_meta == written, "the daemon switched to the model it trained"
        assert rt.faq.get("gift-cards") is not None, "and to the FAQ file it trained on"
        assert rt.classifier.predict("Can I buy a gift card?").faq_id == "gift-cards"
    finally:
        rt.store.close()


def _read_until(process: subprocess.Popen[str], text: str, timeout_s: float) -> str:
    """What ``process`` wrote on stderr until a line holding ``text`` (or it ended, or time
    ran out): however long the process takes to start."""
    assert process.stderr is not None
    seen: list[str] = []
    reader = threading.Thread(target=lambda: _collect(process.stderr, text, seen), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return "".join(seen)


def _collect(stream: Any, text: str, seen: list[str]) -> None:
    for line in stream:
        seen.append(line)
        if text in line:
            return


def test_trainings_never_interleave(tmp_path: Path, fresh_dovecot: Dovecot,
                                    fresh_smtp: SmtpServer) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp).start()
    model = setup.dir / "models" / "faq-model.npz"
    rt = build_runtime(load_config(setup.config_path))
    try:
        with rt.store.transaction():
            rt.store.add_learned_example("returns", "Can I exchange the shoes?", None, "marker",
                                         datetime.now(timezone.utc))
        written_ns = meta_path(model).stat().st_mtime_ns
        with training_lock(model) as held:  # as another process's training would
            assert held
            Daemon(rt).retrain_cycle()
            assert meta_path(model).stat().st_mtime_ns == written_ns, "retrain waited its turn"
            command = subprocess.Popen(
                [sys.executable, "-m", "inboxd", "-c", str(setup.config_path), "train"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
            waiting = f"waiting for another training of {model} to finish ({lock_path(model)})"
            seen = _read_until(command, waiting, timeout_s=120)
            assert waiting in seen, seen
            assert command.poll() is None, "inboxd train waits for the running training"
            assert meta_path(model).stat().st_mtime_ns == written_ns
        out, err = command.communicate(timeout=120)
        assert command.returncode == 0, out + seen + err
        assert meta_path(model).stat().st_mtime_ns != written_ns
        assert "and 1 learned examples" in out
    finally:
        rt.store.close()


def test_check_says_when_the_model_does_not_fit_the_faq(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp)
    setup.train()
    faq = setup.dir / "faq.toml"

    def check() -> tuple[int, str]:
        capsys.readouterr()
        code = setup.run("check")
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    code, out = check()
    assert code == 0, out
    assert "model " in out and ": ok" in out
    faq.write_text(FAQ_TOML.replace("Orders ship within", "Every order ships within"),
                   encoding="utf-8")
    code, out = check()  # the model compares questions with the answers it was trained on
    assert code == 2 and "an FAQ's answer changed since it was trained" in out, out
    setup.train()
    assert check()[0] == 0, "retrained on the new answer"
    faq.write_text(FAQ_TOML + GIFT_CARDS, encoding="utf-8")
    code, out = check()
    assert code == 2
    assert "does not know FAQ gift-cards of the FAQ file" in out and "run `inboxd train`" in out
    faq.write_text(FAQ_TOML.replace('"When does my parcel come?",', ""), encoding="utf-8")
    code, out = check()
    assert code == 2 and "the FAQ file's examples (or inboxd's background messages) changed " \
        "since it was trained" in out

    sidecar = meta_path(setup.dir / "models" / "faq-model.npz")  # written by an older inboxd
    fields = json.loads(sidecar.read_text())
    del fields["faq_ids"], fields["faq_digest"]
    sidecar.write_text(json.dumps(fields))
    os.utime(faq, ns=(time.time_ns() + 10**9,) * 2)
    code, out = check()
    assert code == 2 and f"it is older than the FAQ file {faq}" in out


TWINS = """
[[faq]]
id = "order-status"
examples = ["Where is my order?", "Has my order shipped?", "Where is my parcel?"]
answer.en = "Your order is on its way."

[[faq]]
id = "order-late"
examples = ["Where is my order?", "Has my order shipped?", "Where is my parcel?"]
answer.en = "Sorry it is late."
"""


def test_an_unreachable_target_is_said_loudly_and_answers_nothing(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp,
                         faq={"threshold": None, "target_precision": 0.97},
                         imap={"idle": False, "poll_interval_s": 1})
    (setup.dir / "faq.toml").write_text(TWINS, encoding="utf-8")  # no threshold tells them apart
    assert setup.run("train") == 2
    err = capsys.readouterr().err
    assert "WARNING: nothing is answered automatically: target precision 97% is not reachable" \
        in err and "order-" in err.split("To fix: add more examples")[1]
    assert setup.run("check") == 2
    assert "WARNING: nothing is answered automatically" in capsys.readouterr().err
    assert setup.run("once") == 0
    daemon = DaemonProcess(setup)
    try:
        assert wait_for(lambda: daemon.said("connected to"), timeout_s=60), "never connected"
        assert daemon.said("nothing is answered automatically: target precision 97%")
        reply = Customers(setup, fresh_smtp).ask("Order", "Where is my order?")
        assert "Your order is on its way." not in body_text(reply)
        assert "Sorry it is late." not in body_text(reply)
    finally:
        code, out = daemon.stop()
    assert code == 0, out


@pytest.fixture
def trained(tmp_path: Path) -> Iterator[tuple[Path, Runtime]]:
    """The configuration of a trained FAQ (no servers) and a runtime built from it."""
    config = offline_config(tmp_path, FAQ_TOML, "threshold = 0.5")
    assert main(["-c", str(config), "train"]) == 0
    rt = build_runtime(load_config(config))
    try:
        yield config, rt
    finally:
        rt.store.close()


def test_a_damaged_or_half_written_model_is_not_taken_up(
        trained: tuple[Path, Runtime], caplog: pytest.LogCaptureFixture) -> None:
    config, rt = trained
    reloader, in_use = Reloader(rt), rt.classifier
    model = rt.config.faq.model
    with training_lock(model):  # a training is writing: wait for it
        model.write_bytes(b"half a model")
        reloader.poll()
        assert rt.classifier is in_use
    reloader.poll()
    assert rt.classifier is in_use, "a damaged model is not used"
    assert "new model not loaded: " in caplog.text and "the model in use stays" in caplog.text
    assert main(["-c", str(config), "train"]) == 0
    reloader.poll()
    assert rt.classifier is not in_use
    assert rt.classifier.predict("How long does delivery take?").faq_id == "shipping-time"


def test_a_reloaded_faq_that_drops_a_notified_team_is_refused_like_at_start_up(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        caplog: pytest.LogCaptureFixture) -> None:
    from inboxd.reload import reload_answers

    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp,
                         notify={"default_address": "leads@example.test",
                                 "team_addresses": {"orders": "orders@example.test"}}).start()
    rt = build_runtime(load_config(setup.config_path))
    try:
        faq_in_use = rt.faq
        (setup.dir / "faq.toml").write_text(FAQ_TOML.replace('team = "orders"\n', ""),
                                            encoding="utf-8")
        reload_answers(rt)
        assert rt.faq is faq_in_use, "the FAQ `run` would refuse is not taken up"
        assert "notify.team_addresses.orders" in caplog.text and "not reloaded" in caplog.text
    finally:
        rt.store.close()


def test_a_reload_on_request_while_a_training_writes_takes_the_model_up_when_it_ends(
        trained: tuple[Path, Runtime], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="inboxd")
    _, rt = trained
    reloader, in_use = Reloader(rt), rt.classifier
    model = rt.config.faq.model
    written = tmp_path / "written.npz"
    written.write_bytes(model.read_bytes())
    with training_lock(model):
        os.replace(written, model)  # what the training writes, before it lets go
        reloader.poll(everything=True)
        assert rt.classifier is in_use
    assert "is being written by a training; it is taken up when that ends" in caplog.text
    reloader.poll()
    assert rt.classifier is not in_use, "the model written meanwhile is taken up"


def test_a_new_faq_and_its_new_model_reloaded_together_raise_no_warning(
        trained: tuple[Path, Runtime], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config, rt = trained
    reloader = Reloader(rt)
    (tmp_path / "faq.toml").write_text(FAQ_TOML + GIFT_CARDS, encoding="utf-8")
    assert main(["-c", str(config), "train"]) == 0
    caplog.clear()
    reloader.poll(everything=True)
    assert rt.classifier.predict("Can I buy a gift card?").faq_id == "gift-cards"
    assert "WARNING" not in caplog.text, caplog.text
    (tmp_path / "faq.toml").write_text(FAQ_TOML + GIFT_CARDS.replace("gift-cards", "vouchers"),
                                       encoding="utf-8")
    reloader.poll()
    assert "does not know FAQ vouchers" in caplog.text, "a FAQ the model does not know is said"
