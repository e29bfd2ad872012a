"""One mail, one language, against the real Dovecot and SMTP server: a German customer of an FAQ
with German answers gets either everything in German (the operator wrote German templates) or
everything in ``faq.default_language`` — never an English frame around a German answer — and
dates written the way the mail's language writes them."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from harness import Installation, body_text, mail, parse
from servers import Dovecot, SmtpServer

from inboxd.commands.mailbox import run_once
from inboxd.config import load_config
from inboxd.runtime import build_runtime

STHLM = ZoneInfo("Europe/Stockholm")
CUSTOMER = "kunde@example.test"
FAQ = """\
[[faq]]
id = "shipping-time"
examples = [
  "How long does delivery take?", "When will my order arrive?", "How many days does shipping take?",
  "Wie lange dauert der Versand?", "Wann kommt meine Bestellung an?",
  "Wie viele Tage dauert die Lieferung?", "Wann wird mein Paket geliefert?",
]
answer.en = "Orders ship within 2 business days."
answer.de = "Bestellungen werden innerhalb von 2 Werktagen versandt."

[[faq]]
id = "password-reset"
examples = [
  "I forgot my password", "How can I reset my password?", "I can't log in to my account",
  "Ich habe mein Passwort vergessen", "Wie setze ich mein Passwort zurück?",
  "Ich kann mich nicht in mein Konto einloggen",
]
answer.en = "Use Forgot password on the login page."
answer.de = "Nutzen Sie Passwort vergessen auf der Anmeldeseite."
"""
GERMAN_TEMPLATES = {
    "auto_answer.de.txt.j2": "Hallo {{ customer_name }},\n\ndiese Antwort wurde automatisch "
                             "verschickt:\n\n{{ answer }}\n\nIhre Ticketnummer ist "
                             "#{{ ticket_id }}.\n",
    "acknowledgement.de.txt.j2": "Hallo {{ customer_name }},\n\nwir haben Ticket "
                                 "#{{ ticket_id }} eröffnet und antworten bis {{ due_at }}.\n",
}
SHIPPING_DE = "Hallo, wie lange dauert der Versand nach Berlin? Wann kommt meine Bestellung an?"
LAMP_DE = ("Die Lampe, die ich bestellt habe, kam mit einem gesprungenen Schirm an und das "
           "Kabel ist ausgefranst. Was soll ich jetzt tun?")


def install(tmp_path: Path, dovecot: Dovecot, smtp: SmtpServer,
            templates: dict[str, str] | None = None, threshold: float = 0.3) -> Installation:
    overrides: dict[str, dict[str, object]] = {"faq": {"threshold": threshold,
                                                       "default_language": "en"}}
    if templates is not None:
        folder = tmp_path / "my-templates"
        folder.mkdir()
        for name, text in templates.items():
            (folder / name).write_text(text, encoding="utf-8")
        overrides["templates"] = {"path": str(folder)}
    (tmp_path / "models").mkdir(exist_ok=True)
    setup = Installation(tmp_path, dovecot, smtp, **overrides)  # type: ignore[arg-type]
    (tmp_path / "faq.toml").write_text(FAQ, encoding="utf-8")
    return setup.start()


def run_at(setup: Installation, when: datetime) -> None:
    rt = build_runtime(load_config(setup.config_path), clock=lambda: when)
    try:
        run_once(rt)
    finally:
        rt.close()


def arrive(setup: Installation, raw: bytes, when: datetime) -> None:
    with setup.dovecot.imap(setup.dovecot.support) as client:
        client.append("INBOX", raw, msg_time=when)


def only_reply(setup: Installation) -> EmailMessage:
    [reply] = [parse(e.raw) for e in setup.smtp.received if CUSTOMER in e.rcpt_tos]
    return reply


def test_german_answer_without_german_templates_comes_wholly_in_the_default_language(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> None:
    setup = install(tmp_path, fresh_dovecot, fresh_smtp)
    setup.send(mail(CUSTOMER, "Versand", SHIPPING_DE, name="Jonas"))
    assert setup.run("once") == 0

    reply = only_reply(setup)
    text = body_text(reply)
    assert "Orders ship within 2 business days." in text
    assert "Bestellungen" not in text, "no German answer inside an English frame"
    assert "This answer was sent automatically" in text
    assert reply["Content-Language"] == "en"


def test_operator_german_templates_write_the_whole_mail_and_its_dates_in_german(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> None:
    setup = install(tmp_path, fresh_dovecot, fresh_smtp, GERMAN_TEMPLATES)
    tuesday = datetime(2025, 11, 25, 10, 0, tzinfo=STHLM)  # both deadlines: Wednesday 10:00
    arrive(setup, mail(CUSTOMER, "Versand", SHIPPING_DE, name="Jonas"), tuesday)
    run_at(setup, tuesday)
    answer = only_reply(setup)
    assert answer["Content-Language"] == "de"
    text = body_text(answer)
    assert "diese Antwort wurde automatisch" in text
    assert "Bestellungen werden innerhalb von 2 Werktagen versandt." in text
    assert "Orders ship" not in text

    setup.smtp.received.clear()
    arrive(setup, mail(CUSTOMER, "Lampe kaputt", LAMP_DE, name="Jonas"), tuesday)
    run_at(setup, tuesday)
    acknowledgement = only_reply(setup)
    assert acknowledgement["Content-Language"] == "de"
    text = body_text(acknowledgement)
    assert "wir haben Ticket #2 eröffnet" in text
    assert "Mittwoch, 26. November 2025, 10:00 CET (Europe/Stockholm)" in text
    assert "Wednesday" not in text


def test_check_names_the_faq_languages_without_templates(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = install(tmp_path, fresh_dovecot, fresh_smtp,
                    {"auto_answer.de.txt.j2": GERMAN_TEMPLATES["auto_answer.de.txt.j2"]})
    capsys.readouterr()
    assert setup.run("check") == 0
    out = capsys.readouterr().out
    assert ("templates: FAQ language de has no acknowledgement, courtesy, status, suggestion, "
            "survey template; "
            "de customers get those mails wholly in en (faq.default_language)") in out
    assert "FAQ language en" not in out


def test_check_names_a_default_language_without_templates(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp, faq={"default_language": "fr"})
    setup.train()
    capsys.readouterr()
    assert setup.run("check") == 0
    out = capsys.readouterr().out
    assert "templates: faq.default_language fr has no auto_answer, acknowledgement" in out
    assert "fr customers get those mails wholly in en" in out
