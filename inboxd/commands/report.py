"""``inboxd report``: what inboxd did for the support team, for the last days and the days
before: as text tables, as JSON, as an HTML page with charts, or as the report mail.

``--send`` queues the mail to ``report.to`` in the outbox and sends it at once, with a copy in
the Sent folder, as ``inboxd once`` sends; the daemon sends the same mail every week by itself
(``[report]`` weekday and time).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from inboxd.commands.common import (EXIT_RUNTIME, MOST_DAYS, config_from, existing_store,
                                    number_in, print_json)
from inboxd.commands.terminal import console
from inboxd.config import Config
from inboxd.config.mail import read_passwords
from inboxd.core.report import Report
from inboxd.core.report_render import report_text
from inboxd.errors import ConfigError, InboxdError, StoreBusy
from inboxd.validation import validate_setup


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="the support report: mail received, automatic answers, "
                                      "response times, FAQ candidates")
    p.add_argument("--days", type=days, default=7,
                   help="the last DAYS whole days, against the DAYS before them (7)")
    p.add_argument("--html", type=Path, metavar="FILE",
                   help="write the report with its charts as one HTML page")
    p.add_argument("--send", action="store_true",
                   help="mail the report with its charts to the report.to addresses")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.set_defaults(handler=cmd_report)


days = number_in(int, "a whole number of days", 1, MOST_DAYS)


def cmd_report(args: argparse.Namespace) -> int:
    config = config_from(args)
    if args.send and not config.report.to:
        raise ConfigError("report.to", "lists nobody: --send needs the addresses to mail the "
                                       "report to")
    if args.send:
        return _send(config, args)
    report = _report(config, args.days)
    _show(report, args, {})
    return 0


def _report(config: Config, days_back: int) -> Report:
    from inboxd.steps.report import make_report

    store = existing_store(config)
    try:
        setup = validate_setup(config, writes=False)
        return make_report(store, config, setup.faq, setup.calendar, datetime.now(timezone.utc),
                           days_back)
    finally:
        store.close()


def _show(report: Report, args: argparse.Namespace, pngs: dict[str, bytes]) -> None:
    """Write the HTML page, or print JSON or the text tables, as asked."""
    from inboxd.steps.report import draw, html_page

    if args.html:
        page = html_page(report, pngs or draw(report))
        try:
            args.html.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise InboxdError(f"cannot write {args.html}: {exc.strerror or exc}") from None
        print(f"report of {report.current.start} to {report.current.end} written to {args.html}",
              file=sys.stderr)
    if args.json:
        print_json(report.to_json())
    elif not args.html and not args.send:
        out = console()
        out.print(report_text(report, width=min(out.width, 120)), end="")


def _send(config: Config, args: argparse.Namespace) -> int:
    from inboxd.runtime import build_runtime
    from inboxd.steps.outbox import flush

    read_passwords(config.imap, config.smtp)
    recipients = ", ".join(config.report.to)
    try:
        rt = build_runtime(config)
    except StoreBusy as busy:  # the inboxd running now sends what is queued
        rt = build_runtime(config, acts=False)
        try:
            report, pngs, _ = _queue(rt, config, args)
        finally:
            rt.close()
        _show(report, args, pngs)
        print(f"inboxd: {busy}; the report to {recipients} is queued in the outbox, which it "
              "sends", file=sys.stderr)
        return 0
    try:
        report, pngs, outbox_id = _queue(rt, config, args)
        rt.mailbox.connect()
        flush(rt)
        state = rt.store.outbox_state(outbox_id) if outbox_id else "sent"
    finally:
        rt.close()
    _show(report, args, pngs)
    if state != "sent":
        waits = "; it waits in the outbox" if state == "pending" else ""
        print(f"inboxd: the report to {recipients} was not sent "
              f"({rt.smtp_state.error or state}){waits}", file=sys.stderr)
        return EXIT_RUNTIME
    print(f"report of {report.current.start} to {report.current.end} sent to {recipients}",
          file=sys.stderr)
    return 0


def _queue(rt: Any, config: Config, args: argparse.Namespace) -> tuple[Report, Any, int | None]:
    """The report of the last ``--days``, drawn and queued in the outbox (once)."""
    from inboxd.steps.report import draw, make_report, queue_report

    report = make_report(rt.store, config, rt.faq, rt.calendar, rt.clock(), args.days)
    pngs = draw(report)
    return report, pngs, queue_report(rt, report, pngs)
