"""``inboxd demo``: the whole story against its own in-process pymap and aiosmtpd servers."""

from __future__ import annotations

import contextlib
import io
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from email.message import EmailMessage

import pytest

from inboxd.cli import main
from inboxd.commands import demo as demo_command
from inboxd.core.decide import Acknowledge, AutoAnswer, FollowUp, Record
from inboxd.demo import sample_faq_path
from inboxd.core.message import parse_message
from inboxd.demo.samples import FIRST_ROUND, first_round, follow_up
from inboxd.demo.scenario import DemoResult
from inboxd.faq import load_faq
from inboxd.steps.inbox import Outcome

QUESTIONS = {"emily.carter@example.com": "en", "wang.fang@example.net": "zh",
             "lars.berg@example.org": "sv", "lucia.fernandez@example.com": "es"}
GERMAN = "jonas.weber@example.de"  # the FAQ has no German example or answer
COMPLAINT = "tom.okafor@example.org"
OUT_OF_OFFICE = "anna.svensson@example.net"


@pytest.fixture(scope="module")
def played() -> Iterator[tuple[DemoResult, str]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = demo_command.play()
    yield result, out.getvalue()


def by_sender(outcomes: tuple[Outcome, ...]) -> dict[str, Outcome]:
    return {o.triage.parsed.sender or "": o for o in outcomes}


def replies_to(result: DemoResult, address: str) -> list[EmailMessage]:
    return [c.message() for c in result.replies if address in c.recipients]


def test_the_samples_cover_every_case() -> None:
    addresses = [spec.address for spec in FIRST_ROUND]
    assert addresses == [*QUESTIONS, GERMAN, COMPLAINT, OUT_OF_OFFICE]


@pytest.mark.parametrize("index, automated", [(0, False), (1, False), (2, False), (3, False),
                                              (4, False), (5, False), (6, True)])
def test_each_sample_is_a_well_formed_message(index: int, automated: bool) -> None:
    now = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
    sample = first_round(now)[index]
    parsed = parse_message(sample.raw)
    spec = FIRST_ROUND[index]
    assert (parsed.sender, parsed.sender_name, parsed.subject) == \
        (spec.address, spec.name, spec.subject)
    assert parsed.defects == () and parsed.message_id and parsed.date is not None
    assert (parsed.automated is not None) == automated
    assert parsed.date < sample.received_at <= now


def test_the_follow_up_threads_under_the_answer() -> None:
    answer = EmailMessage()
    answer["Subject"] = "Re: Where is my parcel? [#1]"
    answer["Message-ID"] = "<answer-1@demo.example>"
    answer["References"] = "<question-1@example.com>"
    parsed = parse_message(follow_up(answer, datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)).raw)
    assert parsed.subject == "Re: Where is my parcel? [#1]"
    assert parsed.in_reply_to == "<answer-1@demo.example>"
    assert parsed.references == ("<question-1@example.com>", "<answer-1@demo.example>")


def test_four_questions_are_answered_in_their_own_language(
        played: tuple[DemoResult, str]) -> None:
    result, _ = played
    faq = load_faq(sample_faq_path())
    outcomes = by_sender(result.rounds[0].outcomes)
    tickets = {t.id: t for t in result.tickets}
    for address, language in QUESTIONS.items():
        outcome = outcomes[address]
        decision = outcome.triage.decision
        assert isinstance(decision, AutoAnswer), (address, decision)
        assert outcome.triage.language == language
        assert tickets[outcome.ticket_id].language == language
        [reply] = replies_to(result, address)
        answer = faq.get(decision.faq_id).answers[language]  # type: ignore[union-attr]
        assert answer in reply.get_content()
        assert reply["In-Reply-To"] == outcome.triage.parsed.message_id
        assert reply["Auto-Submitted"] == "auto-replied"
        assert outcome.triage.folder == "Support/Answered"


def test_a_question_in_german_is_answered_in_the_default_language(
        played: tuple[DemoResult, str]) -> None:
    result, _ = played
    faq = load_faq(sample_faq_path())
    assert all("de" not in entry.answers for entry in faq.entries)
    outcome = by_sender(result.rounds[0].outcomes)[GERMAN]
    decision = outcome.triage.decision
    assert isinstance(decision, AutoAnswer), decision
    assert decision.faq_id == "password-reset"
    assert outcome.triage.language == result.config.faq.default_language == "en"
    [reply] = replies_to(result, GERMAN)
    assert faq.get("password-reset").answers["en"] in reply.get_content()  # type: ignore[union-attr]


def test_the_complaint_is_acknowledged_and_queued(played: tuple[DemoResult, str]) -> None:
    result, _ = played
    outcome = by_sender(result.rounds[0].outcomes)[COMPLAINT]
    assert isinstance(outcome.triage.decision, Acknowledge)
    assert outcome.triage.folder.startswith("Support/Queue")
    [reply] = replies_to(result, COMPLAINT)
    assert f"#{outcome.ticket_id}" in reply.get_content()
    assert reply["Auto-Submitted"] == "auto-replied"
    ticket = next(t for t in result.tickets if t.id == outcome.ticket_id)
    assert (ticket.state, ticket.first_response_at) == ("open", None)


def test_the_out_of_office_reply_is_recorded_without_an_answer(
        played: tuple[DemoResult, str]) -> None:
    result, _ = played
    outcome = by_sender(result.rounds[0].outcomes)[OUT_OF_OFFICE]
    assert isinstance(outcome.triage.decision, Record)
    assert outcome.triage.parsed.automated is not None
    assert outcome.triage.folder == "Support/Automated"
    assert replies_to(result, OUT_OF_OFFICE) == []


def test_the_follow_up_joins_its_ticket_and_goes_to_a_person(
        played: tuple[DemoResult, str]) -> None:
    result, _ = played
    first = by_sender(result.rounds[0].outcomes)["emily.carter@example.com"]
    [follow_up] = result.rounds[1].outcomes
    assert isinstance(follow_up.triage.decision, FollowUp)
    assert follow_up.ticket_id == first.ticket_id
    assert follow_up.triage.folder.startswith("Support/Queue")
    ticket = next(t for t in result.tickets if t.id == first.ticket_id)
    assert ticket.state == "open"


def test_exactly_six_mails_reach_the_customers(played: tuple[DemoResult, str]) -> None:
    result, _ = played
    assert len(result.replies) == 6
    recipients = sorted(r for c in result.replies for r in c.recipients)
    assert recipients == sorted([*QUESTIONS, GERMAN, COMPLAINT])
    assert len(result.tickets) == 6  # the follow-up joined ticket 1; the auto-reply has none


def test_every_message_is_filed_on_the_server(played: tuple[DemoResult, str]) -> None:
    result, _ = played
    folders = result.folders
    queued = sum(n for name, n in folders.items() if name.startswith("Support/Queue"))
    assert (folders["INBOX"], folders["Sent"], folders["Support/Answered"],
            folders["Support/Automated"], queued) == (0, 6, 5, 1, 2)


def test_servers_are_stopped_and_the_temporary_folder_removed(
        played: tuple[DemoResult, str]) -> None:
    result, _ = played
    assert not result.config.path.parent.exists()
    for port in (result.config.imap.port, result.config.smtp.port):
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_the_report_tells_the_story(played: tuple[DemoResult, str]) -> None:
    _, text = played
    round_one = text.split("== Round 1")[1].split("== Round 2")[0]
    round_two = text.split("== Round 2")[1].split("== What the customers received")[0]
    assert (round_one.count(" AutoAnswer "), round_one.count(" Acknowledge "),
            round_one.count(" Record ")) == (5, 1, 1)
    assert round_two.count(" FollowUp ") == 1
    assert "(6 mails reached the SMTP server)" in text
    for language in QUESTIONS.values():
        assert f"language: {language} " in text
    assert "Auto-Submitted: auto-replied" in text and "In-Reply-To: <" in text
    assert "== Tickets" in text and "due business day" in text
    assert "Support/Automated" in text.split("== Where every message ended up")[1]
    assert "config.example.toml" in text and "inboxd --help" in text


def test_without_the_demo_extra_it_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(demo_command, "DEMO_PACKAGES", ("pymap", "inboxd_no_such_package"))
    assert main(["demo"]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == "inboxd demo needs the demo extra: pip install 'inboxd[demo]'"
    assert captured.out == ""
