"""Relay mode: agents answer from their own mailboxes, inboxd carries mail both ways.

Tickets routed to a person are forwarded to their team's addresses; an agent's reply that
arrives in the support inbox is sent on to the customer from the support address. An agent is
recognised by address or domain (``relay.agent_addresses`` / ``relay.agent_domains``) and
trusted only when the receiving server's Authentication-Results header vouches for the sender's
domain (see ``inboxd.core.auth``). A reply whose first line is ``#note`` stays internal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from inboxd.core.lifecycle import without_done
from inboxd.core.auth import verify_sender
from inboxd.core.bodytext import strip_history
from inboxd.core.message import ParsedMessage
from inboxd.core.learn import faq_marker

_NOTE = re.compile(r"^#note\b", re.IGNORECASE)


class TicketLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def customer(self) -> str: ...
    @property
    def team(self) -> str | None: ...


class RelayPolicy(Protocol):
    """What relay decisions need of ``[relay]`` (the configuration's ``RelaySettings``)."""

    @property
    def authserv_id(self) -> str | None: ...
    def addresses_for(self, team: str | None) -> tuple[str, ...]: ...
    def is_agent(self, address: str) -> bool: ...


@dataclass(frozen=True)
class AgentCheck:
    """The sender claims to be an agent; whether the receiving server vouched for it."""

    address: str
    trusted: bool
    detail: str


@dataclass(frozen=True)
class RelayReply:
    """An authenticated agent answered a ticket: send it on to the customer, or keep it
    internal when it is a note."""

    ticket_id: int
    note: bool
    reason: str


def check_agent(relay: RelayPolicy | None, sender: str | None,
                auth_headers: Sequence[str]) -> AgentCheck | None:
    """None unless ``sender`` is an agent's address; then whether it is authenticated."""
    if relay is None or sender is None or not relay.is_agent(sender):
        return None
    if not relay.authserv_id:
        return AgentCheck(sender, False, "relay.authserv_id is not set")
    verdict = verify_sender(auth_headers, relay.authserv_id, sender.rpartition("@")[2])
    return AgentCheck(sender, verdict.trusted, verdict.detail)


def relay_reply(msg: ParsedMessage, agent: AgentCheck | None,
                ticket: TicketLike | None) -> RelayReply | None:
    """The relay decision for an agent's message in a ticket, or None (then it is customer mail)."""
    if agent is None or ticket is None or not agent.trusted:
        return None
    if ticket.customer in {msg.sender, msg.reply_to}:
        return None  # the agent is this ticket's customer
    text = reply_text(msg.text)
    if "@" not in ticket.customer:
        return RelayReply(ticket.id, True, f"reply by {agent.address} kept as a note: the "
                                           "ticket has no customer address to send it to")
    if is_note(text):
        return RelayReply(ticket.id, True, f"internal note by {agent.address}")
    if not text:
        return RelayReply(ticket.id, True, f"reply by {agent.address} has no new text; kept "
                                           "as a note")
    return RelayReply(ticket.id, False, f"answer by {agent.address} ({agent.detail}); "
                                        "relayed to the customer")


def is_participant(relay: RelayPolicy | None, ticket: TicketLike, msg: ParsedMessage,
                   agent: AgentCheck | None) -> bool:
    """May ``msg`` continue ``ticket`` by its ``[#id]`` tag? Its customer, its team's relay
    addresses and authenticated agents may."""
    if ticket.customer in {msg.sender, msg.reply_to}:
        return True
    if relay is None:
        return False
    if msg.sender is not None and msg.sender in relay.addresses_for(ticket.team):
        return True
    return agent is not None and agent.trusted


def reply_text(text: str) -> str:
    """The new part of an agent's reply: quoted history and signature removed, and a first
    line ``#faq <id>`` (the agent's marker for learning, not meant for the customer) and a
    first line ``#done`` (the ticket is resolved) left out."""
    text = without_done(strip_history(text))
    if faq_marker(text) is not None:
        text = text.lstrip().split("\n", 1)[1] if "\n" in text.lstrip() else ""
    return text.strip("\n")


def is_note(text: str) -> bool:
    """Whether the reply's first line is ``#note``: internal, never sent to the customer."""
    return bool(_NOTE.match(text.lstrip()))
