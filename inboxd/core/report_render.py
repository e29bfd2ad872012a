"""The report as people read it: titled tables (``sections``), written as plain text with rich
(the terminal, the mail's text part) or as an HTML page for mail clients and browsers.

Pure. The HTML has no script and no external style sheet: tables with inline styles, and the
charts as ``<img>`` whose sources the caller gives (``data:`` URIs in a file, ``cid:`` in a
mail), so it reads the same in Outlook, Gmail, Thunderbird and a browser.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from jinja2 import Environment, StrictUndefined
from rich import box
from rich.console import Console
from rich.table import Table

from inboxd.core.report import OUTCOME_LABELS, OUTCOMES, SUGGESTION_COUNTS, PeriodFigures, \
    Report

TEXT_WIDTH = 100  # columns of the plain-text report
RATINGS = ((1, "good"), (2, "okay"), (3, "bad"))
SUGGESTION_LABELS = ("suggested answers made", "sent unchanged", "sent edited", "rejected")


@dataclass(frozen=True)
class Section:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""
    numbers: tuple[int, ...] | None = None  # right-aligned columns; None: all but the first

    def right(self, column: int) -> bool:
        return column in self.numbers if self.numbers is not None else column > 0


@dataclass(frozen=True)
class Chart:
    """A picture of the report: its name (the file or part), what it shows, its size."""

    name: str
    title: str
    width_px: int
    height_px: int


CHARTS = (Chart("volume", "Mail received per day, by what became of it", 760, 340),
          Chart("response", "People's first response against the two deadlines", 760, 340))


def title(report: Report) -> str:
    c = report.current
    return f"Support report {c.start.isoformat()} to {c.end.isoformat()}"


def summary(report: Report) -> list[str]:
    """What inboxd did in the period, in a few short lines."""
    c = report.current
    return [f"{c.total_messages} mails received",
            f"{_share(c.automatic_share)} of {c.tickets} new questions answered automatically "
            f"({c.came_back} came back)",
            f"about {report.hours_saved(c):.1f} agent hours saved",
            f"people's first response: median {_hours(c.wall_median_h)}"]


def sections(report: Report) -> list[Section]:
    c, p = report.current, report.previous
    return [_received(c, p), _automatic(report), _people(c, p), _life(c, p), _suggestions(c, p),
            _suggestion_faqs(c), _daily(c), _faqs(c), _gaps(report), _languages(c, p)]


def _received(c: PeriodFigures, p: PeriodFigures) -> Section:
    rows = [(OUTCOME_LABELS[o], str(c.messages[o]), str(p.messages[o]),
             _change(c.messages[o], p.messages[o])) for o in OUTCOMES]
    rows.append(("all mail", str(c.total_messages), str(p.total_messages),
                 _change(c.total_messages, p.total_messages)))
    return Section("Mail received", ("what became of it", "this period", "before", "change"),
                   tuple(rows), f"before: {p.start.isoformat()} to {p.end.isoformat()}")


def _automatic(report: Report) -> Section:
    c, p = report.current, report.previous
    rows = (("new questions (tickets)", str(c.tickets), str(p.tickets), _change(c.tickets, p.tickets)),
            ("answered automatically", str(c.automatic), str(p.automatic),
             _change(c.automatic, p.automatic)),
            ("share answered automatically", _share(c.automatic_share), _share(p.automatic_share),
             _points(c.automatic_share, p.automatic_share)),
            ("came back: the answer did not help", str(c.came_back), str(p.came_back),
             _change(c.came_back, p.came_back)),
            ("agent hours saved", f"{report.hours_saved(c):.1f}", f"{report.hours_saved(p):.1f}",
             _change(round(report.hours_saved(c), 1), round(report.hours_saved(p), 1))))
    basis = ("that resolved the question in the period" if c.life.resolved_auto is not None
             else "after which the customer did not write again")
    return Section("Automatic answers", ("", "this period", "before", "change"), rows,
                   f"hours saved: {report.minutes_per_ticket:g} minutes for each automatic "
                   f"answer {basis}")


def _people(c: PeriodFigures, p: PeriodFigures) -> Section:
    def deadline(name: str, pick: str) -> list[tuple[str, ...]]:
        now, then = getattr(c, pick), getattr(p, pick)
        return [(f"answered within {name}", _share(now.within_share), _share(then.within_share),
                 _points(now.within_share, then.within_share)),
                (f"breaches of {name}", str(now.breached), str(then.breached),
                 _change(now.breached, then.breached))]

    rows = [("answered by people", str(c.answered_by_people), str(p.answered_by_people),
             _change(c.answered_by_people, p.answered_by_people)),
            ("first response, median", _hours(c.wall_median_h), _hours(p.wall_median_h), ""),
            ("first response, 90th percentile", _hours(c.wall_p90_h), _hours(p.wall_p90_h), ""),
            ("in business hours, median", _hours(c.business_median_h),
             _hours(p.business_median_h), ""),
            ("in business hours, 90th percentile", _hours(c.business_p90_h),
             _hours(p.business_p90_h), ""),
            *deadline("24 hours", "within_24h"),
            *deadline("one business day", "within_business_day"),
            ("still open", str(c.still_open), str(p.still_open), _change(c.still_open, p.still_open)),
            ("still open and overdue", str(c.overdue), str(p.overdue), _change(c.overdue, p.overdue))]
    return Section("People's first response", ("", "this period", "before", "change"),
                   tuple(rows), "of the questions that went to a person at once; still open: "
                   "of each period's questions, now")


def _count_row(label: str, now: int, then: int) -> tuple[str, ...]:
    return (label, str(now), str(then), _change(now, then))


def _share_row(label: str, now: float | None, then: float | None) -> tuple[str, ...]:
    return (label, _share(now), _share(then), _points(now, then))


def _life(c: PeriodFigures, p: PeriodFigures) -> Section:
    now, then = c.life, p.life
    resolved_auto = ("-" if now.resolved_auto is None else str(now.resolved_auto),
                     "-" if then.resolved_auto is None else str(then.resolved_auto),
                     _change(now.resolved_auto or 0, then.resolved_auto or 0))
    rows = (("automatic answers that resolved the question", *resolved_auto),
            _count_row("tickets resolved", now.resolved, then.resolved),
            _count_row("reopened", now.reopened, then.reopened),
            _share_row("reopen rate", now.reopen_rate, then.reopen_rate),
            *(_count_row(f"rated {value} ({name})", now.ratings.get(value, 0),
                         then.ratings.get(value, 0)) for value, name in RATINGS))
    return Section("Ticket life", ("", "this period", "before", "change"), rows,
                   "resolved by an automatic answer: no word from the customer for "
                   "policy.resolve_after, or their thanks, and no person's answer; reopen rate: "
                   "reopenings per resolution in the period")


def _suggestions(c: PeriodFigures, p: PeriodFigures) -> Section:
    now, then = c.life.all_suggestions, p.life.all_suggestions
    rows = (*(_count_row(label, getattr(now, count), getattr(then, count))
              for count, label in zip(SUGGESTION_COUNTS, SUGGESTION_LABELS, strict=True)),
            _share_row("acceptance rate", now.acceptance_rate, then.acceptance_rate),
            _share_row("edit rate", now.edit_rate, then.edit_rate))
    return Section("Suggested answers (drafts)", ("", "this period", "before", "change"), rows,
                   "acceptance rate: sent (unchanged or edited) of those decided; edit rate: "
                   "edited of those sent")


def _suggestion_faqs(c: PeriodFigures) -> Section:
    rows = tuple((s.faq, str(s.made), str(s.sent_unchanged), str(s.sent_edited), str(s.rejected),
                  _share(s.acceptance_rate), _share(s.edit_rate)) for s in c.life.suggestions)
    return Section("Suggested answers per FAQ",
                   ("FAQ", "made", "sent unchanged", "sent edited", "rejected", "accepted",
                    "edited"), rows,
                   "an FAQ whose drafts are accepted and rarely edited may answer on its own "
                   "(mode \"auto\")")


def _daily(c: PeriodFigures) -> Section:
    rows = tuple((day.strftime("%a %Y-%m-%d"), *(str(counts[o]) for o in OUTCOMES),
                  str(sum(counts.values()))) for day, counts in c.daily)
    return Section("Mail per day", ("day", *(OUTCOME_LABELS[o] for o in OUTCOMES), "all"), rows)


def _faqs(c: PeriodFigures) -> Section:
    rows = tuple((f.faq, str(f.answered), str(f.came_back)) for f in c.faqs)
    return Section("FAQs used most", ("FAQ", "answered automatically", "came back"), rows)


def _gaps(report: Report) -> Section:
    rows = []
    for group in report.gaps:
        closest = group.get("closest_faq")
        near = f"{closest['id']} ({closest['similarity']:.2f})" if closest else "-"
        sample = " ".join(str(group["samples"][0]).split()) if group["samples"] else ""
        rows.append((str(group["size"]), ", ".join(group["terms"]) or "-", near,
                     sample if len(sample) <= 90 else sample[:89] + "…"))
    return Section("Questions people answered most: candidates for new FAQs",
                   ("questions", "words", "closest FAQ", "for example"), tuple(rows),
                   "groups of similar questions no FAQ was matched to (as `inboxd gaps`)",
                   numbers=(0,))


def _languages(c: PeriodFigures, p: PeriodFigures) -> Section:
    before = dict(p.languages)
    rows = [(language, str(count), str(before.get(language, 0))) for language, count in c.languages]
    rows += [(language, "0", str(count)) for language, count in p.languages
             if language not in dict(c.languages)]
    return Section("Languages customers wrote in", ("language", "new questions", "before"),
                   tuple(rows))


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} h"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _change(now: float, then: float) -> str:
    diff = now - then
    text = f"{diff:+.1f}" if isinstance(diff, float) and not diff.is_integer() else f"{diff:+.0f}"
    return "0" if diff == 0 else text


def _points(now: float | None, then: float | None) -> str:
    if now is None or then is None:
        return ""
    return f"{(now - then) * 100:+.0f} pts"


# -- plain text --------------------------------------------------------------------------------

def text_table(section: Section) -> Table:
    """A rich table of the section (rich measures wide characters such as CJK right)."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, header in enumerate(section.headers):
        table.add_column(header, justify="right" if section.right(i) else "left",
                         overflow="fold")
    for row in section.rows:
        table.add_row(*row)
    return table


def report_text(report: Report, width: int = TEXT_WIDTH) -> str:
    """The whole report as plain text, for the mail's text part and a terminal."""
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, markup=False, highlight=False,
                      emoji=False, force_terminal=False)
    console.print(title(report))
    for line in summary(report):
        console.print(f"- {line}")
    for section in sections(report):
        console.print()
        console.print(section.title.upper())
        if section.rows:
            console.print(text_table(section))
        else:
            console.print("  none")
        if section.note:
            console.print(f"  ({section.note})")
    console.print()
    console.print(f"times in {report.timezone}; made {report.generated_at.isoformat(timespec='minutes')}")
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"


# -- HTML --------------------------------------------------------------------------------------

_HTML = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                    lstrip_blocks=True).from_string("""\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
</head>
<body style="margin:0;padding:0;background:#f4f5f7;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f4f5f7;">
<tr><td align="center" style="padding:16px;">
<table role="presentation" width="800" cellpadding="0" cellspacing="0" border="0" style="max-width:800px;width:100%;background:#ffffff;border:1px solid #dde1e6;font-family:Arial,Helvetica,sans-serif;color:#1f2328;">
<tr><td style="padding:20px 24px 8px 24px;">
<h1 style="margin:0 0 6px 0;font-size:22px;font-weight:bold;">{{ title }}</h1>
<p style="margin:0;font-size:14px;line-height:20px;color:#444;">{{ summary }}</p>
</td></tr>
<tr><td style="padding:8px 24px 0 24px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">
<tr>
{% for tile in tiles %}
<td width="25%" valign="top" style="padding:8px 4px;">
<div style="border:1px solid #dde1e6;background:#f8f9fb;padding:10px;text-align:center;">
<div style="font-size:22px;font-weight:bold;color:{{ tile.color }};">{{ tile.value }}</div>
<div style="font-size:12px;color:#555;">{{ tile.label }}</div>
</div>
</td>
{% endfor %}
</tr>
</table>
</td></tr>
{% for chart in charts %}
<tr><td style="padding:16px 24px 0 24px;">
<h2 style="margin:0 0 8px 0;font-size:16px;">{{ chart.title }}</h2>
<img src="{{ chart.src }}" width="{{ chart.width }}" height="{{ chart.height }}" alt="{{ chart.title }}" style="display:block;width:100%;max-width:{{ chart.width }}px;height:auto;border:0;">
</td></tr>
{% endfor %}
{% for section in sections %}
<tr><td style="padding:18px 24px 0 24px;">
<h2 style="margin:0 0 8px 0;font-size:16px;">{{ section.title }}</h2>
{% if section.rows %}
<table cellpadding="0" cellspacing="0" border="0" width="100%" style="border-collapse:collapse;font-size:13px;">
<tr>
{% for header in section.headers %}
<th align="{{ 'right' if section.right(loop.index0) else 'left' }}" style="padding:5px 8px;border-bottom:2px solid #c9ced6;background:#eef1f4;">{{ header }}</th>
{% endfor %}
</tr>
{% for row in section.rows %}
<tr>
{% for cell in row %}
<td align="{{ 'right' if section.right(loop.index0) else 'left' }}" style="padding:5px 8px;border-bottom:1px solid #e6e9ed;{{ 'white-space:nowrap;' if loop.first else '' }}">{{ cell }}</td>
{% endfor %}
</tr>
{% endfor %}
</table>
{% else %}
<p style="margin:0;font-size:13px;color:#555;">none</p>
{% endif %}
{% if section.note %}
<p style="margin:4px 0 0 0;font-size:12px;color:#666;">{{ section.note }}</p>
{% endif %}
</td></tr>
{% endfor %}
<tr><td style="padding:18px 24px 20px 24px;font-size:12px;color:#666;">Times in {{ timezone }}; made {{ generated }} by inboxd.</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
""")


def report_html(report: Report, sources: Mapping[str, str],
                charts: Sequence[Chart] = CHARTS) -> str:
    """The report as one HTML page; ``sources`` maps each chart's name to its image source
    (a ``data:`` URI or a ``cid:`` reference)."""
    c = report.current
    tiles = [{"value": str(c.total_messages), "label": "mails received", "color": "#1f2328"},
             {"value": _share(c.automatic_share), "label": "answered automatically",
              "color": "#1a7f37"},
             {"value": f"{report.hours_saved(c):.1f} h", "label": "agent time saved",
              "color": "#0969da"},
             {"value": _hours(c.wall_median_h), "label": "median first response",
              "color": "#9a6700"}]
    return _HTML.render(
        title=title(report), summary="; ".join(summary(report)), tiles=tiles, timezone=report.timezone,
        generated=report.generated_at.isoformat(timespec="minutes"),
        charts=[{"title": ch.title, "src": sources[ch.name], "width": ch.width_px,
                 "height": ch.height_px} for ch in charts],
        sections=sections(report))

