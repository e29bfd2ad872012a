"""The triage policy as a table: literal messages and facts in, decisions out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from inboxd.core.classify import Match
from inboxd.core.decide import (Acknowledge, AutoAnswer, Facts, FollowUp, Policy, Queue, Record,
                                TicketRef, decide)
from inboxd.core.message import parse_message

POLICY = Policy(threshold=0.6, route_threshold=0.3, auto_replies_per_sender_per_day=3)
TEAMS = {"shipping-time": "orders", "password-reset": None}
FAQS = frozenset(TEAMS)
PERSON = parse_message(b"From: Ana <ana@example.com>\r\nSubject: Hi\r\n"
                       b"Message-ID: <1@example.com>\r\n\r\nWhen does my order arrive?\r\n")
ROBOT = parse_message(b"From: ana@example.com\r\nAuto-Submitted: auto-replied\r\n"
                      b"Subject: Out of office\r\n\r\nI am away.\r\n")
BROKEN = replace(PERSON, defects=("undecodable charset x-foo",))
NO_ADDRESS = replace(PERSON, sender=None, reply_to=None)
OPEN = TicketRef(7, "ana@example.com", "open", None)
AUTO = TicketRef(8, "ana@example.com", "answered", "orders", "auto")
SURE = Match("shipping-time", 0.91)
UNSURE = Match("shipping-time", 0.45)
WILD = Match("password-reset", 0.12)
BASE = Facts(answerable_faqs=FAQS)

CASES = [
    # message, match, facts, expected decision type, expected fields
    ("confident match", PERSON, SURE, BASE, AutoAnswer, {"faq_id": "shipping-time"}),
    ("at the threshold", PERSON, Match("shipping-time", 0.6), BASE, AutoAnswer, {}),
    ("unsure: team queue", PERSON, UNSURE, BASE, Acknowledge, {"team": "orders"}),
    ("far off: main queue", PERSON, WILD, BASE, Acknowledge, {"team": None}),
    ("no model", PERSON, None, BASE, Acknowledge, {}),
    ("faq without answer", PERSON, SURE, Facts(), Acknowledge, {}),
    ("automated", ROBOT, SURE, BASE, Record, {"ticket_id": None}),
    ("automated in thread", ROBOT, SURE, replace(BASE, ticket=OPEN), Record, {"ticket_id": 7}),
    ("duplicate", PERSON, SURE, replace(BASE, duplicate_of=3), Record, {"ticket_id": 3}),
    ("follow-up", PERSON, SURE, replace(BASE, ticket=OPEN), FollowUp, {"ticket_id": 7}),
    ("reply to auto-answer", PERSON, SURE, replace(BASE, ticket=AUTO), FollowUp,
     {"ticket_id": 8, "team": "orders"}),
    ("backlog", PERSON, SURE, replace(BASE, backlog=True), Queue, {}),
    ("no address", NO_ADDRESS, SURE, BASE, Queue, {}),
    ("reply limit", PERSON, SURE, replace(BASE, auto_replies_today=3), Queue, {}),
    ("below limit", PERSON, SURE, replace(BASE, auto_replies_today=2), AutoAnswer, {}),
    ("malformed", BROKEN, SURE, BASE, Acknowledge, {}),
]


@pytest.mark.parametrize("case, msg, match, facts, kind, fields", CASES,
                         ids=[c[0] for c in CASES])
def test_decide(case: str, msg, match, facts, kind, fields) -> None:  # type: ignore[no-untyped-def]
    decision = decide(msg, match, facts, POLICY, TEAMS)
    assert type(decision) is kind
    for name, value in fields.items():
        assert getattr(decision, name) == value
    assert decision.reason


def test_robot_mail_is_never_answered_whatever_the_match() -> None:
    for match in (SURE, UNSURE, None):
        assert isinstance(decide(ROBOT, match, BASE, POLICY, TEAMS), Record)
