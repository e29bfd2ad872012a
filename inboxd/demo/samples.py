"""The customer mails ``inboxd demo`` delivers: questions in four languages and one in German
(which the FAQ has no example of, answered in ``faq.default_language``), a complaint no FAQ
covers, an out-of-office auto-reply, and a customer's reply to one of inboxd's answers.

Each mail is a plain RFC 5322 message built with ``email.message.EmailMessage`` (UTF-8, names
and subjects encoded as RFC 2047 where needed), dated a few minutes before ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from inboxd.demo.servers import SUPPORT_USER

SUPPORT = Address("Demo Shop Support", addr_spec=SUPPORT_USER)


@dataclass(frozen=True)
class Sample:
    """One customer mail as delivered to the support inbox."""

    label: str  # what the mail stands for, e.g. "question (zh)"
    raw: bytes
    received_at: datetime


@dataclass(frozen=True)
class _Spec:
    label: str
    name: str
    address: str
    subject: str
    body: str
    minutes_ago: int
    extra: tuple[tuple[str, str], ...] = ()


FIRST_ROUND = (
    _Spec("question (en)", "Emily Carter", "emily.carter@example.com",
          "Where is my parcel?",
          "Hi,\n\nI placed an order on Monday and haven't received anything yet. How long does "
          "delivery usually take to the UK?\n\nThanks,\nEmily", 14),
    _Spec("question (zh)", "王芳", "wang.fang@example.net", "订单什么时候能到？",
          "你好，\n\n我上周五下的订单，现在还没有收到。请问快递一般需要几天才能送到？\n\n谢谢！\n王芳", 12),
    _Spec("question (sv)", "Lars Berg", "lars.berg@example.org", "Leveranstid",
          "Hej!\n\nJag beställde en jacka i torsdags. Hur lång tid brukar det ta innan "
          "paketet kommer fram?\n\nMvh\nLars", 10),
    _Spec("question (es)", "Lucía Fernández", "lucia.fernandez@example.com",
          "Consulta sobre mi pedido",
          "Hola:\n\nHice un pedido hace tres días. ¿Cuántos días tarda normalmente el envío "
          "a Madrid?\n\nUn saludo,\nLucía", 8),
    _Spec("question (de, no German in the FAQ)", "Jonas Weber", "jonas.weber@example.de",
          "Passwort vergessen",
          "Hallo,\n\nich habe mein Passwort vergessen und komme nicht mehr in mein Kundenkonto. "
          "Wie kann ich es zurücksetzen?\n\nViele Grüße\nJonas Weber", 7),
    _Spec("complaint (en)", "Tom Okafor", "tom.okafor@example.org",
          "Vase arrived broken",
          "Hello,\n\nthe ceramic vase I bought from you has a large crack down the side. I can "
          "send photos if that helps. Could you send me a replacement?\n\nRegards,\nTom Okafor",
          6),
    _Spec("out-of-office", "Anna Svensson", "anna.svensson@example.net",
          "Automatic reply: Your order has shipped",
          "Thank you for your e-mail. I am out of the office until Monday with no access to "
          "e-mail. For urgent matters please contact my colleague at info@example.net.\n\n"
          "Anna Svensson", 4,
          (("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All"))),
)


def first_round(now: datetime) -> list[Sample]:
    """The mails of the first delivery, oldest first."""
    return [_build(spec, now) for spec in FIRST_ROUND]


def follow_up(answer: EmailMessage, now: datetime) -> Sample:
    """Emily's reply to inboxd's automatic answer: threaded under it, asking for a person."""
    message_id = str(answer["Message-ID"])
    references = f"{answer.get('References', '')} {message_id}".strip()
    subject = str(answer["Subject"])
    spec = _Spec("follow-up (en)", "Emily Carter", "emily.carter@example.com",
                 subject if subject.lower().startswith("re:") else f"Re: {subject}",
                 "Thanks, but the tracking link says the parcel has been stuck in Leipzig for "
                 "six days now. Could someone please look into it?\n\nEmily", 1,
                 (("In-Reply-To", message_id), ("References", references)))
    return _build(spec, now)


def _build(spec: _Spec, now: datetime) -> Sample:
    sent_at = now - timedelta(minutes=spec.minutes_ago)
    domain = spec.address.rpartition("@")[2]
    msg = EmailMessage()
    msg["From"] = Address(spec.name, addr_spec=spec.address)
    msg["To"] = SUPPORT
    msg["Subject"] = spec.subject
    msg["Date"] = format_datetime(sent_at)
    msg["Message-ID"] = make_msgid(domain=domain)
    for name, value in spec.extra:
        msg[name] = value
    msg.set_content(spec.body, charset="utf-8")
    return Sample(spec.label, msg.as_bytes(policy=policy.SMTP), sent_at + timedelta(seconds=20))
