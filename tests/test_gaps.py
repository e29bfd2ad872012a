"""`inboxd gaps`: questions people answered, grouped by theme, from a real SQLite store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from harness import mail

from inboxd.cli import main
from inboxd.core.gaps import cluster_questions
from inboxd.store import Store, iso

THEMES = {
    "address": [
        "Can I change the delivery address of my order?",
        "I need to change the shipping address on my order",
        "Please update the delivery address, I moved last week",
        "Wrong address on my order, can you change it?",
        "How do I change my delivery address after ordering?",
        "Can you send my order to a different address?",
        "I entered the wrong shipping address, please fix it",
        "Change of address for order 1234",
        "Is it possible to change the address for delivery?",
        "My address changed, can the parcel go to my new address?",
    ],
    "invoice": [
        "Can I get an invoice for my order?",
        "Please send me an invoice with VAT",
        "I need a copy of the invoice for my purchase",
        "Where can I download my invoice?",
        "The invoice is missing my company name",
        "Could you send the invoice again? I lost it",
        "I need an invoice for my accounting department",
        "Invoice request for order 5678",
        "Can you add our VAT number to the invoice?",
        "How do I get an invoice for my company?",
    ],
    "gift card": [
        "How do I check the balance of my gift card?",
        "My gift card code does not work",
        "Can I use two gift cards on one order?",
        "Do gift cards expire?",
        "I received a gift card, how do I redeem it?",
        "The gift card was not applied at checkout",
        "Can I buy a gift card for a friend?",
        "Gift card balance question",
        "How can I use my gift card online?",
        "Is there a gift card for 50 euros?",
    ],
}
ONE_OFFS = ["My cat walked on the keyboard", "Do you sell umbrellas in green?",
            "Your website is very slow today"]
THEME_OF = {q: theme for theme, questions in THEMES.items() for q in questions}


def test_three_themes_become_the_three_largest_groups() -> None:
    questions = [q for qs in zip(*THEMES.values()) for q in qs] + ONE_OFFS  # interleaved
    groups = cluster_questions(questions)
    themes = {THEME_OF.get(questions[groups[k].members[0]]): k for k in range(3)}
    assert [sorted({THEME_OF.get(questions[i], "?") for i in g.members}) for g in groups[:3]] == \
        [[theme] for theme in themes]
    assert sorted(themes) == ["address", "gift card", "invoice"]
    assert [g.size for g in groups[:3]] == [10, 10, 10]
    assert "invoice" in groups[themes["invoice"]].terms
    assert "gift" in groups[themes["gift card"]].terms
    assert "address" in groups[themes["address"]].terms
    assert cluster_questions(["only one"]) == []


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "inboxd.toml"
    (tmp_path / "faq.toml").write_text('[[faq]]\nid = "a"\nexamples = ["x"]\nanswer.en = "A"\n')
    path.write_text(
        '[imap]\nhost = "127.0.0.1"\nsecurity = "none"\nusername = "u"\npassword = "p"\n'
        '[smtp]\nhost = "127.0.0.1"\nsecurity = "none"\nusername = ""\npassword = ""\n'
        'from = "Support <support@example.test>"\n'
        '[faq]\npath = "faq.toml"\nmodel = "model.npz"\n[store]\npath = "inboxd.sqlite3"\n')
    return path


def add_ticket(store: Store, uid: int, question: str, created: datetime, state: str,
               first_by: str | None) -> None:
    ticket = store.insert_ticket({"customer": f"c{uid}@example.test", "subject": "Help",
                                  "state": state, "created_at": iso(created),
                                  "first_response_by": first_by})
    store.insert_message({"ticket_id": ticket, "direction": "in", "folder": "INBOX",
                          "uidvalidity": 1, "uid": uid, "received_at": iso(created),
                          "raw": mail(f"c{uid}@example.test", "Help", question)})


def test_gaps_command_lists_the_themes_people_answered(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(timezone.utc)
    store = Store(config.parent / "inboxd.sqlite3")
    questions = [q for qs in zip(*THEMES.values()) for q in qs] + ONE_OFFS
    for uid, question in enumerate(questions, 1):
        state, by = ("open", None) if uid % 4 == 0 else ("answered", "agent")
        add_ticket(store, uid, question, now - timedelta(days=uid % 20), state, by)
    # not counted: answered automatically, or too old
    add_ticket(store, 100, "Can I change my delivery address?", now, "auto_answered", "inboxd")
    add_ticket(store, 101, "Can I change my delivery address?", now - timedelta(days=45),
               "answered", "agent")
    store.close()

    assert main(["-c", str(config), "gaps", "--json", "--top", "3"]) == 0
    groups = json.loads(capsys.readouterr().out)
    assert [g["size"] for g in groups] == [10, 10, 10]
    themes = [sorted({THEME_OF[s.removeprefix("Help\n\n")] for s in g["samples"]})
              for g in groups]
    assert sorted(t[0] for t in themes) == ["address", "gift card", "invoice"]
    assert all(len(t) == 1 and len(g["samples"]) == 3 for t, g in zip(themes, groups))
    assert all(g["closest_faq"] is None for g in groups)  # no model trained
    assert 100 not in groups[0]["tickets"] and 101 not in groups[0]["tickets"]

    assert main(["-c", str(config), "gaps", "--top", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("33 questions answered by people or still open in the last 30 days")
    assert "1. 10 questions; no close FAQ" in text
