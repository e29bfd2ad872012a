"""``inboxd forget ADDRESS [--dry-run]``: erase a customer's data from the store on request."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from inboxd.commands.common import config_from
from inboxd.errors import InboxdError
from inboxd.steps.forget import Erasure, apply_forget, plan_forget
from inboxd.store import Store

LABELS = {"tickets": "tickets", "messages": "messages", "outbox": "outgoing mails",
          "notices": "deadline notices", "learned_examples": "learned examples",
          "lessons": "learn-folder records", "actions": "mailbox actions", "events": "events",
          "drafts": "suggested drafts", "attachments": "stored attachments"}


def register(sub: Any) -> None:
    p = sub.add_parser("forget", help="erase everything the store keeps about one address")
    p.add_argument("address", help="the customer's e-mail address (any case)")
    p.add_argument("--dry-run", action="store_true",
                   help="print what would be removed; remove nothing")
    p.set_defaults(handler=cmd_forget)


def cmd_forget(args: argparse.Namespace) -> int:
    config = config_from(args)
    if "@" not in args.address:
        print(f"inboxd: {args.address!r} is not an e-mail address", file=sys.stderr)
        return 2
    if not config.store_path.is_file():
        raise InboxdError(f"{config.store_path}: no store yet; nothing to forget")
    store = Store(config.store_path)
    try:
        erasure = plan_forget(store, args.address)
        flushed = apply_forget(store, erasure) if not args.dry_run and not erasure.empty else True
    finally:
        store.close()
    print(report(erasure, args.dry_run))
    if not flushed:
        print("a running inboxd holds the database's write-ahead log: the removed bytes leave "
              "its file at that process's next checkpoint")
    return 0


def report(erasure: Erasure, dry_run: bool) -> str:
    counts = erasure.counts()
    listed = ", ".join(f"{n} {LABELS[k]}" for k, n in counts.items())
    if erasure.empty:
        return f"nothing stored about {erasure.address}"
    lines = [f"{'would remove' if dry_run else 'removed'} for {erasure.address}: {listed}"]
    if dry_run:
        lines.append("dry run: nothing was removed")
    if counts["learned_examples"]:
        lines.append("the model was trained on their questions: run `inboxd train` to drop them "
                     "from it too")
    lines.append("their mail in the mailbox folders is not touched: delete it in a mail client")
    return "\n".join(lines)
