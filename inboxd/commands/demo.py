"""``inboxd demo``: inboxd against mail servers it starts itself, with the sample FAQ.

Needs the ``demo`` extra (pymap, aiosmtpd); no configuration file, network or root. Everything
lives in a temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from inboxd.model import encoder
from inboxd.commands.common import EXIT_CONFIG
from inboxd.commands.terminal import (OUTCOME_HEADERS, OUTCOME_WIDTHS, clipped, outcome_row,
                                     print_table, working)
from inboxd.commands.tickets import HEADERS as TICKET_HEADERS, TICKET_WIDTHS, ticket_row
from inboxd.core.render import TICKET_HEADER
from inboxd.demo import sample_faq_path
from inboxd.faq import load_faq
from inboxd.store import Ticket

if TYPE_CHECKING:  # the demo extra may be missing; import it only to run the demo
    from inboxd.demo.scenario import DemoResult
    from inboxd.demo.servers import DemoServers

DEMO_PACKAGES = ("pymap", "aiosmtpd")
MISSING_EXTRA = "inboxd demo needs the demo extra: pip install 'inboxd[demo]'"
BODY_LINES = 3
LINE_WIDTH = 96


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="try inboxd on built-in mail servers with sample mail "
                                    "(needs the demo extra)")
    p.add_argument("--keep", action="store_true",
                   help="keep the servers running afterwards and print how to connect a mail "
                        "client, until Ctrl-C")
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    if not demo_extra_installed():
        print(MISSING_EXTRA, file=sys.stderr)
        return EXIT_CONFIG
    if not args.verbose:
        for name in ("inboxd", "pymap"):
            logging.getLogger(name).setLevel(logging.WARNING)
    play(keep=args.keep)
    return 0


def demo_extra_installed() -> bool:
    try:
        for name in DEMO_PACKAGES:
            importlib.import_module(name)
    except ImportError:
        return False
    return True


def play(keep: bool = False) -> DemoResult:
    """Start the servers, run the demo, print what happened; with ``keep``, wait for Ctrl-C."""
    from inboxd.demo.scenario import run_demo
    from inboxd.demo.servers import DemoServers

    workdir = Path(tempfile.mkdtemp(prefix="inboxd-demo-"))
    try:
        with DemoServers() as servers:
            print_intro(servers, workdir)
            with working("running the demo"):
                result = run_demo(servers, workdir)
            print_result(result)
            if keep:
                wait_for_interrupt(servers, result.config.path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def print_intro(servers: DemoServers, workdir: Path) -> None:
    faq = load_faq(sample_faq_path())
    print("inboxd demo: everything runs inside this process, on 127.0.0.1")
    print(f"  IMAP   pymap, in memory, port {servers.imap.port}")
    print(f"  SMTP   aiosmtpd, port {servers.smtp.port}; it keeps what inboxd sends to customers")
    print(f"  FAQ    {sample_faq_path()}: {', '.join(e.id for e in faq.entries)} "
          f"({', '.join(sorted(faq.languages))})")
    sentence_encoder = encoder.load(threads=1)
    print(f"  model  words (TF-IDF) and meaning ({sentence_encoder.name})" if sentence_encoder
          else f"  model  words alone (TF-IDF); encoder {encoder.describe(None)}")
    print(f"  files  configuration, model and store in {workdir} (removed at the end)")


def print_result(result: DemoResult) -> None:
    tz = ZoneInfo(result.config.deadlines.timezone)
    for number, round_ in enumerate(result.rounds, start=1):
        heading(f"Round {number}: {round_.title}")
        print_table(OUTCOME_HEADERS, [outcome_row(o) for o in round_.outcomes], OUTCOME_WIDTHS)
    heading(f"What the customers received ({len(result.replies)} mails reached the SMTP "
            "server)")
    tickets = {str(t.id): t for t in result.tickets}
    for captured in result.replies:
        print_reply(captured.message(), tickets)
    heading("Tickets (as `inboxd tickets` shows them)")
    print_table(TICKET_HEADERS, [ticket_row(t, tz) for t in result.tickets], TICKET_WIDTHS)
    print(f"\ntimes in {result.config.deadlines.timezone}")
    heading("Where every message ended up (IMAP folders, read back from the server)")
    print_table(["folder", "messages"],
                [[name, str(count)] for name, count in result.folders.items()])
    print_next_steps(result.took_s)


def heading(title: str) -> None:
    print(f"\n== {title} ==\n")


def print_reply(msg: EmailMessage, tickets: dict[str, Ticket]) -> None:
    ticket = tickets.get(str(msg.get(TICKET_HEADER, "")))
    language = msg.get("Content-Language") or (ticket.language if ticket else "-")
    print(f"to:       {msg['To']}")
    print(f"subject:  {msg['Subject']}")
    print(f"language: {language}    ticket: #{ticket.id if ticket else '-'}    "
          f"Auto-Submitted: {msg.get('Auto-Submitted', '-')}")
    print(f"In-Reply-To: {msg.get('In-Reply-To', '-')}")
    for line in first_lines(msg.get_content(), BODY_LINES):
        print(f"  | {clipped(line, LINE_WIDTH)}")
    print()


def first_lines(text: str, count: int) -> Sequence[str]:
    return [line for line in text.splitlines() if line.strip()][:count]


def print_next_steps(took_s: float) -> None:
    heading("What next")
    print(f"The demo took {took_s:.1f} s. To run inboxd on your own support mailbox:")
    print("  1. copy config.example.toml to inboxd.toml and fill in your IMAP and SMTP servers")
    print(f"  2. write your FAQ (start from {sample_faq_path()}), then `inboxd train`")
    print("  3. `inboxd check`, then `inboxd once --dry-run` to see what it would do")
    print("  4. `inboxd run` to keep watching the mailbox")
    print("See `inboxd --help` for every command.")


def wait_for_interrupt(servers: DemoServers, config_path: Path) -> None:
    heading("The servers keep running (Ctrl-C stops them)")
    print(f"IMAP  127.0.0.1:{servers.imap.port}  no encryption  user {servers.username}  "
          f"password {servers.password}")
    print(f"SMTP  127.0.0.1:{servers.smtp.port}  no encryption  no login")
    print(f"Point a mail client at them, or try: inboxd -c {config_path} tickets")
    sys.stdout.flush()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nstopping the demo servers")
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
