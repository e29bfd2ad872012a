"""The IMAP adapter: one logged-in connection to the support mailbox, over imapclient.

Every imapclient call passes :meth:`Mailbox._call`, the one place where the library's and the
socket's exceptions become inboxd's: network trouble -> ``MailboxUnavailable`` (retry), a refused
login -> ``MailboxAuthFailed``, anything else the server refuses -> ``MailboxError``. Folder names
use "/" as the hierarchy separator, whatever the server's own is. Messages are read with
``BODY.PEEK[]`` so reading never marks them \\Seen.
"""

from __future__ import annotations

import ast
import imaplib
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from inboxd.config import ImapSettings
from inboxd.errors import MailboxAuthFailed, MailboxError, MailboxUnavailable
from inboxd.mail.bearer import TokenSource, access_token

T = TypeVar("T")

CHANGE_RESPONSES = (b"EXISTS", b"RECENT", b"FETCH")
NOT_SELECTABLE = {b"\\noselect", b"\\nonexistent"}
STOP_CHECK_S = 1.0
# imapclient reports every failed LOGIN as LoginError; these mean "try again later"
TEMPORARY_LOGIN_FAILURES = ("[UNAVAILABLE]", "socket error", "EOF")
FAST_EMPTY_LIMIT = 20  # so many instant empty IDLE checks in a row means the socket hit EOF
# a Python bytes literal in a message, as imaplib's str() of the server's reply writes it
_BYTES_LITERAL = re.compile(r"""(?<![\w'"])b(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")


@dataclass(frozen=True)
class FolderState:
    uidvalidity: int
    uidnext: int


@dataclass(frozen=True)
class Fetched:
    uid: int
    raw: bytes
    flags: tuple[str, ...]
    internaldate: datetime | None  # timezone-aware


class Mailbox:
    """A connection to one IMAP account; use as a context manager or call connect/close."""

    def __init__(self, settings: ImapSettings, token: TokenSource | None = None) -> None:
        self.settings = settings
        self.token = token  # for imap.auth = "oauth2"
        self._client: IMAPClient | None = None
        self._capabilities: frozenset[bytes] = frozenset()
        self._delimiter = "/"
        self._prefix = ""
        self._selected: str | None = None
        self._known_folders: set[str] = set()

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    # -- connection ---------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the connection (TLS as configured, certificates always verified) and log in."""
        self.close()
        s = self.settings
        password = "" if s.oauth2 else s.password.value  # unset: a ConfigError, before connecting
        context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        client = self._client = self._call("connect", IMAPClient, s.host, port=s.port,
                                           ssl=s.security == "tls", ssl_context=context,
                                           timeout=s.timeout_s)
        client.normalise_times = False  # keep INTERNALDATE timezone-aware
        # imaplib writes a literal and its closing CRLF separately; without NODELAY the second
        # write waits ~40 ms for the server's delayed ACK on every APPEND and SEARCH literal.
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if s.security == "starttls":
                self._call("STARTTLS", client.starttls, context)
            if s.oauth2:
                self._oauth2_login(client)
            else:
                self._call("login", client.login, s.username, password)
            self._capabilities = frozenset(self._call("CAPABILITY", client.capabilities))
            self._load_namespace()
        except MailboxError:
            self.close()
            raise

    def _oauth2_login(self, client: IMAPClient) -> None:
        """SASL XOAUTH2; a refused token is refreshed and tried once more."""
        try:
            self._call("login", client.oauth2_login, self.settings.username, self._token(False))
        except MailboxAuthFailed:
            self._call("login", client.oauth2_login, self.settings.username, self._token(True))

    def _token(self, fresh: bool) -> str:
        return access_token(self.token, fresh, server=f"IMAP {self.address}",
                            auth_key="imap.auth", unavailable=MailboxUnavailable,
                            refused=MailboxAuthFailed)

    def _load_namespace(self) -> None:
        client = self._connected()
        if b"NAMESPACE" in self._capabilities:
            personal = self._call("NAMESPACE", client.namespace).personal
            if personal:
                prefix, delimiter = personal[0]
                self._prefix, self._delimiter = prefix, delimiter or "/"
                return
        listed = self._call("LIST", client.list_folders, "", "")
        if listed and listed[0][1]:
            self._delimiter = listed[0][1].decode() if isinstance(listed[0][1], bytes) \
                else listed[0][1]

    def close(self) -> None:
        """Log out; never raises."""
        client, self._client = self._client, None
        self._selected = None
        self._known_folders.clear()
        if client is None:
            return
        try:
            client.logout()
        except Exception:  # the connection may already be gone; nothing left to do
            try:
                client.shutdown()
            except Exception:
                pass

    def __enter__(self) -> Mailbox:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def has_idle(self) -> bool:
        return b"IDLE" in self._capabilities

    @property
    def has_move(self) -> bool:
        return b"MOVE" in self._capabilities

    # -- the choke point ----------------------------------------------------------------------

    def _call(self, action: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one library call, turning its exceptions into inboxd's."""
        try:
            return fn(*args, **kwargs)
        except ssl.SSLCertVerificationError as exc:
            self._drop()
            raise MailboxError(
                f"IMAP {self.address}: the server's TLS certificate is not trusted "
                f"({exc.verify_message}); set imap.ca_file to the CA that signed it") from None
        except LoginError as exc:
            if any(mark in str(exc) for mark in TEMPORARY_LOGIN_FAILURES):
                self._drop()
                raise MailboxUnavailable(self._message("login failed", exc)) from None
            raise MailboxAuthFailed(self._message(f"login as {self.settings.username!r} "
                                                  f"refused", exc)) from None
        except (OSError, imaplib.IMAP4.abort) as exc:  # ssl.SSLError and timeouts are OSErrors
            self._drop()
            raise MailboxUnavailable(self._message(f"{action} failed", exc)) from None
        except imaplib.IMAP4.error as exc:
            raise MailboxError(self._message(f"{action} refused", exc)) from None

    def _message(self, what: str, exc: BaseException) -> str:
        detail = self.settings.password.redact(readable(str(exc)) or type(exc).__name__)
        return f"IMAP {self.address}: {what}: {detail}"

    def _drop(self) -> None:
        """Forget a connection that broke; the next call must connect again."""
        client, self._client = self._client, None
        self._selected = None
        if client is not None:
            try:
                client.shutdown()
            except Exception:
                pass

    def _connected(self) -> IMAPClient:
        if self._client is None:
            raise MailboxUnavailable(f"IMAP {self.address}: not connected")
        return self._client

    # -- folders ------------------------------------------------------------------------------

    def server_name(self, folder: str) -> str:
        """The server's name for a "/"-separated folder name."""
        if folder.upper() == "INBOX":
            return "INBOX"
        name = folder.replace("/", self._delimiter)
        if self._prefix and not name.startswith(self._prefix):
            name = self._prefix + name
        return name

    def ensure_folder(self, name: str) -> None:
        """Create and subscribe ``name`` and its parents if they do not exist yet."""
        parts = name.split("/")
        for depth in range(1, len(parts) + 1):
            self._ensure_one("/".join(parts[:depth]))

    def _ensure_one(self, name: str) -> None:
        if name.upper() == "INBOX" or name in self._known_folders:
            return
        client, server_name = self._connected(), self.server_name(name)
        if not self._exists(server_name):
            try:
                self._call("CREATE", client.create_folder, server_name)
            except MailboxError:
                if not self._exists(server_name):  # created meanwhile by someone else is fine
                    raise
            self._call("SUBSCRIBE", client.subscribe_folder, server_name)
        self._known_folders.add(name)

    def folder_exists(self, name: str) -> bool:
        """Whether the "/"-separated folder ``name`` exists and can be selected."""
        return name.upper() == "INBOX" or name in self._known_folders or \
            self._exists(self.server_name(name))

    def _exists(self, server_name: str) -> bool:
        listed = self._call("LIST", self._connected().list_folders, "", server_name)
        return any(not {f.lower() for f in flags} & NOT_SELECTABLE for flags, _, _ in listed)

    def children(self, parent: str) -> list[str]:
        """The selectable folders anywhere below ``parent``, each named relative to it as the
        server spells it ("shipping-time"; deeper ones with the server's separator)."""
        base = self.server_name(parent) + self._delimiter
        listed = self._call("LIST", self._connected().list_folders, "", base + "*")
        return sorted(name[len(base):] for flags, _, name in listed
                      if name.startswith(base) and not {f.lower() for f in flags} & NOT_SELECTABLE)

    def special_use(self, flag: str) -> str | None:
        """The "/"-separated name of the folder the server announces with special-use
        ``flag`` (RFC 6154, e.g. "\\Drafts"), or None when it announces none."""
        wanted = flag.lower()
        for flags, _, name in self._call("LIST", self._connected().list_folders, "", "*"):
            if wanted in {_text(f).lower() for f in flags}:
                return self._plain_name(name)
        return None

    def _plain_name(self, server_name: str) -> str:
        name = server_name[len(self._prefix):] if self._prefix and \
            server_name.startswith(self._prefix) else server_name
        return name.replace(self._delimiter, "/") if self._delimiter != "/" else name

    def message_count(self, folder: str) -> int:
        """How many messages ``folder`` holds (STATUS: the folder is not selected)."""
        status = self._call("STATUS", self._connected().folder_status, self.server_name(folder),
                            [b"MESSAGES"])
        return int(status[b"MESSAGES"])

    def select(self, folder: str) -> FolderState:
        """Select ``folder`` read-write and report its UIDVALIDITY and UIDNEXT."""
        client = self._connected()
        info = self._call("SELECT", client.select_folder, self.server_name(folder))
        self._selected = folder
        return FolderState(uidvalidity=int(info[b"UIDVALIDITY"]),
                           uidnext=int(info.get(b"UIDNEXT", 0)))

    def _use(self, folder: str) -> IMAPClient:
        if self._selected != folder or self._client is None:
            self.select(folder)
        return self._connected()

    # -- reading ------------------------------------------------------------------------------

    def uids_after(self, folder: str, last_uid: int) -> list[int]:
        """UIDs greater than ``last_uid`` in ``folder``, ascending."""
        client = self._use(folder)
        self._call("NOOP", client.noop)  # makes the server report mail delivered meanwhile
        found = self._call("SEARCH", client.search, ["UID", f"{last_uid + 1}:*"])
        return sorted(uid for uid in found if uid > last_uid)  # "n:*" also yields the top uid

    def fetch(self, folder: str, uids: Sequence[int]) -> list[Fetched]:
        """Whole messages with flags and arrival time, in UID order; never sets \\Seen."""
        if not uids:
            return []
        client = self._use(folder)
        data = self._call("FETCH", client.fetch, list(uids),
                          [b"BODY.PEEK[]", b"FLAGS", b"INTERNALDATE"])
        return [Fetched(uid=uid, raw=data[uid][b"BODY[]"],
                        flags=tuple(_text(f) for f in data[uid].get(b"FLAGS", ())),
                        internaldate=data[uid].get(b"INTERNALDATE"))
                for uid in sorted(data) if b"BODY[]" in data[uid]]

    def fetch_headers(self, folder: str, uids: Sequence[int],
                      fields: Sequence[str] = ()) -> dict[int, bytes]:
        """The header block of each message, by UID, or only the header ``fields`` named; never
        sets \\Seen."""
        if not uids:
            return {}
        part = f"HEADER.FIELDS ({' '.join(fields).upper()})" if fields else "HEADER"
        client = self._use(folder)
        data = self._call("FETCH", client.fetch, list(uids), [f"BODY.PEEK[{part}]".encode()])
        return {uid: header for uid in sorted(data)
                for key, header in data[uid].items()
                if isinstance(key, bytes) and key.upper().startswith(b"BODY[HEADER")}

    def answered_uids(self, folder: str) -> list[int]:
        """UIDs of the messages flagged \\Answered in ``folder``."""
        client = self._use(folder)
        self._call("NOOP", client.noop)
        return sorted(self._call("SEARCH", client.search, ["ANSWERED"]))

    def find_by_message_id(self, folder: str, message_id: str) -> list[int]:
        """UIDs of the messages in ``folder`` whose Message-ID header contains ``message_id``."""
        message_id = message_id.strip()
        if not message_id or "\r" in message_id or "\n" in message_id:
            return []
        client = self._use(folder)
        self._call("NOOP", client.noop)
        return sorted(self._call("SEARCH", client.search, ["HEADER", "Message-ID", message_id],
                                 charset="UTF-8"))

    def find_by_subject(self, folder: str, text: str) -> list[int]:
        """UIDs of the messages in ``folder`` whose Subject contains ``text``."""
        if not text or "\r" in text or "\n" in text:
            return []
        client = self._use(folder)
        self._call("NOOP", client.noop)
        return sorted(self._call("SEARCH", client.search, ["SUBJECT", text], charset="UTF-8"))

    # -- changing -----------------------------------------------------------------------------

    def move(self, folder: str, uids: Sequence[int], target: str) -> None:
        """Move messages to ``target`` (created if missing): MOVE, else COPY + delete."""
        if not uids:
            return
        self.ensure_folder(target)
        client, target_name = self._use(folder), self.server_name(target)
        if self.has_move:
            self._call("MOVE", client.move, list(uids), target_name)
            return
        self._call("COPY", client.copy, list(uids), target_name)
        self._call("STORE", client.add_flags, list(uids), [b"\\Deleted"], silent=True)
        if b"UIDPLUS" in self._capabilities:
            self._call("UID EXPUNGE", client.uid_expunge, list(uids))
        else:
            self._call("EXPUNGE", client.expunge)

    def delete(self, folder: str, uids: Sequence[int]) -> None:
        """Remove messages from ``folder`` (\\Deleted, then expunged)."""
        if not uids:
            return
        client = self._use(folder)
        self._call("STORE", client.add_flags, list(uids), [b"\\Deleted"], silent=True)
        if b"UIDPLUS" in self._capabilities:
            self._call("UID EXPUNGE", client.uid_expunge, list(uids))
        else:
            self._call("EXPUNGE", client.expunge)

    def add_flags(self, folder: str, uids: Sequence[int], flags: Sequence[str]) -> None:
        """Add ``flags`` (e.g. "\\Answered") to the messages."""
        if not uids or not flags:
            return
        client = self._use(folder)
        self._call("STORE", client.add_flags, list(uids), list(flags), silent=True)

    def copy(self, folder: str, uids: Sequence[int], target: str) -> None:
        """Copy messages, flags included, to ``target`` (created if missing)."""
        if not uids:
            return
        self.ensure_folder(target)
        client, target_name = self._use(folder), self.server_name(target)
        self._call("COPY", client.copy, list(uids), target_name)

    def append(self, folder: str, raw: bytes, flags: Sequence[str] = ("\\Seen",),
               when: datetime | None = None) -> None:
        """Store a message in ``folder`` (created if missing), e.g. a reply in Sent."""
        self.ensure_folder(folder)
        client = self._connected()
        self._call("APPEND", client.append, self.server_name(folder), raw,
                   flags=list(flags), msg_time=when)

    # -- waiting ------------------------------------------------------------------------------

    def wait_for_change(self, folder: str, timeout_s: float,
                        stop: threading.Event | None = None) -> bool:
        """Wait in IDLE until ``folder`` changes, ``timeout_s`` passes or ``stop`` is set.

        Returns True when the server reported new or changed messages. Without IDLE support it
        only waits (in 1 s steps, so ``stop`` is honoured) and returns False.
        """
        stop = stop or threading.Event()
        client = self._use(folder)
        if not self.has_idle:
            _sleep(timeout_s, stop)
            return False
        # What the server says before its "+ idling" goes to imaplib's untagged responses,
        # where idle_check never looks: mail that arrived just before IDLE would wait for the
        # next poll. Clear the old ones first, then look there once.
        untagged = getattr(client._imap, "untagged_responses", None)
        if isinstance(untagged, dict):
            for name in ("EXISTS", "RECENT"):
                untagged.pop(name, None)
        self._call("IDLE", client.idle)
        try:
            if isinstance(untagged, dict) and untagged.pop("EXISTS", None):
                return True
            if _read_ahead(client):
                return True  # what came with "+ idling" (mail just delivered): look at once
            return self._idle_loop(client, timeout_s, stop)
        finally:
            if self._client is client:
                self._call("DONE", client.idle_done)

    def _idle_loop(self, client: IMAPClient, timeout_s: float, stop: threading.Event) -> bool:
        deadline, fast_empty = time.monotonic() + timeout_s, 0
        while not stop.is_set():
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                return False
            step_s = min(STOP_CHECK_S, remaining_s)
            started = time.monotonic()
            responses = self._call("IDLE", client.idle_check, timeout=step_s)
            if any(len(r) > 1 and r[1] in CHANGE_RESPONSES for r in responses):
                return True
            fast = not responses and time.monotonic() - started < step_s / 10
            fast_empty = fast_empty + 1 if fast else 0
            if fast_empty > FAST_EMPTY_LIMIT:
                self._drop()
                raise MailboxUnavailable(f"IMAP {self.address}: connection closed during IDLE")
        return False


def _read_ahead(client: IMAPClient) -> bool:
    """Whether the server's next lines already wait in the connection's read buffer (read
    together with the "+ idling" line, as in one TLS record), where idle_check, which polls
    the socket, would not see them until more arrives."""
    buffered = getattr(client._imap, "file", None)
    if buffered is None or not hasattr(buffered, "peek"):
        return False
    sock = client.socket()
    timeout_s = sock.gettimeout()
    sock.setblocking(False)
    try:
        return bool(buffered.peek(1))
    except (BlockingIOError, ssl.SSLWantReadError):
        return False  # nothing buffered and nothing on the wire yet
    finally:
        sock.settimeout(timeout_s)


def readable(detail: str) -> str:
    """imaplib's messages with the server's bytes as text: ``b'[AUTHENTICATIONFAILED] x'`` ->
    ``[AUTHENTICATIONFAILED] x``."""
    return _BYTES_LITERAL.sub(_unquoted, detail)


def _unquoted(literal: re.Match[str]) -> str:
    try:
        return _text(ast.literal_eval(literal.group(0)))
    except (SyntaxError, ValueError):
        return literal.group(0)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _sleep(timeout_s: float, stop: threading.Event) -> None:
    deadline = time.monotonic() + timeout_s
    while not stop.is_set():
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            return
        stop.wait(min(STOP_CHECK_S, remaining_s))
