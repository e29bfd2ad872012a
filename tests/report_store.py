"""A store filled with known tickets, for the report's tests: the rows the pipeline writes
(tickets, first messages, follow-ups, robots' mail, status requests, outbox answers), with
first responses recorded the way ``steps.sent_scan`` records them, and their lives: suggested
answers (drafts) and their fates, resolutions, reopenings and ratings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from harness import mail

from inboxd.core.deadlines import BusinessCalendar, due_24h, due_business_day
from inboxd.store import Store, first_response, iso

TZ = ZoneInfo("Europe/Stockholm")
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=TZ)  # Monday: the period is Mon 23 to Sun 29 Nov

REPORT_CONFIG = """\
[imap]
host = "127.0.0.1"
port = 9
security = "none"
username = "u"
password = "p"
timeout_s = 1
[smtp]
host = "127.0.0.1"
port = 9
security = "none"
from = "Example Support <support@example.test>"
timeout_s = 1
[faq]
path = "faq.toml"
threshold = 0.5
[store]
path = "inboxd.sqlite3"
[deadlines]
timezone = "Europe/Stockholm"
business_hours = "09:00-17:00"
[policy]
support_name = "Example Support"
[report]
to = ["lead@example.test"]
minutes_per_ticket = 30
"""


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


@dataclass
class Filler:
    store: Store
    cal: BusinessCalendar
    uid: int = 0

    def message(self, at: datetime, decision: str, ticket_id: int | None = None,
                text: str = "Hello", sender: str = "someone@example.test") -> int:
        self.uid += 1
        return self.store.insert_message({
            "ticket_id": ticket_id, "direction": "in", "folder": "INBOX", "uidvalidity": 1,
            "uid": self.uid, "message_id": f"<m{self.uid}@customer.example>", "sender": sender,
            "subject": "Question", "received_at": iso(at), "decision": decision,
            "reason": decision, "raw": mail(sender, "Question", text)})

    def ticket(self, at: datetime, decision: str, language: str = "en", faq: str | None = None,
               answer: str | None = None, answered_at: datetime | None = None,
               text: str = "Hello") -> int:
        """A new question; ``answer``: the state of its automatic answer in the outbox;
        ``answered_at``: when an agent answered it first."""
        automatic = decision == "AutoAnswer" and answer == "sent"
        ticket_id = self.store.insert_ticket({
            "customer": f"c{self.uid + 1}@example.test", "subject": "Question",
            "language": language, "faq": faq, "state": "answered" if automatic else "open",
            "created_at": iso(at), "awaiting_since": iso(at), "updated_at": iso(at),
            "due_24h": iso(due_24h(at)), "due_business_day": iso(due_business_day(at, self.cal))})
        self.message(at, decision, ticket_id, text, f"c{self.uid + 1}@example.test")
        if answer:
            outbox_id = self.store.queue_outgoing({
                "ticket_id": ticket_id, "kind": "answer", "recipient": "c@example.test",
                "message_id": f"<a{ticket_id}@example.test>", "raw": b"x", "created_at": iso(at)})
            self.store.update_outbox(outbox_id, {"state": answer})
        if automatic:
            self.respond(ticket_id, at + timedelta(minutes=1), "auto")
        if answered_at:
            self.respond(ticket_id, answered_at, "agent")
        return ticket_id

    def respond(self, ticket_id: int, at: datetime, by: str) -> None:
        ticket = self.store.ticket(ticket_id)
        assert ticket is not None
        self.store.update_ticket(ticket_id, {"state": "answered", "answered_by": by,
                                             "answered_at": iso(at),
                                             **first_response(ticket, at, by, self.cal)})

    def follow_up(self, ticket_id: int, at: datetime) -> None:
        """The customer wrote again after the automatic answer (as ``steps.inbox`` records)."""
        self.message(at, "FollowUp", ticket_id)
        self.store.update_ticket(ticket_id, {"state": "open", "first_response_at": None,
                                             "first_response_by": None,
                                             "first_response_wall_min": None,
                                             "first_response_business_min": None})

    def resolve(self, ticket_id: int, at: datetime, by: str) -> None:
        """Resolved (as ``steps.lifecycle`` records): ``by`` timeout, thanks, done-folder, …"""
        self.store.update_ticket(ticket_id, {"state": "resolved", "resolved_at": iso(at),
                                             "resolved_by": by})
        self.store.add_event(ticket_id, at, "resolved", by)

    def reopen(self, ticket_id: int, at: datetime) -> None:
        self.store.update_ticket(ticket_id, {"state": "answered", "resolved_at": None,
                                             "resolved_by": None})
        self.store.add_event(ticket_id, at, "reopened", "")

    def rate(self, ticket_id: int, at: datetime, rating: int) -> None:
        self.store.update_ticket(ticket_id, {"rating": rating, "rated_at": iso(at)})

    def draft(self, ticket_id: int, at: datetime, faq: str, fate: str | None,
              appended: bool = True) -> int:
        """A suggested answer written at ``at``; ``fate``: sent unchanged, sent edited,
        rejected, replaced or None (not known yet)."""
        self.uid += 1
        return self.store.insert_draft({
            "ticket_id": ticket_id, "faq_id": faq, "confidence": 0.6, "language": "en",
            "message_id": f"<d{self.uid}@example.test>", "raw": b"x",
            "state": "live" if fate is None else "gone", "fate": fate, "folder": "Drafts",
            "created_at": iso(at), "appended_at": iso(at) if appended else None,
            "fate_at": None if fate is None else iso(at + timedelta(hours=1))})


def live(f: Filler, ids: dict[str, int]) -> None:
    """The tickets' lives (see test_report.py for the figures)."""
    # the period before: one automatic answer resolved by time, one agent's answer, rated
    f.resolve(ids["p1"], local(19, 10, 1), "timeout")
    f.resolve(ids["p2"], local(20, 11), "timeout")
    f.rate(ids["p2"], local(20, 12), 1)
    f.draft(ids["p2"], local(17, 10), "returns", "sent unchanged")
    # the period: one automatic answer resolved by time; one an agent moved to the done folder
    f.resolve(ids["t1"], local(26, 10, 1), "timeout")
    f.rate(ids["t1"], local(26, 12), 1)
    f.resolve(ids["t3"], local(25, 9), "done-folder")
    f.rate(ids["t3"], local(25, 10), 3)
    # the one that came back, answered by an agent: resolved, then reopened
    f.resolve(ids["t2"], local(27, 10), "timeout")
    f.reopen(ids["t2"], local(28, 9))
    f.resolve(ids["t7"], local(28, 10), "#done")
    f.rate(ids["t7"], local(28, 15), 2)
    # suggested answers to the questions for people
    f.draft(ids["t5"], local(25, 9, 31), "shipping-time", "sent unchanged")
    f.draft(ids["t6"], local(26, 16, 1), "shipping-time", "sent edited")
    f.draft(ids["t7"], local(27, 16, 31), "shipping-time", "rejected")
    f.draft(ids["t8"], local(28, 12, 1), "returns", "replaced")  # the follow-up's replaced it
    f.draft(ids["t8"], local(28, 13), "returns", "sent edited")
    f.draft(ids["t9"], local(29, 20, 1), "returns", None)  # not decided yet
    f.draft(ids["t9"], local(29, 20, 2), "returns", None, appended=False)  # never written


INVOICE = "Where do I find the invoice for my order number {}? I need the invoice pdf."


def fill(store: Store, cal: BusinessCalendar) -> dict[str, int]:
    """The known tickets; returns their ids by name (see test_report.py for the figures)."""
    f = Filler(store, cal)
    ids = {}
    # the period before: Mon 16 to Sun 22 Nov
    ids["p1"] = f.ticket(local(16, 10), "AutoAnswer", "en", "shipping-time", answer="sent")
    ids["p2"] = f.ticket(local(17, 10), "Acknowledge", "de", answered_at=local(17, 11))
    f.message(local(18, 3), "Record")
    # older still: in no period
    f.ticket(local(9, 10), "Acknowledge", "en", answered_at=local(9, 12))
    # the period: Mon 23 to Sun 29 Nov
    ids["t1"] = f.ticket(local(23, 10), "AutoAnswer", "en", "shipping-time", answer="sent")
    f.message(local(23, 10, 5), "Record")
    ids["t2"] = f.ticket(local(23, 11), "AutoAnswer", "sv", "shipping-time", answer="sent")
    f.follow_up(ids["t2"], local(24, 9))
    f.respond(ids["t2"], local(24, 10), "agent")
    ids["t3"] = f.ticket(local(24, 12), "AutoAnswer", "zh", "password-reset", answer="sent")
    ids["t4"] = f.ticket(local(24, 13), "AutoAnswer", "en", "returns", answer="failed",
                         answered_at=local(24, 15))
    ids["t5"] = f.ticket(local(25, 9, 30), "Acknowledge", "es", answered_at=local(25, 10, 30),
                         text=INVOICE.format(1001))
    f.message(local(25, 8), "Record")
    ids["t6"] = f.ticket(local(26, 16), "Acknowledge", "en", answered_at=local(27, 18),
                         text=INVOICE.format(2002))
    f.message(local(26, 12), "StatusReply")
    ids["t7"] = f.ticket(local(27, 16, 30), "Queue", "en", answered_at=local(28, 10),
                         text="Can I pay by bank transfer instead of card?")
    f.message(local(27, 17), "RelayReply")
    ids["t8"] = f.ticket(local(28, 12), "Acknowledge", "zh", text=INVOICE.format(3003))
    ids["t9"] = f.ticket(local(29, 20), "Acknowledge", "en",
                         text="My lamp arrived broken, the glass is shattered.")
    # today, after the period
    f.ticket(local(30, 7), "Acknowledge", "en")
    live(f, ids)
    return ids
