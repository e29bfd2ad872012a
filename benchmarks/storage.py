"""What a mail with a 15 MB attachment costs in the store: the customer's message, the forward
of it to the team (relay mode) and an agent's answer sending the same file back, each with the
attachment, against what the same rows took when every mail was kept whole.

    .venv/bin/python benchmarks/storage.py
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from pathlib import Path

from inboxd.core.message import parse_message
from inboxd.core.outgoing import Envelope, attached_files, build_forward, build_relayed
from inboxd.store import Store
from inboxd.store_blobs import crlf

MB = 1024 * 1024
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


def customer_mail(size: int) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "ana@example.com", "support@example.com", "Scan"
    msg["Message-ID"] = "<scan@example.com>"
    msg.set_content("The scan of the damaged parcel is attached.")
    msg.add_attachment(os.urandom(size), maintype="application", subtype="pdf",
                       filename="scan.pdf")
    return msg.as_bytes(policy=policy.SMTP)


def main() -> None:
    raw = customer_mail(15 * MB)
    env = Envelope("Support <support@example.com>", "<fw@example.com>", NOW)
    forward = bytes(build_forward(env, parse_message(raw), raw, 1, ["team@example.com"],
                                  "support@example.com", "Ticket #1", []))
    answer = bytes(build_relayed(Envelope(env.sender, "<re@example.com>", NOW),
                                 "ana@example.com", "Ana", 1, "Scan", None, "Here it is back.",
                                 attached_files(raw)))
    whole = len(raw) + len(crlf(forward)) + len(crlf(answer))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "inboxd.sqlite3"
        store = Store(path)
        started = time.perf_counter()
        with store.transaction():
            ticket = store.insert_ticket({"customer": "ana@example.com", "state": "open",
                                          "created_at": NOW.isoformat()})
            store.insert_message({"ticket_id": ticket, "direction": "in", "folder": "INBOX",
                                  "uidvalidity": 1, "uid": 1, "message_id": "<scan@example.com>",
                                  "raw": raw})
            for kind, mail_id, mail in (("forward", "<fw@example.com>", forward),
                                        ("relay", "<re@example.com>", answer)):
                store.queue_outgoing({"ticket_id": ticket, "kind": kind, "message_id": mail_id,
                                      "recipient": "x@example.com", "raw": mail,
                                      "created_at": NOW.isoformat()})
        stored_s = time.perf_counter() - started
        started = time.perf_counter()
        assert [r["raw"] for r in store.outbox("pending")] == [crlf(forward), crlf(answer)]
        read_s = time.perf_counter() - started
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()
        size = sum(p.stat().st_size for p in Path(folder).glob("inboxd.sqlite3*"))
    print(f"attachment 15.0 MiB ({len(raw) / MB:.1f} MiB as the customer's mail, base64)")
    print(f"three mails carrying it, kept whole: {whole / MB:.1f} MiB")
    print(f"database files with the attachment kept once: {size / MB:.1f} MiB")
    print(f"storing the three: {stored_s:.2f} s; reading both outgoing mails back: {read_s:.2f} s")


if __name__ == "__main__":
    main()
