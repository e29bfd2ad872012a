"""Operator rules: matching as a table, validation in the FAQ file, and their place in decide."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from inboxd.core.classify import Match
from inboxd.core.decide import (Acknowledge, AutoAnswer, Facts, FollowUp, Policy, Queue, Record,
                                TicketRef, decide)
from inboxd.core.message import parse_message
from inboxd.core.rules import Rule, match_rule
from inboxd.errors import FaqError
from inboxd.faq import parse_faq

LEGAL = Rule(0, "human", phrases=("refund*", "lawyer", "abogado", "advokat", "律师"),
             team="billing")
VIP = Rule(1, "human", senders=("*@bigcustomer.com", "ceo@example.com"))
BOTH = Rule(2, "shipping-time", phrases=("tracking number",), senders=("*@shop.example",))
RULES = (LEGAL, VIP, BOTH)

MATCHES = [
    # text, sender, expected rule index or None, expected detail
    ("I want a REFUND now", "a@x.com", 0, 'phrase "refund*"'),
    ("Refunded twice?", "a@x.com", 0, 'phrase "refund*"'),
    ("my lawyer will call", "a@x.com", 0, 'phrase "lawyer"'),
    ("Lawyers everywhere", "a@x.com", None, None),  # whole words unless the phrase ends in *
    ("Hablaré con mi Abogado.", "a@x.com", 0, 'phrase "abogado"'),
    ("Min advokat hör av sig", "a@x.com", 0, 'phrase "advokat"'),
    ("我要找律师处理这件事", "a@x.com", 0, 'phrase "律师"'),  # Chinese: anywhere in the text
    ("ＲＥＦＵＮＤ please", "a@x.com", 0, 'phrase "refund*"'),  # full-width letters fold
    ("Where is my parcel?", "Boss@BigCustomer.com", 1, "sender boss@bigcustomer.com"),
    ("Where is my parcel?", "ceo@example.com", 1, "sender ceo@example.com"),
    ("Where is my parcel?", "ceo@example.com.evil", None, None),
    ("Where is my parcel?", "a@notbigcustomer.com", None, None),
    ("my tracking   number is wrong", "b@shop.example", 2,
     'phrase "tracking number" and sender b@shop.example'),
    ("my tracking number is wrong", "b@other.example", None, None),  # both must match
    ("what is tracking?", "b@shop.example", None, None),
    ("a refund from the ceo", "ceo@example.com", 0, 'phrase "refund*"'),  # first rule wins
    ("Where is my parcel?", None, None, None),
]


@pytest.mark.parametrize("text, sender, index, matched", MATCHES)
def test_match_rule(text: str, sender: str | None, index: int | None,
                    matched: str | None) -> None:
    hit = match_rule(RULES, text, sender)
    assert (hit.rule.index if hit else None) == index
    assert (hit.matched if hit else None) == matched


# -- validation in the FAQ file ------------------------------------------------------------------

FAQ = """
[[faq]]
id = "shipping-time"
examples = ["When does my order arrive?"]
answer.en = "Soon."
"""

BAD_RULES = [
    ('[[rule]]\nphrases = ["x"]\n', "rule[0].route"),
    ('[[rule]]\nphrases = ["x"]\nroute = "nope"\n', "rule[0].route"),
    ('[[rule]]\nroute = "human"\n', "rule[0].phrases"),
    ('[[rule]]\nphrases = "refund"\nroute = "human"\n', "rule[0].phrases"),
    ('[[rule]]\nphrases = ["ok", ""]\nroute = "human"\n', "rule[0].phrases[1]"),
    ('[[rule]]\nsenders = ["a b@x.com"]\nroute = "human"\n', "rule[0].senders[0]"),
    ('[[rule]]\nphrases = ["x"]\nroute = "human"\ncolour = "red"\n', "rule[0].colour"),
    ('[[rule]]\nphrases = ["x"]\nroute = "human"\nteam = "a/b"\n', "rule[0].team"),
    ('[[rule]]\nphrases = ["x"]\nroute = "shipping-time"\nteam = "orders"\n', "rule[0].team"),
    ('[[rule]]\nphrases = ["x"]\nroute = "human"\n\n[[rule]]\nsenders = [1]\nroute = "human"\n',
     "rule[1].senders[0]"),
]


@pytest.mark.parametrize("rules, key", BAD_RULES)
def test_bad_rule_names_its_key(rules: str, key: str) -> None:
    with pytest.raises(FaqError) as caught:
        parse_faq(tomllib.loads(FAQ + rules), Path("."))
    assert caught.value.key == key


def test_rule_must_be_tables() -> None:
    with pytest.raises(FaqError) as caught:
        parse_faq(tomllib.loads('rule = "everything to humans"\n' + FAQ), Path("."))
    assert caught.value.key == "rule"


def test_rules_are_read_in_file_order() -> None:
    faq = parse_faq(tomllib.loads(FAQ + '[[rule]]\nphrases = ["lawyer"]\nroute = "human"\n'
                                        'team = "legal"\n\n[[rule]]\nsenders = ["*@vip.test"]\n'
                                        'route = "shipping-time"\n'), Path("."))
    assert faq.rules == (Rule(0, "human", phrases=("lawyer",), team="legal"),
                         Rule(1, "shipping-time", senders=("*@vip.test",)))


# -- rules in the triage decision ----------------------------------------------------------------

POLICY = Policy(threshold=0.6, route_threshold=0.3, auto_replies_per_sender_per_day=3, rules=RULES)
TEAMS = {"shipping-time": "orders"}
FACTS = Facts(answerable_faqs=frozenset(TEAMS))


def message(sender: str, subject: str, body: str, extra: str = "") -> object:
    return parse_message(f"From: {sender}\r\nSubject: {subject}\r\nMessage-ID: <1@x>\r\n{extra}"
                         f"\r\n{body}\r\n".encode())


LEGAL_MAIL = message("ana@example.com", "Order 12", "I want a refund or my lawyer calls.")
SURE = Match("shipping-time", 0.95)

DECISIONS = [
    # case, message, facts, type, fields
    ("human rule beats a sure match", LEGAL_MAIL, FACTS, Acknowledge,
     {"team": "billing", "faq_id": None}),
    ("phrase in the subject", message("ana@example.com", "Refund", "See above."), FACTS,
     Acknowledge, {"team": "billing"}),
    ("sender rule without a team", message("x@bigcustomer.com", "Hi", "Where is it?"), FACTS,
     Acknowledge, {"team": None}),
    ("faq rule answers", message("b@shop.example", "Hi", "Tracking number please"), FACTS,
     AutoAnswer, {"faq_id": "shipping-time", "confidence": 1.0}),
    ("not for automated mail", message("ana@example.com", "Away", "refund",
                                       "Auto-Submitted: auto-replied\r\n"), FACTS, Record, {}),
    ("not for follow-ups", LEGAL_MAIL,
     replace(FACTS, ticket=TicketRef(7, "ana@example.com", "open", None)), FollowUp, {}),
    ("not for the backlog", LEGAL_MAIL, replace(FACTS, backlog=True), Queue, {}),
    ("quoted history does not count", message(
        "ana@example.com", "Thanks", "Thanks, it arrived!\r\n\r\n> We sent your refund."),
     FACTS, AutoAnswer, {"faq_id": "shipping-time", "confidence": 0.95}),
]


@pytest.mark.parametrize("case, msg, facts, kind, fields", DECISIONS, ids=[d[0] for d in DECISIONS])
def test_rules_in_decide(case: str, msg, facts, kind,  # type: ignore[no-untyped-def]
                        fields) -> None:
    decision = decide(msg, SURE, facts, POLICY, TEAMS)
    assert type(decision) is kind, decision
    for name, value in fields.items():
        assert getattr(decision, name) == value
    if kind in (Acknowledge, AutoAnswer) and "rule" in case:
        assert decision.reason.startswith("rule[")


def test_rule_reason_names_the_rule_and_what_matched() -> None:
    decision = decide(LEGAL_MAIL, SURE, FACTS, POLICY, TEAMS)
    assert decision.reason == 'rule[0] (phrase "refund*") routes to a person'
