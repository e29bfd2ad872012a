"""The alarm when mail stops: which alarms are due, how each goes out, and what it says.

Pure: handed the incidents (see ``inboxd.store_oauth``) and the time. An incident is one time a
channel stopped: "imap" (a refused login, or no mailbox check has worked for ``alert.after``)
or "smtp" (a refused login: no mail goes out). Each gets one alarm when it starts, one more
every ``repeat_every`` while it lasts, and one when it is over. An alarm goes by mail to
``[alert] to``, unless it is the SMTP server that is refusing, or nobody is named: then it is
APPENDed to the alert folder of the support mailbox, where the agents see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from inboxd.core.outage import format_duration

CHANNELS = {"imap": "reading the support mailbox (IMAP)", "smtp": "sending mail (SMTP)"}
CONSEQUENCES = {
    "imap": "New mail is not read, ticketed or answered; it waits in the mailbox, and is "
            "handled as soon as the login works again. Replies already decided are still sent.",
    "smtp": "No reply or notice goes out; every one waits in inboxd's outbox and is sent as "
            "soon as the login works again. New mail is still read, ticketed and filed.",
}


class IncidentFacts(Protocol):
    id: int
    channel: str
    reason: str
    detail: str
    started_at: datetime
    last_alert_at: datetime | None
    resolved_at: datetime | None
    recovery_alert_at: datetime | None


@dataclass(frozen=True)
class AlarmDue:
    incident_id: int
    kind: str  # "opened" | "reminder" | "recovered"


def alarms_due(incidents: list[IncidentFacts], now: datetime,
               repeat_every: timedelta) -> list[AlarmDue]:
    due = []
    for incident in incidents:
        if incident.resolved_at is not None:
            if incident.last_alert_at is not None and incident.recovery_alert_at is None:
                due.append(AlarmDue(incident.id, "recovered"))
        elif incident.last_alert_at is None:
            due.append(AlarmDue(incident.id, "opened"))
        elif now - incident.last_alert_at >= repeat_every:
            due.append(AlarmDue(incident.id, "reminder"))
    return due


def route(channel: str, kind: str, smtp_refused: bool, recipients: tuple[str, ...]) -> str:
    """"mail" while SMTP takes our mail and someone is named, else "folder"; the alarms of an
    SMTP incident go to the folder until it is over."""
    if smtp_refused or not recipients or (channel == "smtp" and kind != "recovered"):
        return "folder"
    return "mail"


def silent_too_long(last_ok_at: datetime, now: datetime, after: timedelta) -> bool:
    """No mailbox check has worked since ``last_ok_at`` for ``after`` or longer."""
    return now - last_ok_at >= after


def alarm_text(incident: IncidentFacts, kind: str, now: datetime) -> tuple[str, str]:
    """The subject and body of one alarm."""
    what = CHANNELS.get(incident.channel, incident.channel)
    lasted = format_duration((now - incident.started_at).total_seconds())
    if kind == "recovered":
        return (f"inboxd: {what} works again",
                f"inboxd is {what} again, after {lasted}. What waited meanwhile is being "
                f"handled now.\n\nThe problem was: {incident.detail}\n")
    again = " (still)" if kind == "reminder" else ""
    cause = "the login was refused" if incident.reason == "login-refused" else \
        "no mailbox check has worked"
    body = (f"inboxd has stopped {what}{again}: {cause}, for {lasted} now "
            f"(since {incident.started_at:%Y-%m-%d %H:%M %Z}).\n\n"
            f"{CONSEQUENCES.get(incident.channel, '')}\n\nThe error: {incident.detail}\n\n"
            f"{fix_hint(incident.detail)}\n")
    return f"inboxd ALARM: {what} stopped{again}", body


def fix_hint(detail: str) -> str:
    if "OAuth2" in detail or "oauth2" in detail or "XOAUTH2" in detail or "token" in detail:
        return ("To fix it: run `inboxd login` on the inboxd machine (the running daemon takes "
                "the new token up by itself), then `inboxd login --status`.")
    if "5.7.30" in detail:
        return ("To fix it: the server no longer accepts a password for sending; set "
                'smtp.auth = "oauth2" and run `inboxd login` (see the README).')
    return "To fix it: check the login settings and the password, then `inboxd check`."
