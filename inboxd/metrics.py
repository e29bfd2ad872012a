"""The Prometheus endpoint (``[metrics] listen``): what inboxd did and what it holds.

Two kinds of figures:

- process counters and histograms, counted by this process since it started (messages handled
  by decision, mails sent by kind, refused and uncertain sends, arrival -> reply latency,
  classifier confidence); the daemon and the outbox report them with the functions below;
- figures of the store, read at each scrape by :class:`StoreCollector` through a read-only
  connection of its own, so they survive restarts: tickets by state, overdue tickets, the outbox
  by state and kind, first-response times, the last successful mailbox check; and the IMAP and
  SMTP servers' state as the daemon sees it.

The endpoint is ``prometheus_client``'s HTTP server on a thread of its own (:func:`serve`).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.metrics_core import Metric

from inboxd.config import MetricsSettings
from inboxd.errors import ConfigError, StoreError
from inboxd.store_figures import (MAILBOX_CHECKED, first_response_buckets, open_incidents,
                                  open_read_only, outbox_by_state, overdue_tickets, stamped, tickets_by_state)

log = logging.getLogger(__name__)

MINUTE_S, HOUR_S = 60.0, 3600.0
LATENCY_BUCKETS_S = (1, 5, 15, 30, 60, 2 * MINUTE_S, 5 * MINUTE_S, 15 * MINUTE_S, HOUR_S,
                     4 * HOUR_S, 24 * HOUR_S)
RESPONSE_BUCKETS_S = (15 * MINUTE_S, 30 * MINUTE_S, HOUR_S, 2 * HOUR_S, 4 * HOUR_S, 8 * HOUR_S,
                      24 * HOUR_S, 48 * HOUR_S, 72 * HOUR_S, 7 * 24 * HOUR_S)
CONFIDENCE_BUCKETS = tuple(i / 10 for i in range(1, 11))

MESSAGES = Counter("inboxd_messages_handled", "Incoming messages handled, by decision",
                   ["decision"], registry=None)
SENT = Counter("inboxd_mails_sent", "Mails sent, by kind (answer, acknowledgement, ...)",
               ["kind"], registry=None)
REFUSED = Counter("inboxd_send_failures", "Mails the SMTP server refused, by kind", ["kind"],
                  registry=None)
UNCERTAIN = Counter("inboxd_sends_uncertain", "Mails that may or may not have gone out (never "
                    "sent again; their ticket goes to a person), by kind", ["kind"],
                    registry=None)
LATENCY = Histogram("inboxd_reply_latency_seconds", "From a message's arrival to inboxd's mail "
                    "to the customer being sent, by kind", ["kind"], buckets=LATENCY_BUCKETS_S,
                    registry=None)
CONFIDENCE = Histogram("inboxd_classifier_confidence", "The classifier's confidence in the "
                       "closest FAQ, for each question it read", buckets=CONFIDENCE_BUCKETS,
                       registry=None)
PROCESS_METRICS: tuple[Collector, ...] = (MESSAGES, SENT, REFUSED, UNCERTAIN, LATENCY, CONFIDENCE)


def handled(decision: str, confidence: float | None) -> None:
    """One incoming message was decided about (``AutoAnswer``, ``Acknowledge``, ...)."""
    MESSAGES.labels(decision).inc()
    if confidence is not None:
        CONFIDENCE.observe(confidence)


def sent(kind: str, arrival: datetime | None, at: datetime) -> None:
    """A mail went out; ``arrival``: when the message it answers arrived, if it answers one."""
    SENT.labels(kind).inc()
    if arrival is not None:
        LATENCY.labels(kind).observe(max((at - arrival).total_seconds(), 0.0))


def refused(kind: str) -> None:
    REFUSED.labels(kind).inc()


def uncertain(kind: str) -> None:
    UNCERTAIN.labels(kind).inc()


@dataclass(frozen=True)
class ServerState:
    up: bool
    returns: int  # how often it came back after an outage


class StoreCollector:
    """The store's figures and the servers' state, read at each scrape."""

    def __init__(self, store_path: Path, clock: Callable[[], datetime],
                 servers: Callable[[], dict[str, ServerState]]) -> None:
        self.store_path, self.clock, self.servers = store_path, clock, servers

    def collect(self) -> Iterator[Metric]:
        yield from self._servers()
        try:
            conn = open_read_only(self.store_path)
        except StoreError as exc:
            log.warning("metrics: %s", exc)
            return
        try:
            figures = list(self._store(conn))
        except StoreError as exc:
            log.warning("metrics: %s", exc)
            figures = []
        finally:
            conn.close()
        yield from figures

    def _servers(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("inboxd_server_up", "1 while inboxd reaches the server (imap, "
                               "smtp), else 0", labels=["server"])
        returns = CounterMetricFamily("inboxd_reconnects", "How often the server came back "
                                      "after an outage", labels=["server"])
        for name, state in self.servers().items():
            up.add_metric([name], 1.0 if state.up else 0.0)
            returns.add_metric([name], state.returns)
        yield up
        yield returns

    def _store(self, conn: sqlite3.Connection) -> Iterator[Metric]:
        tickets = GaugeMetricFamily("inboxd_tickets", "Tickets by state", labels=["state"])
        for state, count in sorted(tickets_by_state(conn).items()):
            tickets.add_metric([state], count)
        yield tickets
        yield GaugeMetricFamily("inboxd_tickets_overdue", "Open tickets past a deadline",
                                value=overdue_tickets(conn, self.clock()))
        outbox = GaugeMetricFamily("inboxd_outbox_mails", "Outgoing mails by state (pending: "
                                   "waiting to be sent) and kind", labels=["state", "kind"])
        for (state, kind), count in sorted(outbox_by_state(conn).items()):
            outbox.add_metric([state, kind], count)
        yield outbox
        yield first_response_histogram(conn)
        alarms = GaugeMetricFamily("inboxd_alarms_open", "Incidents the operator is alerted "
                                   "about and that last: a refused login (login-refused), no "
                                   "mailbox check for alert.after (no-check)",
                                   labels=["server", "reason"])
        open_now: dict[tuple[str, str], int] = {}
        for channel, reason, _, _ in open_incidents(conn):
            open_now[channel, reason] = open_now.get((channel, reason), 0) + 1
        for (channel, reason), count in sorted(open_now.items()):
            alarms.add_metric([channel, reason], count)
        yield alarms
        checked = stamped(conn, MAILBOX_CHECKED)
        if checked is not None:
            yield GaugeMetricFamily("inboxd_last_mailbox_check_timestamp_seconds",
                                    "When the daemon last checked the mailbox (Unix time)",
                                    value=checked.timestamp())


def first_response_histogram(conn: sqlite3.Connection) -> HistogramMetricFamily:
    """Tickets' first-response times (wall clock), by who responded (agent, auto)."""
    family = HistogramMetricFamily("inboxd_first_response_seconds", "Time from a ticket's "
                                   "arrival to its first response, by agent or auto",
                                   labels=["by"])
    for by, (within, count, total_s) in sorted(first_response_buckets(
            conn, RESPONSE_BUCKETS_S).items()):
        buckets = [(str(le), n) for le, n in zip(RESPONSE_BUCKETS_S, within)]
        family.add_metric([by], buckets + [("+Inf", count)], total_s)
    return family


def registry(collector: StoreCollector) -> CollectorRegistry:
    """The process's counters and the store's figures, in a registry of their own."""
    reg = CollectorRegistry()
    for metric in (*PROCESS_METRICS, collector):
        reg.register(metric)
    return reg


def serve(settings: MetricsSettings, collector: StoreCollector) -> tuple[WSGIServer, Thread]:
    """Start the endpoint; stop it with ``server.shutdown()``. A port that cannot be listened
    on is a ConfigError naming ``metrics.listen``."""
    try:
        server, thread = start_http_server(settings.port, settings.host, registry(collector))
    except OSError as exc:
        raise ConfigError("metrics.listen",
                          f"cannot listen on {settings.listen}: {exc.strerror or exc}") from None
    log.info("metrics at http://%s/metrics", settings.listen)
    return server, thread
