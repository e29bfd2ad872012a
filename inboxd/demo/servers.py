"""In-process mail servers for ``inboxd demo``: pymap's in-memory IMAP and an aiosmtpd sink.

Both listen on 127.0.0.1 in plain text, which inboxd accepts for loopback hosts
(``security = "none"``). The IMAP server runs on its own asyncio loop in a daemon thread;
aiosmtpd's ``Controller`` brings its own. Nothing is written to disk and nothing leaves the host.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
from argparse import Namespace
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from imapclient import IMAPClient
from proxyprotocol.reader import ProxyProtocolReader
from pymap.backend.dict import DictBackend
from pymap.concurrent import Subsystem
from pymap.imap import IMAPServer
from pysasl.hashing import Cleartext

HOST = "127.0.0.1"
SUPPORT_USER = "support@demo.example"
SMTP_HOSTNAME = "mail.demo.example"
START_TIMEOUT_S = 10.0
CLIENT_TIMEOUT_S = 10.0
SELECTABLE_NOT = {b"\\noselect", b"\\nonexistent"}


@dataclass(frozen=True)
class Captured:
    """One message the SMTP server accepted: what a customer received."""

    mail_from: str
    recipients: tuple[str, ...]
    raw: bytes

    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.raw)  # type: ignore[return-value]


class Recorder:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[Captured] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        with self._lock:
            self._messages.append(Captured(envelope.mail_from, tuple(envelope.rcpt_tos), raw))
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[Captured]:
        with self._lock:
            return list(self._messages)


class _BoundController(Controller):
    """aiosmtpd's Controller serving on a socket bound beforehand, so the port cannot be lost."""

    def __init__(self, handler: Recorder, sock: socket.socket, **kwargs: Any) -> None:
        super().__init__(handler, hostname=HOST, port=sock.getsockname()[1], **kwargs)
        self._sock = sock

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


class SmtpSink:
    """An aiosmtpd server on a free loopback port that records what it is sent."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self._sock = socket.socket()
        self._sock.bind((HOST, 0))
        self.port = int(self._sock.getsockname()[1])
        self._controller = _BoundController(self.recorder, self._sock,
                                            server_hostname=SMTP_HOSTNAME,
                                            ready_timeout=START_TIMEOUT_S)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        if self._controller.server is not None:
            self._controller.stop()
        self._sock.close()  # already closed by the server unless it never started

    @property
    def messages(self) -> list[Captured]:
        return self.recorder.messages


class ImapServer:
    """pymap's in-memory (``dict``) backend serving one user, on its own event loop."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="demo-imap",
                                        daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        self._server = future.result(START_TIMEOUT_S)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _serve(self) -> asyncio.Server:
        # pymap's CLI arguments, with TLS off and an empty mailbox (no demo messages)
        args = Namespace(host=HOST, port=0, debug=False, cert=None, key=None, tls=False,
                         passlib_cfg=None, proxy_protocol=None, inherited_sockets=None,
                         demo_data=False, demo_user=self.username,
                         demo_password=self.password)
        # the password is random and lives only in this process's memory: no slow hashing
        backend, config = await DictBackend.init(args, invalid_user_sleep=0.0,
                                                 hash_context=Cleartext(),
                                                 cpu_subsystem=Subsystem.for_asyncio())
        config.apply_context()
        callback = ProxyProtocolReader(config.proxy_protocol).get_callback(
            IMAPServer(backend.login, config))
        return await asyncio.start_server(callback, host=HOST, port=0)

    def stop(self) -> None:
        if not self._thread.is_alive():
            if not self._loop.is_closed():
                self._loop.close()
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(START_TIMEOUT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_TIMEOUT_S)
        self._loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)


class MailboxClient:
    """A plain IMAP session to the demo mailbox, standing in for the mail server's delivery."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self._client = IMAPClient(HOST, port=port, ssl=False, timeout=CLIENT_TIMEOUT_S)
        # imaplib sends a literal and its closing CRLF in two writes; without this, Nagle's
        # algorithm holds the CRLF until the server's delayed ACK, 40 ms per APPEND
        self._client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client.login(username, password)

    def close(self) -> None:
        self._client.logout()

    def __enter__(self) -> MailboxClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def create(self, folder: str) -> None:
        if not self._client.folder_exists(folder):
            self._client.create_folder(folder)
            self._client.subscribe_folder(folder)

    def deliver(self, raw: bytes, received_at: datetime) -> None:
        """Put ``raw`` into INBOX as new (unseen) mail that arrived at ``received_at``."""
        self._client.append("INBOX", raw, flags=(), msg_time=received_at)

    def folder_counts(self) -> dict[str, int]:
        """Every selectable folder with its number of messages, sorted by name."""
        counts = {}
        for flags, _, name in self._client.list_folders():
            if {f.lower() for f in flags} & SELECTABLE_NOT:
                continue
            status = self._client.folder_status(name, [b"MESSAGES"])
            counts[name] = int(status[b"MESSAGES"])
        return dict(sorted(counts.items(), key=lambda item: (item[0] != "INBOX", item[0])))


class DemoServers:
    """The IMAP server with the support account (and its Sent folder) plus the SMTP sink."""

    def __init__(self, username: str = SUPPORT_USER, password: str | None = None) -> None:
        self.username = username
        self.password = password or secrets.token_urlsafe(12)
        self.imap = ImapServer(self.username, self.password)
        self.smtp = SmtpSink()

    def __enter__(self) -> DemoServers:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        try:
            self.imap.start()
            self.smtp.start()
            with self.client() as client:
                client.create("Sent")  # pymap has no SPECIAL-USE folders of its own
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.smtp.stop()
        self.imap.stop()

    def client(self) -> MailboxClient:
        return MailboxClient(self.imap.port, self.username, self.password)

    @property
    def captured(self) -> list[Captured]:
        return self.smtp.messages
