"""Large attachments in the store, kept once (see :mod:`inboxd.core.blobs`).

``messages.raw`` and ``outbox.raw`` hold a mail's skeleton; ``blob_refs`` lists, per row, where
each cut-out body goes back (``owner`` is the table, ``row_id`` the row) and ``blobs`` holds each
body once, by its SHA-256. The store puts mails back together whenever it hands out ``raw``,
so nothing outside the store knows. Outgoing mails are stored with CRLF line ends, as the
messages fetched over IMAP have them, so that an attachment forwarded or relayed is the same
bytes as in the message it came from.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import sqlite_utils

from inboxd.core.blobs import MIN_PIECE_BYTES, Piece, join, split

OWNERS = ("messages", "outbox")
_LINE_END = re.compile(rb"\r?\n")


def crlf(raw: bytes) -> bytes:
    """A mail with every line ending in CRLF, as SMTP and IMAP carry it."""
    return _LINE_END.sub(b"\r\n", raw)


def create_tables(db: sqlite_utils.Database) -> None:
    db.table("blobs").create({"sha256": str, "data": bytes, "size": int}, pk="sha256",
                             not_null={"data", "size"})
    db.table("blob_refs").create({"id": int, "owner": str, "row_id": int, "pos": int,
                                  "at_byte": int, "sha256": str}, pk="id",
                                 not_null={"owner", "row_id", "pos", "at_byte", "sha256"})
    db.table("blob_refs").create_index(["owner", "row_id"])
    db.table("blob_refs").create_index(["sha256"])


def split_existing(db: sqlite_utils.Database) -> None:
    """Cut the large bodies out of the rows stored before blobs existed (a migration)."""
    for owner in OWNERS:
        ids = [r[0] for r in db.execute(
            f"select id from {owner} where length(raw) >= ?", [MIN_PIECE_BYTES]).fetchall()]
        for row_id in ids:
            raw = db.execute(f"select raw from {owner} where id = ?", [row_id]).fetchall()[0][0]
            skeleton, pieces = split(crlf(raw) if owner == "outbox" else raw)
            if pieces:
                db.execute(f"update {owner} set raw = ? where id = ?", [skeleton, row_id])
                put_pieces(db, owner, row_id, pieces)


def put_pieces(db: sqlite_utils.Database, owner: str, row_id: int,
               pieces: Sequence[Piece]) -> None:
    for pos, piece in enumerate(pieces):
        db.execute("insert or ignore into blobs (sha256, data, size) values (?, ?, ?)",
                   [piece.sha256, piece.data, len(piece.data)])
        db.execute("insert into blob_refs (owner, row_id, pos, at_byte, sha256) "
                   "values (?, ?, ?, ?, ?)", [owner, row_id, pos, piece.offset, piece.sha256])


def insert_with_raw(db: sqlite_utils.Database, owner: str, values: dict[str, Any]) -> int:
    """Insert a row whose ``raw`` is a whole mail; returns its id."""
    raw = values.get("raw")
    if not isinstance(raw, bytes):
        return int(db.table(owner).insert(values).last_pk)  # type: ignore[arg-type]
    skeleton, pieces = split(raw)
    inserted = db.table(owner).insert({**values, "raw": skeleton})
    row_id = int(inserted.last_pk)  # type: ignore[arg-type]
    put_pieces(db, owner, row_id, pieces)
    return row_id


def whole(db: sqlite_utils.Database, owner: str, row: dict[str, Any],
          id_key: str = "id") -> dict[str, Any]:
    """``row`` with its ``raw`` put back together."""
    if row.get("raw") is None:
        return row
    return {**row, "raw": whole_raw(db, owner, row[id_key], row["raw"])}


def whole_raw(db: sqlite_utils.Database, owner: str, row_id: int, skeleton: bytes) -> bytes:
    refs = db.execute("select at_byte, sha256 from blob_refs where owner = ? and row_id = ? "
                      "order by pos", [owner, row_id]).fetchall()
    if not refs:
        return skeleton
    return join(skeleton, [(at, sha) for at, sha in refs], lambda sha: db.execute(
        "select data from blobs where sha256 = ?", [sha]).fetchall()[0][0])


def drop_refs(db: sqlite_utils.Database, owner: str, row_ids: Sequence[int]) -> None:
    for row_id in row_ids:
        db.execute("delete from blob_refs where owner = ? and row_id = ?", [owner, row_id])


def unreferenced_after(db: sqlite_utils.Database, owner_rows: dict[str, Sequence[int]]) -> int:
    """How many blobs no row would refer to once ``owner_rows`` are gone; writes nothing."""
    doomed: Counter[str] = Counter()
    for owner, row_ids in owner_rows.items():
        for row_id in row_ids:
            doomed.update(sha for (sha,) in db.execute(
                "select sha256 from blob_refs where owner = ? and row_id = ?",
                [owner, row_id]).fetchall())
    total = {sha: db.execute("select count(*) from blob_refs where sha256 = ?",
                             [sha]).fetchall()[0][0] for sha in doomed}
    return sum(1 for sha, n in doomed.items() if total[sha] == n)


def delete_unreferenced(db: sqlite_utils.Database) -> int:
    cursor = db.execute("delete from blobs where sha256 not in (select sha256 from blob_refs)")
    return cursor.rowcount
