"""Flag an overdue ticket's message and copy it to the Overdue folder, from the actions journal.

A ``flag`` action adds its ``target`` flag (``\\Flagged``) to the message; a ``copy`` action
copies it to its ``target`` folder; a ``refile`` action (an agent's answer was recorded) flags
it ``\\Answered`` and moves it to its ``target`` folder. The message has been moved since it arrived and its new
UID is not known, so it is looked up by Message-ID in the folder its last finished move put it
in. A copy is not repeated when the target already holds the message (a crash between COPY and
the journal's "done"). What cannot be done is recorded on the action and logged, never retried
for ever: the message may have been moved or deleted by an agent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from inboxd.errors import MailboxError, MailboxUnavailable
from inboxd.runtime import Runtime

log = logging.getLogger(__name__)

MARK_KINDS = ("flag", "copy", "refile")


def apply_marks(rt: Runtime, actions: Sequence[dict[str, Any]]) -> None:
    for action in actions:
        error = _apply(rt, action)
        rt.store.finish_actions([action["id"]], rt.clock(), error)
        if error:
            log.error("could not %s a message of action %d: %s", action["kind"], action["id"],
                      error)


def _apply(rt: Runtime, action: dict[str, Any]) -> str | None:
    folder, message_id = rt.store.message_location(action["message_row"])
    if not message_id:
        return "the message has no Message-ID to find it by"
    try:
        uids = _find(rt, folder, message_id)
        if not uids and action["kind"] == "refile" and _find(rt, action["target"], message_id):
            return None  # moved before a crash, or by an agent
        if not uids:
            return f"{message_id} is no longer in {folder}"
        if action["kind"] == "flag":
            rt.mailbox.add_flags(folder, uids, [action["target"]])
        elif action["kind"] == "refile":
            rt.mailbox.add_flags(folder, uids, ["\\Answered"])
            rt.mailbox.ensure_folder(action["target"])
            rt.mailbox.move(folder, uids, action["target"])
        elif not _find(rt, action["target"], message_id):
            rt.mailbox.copy(folder, uids[-1:], action["target"])
    except MailboxUnavailable:
        raise
    except MailboxError as exc:
        return str(exc)
    return None


def _find(rt: Runtime, folder: str, message_id: str) -> list[int]:
    if not rt.mailbox.folder_exists(folder):
        return []
    return rt.mailbox.find_by_message_id(folder, message_id)
