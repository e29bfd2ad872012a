"""The long-running daemon: apscheduler jobs on one worker thread.

The IMAP watch is a job that handles new mail, looks for agents' replies, then waits on the
inbox (IDLE where the server has it and ``imap.idle`` is on, otherwise a plain sleep of
``imap.poll_interval_s``) and schedules its own next run. One worker thread runs all jobs in
turn, so the IMAP connection and the SQLite store are never used by two threads at once.

The IMAP and the SMTP server go away independently (``inboxd.availability``): each outage is
logged once when it starts and once when it ends, and the server is tried again after 1 s,
doubling to 10 s, so a server that is back is noticed within 15 s however long it was gone.
While SMTP is down, mail is still read, ticketed and filed; the replies wait in the outbox
(and the message each answers waits in the inbox), and the watch wakes up for each new try.
While IMAP is down, what the outbox holds (replies, deadline notices) is still sent. A
refused IMAP login is an error, tried again after 1 min, doubling to 30 min. Other errors
back off 1 s doubling to 5 min. Nothing is lost meanwhile: the store holds every step to do.

The deadline sweep (``inboxd.steps.sweep``) is an interval job every
``notify.sweep_interval_s`` on the same worker, so it runs between two watch cycles. So does the
retrain job (``inboxd.steps.learn.retrain``, every ``faq.retrain_interval_h`` hours), and the
weekly report mail (``inboxd.steps.report``, at ``report.weekday`` and ``report.time``; a
sweep queues the one that was due while inboxd was not running).

Before each pass over the inbox, and after a retrain, ``inboxd.reload.Reloader`` takes up a model
that ``inboxd train`` or the retrain wrote and a changed FAQ file or template, between two
messages and without a restart.

SIGHUP reloads the configuration file with the FAQ, templates and model it names
(``inboxd.reload.reload_config``), as a job on the same worker: the pass over the inbox under
way finishes with the settings it started with, the next uses the new ones. A configuration or
model that is not valid is logged, naming its key, and the one in use goes on.

SIGTERM or SIGINT stops it cleanly within about a second: the current message is finished, the
IDLE is ended and the connection logged out.

Started by systemd with ``Type=notify`` it says when it is ready, reloading and stopping
(``inboxd.sd_notify``). With ``[metrics] listen`` it serves Prometheus metrics
(``inboxd.metrics``) on a thread of its own.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
from datetime import datetime, timedelta, timezone
from types import FrameType
from wsgiref.simple_server import WSGIServer

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from inboxd import metrics
from inboxd.steps import alarm
from inboxd.steps.sent_scan import AgentWatch
from inboxd.availability import Availability
from inboxd.errors import InboxdError, MailboxAuthFailed, MailboxUnavailable
from inboxd.steps.learn import retrain
from inboxd.steps.outbox import flush, send_pending
from inboxd.steps.report import queue_missed_report, queue_weekly_report
from inboxd.steps.inbox import process_inbox
from inboxd.reload import Reloader, log_state, reload_config
from inboxd.sd_notify import notify
from inboxd.runtime import Runtime
from inboxd.steps.sweep import sweep
from inboxd.store_figures import MAILBOX_CHECKED

log = logging.getLogger(__name__)

BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 300.0
LOGIN_POLL_S = 5.0  # while a login is refused: how often to look for a new one in the store


class Daemon:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.stop = threading.Event()
        self.wake = threading.Event()  # ends the wait for mail: set on a stop or a reload
        self.agents = AgentWatch()
        self.reloader = Reloader(rt)
        self.backoff_s = BACKOFF_START_S
        self.connected = False
        self.imap_ok_at = rt.clock()  # the last mailbox check that worked (or the start)
        self.login_generation = self._stored_login()
        hint = "run `inboxd login` (the new token is taken up at once)" if rt.config.imap.oauth2 \
            else "check imap.username and its password"
        self.imap = Availability(f"IMAP {rt.mailbox.address}", "new mail is read when it is back",
                                 refused_hint=hint)
        self.scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=timezone.utc)

    def run(self) -> None:
        endpoint = self._serve_metrics()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_hangup)
        self._schedule_watch(datetime.now(timezone.utc))
        self._schedule_sweep()
        self._schedule_retrain()
        self._schedule_report()
        log.info("inboxd watching %s on %s", self.rt.config.imap.inbox, self.rt.config.imap.host)
        log_state(self.rt)
        notify("READY=1", f"STATUS=watching {self.rt.config.imap.inbox}")
        try:
            self.scheduler.start()
        finally:
            if endpoint is not None:
                endpoint.shutdown()
            self.rt.close()
        log.info("inboxd stopped")

    def _serve_metrics(self) -> WSGIServer | None:
        settings = self.rt.config.metrics
        if settings is None:
            return None
        collector = metrics.StoreCollector(self.rt.config.store_path, self.rt.clock, self.servers)
        server, _thread = metrics.serve(settings, collector)
        return server

    def servers(self) -> dict[str, metrics.ServerState]:
        """The IMAP and SMTP servers as this daemon sees them, for the metrics."""
        smtp = self.rt.smtp_state
        return {"imap": metrics.ServerState(self.connected, self.imap.returns),
                "smtp": metrics.ServerState(not smtp.down, smtp.returns)}

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("stopping (%s)", signal.Signals(signum).name)
        notify("STOPPING=1")
        self.stop.set()
        self.wake.set()
        self.scheduler.shutdown(wait=True)

    def _on_hangup(self, signum: int, frame: FrameType | None) -> None:
        """SIGHUP: reload on the worker once the current pass is done; end the wait for it."""
        log.info("reloading (SIGHUP)")
        notify("RELOADING=1")
        self.wake.set()
        # not from the handler itself: it may have interrupted the scheduler's own bookkeeping
        threading.Thread(target=self.scheduler.add_job, args=(self.reload_cycle,),
                         kwargs={"trigger": "date", "id": "reload", "replace_existing": True},
                         name="inboxd-reload", daemon=True).start()

    def reload_cycle(self) -> None:
        """Take up the configuration file as it is now, or keep the one in use."""
        rt = self.rt
        old_imap, old_sweep_s = rt.mailbox, rt.config.notify.sweep_interval_s
        old_retrain_h = rt.config.faq.retrain_interval_h
        if reload_config(rt):
            self.reloader.poll(everything=True)
            if rt.mailbox is not old_imap:
                self.connected = False  # the next watch connects with the new settings
            if rt.config.notify.sweep_interval_s != old_sweep_s:
                self._schedule_sweep()
            if rt.config.faq.retrain_interval_h != old_retrain_h:
                self._schedule_retrain()
        notify("READY=1")

    def _schedule_watch(self, at: datetime) -> None:
        if not self.stop.is_set():
            # a cycle schedules the next one as its last step, while it still counts as
            # running: with one instance allowed, a next one due at once could be dropped
            # ("maximum number of running instances") and the watch would end; one worker
            # runs the two one after the other
            self.scheduler.add_job(self.watch_cycle, trigger="date", run_date=at, id="watch",
                                   replace_existing=True, max_instances=2)

    def _schedule_sweep(self) -> None:
        self.scheduler.add_job(self.sweep_cycle, trigger="interval", id="sweep",
                               seconds=self.rt.config.notify.sweep_interval_s,
                               replace_existing=True)

    def _schedule_retrain(self) -> None:
        hours = self.rt.config.faq.retrain_interval_h
        if hours > 0:
            self.scheduler.add_job(self.retrain_cycle, trigger="interval", id="retrain",
                                   hours=hours, replace_existing=True)
        elif self.scheduler.get_job("retrain"):
            self.scheduler.remove_job("retrain")

    def _schedule_report(self) -> None:
        report = self.rt.config.report
        if report.to:
            self.scheduler.add_job(self.report_cycle, trigger="cron", id="report",
                                   day_of_week=report.weekday, hour=report.hour,
                                   minute=report.minute, timezone=self.rt.tz)

    def report_cycle(self) -> None:
        """Journal the weekly report mail (once per week), then send it as the sweep sends."""
        try:
            queue_weekly_report(self.rt)
        except InboxdError as exc:
            log.warning("weekly report: %s; the next sweep retries", exc)
        self.sweep_cycle()

    def retrain_cycle(self) -> None:
        """Retrain on examples learned from agents, when there are new ones, and switch to the
        new model."""
        self.reloader.poll()  # a model `inboxd train` wrote may hold the new examples already
        try:
            retrain(self.rt)
        except (InboxdError, OSError, ValueError) as exc:
            log.warning("retraining failed: %s; the current model stays", exc)
        self.reloader.poll()

    def sweep_cycle(self) -> None:
        """Journal due deadline notices (and a weekly report missed while inboxd was not
        running); send them now if connected, else the watch will."""
        self._alarm()
        try:
            queue_missed_report(self.rt)
        except InboxdError as exc:
            log.warning("weekly report: %s; the next sweep retries", exc)
        try:
            sweep(self.rt)
            if self.connected:
                flush(self.rt)
            else:
                send_pending(self.rt)  # needs no IMAP; the rest waits for the watch
        except InboxdError as exc:
            log.warning("deadline sweep: %s; the next run retries", exc)

    def watch_cycle(self) -> None:
        """Handle what is new, then wait for the inbox to change; always schedules the next.
        While the IMAP server is away it also wakes up for each try of the SMTP server."""
        self._take_up_new_login()
        if not self.connected and not self.imap.may_try():
            self._schedule_watch(self._while_imap_away())
            return
        next_at = datetime.now(timezone.utc)
        try:
            self._cycle()
            self.backoff_s = BACKOFF_START_S
        except MailboxUnavailable as exc:
            next_at = self._imap_lost(exc)
        except MailboxAuthFailed as exc:
            next_at = self._imap_lost(exc, refused=True)
        except InboxdError as exc:
            next_at = self._back_off(f"error: {exc}")
        except Exception:  # a defect must not end the watch: log it, back off, go on
            log.exception("unexpected error in the mailbox watch")
            next_at = self._back_off("unexpected error")
        self._schedule_watch(next_at)

    def _cycle(self) -> None:
        rt = self.rt
        self.wake.clear()
        if self.stop.is_set():
            self.wake.set()  # a stop that came just now still ends the wait
        self.reloader.poll()
        if not self.connected:
            rt.mailbox.connect()
            self.connected = True
            log.info("connected to %s:%d as %s", rt.config.imap.host, rt.config.imap.port,
                     rt.config.imap.username)
            self.imap.ok()
        flush(rt)
        for outcome in process_inbox(rt):
            match = outcome.triage.match
            metrics.handled(type(outcome.triage.decision).__name__,
                            match.confidence if match else None)
        self.imap_ok_at = rt.clock()
        rt.store.set_stamp(MAILBOX_CHECKED, self.imap_ok_at)  # for `inboxd health`
        alarm.imap_ok(rt)
        self.agents.scan(rt)
        self._alarm()
        interval_s = self._wait_s()
        if self._mail_waiting():
            return  # arrived while the other folders were read: IDLE would not report it
        log.debug("waiting up to %.0f s for new mail", interval_s)
        if rt.config.imap.idle and rt.mailbox.has_idle:
            changed = rt.mailbox.wait_for_change(rt.config.imap.inbox, interval_s, self.wake)
        else:
            changed = self.wake.wait(interval_s)
        log.debug("the wait for new mail ended (%s)", "a change" if changed else
                  "woken" if self.wake.is_set() else "time")

    def _mail_waiting(self) -> bool:
        inbox = self.rt.config.imap.inbox
        state = self.rt.mailbox.select(inbox)
        checkpoint = self.rt.store.checkpoint(inbox)
        return checkpoint is not None and checkpoint.uidvalidity == state.uidvalidity and \
            state.uidnext - 1 > checkpoint.last_uid

    def _wait_s(self) -> float:
        """The poll interval, or less when the SMTP server's next try comes sooner (or a new
        login may have ended its refusal)."""
        return min(self.rt.config.imap.poll_interval_s, self._smtp_wait_s(),
                   self._smtp_refused_poll_s())

    def _smtp_wait_s(self) -> float:
        """While mail waits for an SMTP server that is down: the time to its next try."""
        smtp = self.rt.smtp_state
        if smtp.down and self.rt.store.outbox_count("pending"):
            return max(smtp.seconds_to_try(), 0.1)
        return math.inf

    def _imap_lost(self, exc: InboxdError, refused: bool = False) -> datetime:
        """The IMAP server is gone (or refused the login): say so once, and go on sending."""
        self.rt.mailbox.close()
        self.connected = False
        self.imap.failed(exc, refused=refused)
        alarm.imap_failed(self.rt, exc, refused)
        return self._while_imap_away()

    def _while_imap_away(self) -> datetime:
        """Send what the outbox holds (that needs no IMAP); returns when to wake up next: for
        the next try of the IMAP server, or of the SMTP server when that comes first."""
        try:
            send_pending(self.rt)
        except InboxdError as exc:
            log.warning("sending while IMAP is unavailable: %s", exc)
        self._alarm()
        wait_s = min(self.imap.seconds_to_try(), self._smtp_wait_s(), self._alarm_wait_s(),
                     self._login_poll_s())
        return datetime.now(timezone.utc) + timedelta(seconds=wait_s)

    def _stored_login(self) -> int | None:
        tokens = self.rt.tokens
        row = tokens.stored() if tokens is not None else None
        return row.generation if row is not None else None

    def _take_up_new_login(self) -> None:
        """After `inboxd login` wrote a new token, a refused server is tried again at once."""
        if self.rt.tokens is None:
            return
        generation = self._stored_login()
        if generation != self.login_generation:
            self.login_generation = generation
            self.imap.retry_now()
            self.rt.smtp_state.retry_now()

    def _login_poll_s(self) -> float:
        refused = self.imap.outage is not None and self.imap.outage.refused
        return LOGIN_POLL_S if refused and self.rt.tokens is not None else math.inf

    def _smtp_refused_poll_s(self) -> float:
        outage = self.rt.smtp_state.outage
        return LOGIN_POLL_S if outage is not None and outage.refused and \
            self.rt.tokens is not None else math.inf

    def _alarm(self) -> None:
        """Raise, repeat or end the alarms the state calls for; their trouble stops nothing."""
        error = str(self.imap.error) if self.imap.error else ""
        try:
            alarm.watch(self.rt, self.imap_ok_at, self.connected, error)
        except InboxdError as exc:
            log.warning("alarm: %s; tried again on the next cycle", exc)

    def _alarm_wait_s(self) -> float:
        """While IMAP is away: the time until ``alert.after`` is reached."""
        due_s = (self.imap_ok_at + self.rt.config.alert.after - self.rt.clock()).total_seconds()
        return max(due_s, 0.5) if due_s > 0 else math.inf

    def _back_off(self, reason: str) -> datetime:
        log.warning("%s; retrying in %.0f s", reason, self.backoff_s)
        self.rt.mailbox.close()
        self.connected = False
        at = datetime.now(timezone.utc) + timedelta(seconds=self.backoff_s)
        self.backoff_s = min(self.backoff_s * 2, BACKOFF_MAX_S)
        return at
