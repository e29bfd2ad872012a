"""The store's side of the response clocks, on a real SQLite file; and the [notify] config."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from inboxd.config import parse_config
from inboxd.errors import ConfigError
from inboxd.store import CLOCK_CANDIDATES_SQL, Store, iso

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "inboxd.sqlite3")


def add_ticket(store: Store, state: str = "open", arrival: datetime = T0,
               due_24h: timedelta | None = timedelta(hours=24),
               due_bd: timedelta | None = timedelta(hours=8)) -> int:
    return store.insert_ticket({
        "customer": "c@example.test", "subject": "s", "state": state, "created_at": iso(arrival),
        "awaiting_since": iso(arrival), "updated_at": iso(arrival),
        "due_24h": iso(arrival + due_24h) if due_24h is not None else None,
        "due_business_day": iso(arrival + due_bd) if due_bd is not None else None})


def next_due(store: Store, ticket_id: int) -> str | None:
    return store.db.execute("select next_due_at from tickets where id = ?",
                            [ticket_id]).fetchone()[0]


def test_next_due_at_is_the_earlier_deadline_whoever_writes_them(store: Store) -> None:
    a = add_ticket(store, due_24h=timedelta(hours=24), due_bd=timedelta(hours=8))
    b = add_ticket(store, due_24h=timedelta(hours=24), due_bd=None)
    c = add_ticket(store, due_24h=None, due_bd=None)
    assert next_due(store, a) == iso(T0 + timedelta(hours=8))
    assert next_due(store, b) == iso(T0 + timedelta(hours=24))
    assert next_due(store, c) is None
    store.update_ticket(a, {"due_business_day": iso(T0 + timedelta(hours=30))})
    assert next_due(store, a) == iso(T0 + timedelta(hours=24))


def test_candidates_are_open_tickets_due_by_then(store: Store) -> None:
    soon = add_ticket(store, due_bd=timedelta(hours=1))
    later = add_ticket(store, due_bd=timedelta(hours=5))
    add_ticket(store, state="answered", due_bd=timedelta(hours=1))
    add_ticket(store, state="resolved", due_bd=timedelta(hours=1))
    assert [r["id"] for r in store.clock_candidates(T0 + timedelta(hours=2))] == [soon]
    assert [r["id"] for r in store.clock_candidates(T0 + timedelta(hours=5))] == [soon, later]


def test_candidate_query_uses_the_indexes(store: Store) -> None:
    plan = store.db.execute("explain query plan " + CLOCK_CANDIDATES_SQL, [iso(T0)]).fetchall()
    details = " ".join(row[3] for row in plan)
    assert "SEARCH t USING INDEX idx_tickets_state_sweep_due_at" in details
    assert "SEARCH n USING COVERING INDEX idx_notices_ticket_id_kind_deadline" in details
    assert "SCAN" not in details and "TEMP B-TREE" not in details


def test_a_clock_with_all_its_notices_leaves_the_candidates_until_a_new_one(
        store: Store) -> None:
    ticket = add_ticket(store, due_bd=timedelta(hours=1))
    store.update_ticket(ticket, {"notices_done_for": iso(T0)})
    assert store.clock_candidates(T0 + timedelta(days=9)) == []
    assert next_due(store, ticket) == iso(T0 + timedelta(hours=1)), "still overdue for people"
    store.update_ticket(ticket, {"awaiting_since": iso(T0 + timedelta(days=2))})
    assert [r["id"] for r in store.clock_candidates(T0 + timedelta(days=9))] == [ticket]


def notice(ticket_id: int, kind: str, clock_start: datetime) -> dict[str, object]:
    return {"ticket_id": ticket_id, "kind": kind, "deadline": "business_day",
            "due_at": iso(clock_start + timedelta(hours=8)), "clock_start": iso(clock_start),
            "at": iso(T0)}


def test_a_notice_is_recorded_once_per_clock(store: Store) -> None:
    ticket = add_ticket(store)
    assert store.record_notice(notice(ticket, "warning", T0)) is not None
    assert store.record_notice(notice(ticket, "warning", T0)) is None
    assert store.record_notice(notice(ticket, "breach", T0)) is not None
    [row] = store.clock_candidates(T0 + timedelta(days=2))
    assert set(row["sent"].split()) == {"warning:business_day", "breach:business_day"}

    new_clock = T0 + timedelta(days=3)  # the customer wrote again after a human answer
    store.update_ticket(ticket, {"awaiting_since": iso(new_clock),
                                 "due_business_day": iso(new_clock + timedelta(hours=8))})
    [row] = store.clock_candidates(new_clock + timedelta(days=2))
    assert row["sent"] is None and row["clock_start"] == iso(new_clock)
    assert store.record_notice(notice(ticket, "warning", new_clock)) is not None
    assert len(store.notices(ticket)) == 3


def queue(store: Store, ticket_id: int, kind: str, recipient: str) -> None:
    store.queue_outgoing({"ticket_id": ticket_id, "kind": kind, "recipient": recipient,
                          "message_id": f"<{kind}-{recipient}@x>", "raw": b"",
                          "created_at": iso(T0)})


def test_team_notices_do_not_count_as_auto_replies_nor_join_threads(store: Store) -> None:
    ticket = add_ticket(store)
    for kind in ("acknowledgement", "courtesy", "warning", "escalation"):
        queue(store, ticket, kind, "c@example.test")
    assert store.auto_replies_since("c@example.test", T0 - timedelta(hours=1)) == 2
    assert store.ticket_for_message_ids(["<warning-c@example.test@x>"]) is None
    assert store.ticket_for_message_ids(["<courtesy-c@example.test@x>"]).id == ticket  # type: ignore[union-attr]


def test_retargeting_moves_leaves_flag_copy_and_automated_mail_alone(store: Store) -> None:
    ticket = add_ticket(store)
    row = store.insert_message({"ticket_id": ticket, "direction": "in", "folder": "INBOX",
                                "uidvalidity": 1, "uid": 1, "message_id": "<m@x>"})
    for kind, target in (("move", "Support/Answered"), ("copy", "Support/Overdue")):
        store.queue_action({"message_row": row, "folder": "INBOX", "uidvalidity": 1, "uid": 1,
                            "kind": kind, "target": target, "created_at": iso(T0)})
    robot = store.insert_message({"ticket_id": ticket, "direction": "in", "folder": "INBOX",
                                  "uidvalidity": 1, "uid": 2, "message_id": "<ooo@x>"})
    store.queue_action({"message_row": robot, "folder": "INBOX", "uidvalidity": 1, "uid": 2,
                        "kind": "move", "target": "Support/Automated", "created_at": iso(T0)})
    store.retarget_actions(ticket, "Support/Answered", "Support/Queue")
    assert [(a["kind"], a["target"]) for a in store.pending_actions()] == [
        ("move", "Support/Queue"), ("copy", "Support/Overdue"), ("move", "Support/Automated")]
    assert store.message_location(row) == ("INBOX", "<m@x>")
    [move, _, _] = store.pending_actions()
    store.finish_actions([move["id"]], T0)
    assert store.message_location(row) == ("Support/Queue", "<m@x>")


BASE = {"imap": {"host": "h", "username": "u", "password": "p"},
        "smtp": {"host": "h", "username": "u", "password": "p", "from": "S <s@example.com>"},
        "faq": {"path": "faq.toml"}}


def test_notify_config_defaults_and_values() -> None:
    default = parse_config(BASE, Path("/tmp"))
    assert default.notify.warn_before == timedelta(hours=2)
    assert default.notify.sweep_interval_s == 60 and not default.notify.courtesy_on_breach
    assert default.notify.addresses() == frozenset() and default.folders.overdue == \
        "Support/Overdue"
    config = parse_config({**BASE, "folders": {"overdue": "Late"}, "notify": {
        "warn_before": "90m", "default_address": "Leads@example.com",
        "team_addresses": {"orders": ["o1@example.com", "o2@example.com"]},
        "escalation_address": ["boss@example.com"], "courtesy_on_breach": True,
        "sweep_interval_s": 30}}, Path("/tmp"))
    n = config.notify
    assert n.warn_before == timedelta(minutes=90) and n.courtesy_on_breach
    assert n.team_addresses == {"orders": ("o1@example.com", "o2@example.com")}
    assert n.default_address == ("Leads@example.com",)
    assert n.addresses() == {"leads@example.com", "o1@example.com", "o2@example.com",
                             "boss@example.com"}
    assert config.folders.overdue == "Late"
    assert default.notify.max_age == timedelta(days=7)
    assert parse_config({**BASE, "notify": {"max_age": "36h"}}, Path("/tmp")).notify.max_age == \
        timedelta(hours=36)


@pytest.mark.parametrize("notify, key", [
    ({"warn_before": "2 hours"}, "notify.warn_before"),
    ({"warn_before": "0m"}, "notify.warn_before"),
    ({"warn_before": 2}, "notify.warn_before"),
    ({"default_address": "nobody"}, "notify.default_address"),
    ({"team_addresses": {"orders": ["ok@example.com", "bad"]}}, "notify.team_addresses.orders[1]"),
    ({"escalation_address": "a@example.com\r\nBcc: x@y"}, "notify.escalation_address"),
    ({"sweep_interval_s": 0}, "notify.sweep_interval_s"),
    ({"courtesy": True}, "notify.courtesy"),
    ({"max_age": "a week"}, "notify.max_age"),
    ({"max_age": "0d"}, "notify.max_age"),
    ({"max_age": 7}, "notify.max_age"),
])
def test_bad_notify_config_names_the_key(notify: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({**BASE, "notify": notify}, Path("/tmp"))
    assert error.value.key == key
