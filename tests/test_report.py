"""The support report: its figures against a store of known tickets, its text, its HTML page
rendered in a real headless Chromium, and the report mail sent through aiosmtpd into Dovecot."""

from __future__ import annotations

import base64
import json
import re
import shutil
import sqlite3
import subprocess
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest
from harness import FAQ_TOML, Installation, parse, store_claimed_elsewhere
from report_store import NOW, REPORT_CONFIG, TZ, Filler, fill, local
from servers import Dovecot, SmtpServer

from inboxd.cli import main
from inboxd.config import load_config
from inboxd.core.report import PeriodLife, Report, SuggestionUse, last_due, percentile
from inboxd.core.report_render import CHARTS, report_html, report_text
from inboxd.daemon import Daemon
from inboxd.errors import ConfigError
from inboxd.faq import load_faq
from inboxd.runtime import build_runtime
from inboxd.steps.report import draw, html_page, make_report, queue_missed_report, \
    queue_weekly_report
from inboxd.store import Store
from inboxd.validation import load_calendar

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
IMAGE_CHECK = """<script>
window.addEventListener("load", () => {
  document.body.setAttribute("data-images", Array.from(document.images, img =>
    img.complete ? img.naturalWidth + "x" + img.naturalHeight : "pending").join(" "));
});
</script></body>"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    (tmp_path / "faq.toml").write_text(FAQ_TOML, encoding="utf-8")
    path = tmp_path / "inboxd.toml"
    path.write_text(REPORT_CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def known(config_path: Path) -> tuple[Report, dict[str, int]]:
    """The report at ``NOW`` of the store filled with ``report_store.fill``."""
    config = load_config(config_path)
    cal = load_calendar(config)
    store = Store(config.store_path)
    try:
        ids = fill(store, cal)
        return make_report(store, config, load_faq(config.faq.path), cal, NOW, 7), ids
    finally:
        store.close()


def test_mail_of_the_period_by_what_became_of_it(known: tuple[Report, dict[str, int]]) -> None:
    report, _ = known
    c, p = report.current, report.previous
    assert (c.start.isoformat(), c.end.isoformat()) == ("2026-11-23", "2026-11-29")
    assert (p.start.isoformat(), p.end.isoformat()) == ("2026-11-16", "2026-11-22")
    # the refused automatic answer went to a person; the agent's relayed reply is not counted
    assert dict(c.messages) == {"automatic": 3, "person": 6, "follow_up": 1, "automated": 2,
                                "status": 1}
    assert dict(p.messages) == {"automatic": 1, "person": 1, "follow_up": 0, "automated": 1,
                                "status": 0}
    days = {day.isoformat(): dict(counts) for day, counts in c.daily}
    assert list(days) == [f"2026-11-{d}" for d in range(23, 30)]
    assert days["2026-11-23"] == {"automatic": 2, "person": 0, "follow_up": 0, "automated": 1,
                                  "status": 0}
    assert days["2026-11-24"] == {"automatic": 1, "person": 1, "follow_up": 1, "automated": 0,
                                  "status": 0}
    assert [sum(counts.values()) for counts in days.values()] == [3, 3, 2, 2, 1, 1, 1]


def test_automatic_answers_and_the_time_they_saved(known: tuple[Report, dict[str, int]]) -> None:
    report, _ = known
    c, p = report.current, report.previous
    assert (c.tickets, c.automatic, c.came_back, c.stuck) == (9, 3, 1, 2)
    assert c.automatic_share == pytest.approx(3 / 9)
    # two did not come back, but only one resolved the question: an agent closed the other
    assert (c.life.resolved_auto, report.saving(c)) == (1, 1)
    assert report.hours_saved(c) == pytest.approx(1 * 30 / 60)
    assert (p.tickets, p.automatic, p.came_back) == (2, 1, 0)
    assert report.hours_saved(p) == pytest.approx(0.5)
    # without the store's count of resolutions: the answers after which nobody wrote again
    unknown = replace(report, current=replace(c, life=PeriodLife()))
    assert unknown.hours_saved(unknown.current) == pytest.approx(2 * 30 / 60)
    assert [(f.faq, f.answered, f.came_back) for f in c.faqs] == [("shipping-time", 2, 1),
                                                                  ("password-reset", 1, 0)]
    assert c.languages == (("en", 5), ("zh", 2), ("es", 1), ("sv", 1))
    assert p.languages == (("de", 1), ("en", 1))


def test_peoples_first_response_and_the_deadlines(known: tuple[Report, dict[str, int]]) -> None:
    report, _ = known
    c = report.current
    # answered by people at once: 2 h, 1 h, 26 h (Thu 16:00 -> Fri 18:00), 17.5 h (Fri 16:30 ->
    # Sat 10:00); in business hours 2, 1, 9 (1 on Thu + 8 on Fri) and 0.5
    assert c.answered_by_people == 4
    assert c.wall_median_h == pytest.approx((2 + 17.5) / 2)
    assert c.wall_p90_h == pytest.approx(17.5 + (26 - 17.5) * 0.7)
    assert c.business_median_h == pytest.approx((1 + 2) / 2)
    assert c.business_p90_h == pytest.approx(2 + (9 - 2) * 0.7)
    # 24 h: three in time, the 26 h one late, Saturday's open one past due; Sunday's not yet due
    assert (c.within_24h.within, c.within_24h.breached) == (3, 2)
    assert c.within_24h.within_share == pytest.approx(0.6)
    # one business day: Thursday 16:00 was due Friday 16:00; Saturday's is due Monday 17:00
    assert (c.within_business_day.within, c.within_business_day.breached) == (3, 1)
    assert (c.still_open, c.overdue) == (2, 1)
    assert sorted(r.business_day_h for r in c.responses) == [8.0] * 4
    p = report.previous
    assert (p.answered_by_people, p.wall_median_h, p.within_24h.within) == (1, 1.0, 1)


def test_suggested_answers_and_what_became_of_them(known: tuple[Report, dict[str, int]]) -> None:
    report, _ = known
    c, p = report.current.life, report.previous.life
    # a draft replaced by the follow-up's counts once; one never written counts not at all
    assert c.suggestions == (SuggestionUse("returns", 2, 0, 1, 0),
                             SuggestionUse("shipping-time", 3, 1, 1, 1))
    returns, shipping = c.suggestions
    assert (shipping.acceptance_rate, shipping.edit_rate) == (pytest.approx(2 / 3), 0.5)
    assert (returns.acceptance_rate, returns.edit_rate) == (1.0, 1.0)
    assert c.all_suggestions == SuggestionUse("all", 5, 1, 2, 1)
    assert c.all_suggestions.acceptance_rate == 0.75
    assert c.all_suggestions.edit_rate == pytest.approx(2 / 3)
    assert p.suggestions == (SuggestionUse("returns", 1, 1, 0, 0),)
    assert (p.all_suggestions.acceptance_rate, p.all_suggestions.edit_rate) == (1.0, 0.0)
    assert (SuggestionUse("x", 1).acceptance_rate, SuggestionUse("x", 1).edit_rate) == (None, None)


def test_ticket_life_of_the_period(known: tuple[Report, dict[str, int]]) -> None:
    report, _ = known
    c, p = report.current.life, report.previous.life
    assert (c.resolved_auto, c.resolved, c.reopened, c.reopen_rate) == (1, 4, 1, 0.25)
    assert dict(c.ratings) == {1: 1, 2: 1, 3: 1}
    assert (p.resolved_auto, p.resolved, p.reopened, p.reopen_rate) == (1, 2, 0, 0.0)
    assert dict(p.ratings) == {1: 1, 2: 0, 3: 0}
    assert PeriodLife().reopen_rate is None


def test_the_text_and_the_page_show_the_life_and_the_suggestions(
        known: tuple[Report, dict[str, int]]) -> None:
    report, _ = known
    lines = report_text(report).splitlines()

    def row(label: str) -> list[str]:
        found = [line for line in lines if line.startswith(label)]
        assert len(found) == 1, f"{label!r}: {found}"
        return found[0][len(label):].split()

    assert row("automatic answers that resolved the question") == ["1", "1", "0"]
    assert row("tickets resolved") == ["4", "2", "+2"]
    assert row("reopen rate") == ["25%", "0%", "+25", "pts"]
    assert row("rated 3 (bad)") == ["1", "0", "+1"]
    assert row("suggested answers made") == ["5", "1", "+4"]
    assert row("sent edited") == ["2", "0", "+2"]
    assert row("acceptance rate") == ["75%", "100%", "-25", "pts"]
    assert row("edit rate") == ["67%", "0%", "+67", "pts"]
    assert "TICKET LIFE" in lines
    lines = lines[lines.index("SUGGESTED ANSWERS PER FAQ"):lines.index("FAQS USED MOST")]
    assert row("shipping-time") == ["3", "1", "1", "1", "67%", "50%"]
    assert row("returns") == ["2", "0", "1", "0", "100%", "100%"]
    assert "that resolved the question in the period)" in report_text(report)
    html = report_html(report, {chart.name: f"cid:{chart.name}" for chart in CHARTS})
    for cell in (">Ticket life</h2>", ">Suggested answers (drafts)</h2>",
                 ">Suggested answers per FAQ</h2>", ">automatic answers that resolved the "
                 "question</td>", ">67%</td>"):
        assert cell in html


def test_the_questions_people_answered_are_grouped(known: tuple[Report, dict[str, int]]) -> None:
    report, ids = known
    [group] = report.gaps
    assert group["size"] == 3
    assert group["tickets"] == sorted([ids["t5"], ids["t6"], ids["t8"]])
    assert "invoice" in group["terms"]


def test_the_text_carries_the_figures(known: tuple[Report, dict[str, int]]) -> None:
    report, _ = known
    text = report_text(report)
    for expected in ("Support report 2026-11-23 to 2026-11-29", "- 13 mails received\n",
                     "- 33% of 9 new questions answered automatically (1 came back)\n",
                     "- about 0.5 agent hours saved\n", "9.8 h", "23.5 h", "6.9 h",
                     "FAQS USED MOST", "shipping-time", "CANDIDATES FOR NEW FAQS"):
        assert expected in text
    row = next(line for line in text.splitlines() if line.startswith("answered within 24"))
    assert row.split()[-4:] == ["60%", "100%", "-40", "pts"]
    assert max(len(line) for line in text.splitlines()) <= 100


def test_json_is_plain_and_complete(known: tuple[Report, dict[str, int]]) -> None:
    report, _ = known
    data = json.loads(json.dumps(report.to_json()))
    current = data["current"]
    assert current["messages_total"] == 13 and current["hours_saved"] == 0.5
    assert current["within_business_day"] == {"within": 3, "breached": 1, "within_share": 0.75}
    assert current["languages"] == {"en": 5, "zh": 2, "es": 1, "sv": 1}
    assert data["gaps"][0]["size"] == 3
    assert (current["resolved_auto"], current["resolved"], current["reopened"],
            current["reopen_rate"]) == (1, 4, 1, 0.25)
    assert current["ratings"] == {"1": 1, "2": 1, "3": 1}
    suggestions = current["suggestions"]
    assert (suggestions["made"], suggestions["sent_unchanged"], suggestions["sent_edited"],
            suggestions["rejected"], suggestions["acceptance_rate"]) == (5, 1, 2, 1, 0.75)
    assert suggestions["faqs"][1] == {
        "faq": "shipping-time", "made": 3, "sent_unchanged": 1, "sent_edited": 1, "rejected": 1,
        "acceptance_rate": pytest.approx(2 / 3), "edit_rate": 0.5}
    assert data["previous"]["suggestions"]["faqs"][0]["edit_rate"] == 0.0


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([], 50, None), ([4.0], 90, 4.0), ([1.0, 3.0], 50, 2.0), ([1.0, 2.0, 3.0, 4.0], 90, 3.7),
    ([5.0, 1.0, 3.0], 50, 3.0)])
def test_percentile(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == (pytest.approx(expected) if expected is not None else None)


# -- the HTML page in a real browser ------------------------------------------------------------

def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("Chromium is not installed; the report's HTML is checked in a real browser: "
                    "run `bash tests/run.sh`, which installs it", pytrace=False)
    return found


def images_in_browser(html: str, folder: Path) -> list[str]:
    """Each image of the page as Chromium loaded it: "WIDTHxHEIGHT" (0x0: broken)."""
    page = folder / "page.html"
    page.write_text(html.replace("</body>", IMAGE_CHECK), encoding="utf-8")
    run = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={folder / 'profile'}",
                          "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    found = re.search(r'data-images="([^"]*)"', run.stdout)
    assert found, f"no image report from Chromium: {run.stderr[-2000:]}"
    return found.group(1).split()


def test_the_html_page_shows_its_charts_in_chromium(known: tuple[Report, dict[str, int]],
                                                    tmp_path: Path) -> None:
    report, _ = known
    html = html_page(report, draw(report))
    assert "<script" not in html and "<link" not in html and "http" not in html
    assert html.count('src="data:image/png;base64,') == len(CHARTS)
    sizes = [f"{chart.width_px}x{chart.height_px}" for chart in CHARTS]
    assert images_in_browser(html, tmp_path) == sizes
    # the check sees a broken picture
    broken = html.replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1)
    assert images_in_browser(broken, tmp_path)[0] == "0x0"


def test_the_screenshot_is_drawn(known: tuple[Report, dict[str, int]], tmp_path: Path) -> None:
    """The page as Chromium paints it: the charts' colours are on the screenshot."""
    from PIL import Image

    report, _ = known
    page = tmp_path / "report.html"
    page.write_text(html_page(report, draw(report)), encoding="utf-8")
    shot = tmp_path / "shot.png"
    subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                    "--window-size=900,1400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20) or []
    counts = {rgb: n for n, rgb in colours}
    assert counts.get((0x2d, 0xa4, 0x4e), 0) > 2000  # answered automatically / in time
    assert counts.get((0x09, 0x69, 0xda), 0) > 2000  # to a person


# -- the command ---------------------------------------------------------------------------------

def test_report_command_prints_json_text_and_writes_html(
        config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = load_config(config_path)
    cal = load_calendar(config)
    yesterday = (datetime.now(timezone.utc).astimezone(TZ) - timedelta(days=1)).replace(
        hour=12, minute=0, second=0, microsecond=0)
    store = Store(config.store_path)
    f = Filler(store, cal)
    f.ticket(yesterday, "AutoAnswer", "en", "returns", answer="sent")
    f.ticket(yesterday, "Acknowledge", "sv", answered_at=yesterday + timedelta(hours=3))
    store.close()
    capsys.readouterr()
    assert main(["-c", str(config_path), "report", "--json"]) == 0
    current = json.loads(capsys.readouterr().out)["current"]
    assert (current["tickets"], current["automatic_share"]) == (2, 0.5)
    assert current["first_response_wall_h"]["median"] == 3.0
    assert main(["-c", str(config_path), "report"]) == 0
    text = capsys.readouterr().out
    assert "- 50% of 2 new questions answered automatically (0 came back)" in text
    page = tmp_path / "report.html"
    assert main(["-c", str(config_path), "report", "--html", str(page), "--days", "3"]) == 0
    assert capsys.readouterr().out == ""
    html = page.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == len(CHARTS)
    png = base64.b64decode(html.split("data:image/png;base64,")[1].split('"')[0])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_report_command_refuses_bad_days_and_a_missing_store(
        config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["-c", str(config_path), "report", "--days", "0"])
    assert exit_.value.code == 2
    assert main(["-c", str(config_path), "report"]) == 1
    assert "no store yet" in capsys.readouterr().err


@pytest.mark.parametrize(("table", "key"), [
    ('to = ["nobody"]', "report.to[0]"),
    ('weekday = "monday"', "report.weekday"),
    ('time = "8am"', "report.time"),
    ('time = "24:00"', "report.time"),
    ("minutes_per_ticket = 0", "report.minutes_per_ticket"),
    ('minutes_per_tiket = 5', "report.minutes_per_tiket"),
])
def test_bad_report_table_names_its_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        table: str, key: str) -> None:
    path = tmp_path / "inboxd.toml"
    path.write_text(REPORT_CONFIG.split("[report]")[0] + f"[report]\n{table}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert error.value.key == key
    assert main(["-c", str(path), "report"]) == 2
    assert key in capsys.readouterr().err


def test_report_table_defaults(config_path: Path) -> None:
    path = config_path.parent / "bare.toml"
    path.write_text(REPORT_CONFIG.split("[report]")[0], encoding="utf-8")
    report = load_config(path).report
    assert (report.to, report.weekday, report.time, report.minutes_per_ticket) == \
        ((), "mon", "08:00", 6.0)
    assert main(["-c", str(path), "report", "--send"]) == 2


# -- the mail, through aiosmtpd into Dovecot ----------------------------------------------------

@pytest.fixture
def installation(tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer) -> Installation:
    inst = Installation(tmp_path, fresh_dovecot, fresh_smtp,
                        report={"to": [fresh_dovecot.agent], "minutes_per_ticket": 30})
    inst.train()
    return inst


def fill_installation(inst: Installation) -> None:
    config = load_config(inst.config_path)
    store = Store(config.store_path)
    try:
        fill(store, load_calendar(config))
    finally:
        store.close()


def cid_page(msg: EmailMessage) -> str:
    """The mail's HTML with each ``cid:`` reference replaced by its part's bytes."""
    html_part = msg.get_body(preferencelist=("html",))
    assert html_part is not None
    related = {part["Content-ID"].strip("<>"): part.get_content()
               for part in msg.walk() if part.get_content_type() == "image/png"}
    html = html_part.get_content()
    for cid in re.findall(r'src="cid:([^"]+)"', html):
        html = html.replace(f"cid:{cid}", "data:image/png;base64," +
                            base64.b64encode(related.pop(cid)).decode("ascii"))
    assert related == {}, "an image part no cid: refers to"
    return html


def test_report_send_delivers_the_mail_with_inline_charts(
        installation: Installation, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill_installation(installation)
    capsys.readouterr()
    assert installation.run("report", "--send") == 0
    assert f"sent to {installation.dovecot.agent}" in capsys.readouterr().err
    [envelope] = [e for e in installation.smtp.received
                  if installation.dovecot.agent in e.rcpt_tos]
    assert envelope.rcpt_tos == (installation.dovecot.agent,)
    [raw] = installation.dovecot.messages(installation.dovecot.agent)
    msg = parse(raw)
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg.get_content_type() == "multipart/alternative"
    plain, related = msg.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    assert [p.get_content_type() for p in related.get_payload()] == \
        ["text/html", "image/png", "image/png"]
    assert all(p.get_content_disposition() == "inline" for p in related.get_payload()[1:])
    text = plain.get_content()
    assert "answered automatically" in text and "FAQS USED MOST" in text
    assert "Example Support" in msg["Subject"]
    sizes = [f"{chart.width_px}x{chart.height_px}" for chart in CHARTS]
    assert images_in_browser(cid_page(msg), tmp_path) == sizes
    # journalled once, copied to Sent like every mail inboxd sends
    sent = [parse(r) for r in installation.raw_folder("Sent")]
    assert [m["Message-ID"] for m in sent if m["Message-ID"] == msg["Message-ID"]] == \
        [msg["Message-ID"]]
    db = sqlite3.connect(installation.dir / "inboxd.sqlite3")
    rows = db.execute("select kind, state, ticket_id, copied_at is not null from outbox "
                      "where kind = 'report'").fetchall()
    assert rows == [("report", "sent", None, 1)]


def test_the_weekly_report_is_queued_once_per_week(installation: Installation) -> None:
    config = load_config(installation.config_path)
    rt = build_runtime(config, clock=lambda: NOW)
    try:
        fill(rt.store, rt.calendar)
        first = queue_weekly_report(rt)
        assert first is not None
        assert queue_weekly_report(rt) is None  # the same week again: already journalled
        rt.clock = lambda: NOW + timedelta(days=7)
        assert queue_weekly_report(rt) not in (None, first)
        rows = rt.store.db.execute("select message_id, recipient, state from outbox "
                                   "where kind = 'report' order by id").fetchall()
    finally:
        rt.close()
    assert [r[0] for r in rows] == ["<report-2026-11-23-2026-11-29@example.test>",
                                    "<report-2026-11-30-2026-12-06@example.test>"]
    assert {r[1] for r in rows} == {installation.dovecot.agent}
    assert {r[2] for r in rows} == {"pending"}


def test_a_report_due_while_inboxd_was_not_running_is_queued_for_its_own_week(
        installation: Installation) -> None:
    config = load_config(installation.config_path)
    rt = build_runtime(config, clock=lambda: NOW)
    try:
        fill(rt.store, rt.calendar)
        assert queue_missed_report(rt) is None  # no weekly report yet: a new installation
        assert queue_weekly_report(rt) is not None  # Monday 30 Nov, 08:00, on time
        rt.clock = lambda: NOW + timedelta(days=1)
        assert queue_missed_report(rt) is None  # Monday's is in the journal
        rt.clock = lambda: NOW + timedelta(days=7, hours=3)  # down over Monday 7 Dec, 08:00
        assert queue_missed_report(rt) is not None
        assert queue_missed_report(rt) is None
        rt.clock = lambda: NOW + timedelta(days=15)  # Tuesday 15 Dec: missed Monday 14 Dec
        assert queue_missed_report(rt) is not None
        rows = rt.store.db.execute("select message_id from outbox where kind = 'report' "
                                   "order by id").fetchall()
    finally:
        rt.close()
    assert [r[0] for r in rows] == ["<report-2026-11-23-2026-11-29@example.test>",
                                    "<report-2026-11-30-2026-12-06@example.test>",
                                    "<report-2026-12-07-2026-12-13@example.test>"]


def test_a_report_queued_under_the_earlier_message_id_form_is_not_queued_again(
        installation: Installation) -> None:
    config = load_config(installation.config_path)
    rt = build_runtime(config, clock=lambda: NOW + timedelta(days=1))
    older = "<report-2026-11-23T00:00:00+01:00-2026-11-30T00:00:00+01:00@example.test>"
    try:
        fill(rt.store, rt.calendar)
        with rt.store.transaction():
            rt.store.queue_outgoing({"kind": "report", "message_id": older, "raw": b"x",
                                     "recipient": installation.dovecot.agent,
                                     "created_at": NOW.isoformat()})
        assert queue_missed_report(rt) is None
        rt.clock = lambda: NOW + timedelta(days=7, hours=3)
        assert queue_missed_report(rt) is not None
        rows = rt.store.db.execute("select message_id from outbox where kind = 'report' "
                                   "order by id").fetchall()
    finally:
        rt.close()
    assert [r[0] for r in rows] == [older, "<report-2026-11-30-2026-12-06@example.test>"]


@pytest.mark.parametrize(("now", "due"), [
    (local(30, 8), local(30, 8)),  # the very minute
    (local(30, 7, 59), local(23, 8)),  # a minute early: last week's
    (datetime(2026, 12, 2, 12, 0, tzinfo=TZ), local(30, 8)),  # Wednesday
    (datetime(2026, 3, 30, 7, 0, tzinfo=TZ), datetime(2026, 3, 23, 8, 0, tzinfo=TZ)),  # DST week
    (datetime(2026, 3, 30, 6, 30, tzinfo=timezone.utc), datetime(2026, 3, 30, 8, 0, tzinfo=TZ)),
])
def test_when_the_weekly_report_was_last_due(config_path: Path, now: datetime,
                                            due: datetime) -> None:
    cal = load_calendar(load_config(config_path))
    assert last_due(now, 0, 8, 0, cal) == due


def test_the_daemon_schedules_the_weekly_report(installation: Installation) -> None:
    path = installation.config_path
    path.write_text(path.read_text(encoding="utf-8").replace(
        "[report]\n", '[report]\nweekday = "fri"\ntime = "16:30"\n'), encoding="utf-8")
    rt = build_runtime(load_config(path))
    try:
        daemon = Daemon(rt)
        daemon._schedule_report()
        trigger = daemon.scheduler.get_job("report").trigger
    finally:
        rt.close()
    after = local(23, 12)  # Monday
    assert trigger.get_next_fire_time(None, after) == local(27, 16, 30)
    assert trigger.get_next_fire_time(None, local(27, 16, 31)) == \
        datetime(2026, 12, 4, 16, 30, tzinfo=TZ)


def test_report_send_beside_a_running_inboxd_queues_the_mail_for_it(
        installation: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    with store_claimed_elsewhere(Path(installation.folder_path("inboxd.sqlite3"))):
        capsys.readouterr()
        assert installation.run("report", "--send") == 0
        err = capsys.readouterr().err
        assert "is queued in the outbox, which it sends" in err
        assert installation.replies_to(installation.dovecot.agent) == []
    assert installation.run("once") == 0  # what the running inboxd would do next
    [sent] = installation.replies_to(installation.dovecot.agent)
    assert "Example Support" in sent["Subject"] and sent["Auto-Submitted"] == "auto-generated"
    assert installation.run("once") == 0
    assert len(installation.replies_to(installation.dovecot.agent)) == 1, "sent once"
