"""inboxd.core.message: raw bytes in, ParsedMessage out; tables of literal mails."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inboxd.core.bodytext import MAX_QUESTION_CHARS, MAX_TEXT_CHARS, html_to_text
from inboxd.core.message import (
    ParsedMessage,
    parse_message,
    reply_subject,
    strip_ticket_tag,
    thread_keys,
)

MAILS = Path(__file__).parent / "mails"
PERSON = ("From: Anna Svensson <Anna@Example.se>", "To: support@shop.example")


def mail(*headers: str, body: bytes | str = "Hello, where is my order?") -> bytes:
    """A raw mail: header lines joined with CRLF, a blank line, the body."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    return "\r\n".join(headers).encode("utf-8") + b"\r\n\r\n" + data


def b64_word(text: str, charset: str = "utf-8") -> str:
    return f"=?{charset}?b?{base64.b64encode(text.encode(charset)).decode()}?="


# --- headers ---------------------------------------------------------------------------------

HEADER_CASES = [
    pytest.param(
        mail("From: \"Doe, John\" <John.Doe@Example.COM>", "To: support@shop.example",
             "Cc: Boss <BOSS@example.com>, support@shop.example", "Subject: Where is my order?",
             "Date: Tue, 05 Mar 2024 10:12:00 +0100", "Message-ID:   <abc.123@mail.example.com> "),
        dict(sender="john.doe@example.com", sender_name="Doe, John", reply_to="john.doe@example.com",
             recipients=("support@shop.example", "boss@example.com"),
             subject="Where is my order?", message_id="<abc.123@mail.example.com>",
             date=datetime(2024, 3, 5, 9, 12, tzinfo=timezone.utc), defects=()),
        id="plain-english"),
    pytest.param(
        mail(*PERSON, "Reply-To: Orders <orders@example.se>, other@example.se"),
        dict(sender="anna@example.se", reply_to="orders@example.se"),
        id="reply-to-wins"),
    pytest.param(
        mail("From: " + b64_word("王小明", "gb2312") + " <xiaoming@example.cn>",
             "Subject: " + b64_word("订单什么时候到？", "gb18030")),
        dict(sender_name="王小明", sender="xiaoming@example.cn", subject="订单什么时候到？"),
        id="chinese-rfc2047"),
    pytest.param(
        mail("From: =?iso-8859-1?q?=C5sa_L=F6f?= <asa@example.se>",
             "Subject: =?iso-8859-1?q?Fr=E5ga_om_leverans?="),
        dict(sender_name="Åsa Löf", subject="Fråga om leverans"),
        id="swedish-qp-words"),
    pytest.param(
        "From: José <jose@example.es>\r\nSubject: ¿Envío?\r\n\r\nhola".encode("utf-8"),
        dict(sender_name="José", subject="¿Envío?"),
        id="raw-utf8-headers"),
    pytest.param(
        mail(*PERSON, "Date: yesterday-ish"),
        dict(date=None, defects=("unparseable Date: yesterday-ish",)),
        id="broken-date"),
    pytest.param(
        mail(*PERSON, "Date: Tue, 05 Mar 2024 10:12:00 -0000"),
        dict(date=datetime(2024, 3, 5, 10, 12, tzinfo=timezone.utc)),
        id="date-unknown-zone-is-utc"),
    pytest.param(
        mail(*PERSON, "Date: Tue, 05 Mar 2024 10:12:00 +0530"),
        dict(date=datetime(2024, 3, 5, 10, 12, tzinfo=timezone(timedelta(hours=5, minutes=30)))),
        id="date-offset-kept"),
    pytest.param(
        mail("To: support@shop.example", "Subject: hi"),
        dict(sender=None, reply_to=None, automated=None, defects=("missing From",)),
        id="missing-from"),
    pytest.param(
        mail("From: not an address", "Subject: hi"),
        dict(sender=None, defects=("unparseable From: not an address",)),
        id="unparseable-from"),
    pytest.param(
        mail(*PERSON, "Message-ID: no-brackets@example.com"),
        dict(message_id="<no-brackets@example.com>"),
        id="message-id-without-brackets"),
    pytest.param(
        mail(*PERSON, "Message-ID: garbage"),
        dict(message_id=None),
        id="message-id-garbage"),
    pytest.param(
        mail(*PERSON, "To: undisclosed-recipients:;"),
        dict(recipients=("support@shop.example",)),
        id="group-without-members"),
]


@pytest.mark.parametrize("raw, expected", HEADER_CASES)
def test_headers(raw: bytes, expected: dict[str, object]) -> None:
    parsed = parse_message(raw)
    assert {name: getattr(parsed, name) for name in expected} == expected


def test_subject_with_encoded_crlf_stays_on_one_line() -> None:
    raw = mail(*PERSON, "Subject: " + b64_word("Hello\r\nBcc: victim@example.org\r\n\r\nbody\x00"))
    parsed = parse_message(raw)
    assert parsed.subject == "Hello Bcc: victim@example.org body"
    assert not any(ch in parsed.subject for ch in "\r\n\x00")


def test_display_name_with_encoded_crlf_stays_on_one_line() -> None:
    raw = mail("From: " + b64_word("Eve\r\nBcc: x@y") + " <eve@example.org>")
    assert parse_message(raw).sender_name == "Eve Bcc: x@y"


def test_own_addresses_mark_own_mail() -> None:
    raw = mail("From: Support <Support@Shop.Example>", "Subject: hello")
    assert parse_message(raw, own_addresses=["support@shop.example"]).automated == "own mail"
    assert parse_message(raw).automated is None


@pytest.mark.parametrize("reply_to, expected", [
    ("Support <support@shop.example>", "anna@example.se"),
    ("SUPPORT@Shop.Example", "anna@example.se"),
    ("support@shop.example, Anna Home <anna@home.example>", "anna@home.example"),
    ("Anna Home <anna@home.example>", "anna@home.example"),
])
def test_a_reply_to_naming_the_mailbox_itself_is_passed_over(reply_to: str, expected: str) -> None:
    raw = mail("From: Anna <anna@example.se>", f"Reply-To: {reply_to}", "Subject: Shipping time")
    parsed = parse_message(raw, own_addresses=["support@shop.example"])
    assert parsed.reply_to == expected
    assert parsed.automated is None


def test_raw_8bit_headers_are_read_in_the_charset_the_body_declares() -> None:
    raw = ("From: 王小明 <w@example.cn>\r\nSubject: 订单什么时候到\r\n"
           "Content-Type: text/plain; charset=gb2312\r\n\r\n请问我的订单什么时候到？").encode("gbk")
    parsed = parse_message(raw)
    assert (parsed.subject, parsed.sender_name) == ("订单什么时候到", "王小明")
    assert parsed.text == "请问我的订单什么时候到？"
    assert parse_message(b"From: a@example.se\r\nSubject: Caf\xe9\r\n\r\nhej").subject == "Café"


def _with_attachment(forwarded: bool, text: str | None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "ana@example.se", "support@shop.example", "Shipping"
    if text is not None:
        msg.set_content(text)
    if forwarded:
        inner = EmailMessage()
        inner["From"], inner["Subject"] = "shop@example.com", "Your order"
        inner.set_content("Your order has shipped.")
        msg.add_attachment(inner)
    else:
        msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="a.pdf")
    return bytes(msg)


@pytest.mark.parametrize("forwarded, text, defect", [
    (False, None, "no text of its own, only attachments"),
    (True, None, "no text of its own, only a forwarded mail"),
    (False, "The invoice is attached: is it paid?", None),
])
def test_a_mail_with_only_a_file_or_a_forwarded_mail_is_for_a_person(
        forwarded: bool, text: str | None, defect: str | None) -> None:
    parsed = parse_message(_with_attachment(forwarded, text))
    assert parsed.defects == ((defect,) if defect else ())


# --- thread keys and ticket tags ----------------------------------------------------------------


def test_thread_keys_in_reply_to_first_then_references_newest_first() -> None:
    raw = mail(*PERSON, "In-Reply-To: <c@x>",
               "References: <a@x>\r\n <b@x> <c@x>", "References: <d@x>")
    parsed = parse_message(raw)
    assert parsed.references == ("<a@x>", "<b@x>", "<c@x>", "<d@x>")
    assert thread_keys(parsed) == ("<c@x>", "<d@x>", "<b@x>", "<a@x>")


def test_thread_keys_empty_for_a_new_mail() -> None:
    assert thread_keys(parse_message(mail(*PERSON))) == ()


@pytest.mark.parametrize("subject, tag", [
    ("Re: Help [#42]", 42),
    ("[#7] Re: Help [#42]", 42),
    ("Help [#abc]", None),
    ("Help #42", None),
    ("Help [# 42]", None),
    ("", None),
])
def test_ticket_tag(subject: str, tag: int | None) -> None:
    assert parse_message(mail(*PERSON, f"Subject: {subject}")).ticket_tag == tag


@pytest.mark.parametrize("subject, stripped", [
    ("Re: Help [#42]", "Re: Help"),
    ("[#1] Help [#2] now", "Help now"),
    ("No tag", "No tag"),
])
def test_strip_ticket_tag(subject: str, stripped: str) -> None:
    assert strip_ticket_tag(subject) == stripped


@pytest.mark.parametrize("subject, ticket_id, expected", [
    ("Where is my order?", 12, "Re: Where is my order? [#12]"),
    ("Re: Re: x", 3, "Re: x [#3]"),
    ("RE: x", 3, "Re: x [#3]"),
    ("SV: x", 3, "Re: x [#3]"),
    ("Sv: Sv: AW: x", 3, "Re: x [#3]"),
    ("Antw: x", 3, "Re: x [#3]"),
    ("回复: 订单", 3, "Re: 订单 [#3]"),
    ("回复：订单", 3, "Re: 订单 [#3]"),
    ("Re: Help [#42]", 42, "Re: Help [#42]"),
    ("Help [#41]", 42, "Re: Help [#42]"),
    ("Fwd: x", 3, "Re: Fwd: x [#3]"),
    ("Recipe", 3, "Re: Recipe [#3]"),
    ("", 12, "Re: your message [#12]"),
    ("Re: ", 12, "Re: your message [#12]"),
    ("a\r\nBcc: x@y", 5, "Re: a Bcc: x@y [#5]"),
])
def test_reply_subject(subject: str, ticket_id: int, expected: str) -> None:
    assert reply_subject(subject, ticket_id) == expected


# --- bodies --------------------------------------------------------------------------------------

BODY_CASES = [
    pytest.param(
        mail(*PERSON, "Content-Type: text/plain; charset=gb2312", "Content-Transfer-Encoding: base64",
             body=base64.encodebytes("当我的订单什么时候到?".encode("gb2312"))),
        "当我的订单什么时候到?", (), id="gb2312-base64"),
    pytest.param(
        mail(*PERSON, "Content-Type: text/plain; charset=gb2312", "Content-Transfer-Encoding: base64",
             body=base64.encodebytes("镕".encode("gb18030"))),  # outside GB2312: needs GB18030
        "镕", (), id="gb2312-declared-gb18030-used"),
    pytest.param(
        mail(*PERSON, "Content-Type: text/plain; charset=iso-8859-1",
             "Content-Transfer-Encoding: quoted-printable",
             body=b"Hur l=E5ng tid tar leveransen?=0D=0AH=E4lsningar"),
        "Hur lång tid tar leveransen?\nHälsningar", (), id="swedish-latin1-qp"),
    pytest.param(
        mail(*PERSON, "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit",
             body="¿Cuánto tarda el envío?"),
        "¿Cuánto tarda el envío?", (), id="spanish-utf8"),
    pytest.param(
        mail(*PERSON, "Content-Type: text/plain; charset=x-unknown", body=b"Caf\xc3\xa9 au lait"),
        "Café au lait", ("undecodable charset x-unknown",), id="unknown-charset-utf8-bytes"),
    pytest.param(
        mail(*PERSON, "Content-Type: text/plain; charset=x-unknown", body=b"Caf\xe9 au lait"),
        "Café au lait", ("undecodable charset x-unknown",), id="unknown-charset-latin1-bytes"),
    pytest.param(
        mail(*PERSON, "Content-Type: text/plain; charset=base64", body=b"aGk="),
        "aGk=", ("undecodable charset base64",), id="bytes-codec-is-no-charset"),
    pytest.param(
        mail(*PERSON, "Content-Type: text/plain; charset=utf-8", body=b"ok \xff\xfe bad"),
        "ok \ufffd\ufffd bad", ("text is not valid utf-8; some characters replaced",),
        id="invalid-utf8-replaced"),
    pytest.param(
        mail(*PERSON, "Content-Type: text/plain; charset=us-ascii", body="Grüße".encode()),
        "Grüße", (), id="ascii-declared-utf8-sent"),
    pytest.param(
        mail(*PERSON, "MIME-Version: 1.0", "Content-Type: multipart/alternative; boundary=b",
             body=b"--b\r\nContent-Type: text/html\r\n\r\n<p>HTML version</p>\r\n"
                  b"--b\r\nContent-Type: text/plain\r\n\r\nPlain version\r\n--b--\r\n"),
        "Plain version", (), id="alternative-prefers-plain"),
    pytest.param(
        mail(*PERSON, "MIME-Version: 1.0", "Content-Type: multipart/alternative; boundary=b",
             body=b"--b\r\nContent-Type: text/plain\r\n\r\n \r\n"
                  b"--b\r\nContent-Type: text/html\r\n\r\n<p>Only HTML has words</p>\r\n--b--\r\n"),
        "Only HTML has words", (), id="blank-plain-falls-back-to-html"),
    pytest.param(
        mail(*PERSON, "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=b",
             body=b"--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\n"
                  b"attached notes\r\n--b\r\nContent-Type: text/plain\r\n\r\nthe real body\r\n--b--\r\n"),
        "the real body", (), id="attachment-is-not-the-body"),
    pytest.param(
        mail(*PERSON, "Content-Type: text/plain", body=b"line one\r\nline\x00 two\x07\rthree"),
        "line one\nline two\nthree", (), id="nul-and-control-characters-removed"),
]


@pytest.mark.parametrize("raw, text, defects", BODY_CASES)
def test_body_text(raw: bytes, text: str, defects: tuple[str, ...]) -> None:
    parsed = parse_message(raw)
    assert (parsed.text, parsed.defects) == (text, defects)


@pytest.mark.parametrize("html, text", [
    ("<p>Hello</p><p>World</p>", "Hello\n\nWorld"),
    ("<style>p{color:red}</style><script>var x = '<p>no</p>';</script><p>Shown</p>", "Shown"),
    ("<head><title>T</title></head><body>a &amp; b &lt;c&gt; &eacute;&#233;&nbsp;x</body>",
     "a & b <c> éé x"),
    ("one<br>two<br/>three", "one\ntwo\nthree"),
    ("<table><tr><td>a</td><td>b</td></tr></table>", "a b"),
    ("<div>Reply</div><blockquote>old <b>text</b><blockquote>older</blockquote></blockquote>",
     "Reply\n\n> old text\n> > older"),
    ("<p>unclosed <b>tags", "unclosed tags"),
    ("<head><style>x", ""),
])
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_html_only_mail() -> None:
    parsed = parse_message((MAILS / "html_only_es.eml").read_bytes())
    assert parsed.text.startswith("¿Cuánto tarda el envío a Madrid?\n\nGracias & saludos,\nAna")
    assert "alert" not in parsed.text and "color" not in parsed.text and "Pedido" not in parsed.text
    assert parsed.question == "Envío\n\n¿Cuánto tarda el envío a Madrid?\n\nGracias & saludos,\nAna"


def test_huge_message_text_is_capped() -> None:
    line = b"I would like to know where my parcel is, it has been weeks.\r\n"
    raw = mail(*PERSON, "Subject: big", body=line * (20_000_000 // len(line)))
    parsed = parse_message(raw)
    assert parsed.size > 20_000_000
    assert len(parsed.text) == MAX_TEXT_CHARS
    assert len(parsed.question) == MAX_QUESTION_CHARS


def test_huge_attachment_does_not_hide_the_text() -> None:
    attachment = base64.encodebytes(b"\x00\x01" * 10_000_000)
    raw = mail(*PERSON, "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=b",
               body=b"--b\r\nContent-Type: text/plain\r\n\r\nSee the attached photo.\r\n"
                    b"--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                    + attachment + b"\r\n--b--\r\n")
    assert parse_message(raw).text == "See the attached photo."


# --- never raises --------------------------------------------------------------------------------

NESTED = 3_000
BROKEN_CASES = [
    pytest.param(b"", ("empty message", "missing From"), id="empty"),
    pytest.param(b"\r\n\r\n", ("empty message", "missing From"), id="only-blank-lines"),
    pytest.param(bytes(range(256)) * 40, ("MIME structure broken: missing header body separator",
                                          "missing From"), id="binary-garbage"),
    pytest.param(b"\x00" * 1000, ("MIME structure broken: missing header body separator",
                                  "missing From"), id="nul-bytes"),
    pytest.param(mail("From: a@example.org", "Content-Type: multipart/mixed; boundary=X",
                      body=b"--X\r\nContent-Type: text/plain\r\n\r\nstill here\r\n"),
                 ("MIME structure broken: close boundary not found",), id="boundary-never-closed"),
    pytest.param(mail("From: a@example.org", "Content-Type: multipart/mixed",
                      body=b"no boundary at all"),
                 ("MIME structure broken: no boundary in multipart",
                  "MIME structure broken: multipart invariant violation"), id="multipart-no-boundary"),
    pytest.param(mail("From: a@example.org", "Content-Type: multipart/mixed; boundary=X",
                      body=b"no part starts here"),
                 ("MIME structure broken: start boundary not found",
                  "MIME structure broken: multipart invariant violation"), id="no-start-boundary"),
    pytest.param(mail("From: a@example.org", "Content-Transfer-Encoding: base64", body=b"aGVsbG8@@@"),
                 ("invalid base64 characters", "invalid base64 padding"), id="bad-base64"),
    pytest.param(b"From: a@example.org\r\nSubject: no body and no blank line", (), id="headers-only"),
    pytest.param(b" folded first line\r\nFrom: a@example.org\r\n\r\nx",
                 ("MIME structure broken: first header line is continuation",),
                 id="first-line-continuation"),
    pytest.param(b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
                 + b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1)
                            for i in range(NESTED)),
                 ("MIME structure broken: RecursionError",), id="absurd-nesting"),
]


@pytest.mark.parametrize("raw, defects", BROKEN_CASES)
def test_broken_input_never_raises(raw: bytes, defects: tuple[str, ...]) -> None:
    parsed = parse_message(raw)
    assert isinstance(parsed, ParsedMessage)
    assert parsed.defects == defects
    assert parsed.size == len(raw)


def test_broken_boundary_with_unknown_charset_keeps_the_text() -> None:
    parsed = parse_message((MAILS / "broken_boundary.eml").read_bytes())
    assert parsed.text == "Where is my order? Café résumé."
    assert parsed.sender == "bob@example.org"
    assert parsed.defects == ("MIME structure broken: close boundary not found",
                              "undecodable charset x-unknown")


@pytest.mark.parametrize("header", [
    "Subject: =?utf-8?q?unterminated",
    "Subject: =?x-nonsense?b?////?=",
    "From: <<<@>>>",
    "From: \"unterminated <a@b.c>",
    "To: a@b.c" + ", " * 3000,
    "Message-ID: <" + "x" * 5000,
    "References: " + "<a@b> " * 3000,
    "Date: Tue, 05 Mar 99999 10:12:00 +0100",
    "Content-Type: text/plain; charset=\"" + "\x00" * 10,
    "Content-Type: ;;;===",
    "Content-Transfer-Encoding: x-bogus",
    "Subject: " + "\udcff",
])
def test_odd_headers_never_raise(header: str) -> None:
    raw = header.encode("utf-8", "surrogateescape") + b"\r\n\r\nbody text"
    parsed = parse_message(raw)
    assert isinstance(parsed, ParsedMessage)
    assert "\n" not in parsed.subject


def test_many_references_are_capped() -> None:
    refs = " ".join(f"<r{i}@x>" for i in range(500))
    parsed = parse_message(mail(*PERSON, f"References: {refs}"))
    assert len(parsed.references) == 100
    assert parsed.references[-1] == "<r499@x>"


# --- sample mails -------------------------------------------------------------------------------


def test_swedish_outlook_reply() -> None:
    parsed = parse_message((MAILS / "outlook_reply_sv.eml").read_bytes())
    assert parsed.subject == "SV: Din beställning [#42]"
    assert parsed.ticket_tag == 42
    assert parsed.sender == "anna.svensson@example.se"
    assert thread_keys(parsed) == ("<ticket-42.1@shop.example>", "<ticket-42.0@shop.example>")
    assert "Tack för din beställning" in parsed.text
    assert parsed.question == ("Din beställning\n\nHej!\n\nJag har fortfarande inte fått mitt paket. "
                               "Hur lång tid tar leveransen?\n\nMed vänliga hälsningar\nAnna")


def test_chinese_gmail_reply() -> None:
    parsed = parse_message((MAILS / "gmail_reply_zh.eml").read_bytes())
    assert parsed.subject == "回复: 订单问题"
    assert parsed.sender_name == "王小明"
    assert parsed.question == "订单问题\n\n请问我的订单什么时候到？我已经等了一个星期了。"
    assert parsed.defects == ()


# --- the question ---------------------------------------------------------------------------------

LONG = "My order has not arrived and the tracking page has shown the same status for ten days. " * 3

QUESTION_CASES = [
    pytest.param(LONG + "\n\nOn Mon, 4 Mar 2024 at 09:00, Support <support@shop.example> wrote:\n> old",
                 LONG.strip(), id="english-attribution"),
    pytest.param(LONG + "\n\nOn Mon, 4 Mar 2024 at 09:00, Support Team\n<support@shop.example> wrote:\n> old",
                 LONG.strip(), id="english-attribution-wrapped"),
    pytest.param(LONG + "\n\nDen mån 4 mars 2024 kl 09:00 skrev Support <support@shop.example>:\n> gammalt",
                 LONG.strip(), id="swedish-attribution"),
    pytest.param(LONG + "\n\nEl lun, 4 mar 2024 a las 9:00, Support (<support@shop.example>) escribió:\n> viejo",
                 LONG.strip(), id="spanish-attribution"),
    pytest.param(LONG + "\n\nAm 01.12.2025 um 10:00 schrieb Example Support <s@x>:\n> alt",
                 LONG.strip(), id="german-attribution"),
    pytest.param(LONG + "\n\nLe lun. 4 mars 2024 à 09:00, Support <s@x> a écrit :\n> ancien",
                 LONG.strip(), id="french-attribution"),
    pytest.param(LONG + "\n\n在 2024年3月4日 09:00, Support 写道:\n> 旧的",
                 LONG.strip(), id="chinese-attribution"),
    pytest.param(LONG + "\n\n-----Original Message-----\nFrom: Support\nSent: Monday\n\nold text",
                 LONG.strip(), id="outlook-original-message"),
    pytest.param(LONG + "\n\n________________________________\nFrom: Support <s@x>\nSent: Monday, March 4, 2024"
                 "\nTo: Anna\nSubject: Order\n\nold text", LONG.strip(), id="outlook-from-sent-block"),
    pytest.param(LONG + "\n\nDe: Support <s@x>\nEnviado el: lunes, 4 de marzo de 2024\nPara: Ana\n\nviejo",
                 LONG.strip(), id="outlook-spanish-block"),
    pytest.param(LONG + "\n\n发件人: Support <s@x>\n发送时间: 2024年3月4日 9:00\n收件人: 王\n\n旧的",
                 LONG.strip(), id="outlook-chinese-block"),
    pytest.param(LONG + "\n\n发件人: Support <s@x>\n日期: 2024年3月4日 9:00\n收件人: 王\n\n旧的",
                 LONG.strip(), id="chinese-from-date-block"),
    pytest.param(LONG + "\n\nOn Monday, Support wrote:\n\n> old", LONG.strip(),
                 id="attribution-without-date-before-a-quote"),
    pytest.param("Hello,\n\nOn your website you wrote:\n\"Free returns within 30 days\"\n"
                 "But I was charged 9 EUR for the return. Will I get it back?",
                 "Order\n\nHello,\n\nOn your website you wrote:\n\"Free returns within 30 days\"\n"
                 "But I was charged 9 EUR for the return. Will I get it back?",
                 id="customer-quoting-the-website-is-kept"),
    pytest.param("Hej!\nDen 3 mars skrev ni till mig att paketet var skickat:\ndet har inte kommit.",
                 "Order\n\nHej!\nDen 3 mars skrev ni till mig att paketet var skickat:\ndet har inte kommit.",
                 id="swedish-sentence-like-an-attribution-is-kept"),
    pytest.param("Hola,\nEl repartidor escribió:\nque no había nadie en casa. ¿Cuándo vuelve?",
                 "Order\n\nHola,\nEl repartidor escribió:\nque no había nadie en casa. ¿Cuándo vuelve?",
                 id="spanish-sentence-like-an-attribution-is-kept"),
    pytest.param("客服昨天写道：\n包裹已经发出了。可是我还没有收到，请帮我查一下。",
                 "Order\n\n客服昨天写道：\n包裹已经发出了。可是我还没有收到，请帮我查一下。",
                 id="chinese-sentence-like-an-attribution-is-kept"),
    pytest.param(LONG + "\n\n发自我的iPhone", LONG.strip(), id="chinese-sent-from-device"),
    pytest.param(LONG + "\n\n从我的华为手机发送", LONG.strip(), id="chinese-sent-from-device-2"),
    pytest.param(LONG + "\n从我的账户里看不到订单。", LONG.strip() + "\n从我的账户里看不到订单。",
                 id="chinese-from-my-account-is-kept"),
    pytest.param(LONG + "\n-- \nAnna Svensson\nExample AB", LONG.strip(), id="signature"),
    pytest.param(LONG + "\n\nSent from my iPhone", LONG.strip(), id="sent-from-device"),
    pytest.param("> quoted question?\nMy answer below the quote." + " filler" * 40,
                 "My answer below the quote." + " filler" * 40, id="inline-quote-removed"),
    pytest.param(LONG + "\nFrom: my account page it says shipped.\nThanks",
                 LONG.strip() + "\nFrom: my account page it says shipped.\nThanks",
                 id="from-line-without-sent-is-kept"),
    pytest.param(LONG + "\nI wrote: it is late\nOn time delivery matters.",
                 LONG.strip() + "\nI wrote: it is late\nOn time delivery matters.",
                 id="ordinary-lines-kept"),
]


@pytest.mark.parametrize("body, question", QUESTION_CASES)
def test_question_strips_history(body: str, question: str) -> None:
    raw = mail(*PERSON, "Subject: Order", "Content-Type: text/plain; charset=utf-8", body=body)
    assert parse_message(raw).question == question


@pytest.mark.parametrize("subject, body, question", [
    ("Re: Delivery time [#5]", "How long?", "Delivery time\n\nHow long?"),
    ("SV: Leverans", "Hur lång tid?\n\nDen mån 4 mars 2024 skrev Support <s@x>:\n> x",
     "Leverans\n\nHur lång tid?"),
    ("", "Only a body", "Only a body"),
    ("Where is my order?", "", "Where is my order?"),
    ("Question", "Question\nabout my order", "Question\nabout my order"),
])
def test_question_prepends_subject_to_short_bodies(subject: str, body: str, question: str) -> None:
    raw = mail(*PERSON, f"Subject: {subject}", "Content-Type: text/plain; charset=utf-8", body=body)
    assert parse_message(raw).question == question


# --- automated mail ---------------------------------------------------------------------------------

AUTOMATED_CASES = [
    pytest.param(("Auto-Submitted: auto-replied",), "auto-submitted: auto-replied", id="auto-replied"),
    pytest.param(("Auto-Submitted: Auto-Generated; owner-email=x@y",), "auto-submitted: auto-generated",
                 id="auto-generated-with-parameters"),
    pytest.param(("Auto-Submitted: no",), None, id="auto-submitted-no"),
    pytest.param(("Auto-Submitted: No (person)",), None, id="auto-submitted-no-comment"),
    pytest.param(("X-Auto-Response-Suppress: All",), "x-auto-response-suppress", id="suppress-all"),
    pytest.param(("X-Auto-Response-Suppress: DR, RN, NRN",), "x-auto-response-suppress",
                 id="suppress-receipts"),
    pytest.param(("X-Auto-Response-Suppress: OOF, AutoReply",), "x-auto-response-suppress",
                 id="suppress-oof"),
    pytest.param(("List-Id: Shop news <news.shop.example>",), "mailing list", id="list-id"),
    pytest.param(("List-Unsubscribe: <mailto:unsub@example.com>",), "mailing list", id="list-unsubscribe"),
    pytest.param(("List-Post: <mailto:list@example.com>",), "mailing list", id="list-post"),
    pytest.param(("Precedence: bulk",), "precedence: bulk", id="precedence-bulk"),
    pytest.param(("Precedence: List",), "precedence: list", id="precedence-list"),
    pytest.param(("Precedence: junk",), "precedence: junk", id="precedence-junk"),
    pytest.param(("Precedence: first-class",), None, id="precedence-other"),
    pytest.param(("Feedback-ID: 1234:5678:newsletter:esp",), "bulk sender (feedback-id)",
                 id="feedback-id"),
    pytest.param(("Return-Path: <>",), "bounce", id="null-return-path"),
    pytest.param(("Return-Path: <anna@example.se>",), None, id="ordinary-return-path"),
    pytest.param(("Content-Type: multipart/report; report-type=disposition-notification; boundary=x",),
                 "bounce", id="mdn-report"),
    pytest.param(("X-Inboxd-Ticket: 42",), "own mail", id="inboxd-header"),
    pytest.param(("X-Autoreply: yes",), "auto-reply header: x-autoreply", id="x-autoreply"),
    pytest.param(("X-Autorespond: vacation",), "auto-reply header: x-autorespond", id="x-autorespond"),
    pytest.param(("X-Autogenerated: Reply",), "auto-reply header: x-autogenerated", id="x-autogenerated"),
    pytest.param(("X-Autogenerated: Forward",), None, id="x-autogenerated-forward"),
    pytest.param(("Subject: Out of Office: Order question",), "auto-reply subject", id="out-of-office"),
    pytest.param(("Subject: Out of Office AutoReply: hi",), "auto-reply subject", id="out-of-office-old"),
    pytest.param(("Subject: Automatic reply: Order",), "auto-reply subject", id="automatic-reply"),
    pytest.param(("Subject: Autosvar: Beställning",), "auto-reply subject", id="autosvar"),
    pytest.param(("Subject: Respuesta automática: Pedido",), "auto-reply subject", id="respuesta"),
    pytest.param(("Subject: 自动回复: 订单",), "auto-reply subject", id="zidong-huifu"),
    pytest.param(("Subject: Out of office hours, can I still order?",), None, id="out-of-office-question"),
    pytest.param(("Subject: Where is my order?", "X-Mailer: Outlook"), None, id="normal-person"),
    pytest.param(("Auto-Submitted: auto-replied", "List-Id: <l.x>"), "auto-submitted: auto-replied",
                 id="first-rule-wins"),
]


@pytest.mark.parametrize("headers, reason", AUTOMATED_CASES)
def test_automated(headers: tuple[str, ...], reason: str | None) -> None:
    assert parse_message(mail(*PERSON, *headers)).automated == reason


@pytest.mark.parametrize("sender, reason", [
    ("MAILER-DAEMON@mx.example.com", "bounce"),
    ("postmaster@example.com", "bounce"),
    ("no-reply@example.com", "no-reply sender"),
    ("noreply@example.com", "no-reply sender"),
    ("No_Reply@example.com", "no-reply sender"),
    ("do-not-reply@example.com", "no-reply sender"),
    ("donotreply@example.com", "no-reply sender"),
    ("noreply+12345@example.com", "no-reply sender"),
    ("bounce@example.com", "no-reply sender"),
    ("bounces+abc=shop.example@em.example.com", "no-reply sender"),
    ("notification@example.com", "no-reply sender"),
    ("notifications@github.com", "no-reply sender"),
    ("drive-shares-dm-noreply@google.com", "no-reply sender"),
    ("jira-noreply@x.atlassian.net", "no-reply sender"),
    ("info.noreply@example.com", "no-reply sender"),
    ("shop_no-reply@example.com", "no-reply sender"),
    ("orders-donotreply+7@example.com", "no-reply sender"),
    ("mailer-daemon+x@example.com", "bounce"),
    ("postmaster+abc@example.com", "bounce"),
    ("noreen@example.com", None),
    ("anoreply@example.com", None),
    ("norepl@example.com", None),
    ("replyto.me@example.com", None),
    ("bouncer@example.com", None),
    ("postmaster.jones@example.com", None),
    ("anna.notifications.fan@example.com", None),
])
def test_automated_senders(sender: str, reason: str | None) -> None:
    assert parse_message(mail(f"From: {sender}", "Subject: hi")).automated == reason


def test_bounce_sample() -> None:
    parsed = parse_message((MAILS / "dsn_bounce.eml").read_bytes())
    assert parsed.automated == "bounce"
    assert parsed.text.startswith("I'm sorry to have to inform you")


# --- property: any bytes at all ---------------------------------------------------------------------

FRAGMENTS = [b"From: ", b"To: ", b"Subject: ", b"Content-Type: multipart/mixed; boundary=b",
             b"Content-Type: text/html; charset=", b"Content-Transfer-Encoding: base64",
             b"=?utf-8?b?", b"?=", b"--b", b"--b--", b"\r\n", b"\n", b"\r\n\r\n", b"<", b">", b"@",
             b"\x00", b"\xff", b"<p>", b"&amp;", b"Auto-Submitted: ", b"> ", b"On x wrote:"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=20)), max_size=60))
def test_any_bytes_parse_without_raising(pieces: list[bytes]) -> None:
    raw = b"".join(pieces)
    parsed = parse_message(raw)
    assert parsed.size == len(raw)
    assert "\n" not in parsed.subject and "\r" not in parsed.subject
    assert "\r" not in parsed.text and len(parsed.question) <= MAX_QUESTION_CHARS
