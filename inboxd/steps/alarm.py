"""Tell the operator when mail stops, and when it starts again (see ``inboxd.core.alarm``).

The daemon reports what it sees: ``imap_failed`` / ``imap_ok`` after each mailbox check, and
``watch`` looks at the SMTP server's state and at how long no mailbox check has worked, keeps
the incidents in the store and sends the alarms that are due. Each alarm is journalled in the
store before it goes out: by mail through the outbox (sent at once, needing no IMAP), or as a
message APPENDed to ``alert.folder`` (searched for by its Message-ID before a second try, so
it is there once).
"""

from __future__ import annotations

import logging
from datetime import datetime
from email.utils import make_msgid

from inboxd.core.alarm import alarm_text, alarms_due, route, silent_too_long
from inboxd.core.notice_mail import build_alarm
from inboxd.core.render import sender_domain
from inboxd.errors import MailboxError, MailboxUnavailable
from inboxd.runtime import Runtime
from inboxd.steps.outbox import send_pending
from inboxd.store import iso
from inboxd.store_oauth import (Incident, incidents_to_alert, journal_alert, mark_alert,
                                open_incident, pending_appends, resolve_incident)

log = logging.getLogger(__name__)


def imap_failed(rt: Runtime, exc: Exception, refused: bool) -> None:
    """A refused login is an incident at once; an unreachable server after ``alert.after``."""
    if refused:
        open_incident(rt.store, "imap", "login-refused", str(exc), rt.clock())


def imap_ok(rt: Runtime) -> None:
    if resolve_incident(rt.store, "imap", rt.clock()) is not None:
        log.info("alarm: the mailbox check works again")


def watch(rt: Runtime, imap_ok_at: datetime, imap_connected: bool, imap_error: str = "") -> None:
    """Open or close the incidents the state shows, then send the alarms due."""
    now, smtp = rt.clock(), rt.smtp_state
    if smtp.down and smtp.outage is not None and smtp.outage.refused:
        open_incident(rt.store, "smtp", "login-refused", str(smtp.error), now)
    elif not smtp.down:
        resolve_incident(rt.store, "smtp", now)
    if not imap_connected and silent_too_long(imap_ok_at, now, rt.config.alert.after):
        open_incident(rt.store, "imap", "no-check", imap_error or "the server is unreachable",
                      now)
    _journal_due(rt, now)
    send_pending(rt)
    if imap_connected:
        append_pending(rt)


def _journal_due(rt: Runtime, now: datetime) -> None:
    incidents = {i.id: i for i in incidents_to_alert(rt.store)}
    settings = rt.config.alert
    smtp_refused = any(i.channel == "smtp" and i.resolved_at is None for i in incidents.values())
    for due in alarms_due(list(incidents.values()), now, settings.repeat_every):
        incident = incidents[due.incident_id]
        way = route(incident.channel, due.kind, smtp_refused, settings.to)
        _journal(rt, incident, due.kind, way, now)
        where = rt.config.alert.folder if way == "folder" else ", ".join(settings.to)
        state = "works again" if due.kind == "recovered" else "stopped"
        log.warning("alarm (%s): %s %s; the operator is told in %s", due.kind,
                    incident.channel.upper(), state, where)


def _journal(rt: Runtime, incident: Incident, kind: str, way: str, now: datetime) -> None:
    sender = rt.config.smtp.sender
    recipients = rt.config.alert.to or (rt.config.support_address,)
    subject, body = alarm_text(incident, kind, now.astimezone(rt.tz))
    message_id = make_msgid(domain=sender_domain(sender))
    raw = build_alarm(sender, recipients, subject, message_id, now, body).as_bytes()
    outbox = {"ticket_id": None, "kind": "alert", "message_id": message_id,
              "recipient": ", ".join(recipients), "raw": raw, "created_at": iso(now)} \
        if way == "mail" else None
    journal_alert(rt.store, incident, kind, way, message_id, raw, outbox, now)


def append_pending(rt: Runtime) -> None:
    """APPEND the alarms for the folder; one that may be there already is looked for first."""
    folder = rt.config.alert.folder
    for alert in pending_appends(rt.store):
        try:
            present = alert["state"] == "appending" and \
                rt.mailbox.folder_exists(folder) and \
                rt.mailbox.find_by_message_id(folder, alert["message_id"])
            if not present:
                mark_alert(rt.store, alert["id"], "appending", rt.clock())
                rt.mailbox.append(folder, alert["raw"], flags=("\\Flagged",))
        except MailboxUnavailable:
            raise
        except MailboxError as exc:
            log.error("alarm: could not store it in %s: %s", folder, exc)
            return
        mark_alert(rt.store, alert["id"], "appended", rt.clock())
