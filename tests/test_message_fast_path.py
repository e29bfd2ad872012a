"""The single-part shortcut in ``parse_message`` reads exactly what the stdlib parser reads.

Every mail here is parsed twice, with the shortcut and with the stdlib parser alone, and the two
``ParsedMessage`` values must be equal. Where the shortcut is taken, its pieces (headers,
charset, decoded payload) are also compared with what ``email`` (policy.default) reports.
"""

from __future__ import annotations

import base64
import quopri
import random
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest

from inboxd.core import message, simplemail
from inboxd.core.message import parse_message
from tests import test_message

MAILS = Path(__file__).parent / "mails"
QUESTIONS = [
    "Where is my order? I paid on Monday.",
    "Hur lång tid tar leveransen till Göteborg?",
    "¿Cuánto tarda el envío a Sevilla?",
    "我的订单什么时候到？谢谢！",
    "Line one\r\n\r\n> quoted\r\nOn Mon, Anna wrote:\r\n> old text\r\n-- \r\nSam",
    "tabs\tand  spaces,   trailing   \r\nsoft= break and =3D signs " + "x" * 90,
    "",
    "\x00nul\x07bell\rcarriage",
]
FROMS = [
    "Customer 1 <customer1@example.com>", "customer@example.com", "<angle@example.com>",
    "\"Doe, John\" <john@example.com>", "=?utf-8?q?=C3=85sa?= <asa@example.se>",
    "Anna  Svensson\t<Anna@Example.SE>", "J. Doe <j@example.com>", "a@example.com, b@example.com",
    "a@example.com,", "", "undisclosed-recipients:;", "Shop <noreply@shop.example>",
    "MAILER-DAEMON@mx.example", "A (comment) <a@example.com>", "a@example.com (Name)",
    "x <a@b@c.example>", "<>", "Åsa <asa@example.se>", "o'brien+tag@example.ie",
    "=?utf-8?b?546L5bCP5piO?= <wang@example.cn>", "a=?b@example.com", "Name <a..b@example.com>",
    "Name <.a@example.com>", "Name<a@example.com>", " <a@example.com> ", "Na\x01me <a@example.com>",
]
SUBJECTS = [
    "Question about my account", "Re: [#12] Where is my order?", "=?utf-8?q?Fr=C3=A5ga?=",
    "Out of office: back Monday", "  leading\tand trailing  ", "", "ctrl\x01char",
    "Frå raw 8-bit", "a =? b ?= c", "=?x-nonsense?b?////?=",
]
CONTENT_TYPES = [
    None, "text/plain", "text/plain; charset=\"utf-8\"", "TEXT/PLAIN; CHARSET=ISO-8859-1",
    "text/plain; charset=utf-8; format=flowed; delsp=yes", "text/plain;charset=us-ascii;",
    "text/plain; charset=gb2312", "text/plain; charset=x-unknown", "text/plain; charset*=utf-8''x",
    "text/html; charset=utf-8", "text/plain; charset=utf-8 (comment)", "text/plain; name=\"a b\"",
    "multipart/alternative; boundary=b", "text/plain; charset=\"\"", "text/plain ; charset = utf-8",
    "text/plain; format=flowed; charset=cp1252", "text/plain; charset=base64", "text/plain;",
    "text/plain; charset=utf-8; charset=latin-1", "text/plain; CharSet=\"UTF-8\"", "text/enriched",
]
ENCODINGS = [None, "7bit", "8bit", "quoted-printable", "base64", "Base64", "base64 ",
             "x-uuencode", "binary", "QUOTED-PRINTABLE", ""]
CHARSETS = {"iso-8859-1": "latin-1", "gb2312": "gb18030", "cp1252": "cp1252", "us-ascii": "utf-8"}
EXTRAS = [
    (), ("Content-Disposition: inline",), ("Subject: second subject",),
    ("Content-Type: text/plain; charset=latin-1",), ("X-Weird : spaced name",),
    ("Auto-Submitted: auto-replied",), ("List-Id: <list.example.com>",),
    ("References: <a@x>\r\n <b@x>",), ("Cc: Boss <boss@example.com>,\r\n\tother@example.com",),
    ("MIME-Version: 1.0",), ("Precedence: bulk",), ("Return-Path: <>",),
    ("Content-Transfer-Encoding: 7bit",), ("X-Auto-Response-Suppress: All",),
]


def _body(text: str, content_type: str | None, cte: str | None) -> bytes:
    charset = (content_type or "").lower().partition("charset=")[2].split(";")[0].strip("\" ")
    try:
        data = text.encode(CHARSETS.get(charset, charset or "utf-8"))
    except (LookupError, UnicodeError):
        data = text.encode("utf-8")
    kind = (cte or "").strip().lower()
    if kind == "quoted-printable":
        return quopri.encodestring(data)
    if kind == "base64":
        return base64.encodebytes(data)
    return data


def generated_mails(count: int, seed: int = 7) -> list[bytes]:
    """Mails built from random choices of odd and ordinary header and body forms."""
    rng = random.Random(seed)
    mails = []
    for _ in range(count):
        content_type, cte = rng.choice(CONTENT_TYPES), rng.choice(ENCODINGS)
        headers = [f"From: {rng.choice(FROMS)}", f"To: {rng.choice(FROMS)}",
                   f"Subject: {rng.choice(SUBJECTS)}", "Date: Tue, 05 Mar 2024 10:12:00 +0100",
                   "Message-ID: <m1@example.com>", *rng.choice(EXTRAS)]
        headers += [f"Content-Type: {content_type}"] if content_type is not None else []
        headers += [f"Content-Transfer-Encoding: {cte}"] if cte is not None else []
        rng.shuffle(headers)
        newline = rng.choice(["\r\n", "\n"])
        head = newline.join(headers).replace("\r\n", newline).encode("utf-8", "surrogateescape")
        body = _body(rng.choice(QUESTIONS), content_type, cte)
        if rng.random() < 0.1:
            body = body[: len(body) // 2] + b"!"  # broken padding or a cut escape
        mails.append(head + newline.encode() * 2 + body)
    return mails


def odd_layouts() -> list[bytes]:
    ok = b"From: a@example.com\r\nSubject: hi\r\n"
    return [
        b"", b"\r\n\r\nbody", b"\n\nbody", ok, ok + b"\r\n", ok + b"\r\nbody",
        ok + b"\n\r\nbody", ok + b"\r\r\nbody", ok + b"\rX: y\r\n\r\nbody", b" cont\r\n" + ok + b"\r\nx",
        b"From a@example.com Tue Mar 5 10:12:00 2024\r\n" + ok + b"\r\nbody",
        b":no name\r\n" + ok + b"\r\nbody", b"not a header\r\n" + ok + b"\r\nbody",
        ok + b"Subject: \xc3\xa5 raw\r\n\r\nbody", ok + b"X: \xff\r\n\r\nbody",
        ok + b"X: a\x0bb\x0cc\x1cd\r\n\r\nbody", ok + b"X: folded\r\n \r\n\r\nbody",
        ok + b"X: folded\n\t more\n\nbody\r\nmore\rlines\n", ok + b"\r\n\xff\xfe\x00binary",
    ]


def benchmark_style_mails(count: int) -> list[bytes]:
    """Mails shaped like the ones benchmarks/classify_speed.py times."""
    mails = []
    for i in range(count):
        msg = EmailMessage()
        msg["From"] = f"Customer {i} <customer{i}@example.com>"
        msg["To"] = "Support <support@example.com>"
        msg["Subject"] = "Question about my account"
        msg["Date"] = format_datetime(datetime(2026, 11, 23, 10, i % 60, tzinfo=timezone.utc))
        msg["Message-ID"] = make_msgid(domain="example.com")
        question = QUESTIONS[i % len(QUESTIONS)] + f" number {i}"
        msg.set_content(f"Hi,\n\n{question}\n\nThanks,\nSam\n\nOn Monday, Support wrote:\n"
                        f"> Thank you for your message.\n> Ticket #{i}\n", charset="utf-8",
                        cte=("quoted-printable", "base64", "8bit")[i % 3])
        mails.append(bytes(msg))
    return mails


def literal_mails() -> list[bytes]:
    """Every raw mail written out in tests/test_message.py, and the sample files."""
    found = [p.read_bytes() for p in sorted(MAILS.glob("*.eml"))]
    for value in vars(test_message).values():
        if isinstance(value, list):
            for case in value:
                found += [v for v in getattr(case, "values", ()) if isinstance(v, bytes)]
    found += [test_message.mail(*h) for h, _ in
              [c.values if hasattr(c, "values") else c for c in test_message.AUTOMATED_CASES]]
    return found


ALL_MAILS = (literal_mails() + odd_layouts() + benchmark_style_mails(300)
             + generated_mails(3000))


def stdlib_only(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> message.ParsedMessage:
    with monkeypatch.context() as patch:
        patch.setattr(message, "_simple_tree", lambda raw: None)
        return parse_message(raw)


def test_shortcut_gives_identical_parsed_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    differing = [raw for raw in ALL_MAILS if parse_message(raw) != stdlib_only(raw, monkeypatch)]
    assert differing == []


def test_shortcut_is_taken_for_most_ordinary_mails() -> None:
    taken = [message._simple_tree(raw) is not None for raw in benchmark_style_mails(30)]
    assert all(taken)
    generated = generated_mails(500)
    share = sum(message._simple_tree(raw) is not None for raw in generated) / len(generated)
    assert 0.1 < share < 0.9  # both paths are exercised by the comparison above


@pytest.mark.parametrize("raw", [r for r in ALL_MAILS if message._simple_tree(r) is not None])
def test_shortcut_pieces_match_the_stdlib_reading(raw: bytes) -> None:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    headers, body = simplemail._split_simple(raw)  # type: ignore[misc]
    assert headers == simplemail.index_headers(msg.raw_items())
    assert simplemail._simple_charset(headers) == (msg.get_content_charset() or "")
    assert msg.get_content_type() == "text/plain"
    assert simplemail._simple_payload(headers, body) == msg.get_payload(decode=True)
    assert msg.defects == []
    assert msg.get_body(preferencelist=("plain",)) is msg
    assert msg.get_body(preferencelist=("html",)) is None


@pytest.mark.parametrize("value", FROMS + [
    "a@example.com, B <b@example.com>", "Ab Cd <x@y.z>,e@f.g", "a@b", "a@b.", "A B C <a-b_c@d-e.fg>",
    "\"Quoted\" <q@example.com>", "a@[127.0.0.1]", "Name <a@b> trailing", "a@b;c@d", "<a@b>, <c@d>",
])
def test_simple_addresses_match_the_header_parser(value: str) -> None:
    simple = simplemail.simple_addresses(value)
    if simple is not None:
        header = policy.default.header_factory("to", value)
        expected = [(a.display_name, a.addr_spec) for a in header.addresses]
        assert [(message.one_line(d), a) for d, a in simple] == \
               [(message.one_line(d), a) for d, a in expected]


@pytest.mark.parametrize("value", SUBJECTS + ["", " ", "\t", "a\x0bb\x1cc", "x" * 3000])
def test_undecoded_subjects_match_the_header_parser(value: str) -> None:
    expected = str(policy.default.header_factory("subject", value))
    assert message._decoded("subject", value) == expected
