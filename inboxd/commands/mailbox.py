"""``inboxd run``, ``inboxd once`` and ``inboxd check``: the commands that talk to the servers."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime
from collections.abc import Callable, Collection
from typing import Any

from inboxd.steps.sent_scan import AgentWatch
from inboxd.commands.common import EXIT_CONFIG, EXIT_RUNTIME, config_from
from inboxd.commands.terminal import print_outcomes, progress_bar
from inboxd.config import Config, ImapSettings, SmtpSettings
from inboxd.config.mail import read_passwords
from inboxd.errors import ConfigError, InboxdError
from inboxd.faq import Faq
from inboxd.core.render import Templates, mail_language
from inboxd.mail.imap import Mailbox
from inboxd.mail.smtp import Sender
from inboxd.model.modelfile import describe_model, model_problems, threshold_warning
from inboxd.steps.drafts import PlannedDraft, planned_drafts
from inboxd.steps.outbox import flush
from inboxd.steps.inbox import Outcome, process_inbox
from inboxd.commands.login import login_status
from inboxd.runtime import (Runtime, build_offline_runtime, build_runtime, encoder_in_use,
                            load_templates, system_clock, token_keeper)
from inboxd.store import Store
from inboxd.tokens import TokenKeeper
from inboxd.steps.sweep import describe, plan_sweep, sweep
from inboxd.model.training import NO_AUTO_ANSWER, ModelMeta, effective_threshold, read_meta
from inboxd.validation import model_problem, validate_setup

log = logging.getLogger(__name__)


def register_run(sub: Any) -> None:
    p = sub.add_parser("run", help="the daemon: watch the mailbox and triage mail as it arrives")
    p.set_defaults(handler=cmd_run)


def register_once(sub: Any) -> None:
    p = sub.add_parser("once", help="fetch everything new, triage it, act, then exit")
    p.add_argument("--dry-run", action="store_true",
                   help="print the decisions; send, move, flag and write nothing")
    p.add_argument("--now", type=aware_time, metavar="TIME",
                   help="act as if it were TIME (ISO 8601 with offset, e.g. "
                        "2026-11-24T15:00:00+01:00): with --dry-run, preview the deadline "
                        "notices due then; without it, also resolve, close and survey as due "
                        "then")
    p.set_defaults(handler=cmd_once)


def register_check(sub: Any) -> None:
    p = sub.add_parser("check", help="validate the configuration and try the IMAP and SMTP logins")
    p.set_defaults(handler=cmd_check)


def cmd_run(args: argparse.Namespace) -> int:
    from inboxd.daemon import Daemon

    config = config_from(args)
    read_passwords(config.imap, config.smtp)
    rt = build_runtime(config)
    log_encoder(rt)
    Daemon(rt).run()
    return 0


def log_encoder(rt: Runtime) -> None:
    """Say at start-up what the model matches on; plainly when it is words alone."""
    in_use = encoder_in_use(rt)
    if rt.classifier.encoder:
        log.info("FAQ model: words and meaning (encoder %s)", in_use)
    else:
        log.warning("FAQ model: words alone (TF-IDF); encoder %s", in_use)


def cmd_once(args: argparse.Namespace) -> int:
    now = args.now
    build = build_offline_runtime if args.dry_run else build_runtime
    config = config_from(args)
    read_passwords(config.imap, *([] if args.dry_run else [config.smtp]))
    rt = build(config, clock=(lambda: now) if now else system_clock)
    try:
        with progress_bar("handling new mail") as progress:  # on a terminal: a backlog
            outcomes = run_once(rt, dry_run=args.dry_run, progress=progress)
        planned = [describe(n, rt) for n in plan_sweep(rt)] if args.dry_run else []
        drafts = planned_drafts(rt, [(o.triage.fetched.uid, o.triage.parsed, o.triage.decision)
                                     for o in outcomes]) if args.dry_run else []
        waiting = rt.store.outbox_count("pending")
    finally:
        rt.close()
    print_outcomes(outcomes, rt, dry_run=args.dry_run)
    if args.dry_run:
        print_planned_drafts(drafts, rt.config.folders.drafts)
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


def print_planned_drafts(drafts: list[PlannedDraft], folder: str | None) -> None:
    if not drafts:
        return
    where = folder or "the drafts folder"
    print(f"\nsuggested answers it would write to {where}:")
    for d in drafts:
        ticket = f"ticket #{d.ticket_id}" if d.ticket_id else "its new ticket"
        again = ", replacing the unsent draft" if d.replaces else ""
        print(f"  uid {d.uid}: draft reply to {d.recipient} with the answer of FAQ {d.faq_id} "
              f"({ticket}{again})")


def print_planned_notices(lines: list[str]) -> None:
    print("\ndeadline notices due:" if lines else "\nno deadline notices due")
    for line in lines:
        print(f"  {line}")


def run_once(rt: Runtime, dry_run: bool = False,
             progress: Callable[[int, int], None] | None = None) -> list[Outcome]:
    """Connect, finish what a previous run left, handle new mail and agents' replies."""
    rt.mailbox.connect()
    if dry_run:
        return process_inbox(rt, dry_run=True, progress=progress)
    flush(rt)
    outcomes = process_inbox(rt, progress=progress)
    AgentWatch().scan(rt)
    sweep(rt)
    flush(rt)
    return outcomes


def cmd_check(args: argparse.Namespace) -> int:
    """Exit 2 for a configuration, FAQ, model or template problem, else 1 for a server one."""
    config = config_from(args)
    print(f"config {config.path}: ok")
    faq = validate_setup(config).faq  # what `run` validates; a problem raises (exit 2)
    print(f"faq {config.faq.path}: ok ({len(faq.entries)} entries, languages "
          f"{', '.join(sorted(faq.languages))})")
    model_ok = check_model(config, faq)
    templates = load_templates(config, faq)
    problems = templates.problems()
    for problem in problems:
        print(f"template {problem}", file=sys.stderr)
    print(f"templates: {'ok' if not problems else f'{len(problems)} with errors'}")
    print_missing_languages(templates, faq.languages, config.faq.default_language)
    failures = 0
    unreadable = 0
    store = Store(config.store_path) if config.oauth2 is not None else None
    tokens = token_keeper(config, store) if store is not None else None
    if tokens is not None:
        lines, refresh_ok = login_status(config, tokens)
        print("\n".join(lines), file=sys.stdout if refresh_ok else sys.stderr)
        failures += not refresh_ok
    for name, probe in (("imap", lambda: _probe_imap(config.imap, tokens)),
                        ("smtp", lambda: _probe_smtp(config.smtp, tokens))):
        host = getattr(config, name)
        try:
            outcome = probe()
            user = f"{host.username}@" if host.username else ""
            print(f"{name} {user}{host.host}:{host.port} ({host.security}): {outcome}")
        except ConfigError as exc:  # a password that cannot be read
            unreadable += 1
            print(f"{name}: configuration error: {exc}", file=sys.stderr)
        except InboxdError as exc:
            failures += 1
            where = f"{host.host}:{host.port}"
            detail = str(exc).removeprefix(f"{name.upper()} {where}: ")  # named once
            print(f"{name} {where}: {detail}", file=sys.stderr)
    if store is not None:
        store.close()
    if unreadable or problems or not model_ok:
        return EXIT_CONFIG
    return EXIT_RUNTIME if failures else 0


def check_model(config: Config, faq: Faq) -> bool:
    """Print the encoder and whether the model fits the FAQ file, the configuration and the
    encoder; True when it does and something can be answered automatically."""
    from inboxd.model import encoder

    sentence_encoder = encoder.load(threads=1)
    print(f"encoder: {encoder.describe(sentence_encoder)}")
    meta = read_meta(config.faq.model)
    problems = model_problems(config.faq, faq, meta)
    damaged = None if problems else model_problem(config, sentence_encoder)  # does it load?
    problems += [damaged] if damaged else []
    warning = threshold_warning(config.faq, meta) if config.faq.model.is_file() else None
    nothing_answered = effective_threshold(config.faq, meta) == NO_AUTO_ANSWER
    if not problems:
        state = "answers nothing automatically (see the warning)" if nothing_answered else \
            f"ok ({_matches_on(meta, sentence_encoder is not None)})"
        print(f"model {describe_model(config.faq, meta)}: {state}")
    for problem in problems:
        print(f"model {config.faq.model}: {problem}", file=sys.stderr)
    if warning:
        print(f"WARNING: {warning}", file=sys.stderr)
    return not problems and not nothing_answered


def _matches_on(meta: ModelMeta | None, encoder_loaded: bool) -> str:
    if meta is not None and meta.encoder:
        return f"words and meaning, {meta.encoder}"
    if encoder_loaded:
        return "words alone: trained without the encoder; run `inboxd train` to use it"
    return "words alone, TF-IDF"


def print_missing_languages(templates: Templates, languages: Collection[str],
                            default: str) -> None:
    """Name the FAQ languages without their own templates: a customer writing one of them gets
    that mail wholly in another language (``mail_language``), never a mix."""
    for language, kinds in templates.missing([*languages, default]).items():
        instead = mail_language(language, default, templates.languages(kinds[0]))
        which = " (faq.default_language)" if instead == default else ""
        whose = "faq.default_language" if language == default else "FAQ language"
        print(f"templates: {whose} {language} has no {', '.join(kinds)} template; "
              f"{language} customers get those mails wholly in {instead}{which}; add "
              f"{kinds[0]}.{language}.txt.j2 and the others to [templates] path to write to "
              f"them in {language}")


def _probe_imap(settings: ImapSettings, tokens: TokenKeeper | None = None) -> str:
    read_passwords(settings)
    with Mailbox(settings, tokens if settings.oauth2 else None) as mailbox:
        mailbox.select(settings.inbox)
    return "login ok" + (" (XOAUTH2)" if settings.oauth2 else "")


def _probe_smtp(settings: SmtpSettings, tokens: TokenKeeper | None = None) -> str:
    read_passwords(settings)
    with Sender(settings, tokens if settings.oauth2 else None) as sender:
        return sender.check_login() + (" (XOAUTH2)" if settings.oauth2 else "")
