"""Apply what the store says is still to do: send replies, file copies in Sent, move messages.

Each outgoing mail goes ``pending`` -> ``sending`` -> ``sent`` (-> copied to the Sent folder).
``sending`` is committed once the SMTP server has accepted the envelope (sender and
recipients), just before the message itself goes out; a failure or a crash before that point
leaves the mail ``pending``, to be sent later. From that point on the server may have the
message: after a crash a mail still in ``sending`` may or may not have reached the customer,
and so may one whose SMTP connection dropped, or whose answer did not come in time, after the
data was sent. inboxd never sends such a mail again: it is marked ``uncertain`` (after a crash,
unless its copy is in the Sent folder) and its ticket goes back to a person, with an event that
says so. A mail is therefore sent at most once, and a customer whose reply may have been lost
is always left to a human, never to silence.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from inboxd import metrics
from inboxd.errors import (MailboxError, MailboxUnavailable, SendAuthFailed, SendDeferred,
                           SendFailed, SendUncertain, SendUnavailable)
from inboxd.faults import crash_point
from inboxd.steps.drafts import DRAFT_KINDS, apply_draft_actions
from inboxd.steps.marks import MARK_KINDS, apply_marks
from inboxd.runtime import Runtime
from inboxd.store import INTERNAL_KINDS, NO_FIRST_RESPONSE, first_response, from_iso, iso

log = logging.getLogger(__name__)

# Deadline notices: their ticket already waits for a person (or was answered since), so a
# notice that failed leaves it as it is.
KEEP_STATE_KINDS = (*INTERNAL_KINDS, "courtesy", "forward")  # not the customer's answer

# A mail the receiving server keeps putting off (4xx) is retried until it is this old, then
# given up like a refused one, so that its ticket goes to a person within the 24-hour promise.
DEFERRED_GIVE_UP_AFTER = timedelta(hours=24)


def flush(rt: Runtime) -> None:
    """Finish every step left in the store; IMAP trouble propagates (retry later).

    An SMTP server that is unavailable stops nothing else: ``rt.smtp_state`` records the
    outage, the mail waits in the outbox, and the mailbox steps go on, except moving a message
    to the answered folder before its answer is sent."""
    resolve_interrupted(rt)
    send_pending(rt)
    copy_to_sent(rt)
    apply_actions(rt)


def resolve_interrupted(rt: Runtime) -> None:
    for row in rt.store.outbox("sending"):
        if rt.mailbox.find_by_message_id(rt.config.folders.sent, row["message_id"]):
            _mark_sent(rt, row, copied=True)
        else:
            _mark_uncertain(rt, row, "interrupted while sending")


def _mark_uncertain(rt: Runtime, row: dict[str, Any], error: str) -> None:
    """The mail may or may not have arrived: never send it again, and tell a person."""
    _give_up(rt, row, "uncertain", error, f"may not have arrived ({error}); it is not sent again")
    metrics.uncertain(row["kind"])
    log.warning("ticket #%s: %s to %s may not have been sent (%s); left to a person",
                row["ticket_id"], row["kind"], row["recipient"], error,
                extra={"ticket": row["ticket_id"]})


def send_pending(rt: Runtime) -> None:
    """Send the mail waiting in the outbox, unless the SMTP server is down and not due for
    another try yet; needs no IMAP. An unavailable server is recorded, not raised."""
    rows = rt.store.outbox("pending")
    if not rows or not rt.smtp_state.may_try():
        return
    try:
        with rt.sender.session():
            for row in rows:
                _send(rt, row)
    except SendUnavailable as exc:  # a refused login too: no mail is to blame, all wait
        rt.smtp_state.failed(exc, refused=isinstance(exc, SendAuthFailed))
        return
    rt.smtp_state.ok()


def _send(rt: Runtime, row: dict[str, Any]) -> None:
    def before_data() -> None:  # the envelope is accepted: the message goes out next
        crash_point("before-data")
        rt.store.update_outbox(row["id"], {"state": "sending"})

    try:
        rt.sender.send(_message(row["raw"]), before_data=before_data)
    except SendUncertain as exc:
        _mark_uncertain(rt, row, str(exc))
        return
    except SendDeferred as exc:  # this message alone: the others may go through
        _put_off(rt, row, str(exc))
        return
    except SendUnavailable:
        rt.store.update_outbox(row["id"], {"state": "pending"})
        raise
    except SendFailed as exc:
        _mark_failed(rt, row, str(exc))
        return
    crash_point("after-send")
    _mark_sent(rt, row, copied=False)


def _put_off(rt: Runtime, row: dict[str, Any], error: str) -> None:
    """Try again later, unless the server has put the mail off for too long already."""
    queued_at = from_iso(row["created_at"])
    if queued_at is not None and rt.clock() - queued_at >= DEFERRED_GIVE_UP_AFTER:
        hours = DEFERRED_GIVE_UP_AFTER.total_seconds() / 3600
        _mark_failed(rt, row, f"put off for more than {hours:g} hours, last: {error}")
        return
    rt.store.update_outbox(row["id"], {"state": "pending", "error": error})
    log.info("ticket #%s: %s to %s put off (%s); tried again later", row["ticket_id"],
             row["kind"], row["recipient"], error, extra={"ticket": row["ticket_id"]})


def _mark_sent(rt: Runtime, row: dict[str, Any], copied: bool) -> None:
    now = rt.clock()
    with rt.store.transaction():
        copy = {"copied_at": iso(now)} if copied else {}
        rt.store.db.table("outbox").update(row["id"], {"state": "sent", "sent_at": iso(now)} | copy)
        rt.store.add_event(row["ticket_id"], now, f"sent-{row['kind']}",
                           f"to {row['recipient']} as {row['message_id']}")
        ticket = rt.store.ticket(row["ticket_id"])
        if row["kind"] == "answer" and ticket and ticket.first_response_at is None:
            rt.store.update_ticket(ticket.id, first_response(ticket, now, "auto", rt.calendar))
    answers = ticket is not None and row["kind"] not in KEEP_STATE_KINDS  # the customer's mail
    metrics.sent(row["kind"], (ticket.awaiting_since or ticket.created_at)
                 if answers and ticket else None, now)


def _mark_failed(rt: Runtime, row: dict[str, Any], error: str) -> None:
    _give_up(rt, row, "failed", error, f"was refused: {error}")
    metrics.refused(row["kind"])
    log.error("ticket #%s: %s to %s refused: %s", row["ticket_id"], row["kind"],
              row["recipient"], error, extra={"ticket": row["ticket_id"]})


def _give_up(rt: Runtime, row: dict[str, Any], state: str, error: str, what: str) -> None:
    """Never send ``row`` again (``state`` uncertain or failed); its ticket goes to a person
    unless the mail was an internal one; the event says what became of it."""
    now = rt.clock()
    with rt.store.transaction():
        rt.store.db.table("outbox").update(row["id"], {"state": state, "error": error})
        if row["kind"] not in KEEP_STATE_KINDS:
            _hand_to_person(rt, row["ticket_id"], now)
        event = "send-uncertain" if state == "uncertain" else "send-failed"
        rt.store.add_event(row["ticket_id"], now, event,
                           f"the {row['kind']} to {row['recipient']} {what}")


def _hand_to_person(rt: Runtime, ticket_id: int, now: datetime) -> None:
    """The ticket waits for a person, and its message goes to the queue, not to Answered."""
    ticket = rt.store.ticket(ticket_id)
    if ticket is None:
        return  # a mail without a ticket (a status reply): nothing to hand over
    queue = rt.config.folders.queue
    target = f"{queue}/{ticket.team}" if ticket and ticket.team else queue
    rt.store.update_ticket(ticket_id, {"state": "open", "updated_at": iso(now),
                                       **NO_FIRST_RESPONSE})
    rt.store.retarget_actions(ticket_id, rt.config.folders.answered, target)


def copy_to_sent(rt: Runtime) -> None:
    """Append a copy of each sent mail to the Sent folder, once.

    ``copy_started_at`` is committed for a batch just before its APPENDs, ``copied_at`` after
    them. A row with the first and not the second may have been copied before a crash, so for
    such a row alone the folder is searched for its Message-ID before appending again.
    """
    sent = rt.config.folders.sent
    rows = rt.store.outbox_uncopied()
    if not rows:
        return
    rt.store.stamp_outbox([r["id"] for r in rows if not r["copy_started_at"]],
                          "copy_started_at", rt.clock())
    for row in rows:
        if not (row["copy_started_at"] and rt.mailbox.find_by_message_id(sent, row["message_id"])):
            rt.mailbox.append(sent, row["raw"], flags=("\\Seen",))
    crash_point("after-copy")
    rt.store.stamp_outbox([r["id"] for r in rows], "copied_at", rt.clock())


def apply_actions(rt: Runtime) -> None:
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = defaultdict(list)
    marks, drafts = [], []
    held = rt.store.held_moves(rt.config.folders.answered, KEEP_STATE_KINDS)
    for action in rt.store.pending_actions():
        if action["id"] in held:
            continue  # its answer is not sent yet: the inbox keeps it meanwhile
        if action["kind"] in MARK_KINDS:
            marks.append(action)
            continue
        if action["kind"] in DRAFT_KINDS:
            drafts.append(action)
            continue
        groups[(action["folder"], action["uidvalidity"], action["target"])].append(action)
    for (folder, uidvalidity, target), actions in groups.items():
        _move_group(rt, folder, uidvalidity, target, actions)
    apply_marks(rt, marks)  # after the moves: they act on the message where it now is
    apply_draft_actions(rt, drafts)


def _move_group(rt: Runtime, folder: str, uidvalidity: int, target: str,
                actions: list[dict[str, Any]]) -> None:
    error = None
    try:
        state = rt.mailbox.select(folder)
        if state.uidvalidity != uidvalidity:
            error = f"{folder} was recreated; message not moved"
        else:
            uids = [a["uid"] for a in actions]
            present = set(rt.mailbox.uids_after(folder, min(uids) - 1)) & set(uids)
            if present:
                rt.mailbox.move(folder, sorted(present), target)
            crash_point("after-move")
    except MailboxUnavailable:
        raise
    except MailboxError as exc:
        error = str(exc)
    rt.store.finish_actions([a["id"] for a in actions], rt.clock(), error)
    if error:
        log.error("could not move %d message(s) from %s to %s: %s", len(actions), folder,
                  target, error)


def _message(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(raw)  # type: ignore[return-value]
