"""Relay mode as tables: who is an agent, what an agent's message becomes, who may continue a
ticket, the [relay] configuration and the mails built for it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from inboxd.config import RelaySettings, parse_config
from inboxd.core.classify import Match
from inboxd.core.decide import (Acknowledge, Facts, FollowUp, Policy, Record, TicketRef,
                                decide)
from inboxd.core.message import parse_message
from inboxd.core.outgoing import Envelope, build_forward, build_relayed
from inboxd.core.relay import (AgentCheck, RelayReply, check_agent, is_note, is_participant,
                               relay_reply, reply_text)
from inboxd.errors import ConfigError

RELAY = RelaySettings(team_addresses={"orders": ("orders-team@example.com",)},
                      default_addresses=("helpdesk@example.com",),
                      agent_addresses=frozenset({"bo@partner.test"}),
                      agent_domains=frozenset({"example.com"}), authserv_id="mx.example.com")
PASS = "mx.example.com; dkim=pass header.d=example.com"


def mail(sender: str, body: str, subject: str = "Re: [#7] Broken lamp", extra: str = "") -> Any:
    return parse_message((f"From: {sender}\r\nSubject: {subject}\r\nMessage-ID: <m@x.test>\r\n"
                          f"{extra}\r\n{body}\r\n").encode())


CHECKS = [
    # relay settings, sender, Authentication-Results headers, expected (trusted) or None
    (RELAY, "kim@example.com", [PASS], True),
    (RELAY, "KIM@EXAMPLE.COM".lower(), [PASS], True),
    (RELAY, "bo@partner.test", ["mx.example.com; spf=pass smtp.mailfrom=bo@partner.test"], True),
    (RELAY, "kim@example.com", [], False),
    (RELAY, "kim@example.com", ["mx.example.com; dkim=pass header.d=evil.test"], False),
    (RELAY, "bo@partner.test", [PASS], False),  # example.com vouches for nobody at partner.test
    (RELAY, "ana@customer.test", [PASS], None),  # not an agent's address at all
    (RELAY, None, [PASS], None),
    (None, "kim@example.com", [PASS], None),  # relay mode off
    (replace(RELAY, authserv_id=None), "kim@example.com", [PASS], False),
]


@pytest.mark.parametrize("relay, sender, headers, trusted", CHECKS,
                         ids=[str(i) for i in range(len(CHECKS))])
def test_check_agent(relay: RelaySettings | None, sender: str | None, headers: list[str],
                     trusted: bool | None) -> None:
    check = check_agent(relay, sender, headers)
    assert (check.trusted if check else None) == trusted


TICKET = TicketRef(7, "ana@customer.test", "open", "orders")
TRUSTED = AgentCheck("kim@example.com", True, "dkim=pass")
FORGED = AgentCheck("kim@example.com", False, "no header")
REPLY = mail("kim@example.com", "A new lamp is on its way.\n\nOn Mon, Ana wrote:\n> broken")
NOTE = mail("kim@example.com", "#note customer called, waiting for photos\n\n> broken")
EMPTY = mail("kim@example.com", "\n\n> broken")
RELAYS = [
    # message, agent check, ticket, expected (note?) or None
    ("answer", REPLY, TRUSTED, TICKET, False),
    ("note", NOTE, TRUSTED, TICKET, True),
    ("note, capitals", mail("kim@example.com", "#NOTE: internal"), TRUSTED, TICKET, True),
    ("nothing new", EMPTY, TRUSTED, TICKET, True),
    ("unauthenticated", REPLY, FORGED, TICKET, None),
    ("no ticket", REPLY, TRUSTED, None, None),
    ("not an agent", REPLY, None, TICKET, None),
    ("agent is the customer", mail("ana@customer.test", "more"), TRUSTED, TICKET, None),
    ("#notes is no note", mail("kim@example.com", "#notes are attached"), TRUSTED, TICKET, False),
    ("customer without address", REPLY, TRUSTED, replace(TICKET, customer="unknown"), True),
]


@pytest.mark.parametrize("case, msg, agent, ticket, note", RELAYS, ids=[r[0] for r in RELAYS])
def test_relay_reply(case: str, msg: Any, agent: AgentCheck | None, ticket: TicketRef | None,
                     note: bool | None) -> None:
    decision = relay_reply(msg, agent, ticket)
    assert (decision.note if decision else None) == note
    if decision:
        assert decision.ticket_id == 7 and decision.reason


POLICY = Policy(threshold=0.6, route_threshold=0.3, auto_replies_per_sender_per_day=3)
DECISIONS = [
    # message, facts, expected type
    ("trusted agent answers", REPLY, Facts(ticket=TICKET, agent=TRUSTED), RelayReply),
    ("agent's out-of-office is recorded", mail("kim@example.com", "Away",
                                                 extra="Auto-Submitted: auto-replied\r\n"),
     Facts(ticket=TICKET, agent=TRUSTED), Record),
    ("forged agent in a ticket: customer mail", REPLY, Facts(ticket=TICKET, agent=FORGED),
     FollowUp),
    ("forged agent, no ticket: new ticket", REPLY, Facts(agent=FORGED), Acknowledge),
    ("duplicate of a relayed answer", REPLY, Facts(ticket=TICKET, agent=TRUSTED, duplicate_of=7),
     Record),
]


@pytest.mark.parametrize("case, msg, facts, kind", DECISIONS, ids=[d[0] for d in DECISIONS])
def test_decide_with_agents(case: str, msg: Any, facts: Facts, kind: type) -> None:
    assert type(decide(msg, Match("x", 0.1), facts, POLICY, {})) is kind


PARTICIPANTS = [
    # relay settings, sender, agent check, may continue ticket #7 (team orders)?
    (RELAY, "ana@customer.test", None, True),
    (None, "ana@customer.test", None, True),
    (RELAY, "orders-team@example.com", FORGED, True),  # the team's own address
    (RELAY, "helpdesk@example.com", None, False),  # another team's address
    (RELAY, "kim@example.com", TRUSTED, True),
    (RELAY, "kim@example.com", FORGED, False),
    (RELAY, "eve@stranger.test", None, False),
    (None, "kim@example.com", TRUSTED, False),
]


@pytest.mark.parametrize("relay, sender, agent, allowed", PARTICIPANTS,
                         ids=[str(i) for i in range(len(PARTICIPANTS))])
def test_participants(relay: RelaySettings | None, sender: str, agent: AgentCheck | None,
                      allowed: bool) -> None:
    assert is_participant(relay, TICKET, mail(sender, "hi"), agent) is allowed


TEXTS = [
    ("Thanks, done.\n\nOn Mon, 2 Mar 2026, Ana wrote:\n> my lamp", "Thanks, done."),
    ("Line one.\n\nLine two.\n-- \nKim", "Line one.\n\nLine two."),
    ("x" * 6000, "x" * 6000),  # an answer is never cut
    ("#faq shipping-time\nOrders ship in 2 days.", "Orders ship in 2 days."),
    ("#faq shipping-time", ""),
    ("About #faq pages:\nsee the site.", "About #faq pages:\nsee the site."),
]


@pytest.mark.parametrize("text, expected", TEXTS,
                         ids=["quote", "signature", "long", "marker", "marker only", "no marker"])
def test_reply_text(text: str, expected: str) -> None:
    assert reply_text(text) == expected


@pytest.mark.parametrize("text, note", [("#note hi", True), ("\n  #Note", True),
                                        ("#noted", False), ("a\n#note", False)])
def test_is_note(text: str, note: bool) -> None:
    assert is_note(text) is note


# -- configuration -------------------------------------------------------------------------------

BASE: dict[str, Any] = {
    "imap": {"host": "imap.example.com", "username": "s", "password": "p"},
    "smtp": {"host": "smtp.example.com", "username": "s", "password": "p",
             "from": "Support <support@example.com>"},
    "faq": {"path": "faq.toml"},
}


def test_relay_is_off_without_its_table() -> None:
    assert parse_config(BASE, Path("/tmp")).relay is None


def test_relay_table_is_read() -> None:
    config = parse_config({**BASE, "relay": {
        "team_addresses": {"orders": ["Orders <Orders-Team@example.com>"]},
        "default_addresses": ["helpdesk@example.com"], "agent_addresses": ["Bo@Partner.test"],
        "agent_domains": ["Example.com"], "authserv_id": "mx.example.com"}}, Path("/tmp"))
    relay = config.relay
    assert relay is not None
    assert relay.addresses_for("orders") == ("orders-team@example.com",)
    assert relay.addresses_for(None) == relay.addresses_for("billing") == ("helpdesk@example.com",)
    assert relay.is_agent("bo@partner.test") and relay.is_agent("kim@example.com")
    assert not relay.is_agent("kim@sub.example.com")


BAD = [
    ({"agent_domains": ["example.com"]}, "relay.authserv_id"),
    ({"agent_addresses": ["kim@example.com"]}, "relay.authserv_id"),
    ({"default_addresses": []}, "relay.default_addresses"),
    ({"default_addresses": ["not an address"]}, "relay.default_addresses[0]"),
    ({"default_addresses": ["support@example.com"]}, "relay.default_addresses[0]"),
    ({"team_addresses": {"orders": "orders@example.com"}}, "relay.team_addresses.orders"),
    ({"agent_domains": ["@example.com"], "authserv_id": "mx"}, "relay.agent_domains[0]"),
    ({"authserv": "mx"}, "relay.authserv"),
]


@pytest.mark.parametrize("values, key", BAD, ids=[b[1] for b in BAD])
def test_bad_relay_table_names_its_key(values: dict[str, Any], key: str) -> None:
    relay = {"default_addresses": ["helpdesk@example.com"], **values}
    with pytest.raises(ConfigError) as caught:
        parse_config({**BASE, "relay": relay}, Path("/tmp"))
    assert caught.value.key == key


# -- mails ---------------------------------------------------------------------------------------

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
ENV = Envelope("Example Support <support@example.com>", "<out@example.com>", NOW)
CUSTOMER_RAW = ("From: Ana <ana@customer.test>\r\nSubject: Re: Broken lamp [#7]\r\n"
                "Message-ID: <c2@customer.test>\r\nReferences: <c1@customer.test> <a1@example.com>"
                "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nStill broken, é.\r\n").encode()


def test_forward_headers() -> None:
    customer = parse_message(CUSTOMER_RAW)
    fwd = build_forward(ENV, customer, CUSTOMER_RAW, 7, ["a@example.com", "b@example.com"],
                        "support@example.com", "body", earlier=["<f1@example.com>"])
    again = BytesParser(policy=policy.default).parsebytes(bytes(fwd))
    assert again["Subject"] == "[#7] Re: Broken lamp"
    assert again["Reply-To"] == "support@example.com"
    assert again["Auto-Submitted"] == "auto-generated"
    assert again["X-Auto-Response-Suppress"] == "All"
    assert again["X-Inboxd-Ticket"] == "7"
    assert again["In-Reply-To"] == "<f1@example.com>"
    assert [a.addr_spec for a in again["To"].addresses] == ["a@example.com", "b@example.com"]
    [attached] = [p for p in again.walk() if p.get_content_type() == "message/rfc822"]
    assert attached.get_content()["Message-ID"] == "<c2@customer.test>"


def test_relayed_answer_threads_under_the_customer_and_is_not_automatic() -> None:
    customer = parse_message(CUSTOMER_RAW)
    out = build_relayed(ENV, "ana@customer.test", "Ana", 7, "Broken lamp", customer,
                        "A new lamp is on its way.")
    assert out["Subject"] == "Re: Broken lamp [#7]"
    assert out["In-Reply-To"] == "<c2@customer.test>"
    assert out["References"].split() == ["<c1@customer.test>", "<a1@example.com>",
                                         "<c2@customer.test>"]
    assert out["Auto-Submitted"] is None
    assert out["To"].addresses[0].addr_spec == "ana@customer.test"
    assert out.get_content().strip() == "A new lamp is on its way."


def test_forwards_and_relayed_answers_are_no_automatic_replies() -> None:
    from inboxd.store import Store, iso

    store = Store(":memory:")
    for i, kind in enumerate(("acknowledgement", "status", "relay", "forward")):
        store.queue_outgoing({"kind": kind, "message_id": f"<{i}@x>", "recipient": "ana@x.test",
                              "raw": b"", "created_at": iso(NOW)})
    assert store.auto_replies_since("ana@x.test", NOW) == 2
