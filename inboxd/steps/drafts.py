"""Suggested answers as drafts in the support mailbox, and what the agents made of them.

``queue_draft`` (inside the ticket's commit) records the draft and an ``actions`` row of kind
``draft``; ``apply_draft_actions`` (from ``flush``) APPENDs it to the drafts folder with the
``\\Draft`` flag, once: ``append_started_at`` is committed before the APPEND, and a draft with
it set is first looked for by Message-ID (a crash between APPEND and "done"). A ``draft-drop``
action removes inboxd's own draft when it went stale, only while the folder holds it byte for
byte: a draft a person edited is saved by the client as a new message and is never touched.

``after_agent_reply`` (from the Sent scan) records the draft's fate when an agent answers the
ticket: sent unchanged or edited (the question becomes a learned example of the FAQ), or
rejected (the stale draft is dropped). ``check_drafts`` notices drafts deleted unsent.
``drop_stale_draft`` is for any other way a ticket gets settled.

A draft's ``state`` says where it is: ``pending`` (to be written), ``live`` (in the folder),
``sent`` (an agent sent it), ``removed`` (inboxd deleted it), ``kept`` (stale, but a person
edited it), ``gone`` (no longer in the folder) or ``skipped`` (never written: replaced first,
or a person was editing the earlier one). Its ``fate`` is what became of the suggestion.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.utils import make_msgid
from typing import Any

from inboxd.config.mail import DEFAULT_DRAFTS
from inboxd.core.bodytext import strip_history
from inboxd.core.decide import Acknowledge, FollowUp
from inboxd.core.drafts import (REJECTED, REPLACED, SENT_EDITED, SENT_UNCHANGED, Draft,
                                build_draft, carries_suggestion, draft_of_ticket_in, reply_fate,
                                same_mail)
from inboxd.core.message import ParsedMessage, parse_message
from inboxd.core.render import mail_language, sender_domain
from inboxd.errors import MailboxError, MailboxUnavailable
from inboxd.faults import crash_point
from inboxd.runtime import Runtime
from inboxd.steps.learn import record_learned
from inboxd.store import Ticket, iso
from inboxd.store_blobs import crlf

log = logging.getLogger(__name__)

DRAFT_KINDS = ("draft", "draft-drop")  # the actions journal's kinds of this module
DRAFT_FLAGS = ("\\Draft", "\\Seen")
WAITING = ("pending", "live")  # a draft that is, or is about to be, in the drafts folder


# -- deciding and journalling (inside the ticket's transaction) ----------------------------------

def suggested_faq(rt: Runtime, decision: object, ticket_id: int | None) -> str | None:
    """The FAQ a new draft suggests for this decision: a new question's suggestion, or a
    follow-up's when its ticket has an unsent draft (the follow-up's draft replaces it)."""
    if isinstance(decision, Acknowledge):
        return decision.suggest
    if isinstance(decision, FollowUp) and ticket_id is not None:
        previous = rt.store.current_draft(ticket_id)
        if previous and previous["state"] in WAITING and previous["fate"] is None:
            return str(previous["faq_id"])
    return None


def queue_draft(rt: Runtime, parsed: ParsedMessage, raw: bytes, language: str,
                decision: object, ticket_id: int | None, message_row: int,
                now: datetime) -> int | None:
    """Record the draft this decision calls for and the action that writes it; its id."""
    faq_id = suggested_faq(rt, decision, ticket_id)
    entry = rt.faq.get(faq_id) if faq_id else None
    if ticket_id is None or entry is None or parsed.reply_to is None or rt.config.relay:
        return None  # relay mode: agents work from their own mailboxes, not the shared one
    previous = rt.store.current_draft(ticket_id) if isinstance(decision, FollowUp) else None
    language = mail_language(language, rt.config.faq.default_language,
                             rt.templates.languages("suggestion"),
                             None if entry.template else entry.languages)
    values = {"ticket_id": ticket_id, "customer_name": parsed.sender_name,
              "support_name": rt.config.policy.support_name}
    answer = (rt.templates.render_file(entry.template, values) if entry.template
              else entry.answers[language])
    fallbacks = list(dict.fromkeys([language, rt.config.faq.default_language, "en"]))
    body = rt.templates.render("suggestion", fallbacks, {**values, "answer": answer})
    headers = BytesHeaderParser().parsebytes(raw)
    message = build_draft(Draft(
        original=parsed, ticket_id=ticket_id, faq_id=entry.id, body=body, language=language,
        sender=rt.config.smtp.sender, now=now,
        message_id=make_msgid(domain=sender_domain(rt.config.smtp.sender)),
        thread_topic=_header(headers, "Thread-Topic"),
        thread_index=_header(headers, "Thread-Index")))
    action = rt.store.queue_action({"message_row": message_row, "kind": "draft",
                                    "created_at": iso(now)})
    draft_id = rt.store.insert_draft({
        "ticket_id": ticket_id, "message_row": message_row, "faq_id": entry.id,
        "confidence": getattr(decision, "confidence", None), "language": language,
        "message_id": message["Message-ID"], "question": parsed.question.strip(),
        "answer": answer, "body": body, "raw": crlf(bytes(message)), "state": "pending",
        "replaces": previous["id"] if previous else None, "append_action": action,
        "created_at": iso(now)})
    if previous is not None and previous["state"] == "pending":  # never written: no need now
        rt.store.update_draft(previous["id"], {"state": "skipped", "fate": REPLACED,
                                               "fate_at": iso(now)})
    rt.store.add_event(ticket_id, now, "suggested",
                       f"draft reply with the answer of FAQ {entry.id}"
                       + (f", replacing draft {previous['id']}" if previous else ""))
    return draft_id


@dataclass(frozen=True)
class PlannedDraft:
    """A draft a dry run would write: for which message (uid), ticket and FAQ, to whom."""

    uid: int
    ticket_id: int | None  # None: the new ticket the message would open
    faq_id: str
    recipient: str
    replaces: bool  # it would replace the ticket's unsent draft


def planned_drafts(rt: Runtime, decided: Sequence[tuple[int, ParsedMessage, object]]
                   ) -> list[PlannedDraft]:
    """The drafts ``queue_draft`` would record for these (uid, message, decision); reads the
    store only."""
    planned = []
    for uid, parsed, decision in decided:
        ticket_id = decision.ticket_id if isinstance(decision, FollowUp) else None
        faq_id = suggested_faq(rt, decision, ticket_id)
        if faq_id and rt.faq.get(faq_id) and parsed.reply_to and not rt.config.relay:
            planned.append(PlannedDraft(uid, ticket_id, faq_id, parsed.reply_to,
                                        isinstance(decision, FollowUp)))
    return planned


def _header(headers: Any, name: str) -> str | None:
    value = headers.get(name)
    return " ".join(str(value).split()) if value else None


def drop_stale_draft(rt: Runtime, ticket_id: int, now: datetime,
                     why: str = "the ticket was settled without it") -> bool:
    """The ticket no longer needs its unsent draft (answered another way, resolved): record it
    as rejected and journal its removal (kept when a person edited it), inside the caller's
    transaction. False when the ticket has no such draft."""
    draft = rt.store.current_draft(ticket_id)
    if draft is None or draft["fate"] is not None or draft["state"] not in WAITING:
        return False
    action = rt.store.queue_action({"message_row": draft["message_row"], "kind": "draft-drop",
                                    "created_at": iso(now)})
    rt.store.update_draft(draft["id"], {"fate": REJECTED, "fate_at": iso(now),
                                        "drop_action": action})
    rt.store.add_event(ticket_id, now, "suggestion-rejected", why)
    return True


# -- the agent's answer (inside the Sent scan's transaction) ------------------------------------

def after_agent_reply(rt: Runtime, ticket: Ticket, raw: bytes, reply: ParsedMessage,
                      now: datetime) -> str | None:
    """Record what the agent's reply made of the ticket's draft; its fate, or None when the
    ticket has none. A sent draft teaches: its question becomes an example of its FAQ."""
    draft = rt.store.current_draft(ticket.id)
    if draft is None or draft["fate"] in (SENT_UNCHANGED, SENT_EDITED, REPLACED):
        return None
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    fate = reply_fate(strip_history(reply.text), carries_suggestion(head), draft["answer"],
                      draft["body"])
    if fate == REJECTED:
        if draft["fate"] is None:
            drop_stale_draft(rt, ticket.id, now, "an agent answered without the suggestion")
        return REJECTED
    rt.store.update_draft(draft["id"], {"fate": fate, "fate_at": iso(now), "state": "sent"})
    rt.store.add_event(ticket.id, now, "suggestion-sent", f"FAQ {draft['faq_id']}: {fate}")
    if draft["question"]:
        record_learned(rt, ticket.id, draft["faq_id"], draft["question"], "suggestion",
                       f"suggested answer {fate}", now)
    log.info("ticket #%d: suggested answer of FAQ %s %s", ticket.id, draft["faq_id"], fate)
    return fate


# -- the mailbox ----------------------------------------------------------------------------------

def drafts_folder(rt: Runtime) -> str:
    """``folders.drafts``; unset: the server's special-use \\Drafts folder, else "Drafts"."""
    return rt.config.folders.drafts or rt.mailbox.special_use("\\Drafts") or DEFAULT_DRAFTS


def apply_draft_actions(rt: Runtime, actions: Sequence[dict[str, Any]]) -> None:
    if not actions:
        return
    folder = drafts_folder(rt)
    for action in actions:
        draft = rt.store.draft_of_action(action["id"])
        try:
            error = _apply(rt, action["kind"], draft, folder) if draft else "no such draft"
        except MailboxUnavailable:
            raise
        except MailboxError as exc:
            error = str(exc)
        rt.store.finish_actions([action["id"]], rt.clock(), error)
        if error:
            log.error("draft action %d: %s", action["id"], error)


def _apply(rt: Runtime, kind: str, draft: dict[str, Any], folder: str) -> str | None:
    if kind == "draft-drop":
        _drop(rt, draft, "stale")
        return None
    if draft["state"] != "pending":
        return None  # replaced before it was written
    if draft["replaces"] is not None:
        earlier = rt.store.draft(draft["replaces"])
        if earlier is not None and earlier["state"] == "live" and \
                not _drop(rt, earlier, "replaced by a newer draft"):
            with rt.store.transaction():
                rt.store.update_draft(draft["id"], {"state": "skipped",
                                                    "detail": "a person is editing the draft"})
            return None
    _append(rt, draft, folder)
    return None


def _append(rt: Runtime, draft: dict[str, Any], folder: str) -> None:
    rt.mailbox.ensure_folder(folder)
    if draft["append_started_at"] and rt.mailbox.find_by_message_id(folder, draft["message_id"]):
        pass  # appended before a crash
    else:
        with rt.store.transaction():
            rt.store.update_draft(draft["id"], {"append_started_at": iso(rt.clock()),
                                                "folder": folder})
        rt.mailbox.append(folder, draft["raw"], flags=DRAFT_FLAGS)
        crash_point("after-draft")
    with rt.store.transaction():
        rt.store.update_draft(draft["id"], {"state": "live", "folder": folder,
                                            "appended_at": iso(rt.clock())})
    log.info("ticket #%d: draft with the answer of FAQ %s written to %s", draft["ticket_id"],
             draft["faq_id"], folder)


def _drop(rt: Runtime, draft: dict[str, Any], why: str) -> bool:
    """Remove inboxd's own copy of ``draft`` unless a person has a draft of the ticket there
    (edited: new bytes); True when nothing of a person's is left in its place."""
    folder = draft["folder"] or drafts_folder(rt)
    ours, theirs = _look(rt, folder, draft) if rt.mailbox.folder_exists(folder) else ([], [])
    if theirs:
        state, detail = "kept", f"{why}: kept, a person edited it"
    else:
        rt.mailbox.delete(folder, ours)
        state, detail = ("removed", why) if ours else ("gone", f"{why}: no longer in {folder}")
    now = rt.clock()
    with rt.store.transaction():
        values = {"state": state, "detail": detail}
        if why.startswith("replaced") and not theirs:  # an edited one stays the ticket's
            values |= {"fate": REPLACED, "fate_at": iso(now)}
        rt.store.update_draft(draft["id"], values)
        rt.store.add_event(draft["ticket_id"], now, f"draft-{state}", detail)
    return not theirs


def _look(rt: Runtime, folder: str, draft: dict[str, Any]) -> tuple[list[int], list[int]]:
    """UIDs in ``folder`` of inboxd's own draft (same bytes) and of other drafts of the ticket
    (same Message-ID or ``[#id]`` in the subject, other bytes: a person's)."""
    uids = sorted(set(rt.mailbox.find_by_message_id(folder, draft["message_id"]))
                  | set(rt.mailbox.find_by_subject(folder, f"[#{draft['ticket_id']}]")))
    ours, theirs = [], []
    for found in rt.mailbox.fetch(folder, uids):
        (ours if same_mail(draft["raw"], found.raw) else theirs).append(found.uid)
    return ours, theirs


def check_drafts(rt: Runtime) -> list[int]:
    """Drafts deleted unsent: no copy of inboxd's and none edited left in the folder. Each is
    recorded as rejected (an agent's reply that arrives later in Sent still counts). Returns
    their tickets. Reads the Message-ID and Subject of each drafts folder once."""
    found = []
    by_folder: dict[str, list[dict[str, Any]]] = {}
    for draft in rt.store.live_drafts():
        by_folder.setdefault(draft["folder"], []).append(draft)
    for folder, drafts in by_folder.items():
        folder_mail = _header_fields(rt, folder)
        for draft in drafts:
            if draft_of_ticket_in(draft["message_id"], draft["ticket_id"], folder_mail):
                continue
            now = rt.clock()
            with rt.store.transaction():
                rt.store.update_draft(draft["id"], {"state": "gone", "fate": REJECTED,
                                                    "fate_at": iso(now),
                                                    "detail": "deleted without being sent"})
                rt.store.add_event(draft["ticket_id"], now, "suggestion-rejected",
                                   "the draft was deleted without being sent")
            found.append(draft["ticket_id"])
    return found


def _header_fields(rt: Runtime, folder: str) -> list[ParsedMessage]:
    """The Message-ID and Subject of every message in ``folder`` (none when it is gone)."""
    if not rt.mailbox.folder_exists(folder):
        return []
    uids = rt.mailbox.uids_after(folder, 0)
    headers = rt.mailbox.fetch_headers(folder, uids, ("Message-ID", "Subject"))
    return [parse_message(header) for header in headers.values()]
