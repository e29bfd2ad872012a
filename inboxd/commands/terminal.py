"""What the commands show people on a terminal: tables and progress bars, with rich.

rich measures the columns each character takes (CJK characters take two), cuts long cells with
an ellipsis, and draws progress bars only where the output is a terminal. Markup is off: a
subject such as ``[#12] Re: order`` prints as it is. ``--json`` output never comes here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console, RenderableType
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                           TimeElapsedColumn)
from rich.table import Table
from rich.text import Text

from inboxd.core.decide import AutoAnswer
from inboxd.runtime import Runtime
from inboxd.steps.inbox import Outcome

PIPED_WIDTH = 200  # columns when the output is a file or a pipe, not a terminal


def console(stream: TextIO | None = None) -> Console:
    """A console on ``stream`` (standard output); as wide as the terminal, or
    ``PIPED_WIDTH`` when the output goes to a file or a pipe."""
    stream = stream or sys.stdout
    tty = stream.isatty()
    return Console(file=stream, width=None if tty else PIPED_WIDTH, markup=False,
                   highlight=False, emoji=False, color_system="auto" if tty else None)


def one_line(text: str) -> str:
    return " ".join(text.split())


def clipped(text: str, width: int) -> str:
    """``text`` on one line, cut with an ellipsis to at most ``width`` terminal columns."""
    line = Text(one_line(text))
    line.truncate(width, overflow="ellipsis")
    return line.plain


def table(headers: Sequence[str], rows: Sequence[Sequence[str]],
          max_widths: Mapping[str, int] | None = None, numeric_from: int | None = None) -> Table:
    """Rows of text under ``headers``; a column named in ``max_widths`` is cut to that many
    columns with an ellipsis; columns from ``numeric_from`` on are right-aligned."""
    limits = max_widths or {}
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 1),
                 collapse_padding=True)
    for i, header in enumerate(headers):
        right = numeric_from is not None and i >= numeric_from
        grid.add_column(header, no_wrap=True, overflow="ellipsis", max_width=limits.get(header),
                        justify="right" if right else "left")
    for row in rows:
        grid.add_row(*(one_line(cell) for cell in row))
    return grid


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
                max_widths: Mapping[str, int] | None = None) -> None:
    show(table(headers, rows, max_widths))


def show(*items: RenderableType, stream: TextIO | None = None) -> None:
    """Print rich tables or text; in a file or a pipe without the blanks that pad the last
    column."""
    out = console(stream)
    if out.is_terminal:
        for item in items:
            out.print(item)
        return
    with out.capture() as captured:
        for item in items:
            out.print(item)
    out.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def local(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else "-"


def outcome_row(o: Outcome) -> list[str]:
    t = o.triage
    d = t.decision
    faq = f"{d.faq_id} {d.confidence:.2f}" if isinstance(d, AutoAnswer) else (
        f"({t.match.faq_id} {t.match.confidence:.2f})" if t.match else "-")
    return [str(t.fetched.uid), t.parsed.sender or "?", t.parsed.subject, t.language,
            type(d).__name__, faq, f"#{o.ticket_id}" if o.ticket_id else "-", t.folder, d.reason]


OUTCOME_HEADERS = ["uid", "from", "subject", "lang", "decision", "faq", "ticket", "folder",
                   "why"]
OUTCOME_WIDTHS = {"from": 28, "subject": 30, "why": 60}


def print_outcomes(outcomes: Sequence[Outcome], rt: Runtime, dry_run: bool = False) -> None:
    if not outcomes:
        print("nothing new")
        return
    print_table(OUTCOME_HEADERS, [outcome_row(o) for o in outcomes], OUTCOME_WIDTHS)
    if dry_run:
        print(f"\ndry run: {len(outcomes)} message(s) decided; nothing was sent, moved or written")


@contextmanager
def progress_bar(label: str, stream: TextIO | None = None) -> Iterator[Callable[[int, int], None]]:
    """A bar on ``stream`` (standard error) while the block runs, for the model code's
    ``progress(done, total)`` callbacks; nothing when the stream is not a terminal."""
    bar = _progress(stream, MofNCompleteColumn())
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield update


@contextmanager
def working(label: str, stream: TextIO | None = None) -> Iterator[None]:
    """A bar that pulses with the time taken, for work that reports no steps."""
    bar = _progress(stream, TimeElapsedColumn(), transient=True)
    bar.add_task(label, total=None)
    with bar:
        yield


def _progress(stream: TextIO | None, count: ProgressColumn, transient: bool = False) -> Progress:
    out = stream or sys.stderr
    return Progress(TextColumn("{task.description}"), BarColumn(), count,
                    console=Console(file=out), transient=transient, disable=not out.isatty())
