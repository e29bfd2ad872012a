"""``inboxd health``: is the daemon doing its work? For monitoring scripts and container health
checks.

Exit 0 when the daemon checked the mailbox within the last :data:`CHECKS_MISSED` poll intervals
(it stamps the store after each pass over the inbox), no outgoing mail has waited longer
than :data:`STUCK_AFTER` and no alarm is open (a refused login, see ``steps.alarm``); otherwise exit 1 with one line saying what is wrong. Reads the store
only; needs no password, model or server.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from typing import Any

from inboxd.commands.common import EXIT_RUNTIME, config_from
from inboxd.config import Config
from inboxd.core.outage import format_duration
from inboxd.store_figures import (MAILBOX_CHECKED, open_incidents, open_read_only, stamped,
                                  waiting_since)

CHECKS_MISSED = 3  # poll intervals without a mailbox check before the daemon is unwell
STUCK_AFTER = timedelta(minutes=15)


def register(sub: Any) -> None:
    p = sub.add_parser("health", help="exit 0 when the daemon checks the mailbox and sends its "
                                      "mail, else 1 with what is wrong")
    p.set_defaults(handler=cmd_health)


def cmd_health(args: argparse.Namespace) -> int:
    config = config_from(args)
    problems, fine = health(config, datetime.now(timezone.utc))
    print(f"inboxd: {'; '.join(problems)}" if problems else f"ok: {fine}")
    return EXIT_RUNTIME if problems else 0


def health(config: Config, now: datetime) -> tuple[list[str], str]:
    """(what is wrong, what is fine) of the daemon using ``config``, at ``now``."""
    conn = open_read_only(config.store_path)
    try:
        checked = stamped(conn, MAILBOX_CHECKED)
        stuck, oldest = waiting_since(conn, now - STUCK_AFTER)
        incidents = open_incidents(conn)
    finally:
        conn.close()
    interval_s = config.imap.poll_interval_s
    problems = []
    if checked is None:
        problems.append("the mailbox was never checked: is `inboxd run` running?")
    elif (now - checked).total_seconds() > CHECKS_MISSED * interval_s:
        problems.append(f"the mailbox was last checked {_ago(now, checked)} ago, more than "
                        f"{CHECKS_MISSED} poll intervals ({CHECKS_MISSED} × "
                        f"{format_duration(interval_s)})")
    if stuck:
        assert oldest is not None
        problems.append(f"{stuck} mail(s) waiting in the outbox for more than "
                        f"{format_duration(STUCK_AFTER.total_seconds())}, the oldest for "
                        f"{_ago(now, oldest)}")
    for channel, reason, detail, started in incidents:  # what the alarm told the operator
        what = "login refused" if reason == "login-refused" else "no mailbox check"
        problems.append(f"{channel.upper()} {what} for {_ago(now, started)}: {detail}")
    fine = f"mailbox checked {_ago(now, checked)} ago; no mail waits in the outbox for more " \
           f"than {format_duration(STUCK_AFTER.total_seconds())}" if checked else ""
    return problems, fine


def _ago(now: datetime, at: datetime) -> str:
    return format_duration(max((now - at).total_seconds(), 0.0))
