"""Status requests as tables: which questions are one, and what the reply lists."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from inboxd.core.classify import Match
from inboxd.core.decide import Facts, FollowUp, Policy, Queue, Record, TicketRef, decide
from inboxd.core.message import parse_message
from inboxd.core.status import StatusReply, StatusRequest, status_reply, status_request

REQUESTS = [
    # question, subject tag, expected (ticket id, language) or None
    ("status", None, (None, None)),
    ("Status", None, (None, None)),
    ("STATUS?", None, (None, None)),
    ("status #123", None, (123, None)),
    ("status #123", 9, (123, None)),
    ("status", 9, (9, None)),
    ("Status: #7", None, (7, None)),
    ("status\n\nstatus #12", None, (12, None)),
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
    ("Hello, status?\n\nThanks,\nAna Customer", None, (None, None)),
    ("Hi,\nstatus\nBest regards,\nAna\nExample Ltd", None, (None, None)),
    # not requests
    ("", None, None),
    ("What is the status of my order?", None, None),
    ("status of my order", None, None),
    ("status please", None, None),
    ("Broken lamp\n\nstatus", None, None),
    ("status #1\nstatus #2", None, None),
    ("Hi,\nstatus\nThanks,\nAna\nExample Ltd\nMain Street 1", None, None),
    ("status " + "x" * 300, None, None),
    ("My order status page shows an error. " * 3, None, None),
    ("statusupdate", None, None),
    ("estados", None, None),
]


@pytest.mark.parametrize("question, tag, expected", REQUESTS, ids=[r[0][:30] for r in REQUESTS])
def test_status_request(question: str, tag: int | None,
                        expected: tuple[int | None, str | None] | None) -> None:
    found = status_request(question, tag)
    assert found == (StatusRequest(*expected) if expected else None)


def message(subject: str, body: str, sender: str = "ana@example.com",
            extra: str = "") -> bytes:
    return (f"From: Ana <{sender}>\r\nSubject: {subject}\r\nMessage-ID: <s@example.com>\r\n"
            f"{extra}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


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
