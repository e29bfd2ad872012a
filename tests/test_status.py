"""Status requests as tables: which questions are one, and what the reply lists."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from inboxd.core.classify import Match
from inboxd.core.decide import Facts, FollowUp, Policy, Queue, Record, TicketRef, decide
from inboxd.core.message import parse_message
from inboxd.core.status import (StatusReply, StatusRequest, request_in, status_reply,
                                status_request)

REQUESTS = [
    # text, ticket tag of the subject, expected (ticket id, language) or None
    ("status", None, (None, None)),
    ("Status", None, (None, None)),
    ("STATUS?", None, (None, None)),
    ("status #123", None, (123, None)),
    ("status #123", 9, (123, None)),
    ("status", 9, (9, None)),
    ("Status: #7", None, (7, None)),
    ("#7 status", None, (7, None)),
    ("status\n\nstatus #12", None, (12, None)),
    ("status please", None, (None, None)),
    ("estado", None, (None, "es")),
    ("¿Estado #5?", None, (5, "es")),
    ("状态", None, (None, "zh")),
    ("状态 #123", None, (123, "zh")),
    ("状态#123?", None, (123, "zh")),
    ("你好，状态？", None, (None, "zh")),
    ("läge", None, (None, "sv")),
    ("Läge #4?", None, (4, "sv")),
    ("Hej!\nläge?\nTack,\nAnna", None, (None, "sv")),
    ("Hi,\n\nstatus #3", None, (3, None)),
    ("Hello, status?\n\nThanks,\nAna Customer", None, (None, "en")),
    ("Hi,\nstatus\nBest regards,\nAna\nExample Ltd", None, (None, "en")),
    ("Hi,\nstatus\nThanks,\nAna\nExample Ltd\nMain Street 1\n+46 70 123 45 67", None,
     (None, "en")),  # a signature block
    # not requests
    ("", None, None),
    ("What is the status of my order?", None, None),
    ("status of my order", None, None),
    ("Broken lamp\n\nstatus", None, None),
    ("status #1\nstatus #2", None, None),
    ("status\nThanks,\nAna\nP.S. Where is my refund? I paid twice.", None, None),
    ("status " + "x" * 300, None, None),
    ("My order status page shows an error. " * 3, None, None),
    ("statusupdate", None, None),
    ("estados", None, None),
]


@pytest.mark.parametrize("question, tag, expected", REQUESTS, ids=[r[0][:30] for r in REQUESTS])
def test_status_request(question: str, tag: int | None,
                        expected: tuple[int | None, str | None] | None) -> None:
    found = status_request(question, "", tag)
    assert found == (StatusRequest(*expected) if expected else None)


def message(subject: str, body: str, sender: str = "ana@example.com",
            extra: str = "", name: str = "Ana") -> bytes:
    return (f"From: {name} <{sender}>\r\nSubject: {subject}\r\nMessage-ID: <s@example.com>\r\n"
            f"{extra}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


MAILS = [
    # language, subject, text, sender's name, expected (ticket id, language) or None
    ("en", "x", "status", "Ana Lind", (None, None)),
    ("en", "Re: Question [#10]", "status", "Ana Lind", (10, None)),
    ("en", "Re: Question [#10]", "status\n\nOn Monday, Support wrote:\n> Hello", "Ana", (10, None)),
    ("en", "Order 5521", "Hello,\nwhat's the status of my request?\nKind regards\nAna Lind",
     "Ana Lind", (None, "en")),
    ("en", "status", "", "Ana", (None, None)),
    ("en", "Status #4", "Hi,\n\nThanks!\nAna", "Ana", (4, "en")),
    ("en", "Help", "Status update please.\n\nana", "Ana Lind", (None, "en")),  # lower-case name
    ("en", "x", "status\nAna Lind", "Ana Lind", (None, None)),  # a name-only signature
    ("en", "x", "status\n\nAna Lind\nLind Consulting AB\n+46 70 123 45 67", "Ana Lind",
     (None, None)),
    ("en", "x", "status\n-- \nAna Lind, CEO\nwww.lind.example", "Ana", (None, None)),
    ("en", "x", "status\n\nSent from my iPhone", "Ana", (None, None)),
    ("de", "Status meiner Anfrage", "", "Jonas", (None, "de")),
    ("de", "Anfrage", "Hallo,\nStatus meiner Anfrage?\nViele Grüße\nJonas Weber", "Jonas Weber",
     (None, "de")),
    ("de", "Re: Lampe [#12]", "Guten Tag,\nwie ist der Stand?\nMit freundlichen Grüßen\nJonas",
     "Jonas", (12, "de")),
    ("de", "x", "Sehr geehrte Damen und Herren,\nStand meiner Anfrage #8 bitte.\nDanke, Jonas",
     "Jonas", (8, "de")),
    ("sv", "x", "Hej,\nstatus på mitt ärende?\nMvh\nAnna Berg", "Anna Berg", (None, "sv")),
    ("sv", "Ärende", "Hej hej\nvad är läget med #31\nTack på förhand", "Anna", None),
    ("sv", "Ärende", "Hej hej\nvad är läget #31?\nTack på förhand", "Anna", (31, "sv")),
    ("sv", "läge", "", "Anna", (None, "sv")),
    ("es", "x", "Hola,\n¿cuál es el estado de mi solicitud?\nSaludos,\nMaría", "María",
     (None, "es")),
    ("es", "Re: Pedido [#3]", "Buenos días:\nestado, por favor\nGracias", "María", (3, "es")),
    ("zh", "x", "您好，\n我的工单状态？\n谢谢\n王小明", "王小明", (None, "zh")),
    ("zh", "查询", "请问进度 #44？", "王小明", (44, "zh")),
    ("fr", "x", "Bonjour,\nstatut de ma demande ?\nCordialement\nLéa Martin", "Léa Martin",
     (None, "fr")),
    ("en", "Re: status", "Thanks!\nAna", "Ana", None),  # thanks for a status reply
    # real questions that merely contain the word
    ("en", "status", "Where is my parcel? It has not arrived.", "Ana", None),
    ("en", "x", "What is the status of my order? It was due on Monday.", "Ana", None),
    ("en", "x", "status\nmy parcel never arrived and the tracking is empty", "Ana", None),
    ("en", "Order status", "Hi, can you change my delivery address?\nThanks", "Ana", None),
    ("de", "Status", "Meine Bestellung ist nicht angekommen.", "Jonas", None),
    ("de", "x", "Der Status meiner Bestellung zeigt seit Tagen Versendet.", "Jonas", None),
    ("sv", "x", "Vad är läget med leveransen till Malmö? Den är sen.", "Anna", None),
    ("es", "x", "¿Cuál es el estado de mi pedido? No ha llegado.", "María", None),
    ("zh", "x", "我的订单状态显示已发货，但是我还没有收到。", "王小明", None),
    ("fr", "x", "Quel est l'état de ma commande ? Elle n'est pas arrivée.", "Léa", None),
]


@pytest.mark.parametrize("language, subject, text, name, expected", MAILS,
                         ids=[f"{m[0]}:{m[1]}:{m[2][:25]}" for m in MAILS])
def test_status_request_in_a_mail(language: str, subject: str, text: str, name: str,
                                  expected: tuple[int | None, str | None] | None) -> None:
    found = request_in(parse_message(message(subject, text, name=name)))
    assert found == (StatusRequest(*expected) if expected else None)


def test_subject_only_request_is_detected_from_the_question() -> None:
    msg = parse_message(message("status", ""))
    assert status_reply(msg, (3, 1, 2)) == StatusReply(
        (3, 2, 1), None, None, "status request: 3 open ticket(s) for ana@example.com")


REPLIES = [
    # subject, body, customer's tickets, expected ticket_ids, asked
    ("status", "", (), (), None),
    ("status", "", (4, 9), (9, 4), None),
    ("Status #4", "", (4, 9), (4,), 4),
    ("status", "status #5", (4, 9), (), 5),  # not theirs: nothing listed
    ("Re: status [#9]", "", (4, 9), (9,), 9),
    ("estado #77", "", (), (), 77),
]


@pytest.mark.parametrize("subject, body, tickets, listed, asked", REPLIES)
def test_status_reply_lists_only_the_customers_tickets(
        subject: str, body: str, tickets: tuple[int, ...], listed: tuple[int, ...],
        asked: int | None) -> None:
    reply = status_reply(parse_message(message(subject, body)), tickets)
    assert reply is not None
    assert (reply.ticket_ids, reply.asked) == (listed, asked)
    assert reply.reason


POLICY = Policy(threshold=0.6, route_threshold=0.3, auto_replies_per_sender_per_day=3)
REQUEST = parse_message(message("status", ""))
OPEN = TicketRef(7, "ana@example.com", "open", None)
DECISIONS = [
    # message, facts, expected type
    ("request", REQUEST, Facts(customer_tickets=(7,)), StatusReply),
    ("in its ticket's thread", REQUEST, Facts(ticket=OPEN, customer_tickets=(7,)), StatusReply),
    ("over the reply limit", REQUEST, Facts(auto_replies_today=3), Record),
    ("in the backlog", REQUEST, Facts(backlog=True), Queue),
    ("automated", parse_message(message("status", "", extra="Auto-Submitted: auto-replied\r\n")),
     Facts(), Record),
    ("duplicate", REQUEST, Facts(duplicate_of=7), Record),
    ("ordinary follow-up", parse_message(message("Re: Lamp [#7]", "status of my lamp?")),
     Facts(ticket=OPEN), FollowUp),
    ("keyword in the text, any subject", parse_message(message("x", "status")),
     Facts(customer_tickets=(7,)), StatusReply),
    ("keyword in a reply in the ticket's thread",
     parse_message(message("Re: Question [#7]", "status\n\nAna")),
     Facts(ticket=OPEN, customer_tickets=(7,)), StatusReply),
]


@pytest.mark.parametrize("case, msg, facts, kind", DECISIONS, ids=[d[0] for d in DECISIONS])
def test_decide_status(case: str, msg: Any, facts: Facts, kind: type) -> None:
    decision = decide(msg, Match("x", 0.1), facts, POLICY, {})
    assert type(decision) is kind
    if kind is Record and case == "over the reply limit":
        assert decision.ticket_id is None and "status request" in decision.reason


def test_request_without_reply_address_is_no_status_reply() -> None:
    msg = replace(REQUEST, reply_to=None, sender=None)
    assert status_reply(msg, (1,)) is None
