"""Outgoing mail: threading headers, automatic markers, templates, no header injection."""

from __future__ import annotations

from datetime import datetime, timezone
from email import policy
from email.parser import BytesParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from jinja2.exceptions import SecurityError

from inboxd.core.message import parse_message
from inboxd.core.render import (Reply, Templates, build_reply, format_when, mail_language,
                                packaged_templates_dir)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
SENDER = "Example Support <support@example.com>"


def original(headers: bytes) -> bytes:
    return headers + b"\r\n\r\nHello\r\n"


def reply_to(raw: bytes, body: str = "Answer") -> bytes:
    msg = parse_message(raw)
    return bytes(build_reply(Reply(original=msg, ticket_id=12, body=body, language="en",
                                   sender=SENDER, message_id="<r1@example.com>", now=NOW)))


def header(raw: bytes, name: bytes) -> bytes:
    for line in raw.split(b"\r\n\r\n")[0].split(b"\n"):
        if line.lower().startswith(name.lower() + b":"):
            return line.split(b":", 1)[1].strip()
    raise AssertionError(f"no {name!r} header")


def test_reply_is_threaded_and_marked_automatic() -> None:
    raw = reply_to(original(b"From: Ana <ana@example.org>\r\nSubject: Where is it?\r\n"
                            b"Message-ID: <m2@example.org>\r\nReferences: <m0@x> <m1@x>\r\n"
                            b"In-Reply-To: <m1@x>"))
    assert header(raw, b"In-Reply-To") == b"<m2@example.org>"
    assert header(raw, b"References") == b"<m0@x> <m1@x> <m2@example.org>"
    assert header(raw, b"Subject") == b"Re: Where is it? [#12]"
    assert header(raw, b"Auto-Submitted") == b"auto-replied"
    assert header(raw, b"X-Auto-Response-Suppress") == b"All"
    assert header(raw, b"X-Inboxd-Ticket") == b"12"
    assert header(raw, b"To") == b"Ana <ana@example.org>"
    assert header(raw, b"Message-ID") == b"<r1@example.com>"


def test_reply_goes_to_reply_to() -> None:
    raw = reply_to(original(b"From: ana@example.org\r\nReply-To: desk@example.org\r\n"
                            b"Subject: x\r\nMessage-ID: <m@x>"))
    assert header(raw, b"To") == b"desk@example.org"


def test_no_header_injection_from_subject_or_name() -> None:
    evil = original(b"From: =?utf-8?q?Ana=0D=0ABcc=3A_victim=40evil=2Eexample?= "
                    b"<ana@example.org>\r\nSubject: =?utf-8?q?Hi=0D=0ABcc=3A_victim=40evil=2Eexample?="
                    b"\r\nMessage-ID: <m@x>")
    raw = reply_to(evil)
    head = raw.split(b"\r\n\r\n")[0]
    assert not any(line.lower().startswith(b"bcc:") for line in head.split(b"\r\n"))
    reply = BytesParser(policy=policy.default).parsebytes(raw)
    assert [a.addr_spec for a in reply["To"].addresses] == ["ana@example.org"]
    assert "\n" not in reply["Subject"] and reply["Subject"].endswith("[#12]")


def test_long_references_are_capped() -> None:
    refs = b" ".join(b"<r%d@x>" % i for i in range(60))
    raw = reply_to(original(b"From: a@example.org\r\nSubject: x\r\nMessage-ID: <last@x>\r\n"
                            b"References: " + refs))
    ids = b" ".join(raw.split(b"References:")[1].split(b"\r\n")[0:3]).split()
    assert len([i for i in ids if i.startswith(b"<")]) <= 20


def test_a_reply_to_a_mail_without_references_carries_its_in_reply_to() -> None:
    raw = reply_to(original(b"From: a@example.org\r\nSubject: x\r\nMessage-ID: <m@x>\r\n"
                            b"In-Reply-To: <parent@x>"))
    assert header(raw, b"References") == b"<parent@x> <m@x>"


def test_capped_references_keep_the_first_of_the_thread() -> None:
    refs = b" ".join(b"<r%d@x>" % i for i in range(30))
    raw = reply_to(original(b"From: a@example.org\r\nSubject: x\r\nMessage-ID: <last@x>\r\n"
                            b"References: " + refs))
    ids = BytesParser(policy=policy.default).parsebytes(raw)["References"].split()
    assert ids[0] == "<r0@x>" and ids[-2:] == ["<r29@x>", "<last@x>"] and len(ids) == 20


@pytest.mark.parametrize("subject, ticket_id, expected", [
    ("SV: Re: status", None, "Re: status"),
    ("AW: status", None, "Re: status"),
    ("回复: 状态", None, "Re: 状态"),
    ("", None, "Re: status"),
    ("Re: status", 4, "Re: status [#4]"),
])
def test_a_status_mail_has_one_reply_prefix_and_the_tag_of_the_one_ticket_it_is_about(
        subject: str, ticket_id: int | None, expected: str) -> None:
    from inboxd.core.outgoing import Envelope, build_status_mail

    request = parse_message(original(f"From: Ana <ana@example.org>\r\nSubject: {subject}\r\n"
                                     "Message-ID: <m9@example.org>".encode()))
    env = Envelope(sender=SENDER, message_id="<r1@example.com>", now=NOW)
    mail = build_status_mail(env, request, "Your tickets", "en", ticket_id)
    assert mail["Subject"] == expected


@pytest.mark.parametrize("language", ["en", "zh", "sv", "es"])
def test_shipped_templates_render_in_every_language(language: str) -> None:
    templates = Templates([packaged_templates_dir()])
    values = {"ticket_id": 5, "customer_name": "Ana", "support_name": "Shop",
              "due_at": "Monday 2026-11-23 17:00 CET (Europe/Stockholm)", "answer": "ANSWER"}
    ack = templates.render("acknowledgement", [language], values)
    answer = templates.render("auto_answer", [language], values)
    assert "#5" in ack and "2026-11-23 17:00" in ack
    assert "ANSWER" in answer and "#5" in answer


def test_templates_fall_back_to_the_next_language() -> None:
    templates = Templates([packaged_templates_dir()])
    text = templates.render("acknowledgement", ["fi", "en"],
                            {"ticket_id": 1, "customer_name": "", "support_name": "S",
                             "due_at": "soon"})
    assert text.startswith("Hello,")


def test_customer_text_is_data_not_template_code() -> None:
    templates = Templates([packaged_templates_dir()])
    text = templates.render("acknowledgement", ["en"],
                            {"ticket_id": 1, "customer_name": "{{ 7*7 }}{% raw %}",
                             "support_name": "S", "due_at": "soon"})
    assert "{{ 7*7 }}{% raw %}" in text and "49" not in text


def test_operator_templates_are_sandboxed(tmp_path: Path) -> None:
    (tmp_path / "acknowledgement.en.txt.j2").write_text(
        "{{ ticket_id.__class__.__mro__[1].__subclasses__() }}")
    templates = Templates([tmp_path, packaged_templates_dir()])
    with pytest.raises(SecurityError):
        templates.render("acknowledgement", ["en"], {"ticket_id": 1, "customer_name": "",
                                                     "support_name": "S", "due_at": "soon"})


def test_operator_templates_override_shipped_ones(tmp_path: Path) -> None:
    (tmp_path / "acknowledgement.en.txt.j2").write_text("Ticket {{ ticket_id }} noted.")
    templates = Templates([tmp_path, packaged_templates_dir()])
    values = {"ticket_id": 3, "customer_name": "", "support_name": "S", "due_at": "soon"}
    assert templates.render("acknowledgement", ["en"], values) == "Ticket 3 noted."
    assert "sv" in templates.languages("acknowledgement")


@pytest.mark.parametrize("language, expected", [
    ("en", "Monday, November 23, 2026, 5:00\u202fPM CET (Europe/Stockholm)"),
    ("de", "Montag, 23. November 2026, 17:00 CET (Europe/Stockholm)"),
    ("sv", "måndag 23 november 2026 17:00 CET (Europe/Stockholm)"),
    ("es", "lunes, 23 de noviembre de 2026, 17:00 CET (Europe/Stockholm)"),
    ("zh", "2026年11月23日星期一 17:00 CET (Europe/Stockholm)"),
    ("fi", "maanantai 23. marraskuuta 2026 17.00 CET (Europe/Stockholm)"),
    ("xx", "Monday, November 23, 2026, 5:00\u202fPM CET (Europe/Stockholm)"),  # unknown: en
])
def test_format_when_writes_dates_as_each_language_does(language: str, expected: str) -> None:
    at = datetime(2026, 11, 23, 17, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
    assert format_when(at, language) == expected


def test_format_when_in_german_on_a_wednesday() -> None:
    at = datetime(2026, 11, 25, 9, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert format_when(at, "de").startswith("Mittwoch, 25. November 2026, 09:30 ")


MAIL_LANGUAGES = [
    # customer, default, frame template languages, answer languages (None: any), expected
    ("de", "en", {"en", "sv"}, {"de", "en"}, "en"),  # German answer, no German frame: all en
    ("de", "en", {"en", "de"}, {"de", "en"}, "de"),
    ("de", "en", {"en", "de"}, {"en"}, "en"),  # German frame, no German answer: all en
    ("de", "sv", {"en", "sv", "de"}, {"de", "sv"}, "de"),
    ("fi", "sv", {"en", "sv"}, {"en", "sv"}, "sv"),
    ("fi", "sv", {"en", "sv"}, None, "sv"),  # an answer template: any language
    ("sv", "en", {"en", "sv"}, None, "sv"),
    ("de", "de", {"en"}, {"de", "en"}, "en"),  # the default has no frame: English, whole
    ("de", "de", {"en", "sv"}, {"de", "sv"}, "sv"),
    ("de", "en", {"en", "sv"}, {"de"}, "de"),  # the answer exists in German alone: German
    ("fi", "en", {"en", "sv"}, {"es", "de"}, "de"),  # neither the customer's nor a frame's
]


@pytest.mark.parametrize("customer, default, frames, answers, expected", MAIL_LANGUAGES)
def test_a_mail_is_written_in_one_language(customer: str, default: str, frames: set[str],
                                           answers: set[str] | None, expected: str) -> None:
    assert mail_language(customer, default, frames, answers) == expected


def test_missing_templates_are_listed_per_language(tmp_path: Path) -> None:
    (tmp_path / "acknowledgement.de.txt.j2").write_text("Ticket {{ ticket_id }}.")
    templates = Templates([tmp_path, packaged_templates_dir()])
    assert templates.missing({"en", "de", "sv", "fr"}) == {
        "de": ["auto_answer", "courtesy", "status", "suggestion", "survey"],
        "fr": ["auto_answer", "acknowledgement", "courtesy", "status", "suggestion", "survey"]}


def test_shipped_templates_have_no_syntax_errors() -> None:
    templates = Templates([packaged_templates_dir()])
    assert len(templates.env.list_templates(extensions=["j2"])) >= 8
    assert templates.problems() == []


def test_template_problems_name_the_file_and_line(tmp_path: Path) -> None:
    operator, faq = tmp_path / "templates", tmp_path / "faq"
    operator.mkdir()
    faq.mkdir()
    (operator / "acknowledgement.en.txt.j2").write_text("Hello\n{% if ticket_id %}\nno end\n")
    faq_template = faq / "answer.txt.j2"
    faq_template.write_text("{{ unclosed ")
    problems = Templates([operator, packaged_templates_dir()]).problems([faq_template])
    assert len(problems) == 2
    assert "acknowledgement.en.txt.j2:" in problems[0] and "endif" in problems[0]
    assert problems[1].startswith(f"{faq_template}:1:")


def test_a_variable_a_template_is_not_given_is_a_problem_at_its_line(tmp_path: Path) -> None:
    operator, faq = tmp_path / "templates", tmp_path / "faq"
    operator.mkdir()
    faq.mkdir()
    (operator / "acknowledgement.sv.txt.j2").write_text(
        "Hej {{ customer_name }},\n{% for x in range(1) %}{{ x }}{% endfor %}\n"
        "ärende {{ ticket_number }}, svar senast {{ due_at }}.\n")
    (operator / "status.sv.txt.j2").write_text(
        "{% for t in tickets %}#{{ t.id }} {{ t.state }}{% endfor %}\n{{ ticket_id }}\n")
    (operator / "footer.txt.j2").write_text("{{ anything }}\n")  # no kind: not checked
    (operator / "status.txt.j2").write_text("{{ anything }}\n")
    faq_template = faq / "answer.txt.j2"
    faq_template.write_text("Hej {{ customer_name }}, {{ answer }}\n")  # an FAQ's own: no answer
    templates = Templates([operator, packaged_templates_dir()], [faq_template])
    problems = [str(p) for p in templates.problem_list]
    assert len(problems) == 3, problems
    ack = next(p for p in problems if "acknowledgement.sv" in p)
    assert ack.endswith("acknowledgement.sv.txt.j2:3: unknown variable 'ticket_number' (this "
                        "template is given: customer_name, due_at, support_name, ticket_id)")
    assert any(p.startswith(f"{operator / 'status.sv.txt.j2'}:2: unknown variable 'ticket_id'")
               for p in problems)
    assert any(p.startswith(f"{faq_template}:1: unknown variable 'answer'") for p in problems)
    assert Templates([operator]).problems([faq_template])[-1].startswith(f"{faq_template}:1:")


def test_render_is_handed_every_declared_variable() -> None:
    templates = Templates([packaged_templates_dir()])
    values = {"ticket_id": 7, "customer_name": "Ana", "support_name": "Shop", "due_at": "mañana"}
    assert "7" in templates.render("acknowledgement", ["es"], values)
    del values["due_at"]
    with pytest.raises(ValueError, match=r"acknowledgement template: not handed .*'due_at'"):
        templates.render("acknowledgement", ["es"], values)


@pytest.mark.parametrize("subject, expected", [
    (b"=?x-unknown?q?Caf=E9_cr=E8me?=", b"Re: =?x-unknown?q?Caf=E9_cr=E8me?= [#12]"),
    (b"Re: =?x-mac-foo?B?Q2Fm6Q==?= [#12]", b"Re: =?x-mac-foo?B?Q2Fm6Q==?= [#12]"),
    (b"=?x-unknown?q?Caf=E9=0D=0ABcc:_evil@example.net?=",
     b"Re: =?x-unknown?q?Caf=E9=0D=0ABcc:_evil@example.net?= [#12]"),
])
def test_subject_in_an_unknown_charset_is_echoed_as_the_customer_wrote_it(
        subject: bytes, expected: bytes) -> None:
    raw = reply_to(original(b"From: Ana <ana@example.org>\r\nSubject: " + subject +
                            b"\r\nMessage-ID: <m9@example.org>"))
    assert header(raw, b"Subject") == expected
    assert "\ufffd".encode() not in raw and b"77+9" not in raw  # U+FFFD, raw or base64
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["Bcc"] is None and parsed["Subject"].endswith("[#12]")


def test_subject_in_a_known_charset_is_decoded_and_encoded_again() -> None:
    raw = reply_to(original(b"From: Ana <ana@example.org>\r\nSubject: =?iso-8859-1?q?Caf=E9?="
                            b"\r\nMessage-ID: <m9@example.org>"))
    assert header(raw, b"Subject") == b"Re: =?utf-8?q?Caf=C3=A9?= [#12]"


@pytest.mark.parametrize("kind, expected", [
    ("status", b"Re: =?x-unknown?q?Caf=E9_cr=E8me?="),
    ("relayed", b"Re: =?x-unknown?q?Caf=E9_cr=E8me?= [#12]"),
])
def test_status_and_relayed_mails_echo_an_undecodable_subject_as_written(
        kind: str, expected: bytes) -> None:
    from inboxd.core.outgoing import Envelope, build_relayed, build_status_mail

    request = parse_message(original(b"From: Ana <ana@example.org>\r\nSubject: "
                                     b"=?x-unknown?q?Caf=E9_cr=E8me?=\r\n"
                                     b"Message-ID: <m9@example.org>"))
    env = Envelope(sender=SENDER, message_id="<r1@example.com>", now=NOW)
    mail = build_status_mail(env, request, "Your tickets", "en") if kind == "status" else \
        build_relayed(env, "ana@example.org", "Ana", 12, request.subject, request, "Answer")
    raw = bytes(mail)
    assert header(raw, b"Subject") == expected
    assert "\ufffd".encode() not in raw and b"77+9" not in raw  # U+FFFD, raw or base64
