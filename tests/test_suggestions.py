"""Suggested answers as tables: when a draft is suggested, its thread headers, what a sent
reply made of it, and the keys that turn it on (config, FAQ modes, rules)."""

from __future__ import annotations

import base64
import tomllib
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from harness import offline_config

from inboxd.config import load_config
from inboxd.core.classify import Match
from inboxd.core.decide import Acknowledge, AutoAnswer, Facts, Policy, decide
from inboxd.core.drafts import (REJECTED, SENT_EDITED, SENT_UNCHANGED, Draft, build_draft,
                                carries_suggestion, draft_of_ticket_in, reply_fate,
                                reply_thread_index, same_mail)
from inboxd.core.message import parse_message
from inboxd.core.rules import Rule
from inboxd.errors import ConfigError, FaqError
from inboxd.faq import parse_faq

POLICY = Policy(threshold=0.8, route_threshold=0.3, auto_replies_per_sender_per_day=3,
                suggest_threshold=0.4)
TEAMS = {"shipping-time": "orders", "returns": None, "legal": None}
FACTS = Facts(answerable_faqs=frozenset({"shipping-time", "returns"}),
              suggestible_faqs=frozenset({"shipping-time", "returns", "legal"}))
PERSON = parse_message(b"From: Ana <ana@example.com>\r\nSubject: Hi\r\n"
                       b"Message-ID: <1@example.com>\r\n\r\nWhen does my order arrive?\r\n")

SUGGESTIONS = [
    # case, match, facts, policy, decision type, suggested FAQ
    ("between the thresholds", Match("shipping-time", 0.5), FACTS, POLICY, Acknowledge,
     "shipping-time"),
    ("at the suggest threshold", Match("shipping-time", 0.4), FACTS, POLICY, Acknowledge,
     "shipping-time"),
    ("below it", Match("shipping-time", 0.39), FACTS, POLICY, Acknowledge, None),
    ("sure: answered, no draft", Match("shipping-time", 0.9), FACTS, POLICY, AutoAnswer, None),
    ("draft mode however sure", Match("legal", 0.99), FACTS, POLICY, Acknowledge, "legal"),
    ("mode off: nothing", Match("legal", 0.99),
     replace(FACTS, suggestible_faqs=frozenset({"returns"})), POLICY, Acknowledge, None),
    ("suggestions off", Match("returns", 0.7), FACTS, replace(POLICY, suggest_threshold=0.0),
     Acknowledge, None),
    ("off, draft mode still drafts when sure", Match("legal", 0.85), FACTS,
     replace(POLICY, suggest_threshold=0.0), Acknowledge, "legal"),
]


@pytest.mark.parametrize("case, match, facts, policy, kind, suggest", SUGGESTIONS,
                         ids=[c[0] for c in SUGGESTIONS])
def test_suggested(case: str, match: Match, facts: Facts, policy: Policy, kind: type,
                   suggest: str | None) -> None:
    decision = decide(PERSON, match, facts, policy, TEAMS)
    assert type(decision) is kind
    assert getattr(decision, "suggest", None) == suggest
    if suggest:
        assert "suggested as a draft" in decision.reason


def test_a_rule_can_route_to_a_draft_and_a_draft_mode_faq_is_never_sent_by_a_rule() -> None:
    drafted = replace(POLICY, rules=(Rule(0, "shipping-time", phrases=("order",), draft=True),))
    decision = decide(PERSON, Match("returns", 0.1), FACTS, drafted, TEAMS)
    assert isinstance(decision, Acknowledge)
    assert (decision.suggest, decision.team, decision.faq_id) == \
        ("shipping-time", "orders", "shipping-time")
    to_legal = replace(POLICY, rules=(Rule(0, "legal", phrases=("order",)),))
    decision = decide(PERSON, None, FACTS, to_legal, TEAMS)
    assert isinstance(decision, Acknowledge) and decision.suggest == "legal"


NOW = datetime(2026, 12, 2, 9, 30, tzinfo=timezone.utc)


def test_thread_index_extends_the_customers_and_is_derived_when_missing() -> None:
    outlook = base64.b64encode(bytes(range(1, 23))).decode()
    extended = base64.b64decode(reply_thread_index(outlook, None, "<1@x>", NOW))
    assert len(extended) == 27 and extended[:22] == bytes(range(1, 23))
    first = base64.b64decode(reply_thread_index(None, NOW - timedelta(hours=1), "<1@x>", NOW))
    again = base64.b64decode(reply_thread_index(None, NOW - timedelta(hours=1), "<1@x>",
                                                NOW + timedelta(minutes=5)))
    other = base64.b64decode(reply_thread_index(None, NOW - timedelta(hours=1), "<2@x>", NOW))
    assert len(first) == 27 and first[:22] == again[:22], "every reply: the same conversation"
    assert first[:22] != other[:22]
    assert first[0] == 0x01, "a FILETIME of this century starts with 0x01"
    assert reply_thread_index("not base64!", NOW, "<1@x>", NOW) == \
        reply_thread_index(None, NOW, "<1@x>", NOW)


def test_draft_headers() -> None:
    msg = build_draft(Draft(original=PERSON, ticket_id=4, faq_id="returns", body="Hej!\n",
                            language="sv", sender="Support <support@example.com>",
                            message_id="<d@example.com>", now=NOW))
    assert msg["Subject"] == "Re: Hi [#4]" and msg["Thread-Topic"] == "Hi"
    assert (msg["In-Reply-To"], msg["X-Inboxd-Suggested-Faq"]) == ("<1@example.com>", "returns")
    assert msg["Auto-Submitted"] is None and msg["Content-Language"] == "sv"
    raw = bytes(msg)
    assert carries_suggestion(raw.split(b"\n\n")[0])
    assert same_mail(raw, raw.replace(b"\n", b"\r\n"))
    assert not same_mail(raw, raw.replace(b"Hej!", b"Hej Ana!"))


ANSWER = "You can return any item within 30 days."
BODY = f"Hello Ana,\n\nthank you for your message.\n\n{ANSWER}\n\nKind regards,\nSupport\n"
FATES = [
    ("the draft itself", BODY, True, SENT_UNCHANGED),
    ("rewrapped", BODY.replace("\n\n", "\n"), False, SENT_UNCHANGED),
    ("greeting changed", BODY.replace("Hello Ana", "Hi Ana"), False, SENT_EDITED),
    ("answer reworded, headers kept", "Hi! Any item can be returned within 30 days. Bye",
     True, SENT_EDITED),
    ("answer removed", "Hello Ana,\n\nwe will send you a new lamp.\n\nKind regards", True,
     REJECTED),
    ("another answer", "Hi, I have refunded your payment. Regards", False, REJECTED),
]


@pytest.mark.parametrize("case, reply, kept_header, fate", FATES, ids=[f[0] for f in FATES])
def test_reply_fate(case: str, reply: str, kept_header: bool, fate: str) -> None:
    assert reply_fate(reply, kept_header, ANSWER, BODY) == fate


FOLDER = [
    b"Message-ID: <other@inboxd.example>\r\nSubject: Re: Returns [#12]\r\n\r\n",
    b"Message-ID: <A1@Inboxd.Example>\r\nSubject: Re: Shipping [#3]\r\n\r\n",
    b"Message-ID: <saved@client.example>\r\nSubject: =?utf-8?q?Re=3A_Env=C3=ADo_=5B#7=5D?=\r\n\r\n",
]
DRAFTS_FOUND = [
    ("inboxd's own, by Message-ID without case", "<a1@inboxd.example>", 3, True),
    ("a person's, by the tag of an encoded subject", "<gone@inboxd.example>", 7, True),
    ("a longer ticket number is another ticket", "<gone@inboxd.example>", 1, False),
    ("neither", "<gone@inboxd.example>", 4, False),
]


@pytest.mark.parametrize("case, message_id, ticket_id, found", DRAFTS_FOUND,
                         ids=[c[0] for c in DRAFTS_FOUND])
def test_a_draft_of_the_ticket_in_the_folder(case: str, message_id: str, ticket_id: int,
                                             found: bool) -> None:
    folder_mail = [parse_message(header) for header in FOLDER]
    assert draft_of_ticket_in(message_id, ticket_id, folder_mail) is found


# -- the keys ------------------------------------------------------------------------------------

FAQ = '[[faq]]\nid = "a"\nexamples = ["x"]\nanswer.en = "y"\n'


def test_faq_mode_and_rule_mode() -> None:
    faq = parse_faq(tomllib.loads(FAQ.replace('id = "a"', 'id = "a"\nmode = "draft"') +
                                  '[[rule]]\nphrases = ["p"]\nroute = "a"\nmode = "draft"\n'),
                    Path("."))
    assert faq.entries[0].mode == "draft" and not faq.entries[0].sends
    assert faq.entries[0].suggests and faq.rules[0].draft
    with pytest.raises(FaqError, match="mode"):
        parse_faq(tomllib.loads(FAQ.replace('id = "a"', 'id = "a"\nmode = "maybe"')), Path("."))
    with pytest.raises(FaqError, match=r"rule\[0\]\.mode"):
        parse_faq(tomllib.loads(FAQ + '[[rule]]\nphrases = ["p"]\nroute = "human"\n'
                                      'mode = "draft"\n'), Path("."))


def test_config_keys(tmp_path: Path) -> None:
    config = load_config(offline_config(tmp_path, FAQ, "threshold = 0.7"))
    assert config.faq.suggest_threshold == 0.5 and config.folders.drafts is None
    config = load_config(offline_config(tmp_path, FAQ, "threshold = 0.3"))
    assert config.faq.suggest_threshold == 0.3, "never above the answer threshold"
    config = load_config(offline_config(tmp_path, FAQ, "suggest_threshold = 0"))
    assert config.faq.suggest_threshold == 0.0
    with pytest.raises(ConfigError, match="faq.suggest_threshold"):
        load_config(offline_config(tmp_path, FAQ, "threshold = 0.5\nsuggest_threshold = 0.6"))
    path = offline_config(tmp_path, FAQ, "")
    path.write_text(path.read_text() + '[folders]\ndrafts = ""\n')
    with pytest.raises(ConfigError, match="folders.drafts"):
        load_config(path)
