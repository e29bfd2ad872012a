"""The metrics and log settings, the JSON log lines, and the metrics endpoint's own parts: the
store's figures read at scrape time from a real store, a port that is taken."""

from __future__ import annotations

import json
import logging
import socket
import sys
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_config import GOOD, write

from inboxd import metrics
from inboxd.config import load_config
from inboxd.config.service import MetricsSettings
from inboxd.errors import ConfigError
from inboxd.logs import JsonFormatter
from inboxd.store import Store, iso
from inboxd.store_oauth import open_incident

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("listen", "host", "port"), [
    ("127.0.0.1:9464", "127.0.0.1", 9464), ("[::1]:9464", "::1", 9464),
    (":9100", "0.0.0.0", 9100), ("localhost:1", "localhost", 1)])
def test_metrics_listen(tmp_path: Path, listen: str, host: str, port: int) -> None:
    config = load_config(write(tmp_path, GOOD + f'[metrics]\nlisten = "{listen}"\n'))
    assert config.metrics == MetricsSettings(host, port)


def test_metrics_are_off_without_the_table(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.metrics is None and config.log.format == "text" and config.log.level is None


@pytest.mark.parametrize(("table", "key"), [
    ('[metrics]\nlisten = "9464"\n', "metrics.listen"),
    ('[metrics]\nlisten = "127.0.0.1:99999"\n', "metrics.listen"),
    ('[metrics]\nlisten = 9464\n', "metrics.listen"),
    ('[metrics]\nlisen = "127.0.0.1:9464"\n', "metrics.lisen"),
    ('[log]\nformat = "xml"\n', "log.format"),
    ('[log]\nlevel = "loud"\n', "log.level")])
def test_bad_metrics_or_log_key_is_named(tmp_path: Path, table: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD + table))
    assert info.value.key == key


def record(message: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("inboxd.steps.inbox", logging.INFO, __file__, 1, message, (), None)
    for name, value in extra.items():
        setattr(rec, name, value)
    return rec


def test_json_line_has_the_fields_and_only_the_known_extras() -> None:
    line = json.loads(JsonFormatter().format(record("uid 7: Acknowledge", uid=7, ticket=3,
                                                    decision="Acknowledge", other="x")))
    assert line["level"] == "info" and line["logger"] == "inboxd.steps.inbox"
    assert line["message"] == "uid 7: Acknowledge"
    assert (line["uid"], line["ticket"], line["decision"]) == (7, 3, "Acknowledge")
    assert "other" not in line
    assert datetime.fromisoformat(line["time"]).tzinfo is not None


def test_json_line_of_an_exception_is_one_line() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        rec = record("failed")
        rec.exc_info = sys.exc_info()
    text = JsonFormatter().format(rec)
    assert "\n" not in text and "ValueError: bad" in json.loads(text)["exception"]


def filled_store(path: Path) -> None:
    store = Store(path)
    rows = [("open", NOW - timedelta(hours=30), None, None),
            ("open", NOW - timedelta(hours=1), None, None),
            ("answered", NOW - timedelta(hours=5), "agent", 90.0),
            ("answered", NOW - timedelta(hours=2), "auto", 0.5)]
    for state, created, by, minutes in rows:
        store.insert_ticket({"customer": "c@x.test", "state": state, "created_at": iso(created),
                             "due_24h": iso(created + timedelta(hours=24)),
                             "due_business_day": iso(created + timedelta(hours=26)),
                             "first_response_by": by, "first_response_wall_min": minutes})
    store.queue_outgoing({"kind": "acknowledgement", "message_id": "<a@x>", "recipient": "c@x",
                          "raw": b"Subject: a\r\n\r\na\r\n", "created_at": iso(NOW)})
    store.set_stamp("mailbox_checked", NOW - timedelta(seconds=5))
    open_incident(store, "imap", "login-refused", "AUTHENTICATIONFAILED", NOW - timedelta(hours=1))
    store.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_endpoint_serves_the_store_figures_at_scrape_time(tmp_path: Path) -> None:
    filled_store(tmp_path / "inboxd.sqlite3")
    collector = metrics.StoreCollector(tmp_path / "inboxd.sqlite3", lambda: NOW,
                                       lambda: {"imap": metrics.ServerState(False, 2)})
    server, thread = metrics.serve(MetricsSettings("127.0.0.1", free_port()), collector)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        thread.join(timeout=5)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("inboxd_tickets", (("state", "open"),))] == 2
    assert samples[("inboxd_tickets_overdue", ())] == 1
    assert samples[("inboxd_outbox_mails", (("kind", "acknowledgement"),
                                            ("state", "pending")))] == 1
    assert samples[("inboxd_first_response_seconds_bucket", (("by", "agent"), ("le", "3600.0")))] == 0
    assert samples[("inboxd_first_response_seconds_bucket", (("by", "agent"), ("le", "7200.0")))] == 1
    assert samples[("inboxd_first_response_seconds_sum", (("by", "agent"),))] == 5400
    assert samples[("inboxd_first_response_seconds_count", (("by", "auto"),))] == 1
    assert samples[("inboxd_last_mailbox_check_timestamp_seconds", ())] == \
        (NOW - timedelta(seconds=5)).timestamp()
    assert samples[("inboxd_alarms_open", (("reason", "login-refused"), ("server", "imap")))] == 1
    assert samples[("inboxd_server_up", (("server", "imap"),))] == 0
    assert samples[("inboxd_reconnects_total", (("server", "imap"),))] == 2


def test_a_taken_port_names_the_key(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        collector = metrics.StoreCollector(tmp_path / "none.sqlite3", lambda: NOW, dict)
        with pytest.raises(ConfigError) as info:
            metrics.serve(MetricsSettings("127.0.0.1", port), collector)
    assert info.value.key == "metrics.listen"
