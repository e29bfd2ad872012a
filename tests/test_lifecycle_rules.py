"""The pure rules of a ticket's life and of the survey, with tables of literal inputs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from inboxd.core.lifecycle import (LifePolicy, RemoveRaw, TicketClock, Transition, due_change,
                                   is_thanks, says_done, without_done)
from inboxd.core.survey import (BAD, GOOD, OKAY, SendSurvey, SkipSurvey, SurveyCandidate,
                                SurveyPolicy, answers_survey, mailto, read_rating, survey_due)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
POLICY = LifePolicy(resolve_after=timedelta(hours=72), close_after=timedelta(days=14),
                    keep_raw=timedelta(days=30))


def clock(state: str, answered: float | None = None, resolved: float | None = None,
          closed: float | None = None, **kw: bool) -> TicketClock:
    """A ticket whose times are so many hours before NOW."""
    def ago(hours: float | None) -> datetime | None:
        return None if hours is None else NOW - timedelta(hours=hours)

    return TicketClock(1, state, ago(answered), ago(resolved), ago(closed), **kw)


@pytest.mark.parametrize("ticket, expected", [
    (clock("answered", answered=72), Transition(1, "resolved", "no word from the customer for "
                                                            "3 days after our answer")),
    (clock("answered", answered=71.9), None),
    (clock("answered", answered=100, answer_waiting=True), None),  # our answer not sent yet
    (clock("open", answered=100), None),  # the customer waits for us
    (clock("resolved", resolved=14 * 24), Transition(1, "closed", "resolved for 14 days")),
    (clock("resolved", resolved=14 * 24 - 1), None),
    (clock("closed", closed=30 * 24), RemoveRaw(1, "closed for 30 days (policy.keep_raw_days): "
                                                  "raw bytes removed")),
    (clock("closed", closed=30 * 24, raw_kept=False), None),
    (clock("closed", closed=29 * 24), None),
])
def test_what_is_due(ticket: TicketClock, expected: object) -> None:
    assert due_change(ticket, NOW, POLICY) == expected


def test_raw_bytes_are_kept_without_keep_raw_days() -> None:
    policy = LifePolicy(timedelta(hours=72), timedelta(days=14), None)
    assert due_change(clock("closed", closed=10_000), NOW, policy) is None


THANKS = [
    "Great, thanks a lot! That answers my question.",
    "Hi,\n\nthank you, that helped!\n\nAna",
    "Perfect, got it. Cheers",
    "谢谢！问题解决了。",
    "好的，非常感谢",
    "Tack så mycket, det löste sig!\nMvh Erik",
    "Toppen, tack!",
    "¡Muchas gracias! Ya funciona.",
    "Perfecto, gracias.\nSaludos,\nLucía",
    "Thanks a lot, have a nice day!",
    "Tack! Ha en bra dag.",
]
NOT_THANKS = [
    "Thanks, but the parcel still hasn't arrived.",
    "Thank you. Can I also change the address?",
    "Thanks! What about returns?",
    "The parcel arrived broken.",
    "谢谢，但是我还是没收到包裹。",
    "谢谢。可以改地址吗？",
    "Tack, men det fungerar inte.",
    "Gracias, pero todavía no ha llegado.",
    "Thanks, I need to talk to a human.",
    "Thanks. It doesn\u2019t work.",
    "Thanks for the quick answer! Unfortunately my parcel is lost.",
    "Thanks. Please also cancel my second order.",
    "OK thanks, the link is broken.",
    "Tack! Länken fungerar ej.",
    "谢谢，我要找人工客服。",
    "Gracias, necesito hablar con una persona.",
    "Thanks for the answer. I ordered a lamp on Monday and the delivery address was wrong, "
    "my neighbour received it and now the box is damaged and the glass is broken and I need "
    "a new one sent to my work address instead, please.",
    "",
]


@pytest.mark.parametrize("text", THANKS)
def test_a_thank_you_is_recognised(text: str) -> None:
    assert is_thanks(text, frozenset({"ana", "erik", "lucía"}))


@pytest.mark.parametrize("text", NOT_THANKS)
def test_more_than_thanks_is_a_new_question(text: str) -> None:
    assert not is_thanks(text)


@pytest.mark.parametrize("text, done", [
    ("#done\nThe new lamp is on its way.", True),
    ("#DONE", True),
    ("#note #done refund issued", True),
    ("#note\n#done", True),
    ("Done! #done", False),
    ("#doneness", False),
    ("#note refund issued", False),
])
def test_the_done_line(text: str, done: bool) -> None:
    assert says_done(text) is done


def test_the_customer_never_reads_the_done_line() -> None:
    assert without_done("#done\nThe new lamp is on its way.") == "The new lamp is on its way."
    assert without_done("#done") == ""
    assert without_done("Done! #done") == "Done! #done"


@pytest.mark.parametrize("text, subject, expected", [
    ("1", "Re: How did we do? [#4]", (GOOD, "")),
    ("3 the parcel was wet", "Re: [#4] How did we do?", (BAD, "the parcel was wet")),
    ("2 (okay)", "", (OKAY, "")),
    ("Good", "", (GOOD, "")),
    ("okay, the answer came late", "", (OKAY, "the answer came late")),
    ("👍", "", (GOOD, "")),
    ("👎 nobody called me back", "", (BAD, "nobody called me back")),
    ("好", "", (GOOD, "")),
    ("差，包裹坏了", "", (BAD, "包裹坏了")),
    ("一般", "", (OKAY, "")),
    ("Bra", "", (GOOD, "")),
    ("dåligt - paketet var blött", "", (BAD, "paketet var blött")),
    ("Bueno", "", (GOOD, "")),
    ("malo, llegó roto", "", (BAD, "llegó roto")),
    ("", "[#4] Rating: 1", (GOOD, "")),
    ("", "Re: [#4] Betyg: 3", (BAD, "")),
    ("", "[#4] 评分: 2", (OKAY, "")),
    ("", "[#4] Valoración: 1", (GOOD, "")),
    ("It was 12 days late", "", None),
    ("10", "", None),
    ("Badly packed, can you send another one?", "", None),
    ("", "Re: How did we do? [#4]", None),
])
def test_reading_a_rating(text: str, subject: str, expected: tuple[int, str] | None) -> None:
    rating = read_rating(text, subject)
    assert (None if rating is None else (rating.value, rating.comment)) == expected


@pytest.mark.parametrize("subject, thread, expected", [
    ("Re: [#4] How did we do?", ("<ack@x>", "<survey@x>"), True),
    ("[#4] Rating: 2", (), True),
    ("Re: [#4] Betyg: 3", (), True),
    ("Re: Broken lamp [#4]", ("<ack@x>",), False),
    ("Re: [#4] How did we do?", (), False),
])
def test_a_rating_is_read_only_from_a_reply_to_the_survey(
        subject: str, thread: tuple[str, ...], expected: bool) -> None:
    assert answers_survey(subject, thread, ["<survey@x>"]) is expected


def test_who_reads_a_rating() -> None:
    assert not read_rating("1", "").needs_person  # type: ignore[union-attr]
    assert read_rating("3", "").needs_person  # type: ignore[union-attr]
    assert read_rating("1 lovely people", "").needs_person  # type: ignore[union-attr]


SURVEY = SurveyPolicy(after=timedelta(hours=24), min_interval=timedelta(days=30),
                      include_auto=False)


def candidate(resolved_h: float = 25, by: str = "agent", automated: bool = False,
              last_days: float | None = None) -> SurveyCandidate:
    last = None if last_days is None else NOW - timedelta(days=last_days)
    return SurveyCandidate(7, NOW - timedelta(hours=resolved_h), by, automated, last)


@pytest.mark.parametrize("c, policy, expected", [
    (candidate(), SURVEY, SendSurvey(7)),
    (candidate(resolved_h=23), SURVEY, None),
    (candidate(automated=True), SURVEY, SkipSurvey(7, "the customer's address is automated")),
    (candidate(by="auto"), SURVEY, SkipSurvey(7, "answered only automatically "
                                                 "(survey.include_auto)")),
    (candidate(by="auto"), SurveyPolicy(timedelta(hours=24), timedelta(days=30), True),
     SendSurvey(7)),
    (candidate(last_days=29), SURVEY, SkipSurvey(7, "the customer had a survey within "
                                                    "survey.min_interval")),
    (candidate(last_days=31), SURVEY, SendSurvey(7)),
])
def test_whether_a_survey_goes_out(c: SurveyCandidate, policy: SurveyPolicy,
                                   expected: object) -> None:
    assert survey_due(c, NOW, policy) == expected


def test_the_links_fill_in_a_subject_only() -> None:
    assert mailto("support@example.test", 12, 3, "sv") == \
        "mailto:support@example.test?subject=%5B%2312%5D%20Betyg%3A%203"
