"""``inboxd run``, ``inboxd once`` and ``inboxd check``: the commands that talk to the servers."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from inboxd.agents import AgentWatch
from inboxd.cli import EXIT_CONFIG, EXIT_RUNTIME, config_from
from inboxd.commands.report import print_outcomes
from inboxd.errors import InboxdError
from inboxd.faq import load_faq
from inboxd.mail.imap import Mailbox
from inboxd.mail.smtp import Sender
from inboxd.outbox import flush
from inboxd.pipeline import Outcome, process_inbox
from inboxd.runtime import (Runtime, build_offline_runtime, build_runtime, load_templates,
                            system_clock)
from inboxd.sweep import describe, plan_sweep, sweep


def register_run(sub: Any) -> None:
    p = sub.add_parser("run", help="the daemon: watch the mailbox and triage mail as it arrives")
    p.set_defaults(handler=cmd_run)


def register_once(sub: Any) -> None:
    p = sub.add_parser("once", help="fetch everything new, triage it, act, then exit")
    p.add_argument("--dry-run", action="store_true",
                   help="print the decisions; send, move, flag and write nothing")
    p.add_argument("--now", type=aware_time, metavar="TIME",
                   help="with --dry-run: act as if it were TIME (ISO 8601 with offset, e.g. "
                        "2026-11-24T15:00:00+01:00), to preview the deadline notices due then")
    p.set_defaults(handler=cmd_once)


def register_check(sub: Any) -> None:
    p = sub.add_parser("check", help="validate the configuration and try the IMAP and SMTP logins")
    p.set_defaults(handler=cmd_check)


def cmd_run(args: argparse.Namespace) -> int:
    from inboxd.daemon import Daemon

    Daemon(build_runtime(config_from(args))).run()
    return 0


def cmd_once(args: argparse.Namespace) -> int:
    if args.now and not args.dry_run:
        print("inboxd: --now only previews: use it with --dry-run", file=sys.stderr)
        return EXIT_CONFIG
    now = args.now
    build = build_offline_runtime if args.dry_run else build_runtime
    rt = build(config_from(args), clock=(lambda: now) if now else system_clock)
    try:
        outcomes = run_once(rt, dry_run=args.dry_run)
        planned = [describe(n, rt) for n in plan_sweep(rt)] if args.dry_run else []
        waiting = rt.store.outbox_count("pending")
    finally:
        rt.close()
    print_outcomes(outcomes, rt, dry_run=args.dry_run)
    if args.dry_run:
        print_planned_notices(planned)
    if rt.smtp_state.error is not None:  # the rest was done; the mail waits for the server
        print(f"inboxd: {rt.smtp_state.error}; {waiting} mail(s) wait in the outbox",
              file=sys.stderr)
        return EXIT_RUNTIME
    return 0


def aware_time(text: str) -> datetime:
    """An argparse type: an ISO 8601 time that names its UTC offset."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if at.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset; add one, e.g. +01:00")
    return at


def print_planned_notices(lines: list[str]) -> None:
    print("\ndeadline notices due:" if lines else "\nno deadline notices due")
    for line in lines:
        print(f"  {line}")


def run_once(rt: Runtime, dry_run: bool = False) -> list[Outcome]:
    """Connect, finish what a previous run left, handle new mail and agents' replies."""
    rt.mailbox.connect()
    if dry_run:
        return process_inbox(rt, dry_run=True)
    flush(rt)
    outcomes = process_inbox(rt)
    AgentWatch().scan(rt)
    sweep(rt)
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
    problems = load_templates(config).problems([e.template for e in faq.entries if e.template])
    for problem in problems:
        print(f"template {problem}", file=sys.stderr)
    print(f"templates: {'ok' if not problems else f'{len(problems)} with errors'}")
    failures = len(problems)
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
