"""`inboxd gaps`: questions people answered, grouped by theme, from a real SQLite store."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from harness import mail

from inboxd.cli import main
from inboxd.core.gaps import cluster_questions, ignored_words
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


GIFT_CARDS = ["Can I pay for my order with a gift card?",
              "How can I check the balance of my gift card?",
              "My gift card code does not work, can you help me?",
              "Can I use two gift cards for one order?", "Do your gift cards expire?",
              "I have a gift card, how do I redeem it?"]
GIFT_WRAPPING = ["Can you gift wrap my order for me?", "Do you offer gift wrapping for my order?",
                 "How much does gift wrapping cost?",
                 "Can I add gift wrapping to the order I placed?",
                 "Is it possible to have the items gift wrapped?",
                 "Can you wrap it as a gift for my mother?"]
ADDRESS = ["Can I change the delivery address of my order?",
           "I need to change the shipping address on my order",
           "Please update the delivery address for my order",
           "Can you send my order to a different address?"]
GIFT_THEME = {**{q: "card" for q in GIFT_CARDS}, **{q: "wrapping" for q in GIFT_WRAPPING},
              **{q: "address" for q in ADDRESS}}


def test_a_shared_generic_word_does_not_merge_two_themes() -> None:
    questions = [q for pair in zip(GIFT_CARDS, GIFT_WRAPPING) for q in pair] + ADDRESS + ONE_OFFS
    groups = cluster_questions(questions, ignore=ignored_words({"en"}))
    themes = [{GIFT_THEME.get(questions[i], "?") for i in g.members} for g in groups]
    assert all(len(t) == 1 for t in themes), themes  # gift cards never with gift wrapping
    assert {"card", "wrapping", "address"} <= set().union(*themes)
    for group, [theme] in zip(groups, themes):
        if theme == "card":
            assert {"card", "cards"} & set(group.terms)
        elif theme == "wrapping":
            assert {"wrap", "wrapping", "wrapped"} & set(group.terms)


GERMAN = ["Kann ich bei meiner Bestellung die Lieferadresse ändern?",
          "Ich möchte die Lieferadresse bei der Bestellung ändern, geht das?",
          "Kann ich die Lieferadresse noch ändern? Danke, Jonas",
          "Wie kann ich bei einer Bestellung die Lieferadresse ändern?",
          "Kann ich einen Gutschein bei der Bestellung einlösen?",
          "Ich habe einen Gutschein, kann ich ihn bei der Bestellung einlösen?",
          "Wie kann ich bei euch einen Gutschein einlösen? Grüße, Jonas",
          "Kann ich zwei Gutscheine bei einer Bestellung einlösen?"]


def test_terms_leave_out_stopwords_of_the_faq_languages_and_customer_names() -> None:
    questions = [f"{q} Thanks for your help, you are the best. Ana" for q in THEMES["invoice"]]
    questions += GERMAN + ONE_OFFS
    groups = cluster_questions(questions, ignore=ignored_words({"en", "de"}, {"Ana", "Jonas"}))
    terms = {t for g in groups for t in g.terms}
    assert "invoice" in terms and "gutschein" in terms and "lieferadresse" in terms
    assert not terms & {"for", "you", "the", "thanks", "ana", "kann", "ich", "bei", "jonas",
                        "grüsse", "danke", "0000"}, terms


def test_each_group_names_its_closest_faq_with_its_similarity() -> None:
    questions = [q for pair in zip(GIFT_CARDS, ADDRESS + ONE_OFFS) for q in pair]
    faqs = {"gift-cards": ["How do I use a gift card?", "Is my gift card still valid?"],
            "shipping-time": ["How long does delivery take?", "When will my parcel arrive?"]}
    groups = cluster_questions(questions, ignore=ignored_words({"en"}), faqs=faqs)
    by_theme = {GIFT_THEME.get(questions[g.members[0]]): g for g in groups}
    card, address = by_theme["card"], by_theme["address"]
    assert card.closest is not None and card.closest[0] == "gift-cards"
    assert address.closest is not None and address.closest[0] == "shipping-time"
    assert 0.2 < card.closest[1] <= 1.0
    assert 0.0 <= address.closest[1] < card.closest[1]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "inboxd.toml"
    (tmp_path / "faq.toml").write_text(
        '[[faq]]\nid = "invoices"\nanswer.en = "A"\n'
        'examples = ["Where do I find my invoice?", "Can you send the invoice again?"]\n'
        '[[faq]]\nid = "returns"\nanswer.en = "B"\nexamples = ["How do I return an item?"]\n')
    path.write_text(
        '[imap]\nhost = "127.0.0.1"\nsecurity = "none"\nusername = "u"\npassword = "p"\n'
        '[smtp]\nhost = "127.0.0.1"\nsecurity = "none"\nusername = ""\npassword = ""\n'
        'from = "Support <support@example.test>"\n'
        '[faq]\npath = "faq.toml"\nmodel = "model.npz"\n[store]\npath = "inboxd.sqlite3"\n')
    return path


def add_ticket(store: Store, uid: int, question: str, created: datetime, state: str,
               first_by: str | None, faq: str | None = None) -> None:
    ticket = store.insert_ticket({"customer": f"c{uid}@example.test", "subject": "Help",
                                  "state": state, "created_at": iso(created),
                                  "first_response_by": first_by, "faq": faq})
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
    add_ticket(store, 100, "Can I change my delivery address?", now, "answered", "auto")
    add_ticket(store, 101, "Can I change my delivery address?", now - timedelta(days=45),
               "answered", "agent")
    # matched to an FAQ, its answer refused by the SMTP server: open, but not a gap
    for uid in range(102, 112):
        add_ticket(store, uid, f"Where is my invoice number {uid}?", now, "open", None,
                   faq="invoices")
    store.close()

    assert main(["-c", str(config), "gaps", "--json", "--top", "3"]) == 0
    groups = json.loads(capsys.readouterr().out)
    assert [g["size"] for g in groups] == [10, 10, 10]
    themes = [sorted({THEME_OF[s.removeprefix("Help\n\n")] for s in g["samples"]})
              for g in groups]
    assert sorted(t[0] for t in themes) == ["address", "gift card", "invoice"]
    assert all(len(t) == 1 and len(g["samples"]) == 3 for t, g in zip(themes, groups))
    closest = {THEME_OF[g["samples"][0].removeprefix("Help\n\n")]: g["closest_faq"]
               for g in groups}
    assert closest["invoice"]["id"] == "invoices"
    assert closest["invoice"]["similarity"] > closest["address"]["similarity"]
    assert all(t not in g["tickets"] for g in groups for t in range(100, 112))

    assert main(["-c", str(config), "gaps", "--top", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("33 questions answered by people or still open in the last 30 days")
    assert re.search(r"1\. 10 questions; closest FAQ (invoices|returns) \(similarity 0\.\d\d\)",
                     text)
