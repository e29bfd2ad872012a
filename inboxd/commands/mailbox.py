"""``inboxd run``, ``inboxd once`` and ``inboxd check``: the commands that talk to the servers."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from inboxd.agents import AgentWatch
from inboxd.cli import EXIT_RUNTIME, config_from
from inboxd.commands.report import print_outcomes
from inboxd.errors import InboxdError
from inboxd.faq import load_faq
from inboxd.mail.imap import Mailbox
from inboxd.mail.smtp import Sender
from inboxd.outbox import flush
from inboxd.pipeline import Outcome, process_inbox
from inboxd.runtime import Runtime, build_runtime


def register_run(sub: Any) -> None:
    p = sub.add_parser("run", help="the daemon: watch the mailbox and triage mail as it arrives")
    p.set_defaults(handler=cmd_run)


def register_once(sub: Any) -> None:
    p = sub.add_parser("once", help="fetch everything new, triage it, act, then exit")
    p.add_argument("--dry-run", action="store_true",
                   help="print the decisions; send, move, flag and write nothing")
    p.set_defaults(handler=cmd_once)


def register_check(sub: Any) -> None:
    p = sub.add_parser("check", help="validate the configuration and try the IMAP and SMTP logins")
    p.set_defaults(handler=cmd_check)


def cmd_run(args: argparse.Namespace) -> int:
    from inboxd.daemon import Daemon

    Daemon(build_runtime(config_from(args))).run()
    return 0


def cmd_once(args: argparse.Namespace) -> int:
    rt = build_runtime(config_from(args))
    try:
        outcomes = run_once(rt, dry_run=args.dry_run)
    finally:
        rt.close()
    print_outcomes(outcomes, rt, dry_run=args.dry_run)
    return 0


def run_once(rt: Runtime, dry_run: bool = False) -> list[Outcome]:
    """Connect, finish what a previous run left, handle new mail and agents' replies."""
    rt.mailbox.connect()
    if dry_run:
        return process_inbox(rt, dry_run=True)
    flush(rt)
    outcomes = process_inbox(rt)
    AgentWatch().scan(rt)
    flush(rt)
    return outcomes


def cmd_check(args: argparse.Namespace) -> int:
    config = config_from(args)
    print(f"config {config.path}: ok")
    faq = load_faq(config.faq.path)
    print(f"faq {config.faq.path}: ok ({len(faq.entries)} entries, languages "
          f"{', '.join(sorted(faq.languages))})")
    model_state = "ok" if config.faq.model.is_file() else "missing: run `inboxd train`"
    print(f"model {config.faq.model}: {model_state}")
    failures = 0
    for name, probe in (("imap", lambda: _probe_imap(config.imap)),
                        ("smtp", lambda: Sender(config.smtp).check_login())):
        host = getattr(config, name)
        try:
            probe()
            print(f"{name} {host.username}@{host.host}:{host.port} ({host.security}): login ok")
        except InboxdError as exc:
            failures += 1
            print(f"{name} {host.host}:{host.port}: {exc}", file=sys.stderr)
    return EXIT_RUNTIME if failures or model_state != "ok" else 0


def _probe_imap(settings: Any) -> None:
    with Mailbox(settings) as mailbox:
        mailbox.select(settings.inbox)
