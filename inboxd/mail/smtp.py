"""The SMTP adapter: aiosmtplib behind a synchronous interface.

Each ``send`` uses a connection of its own, unless it runs inside ``with sender.session():``,
which keeps one connection for a batch of messages (a dropped connection ends the session with
``SendUnavailable``; the next batch connects anew).

aiosmtplib's exceptions become inboxd's here: a 5xx answer or a refused login -> ``SendFailed``
(do not retry the same message), a 4xx answer, a timeout or network trouble -> ``SendUnavailable``
(retry later). Certificates are always verified; an untrusted one is a ``SendFailed``.
"""

from __future__ import annotations

import asyncio
import email.message
import logging
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from email.utils import parseaddr
from functools import cached_property
from typing import TypeVar

import aiosmtplib

from inboxd.config import SmtpSettings
from inboxd.errors import ConfigError, SendFailed, SendUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


class Sender:
    """Sends mail through the configured SMTP server; safe to share between threads."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._runner = asyncio.Runner()
        self._lock = threading.Lock()  # one event loop, one transaction at a time
        self._in_session = False
        self._open: aiosmtplib.SMTP | None = None  # the connection of the current session

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def send(self, message: email.message.EmailMessage, *, sender: str | None = None,
             recipients: Sequence[str] | None = None) -> None:
        """Send ``message``; envelope sender and recipients default to its headers (Bcc dropped)."""
        async def transaction(smtp: aiosmtplib.SMTP) -> None:
            refused, _ = await smtp.send_message(
                message, sender=sender, recipients=list(recipients) if recipients else None)
            if refused:
                log.warning("SMTP %s refused some recipients of %s: %s", self.address,
                            message.get("Message-ID", "a message"), ", ".join(refused))

        self._run(transaction)

    @contextmanager
    def session(self) -> Iterator[None]:
        """Send everything inside the block over one connection (opened on first use)."""
        self._in_session = True
        try:
            yield
        finally:
            self._in_session = False
            smtp, self._open = self._open, None
            if smtp is not None:
                with self._lock:
                    self._runner.run(self._quit(smtp))

    def check_login(self) -> str:
        """Connect, say EHLO, upgrade to TLS and log in as configured, then QUIT; says how it
        went. Without a login, MAIL FROM (then RSET) shows whether the server takes our mail."""
        async def probe(smtp: aiosmtplib.SMTP) -> str:
            if self._logs_in(smtp):
                return "login ok"
            await smtp.mail(parseaddr(self.settings.sender)[1])
            await smtp.rset()
            why = "smtp.username is not set" if not self.settings.username else \
                "the server offers no AUTH on this loopback connection"
            return f"no login ({why}); the server accepted a sender without AUTH"

        return self._run(probe)

    def close(self) -> None:
        with self._lock:
            if self._open is not None:
                self._open.close()
                self._open = None
            self._runner.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, transaction: Callable[[aiosmtplib.SMTP], Awaitable[T]]) -> T:
        try:
            with self._lock:
                return self._runner.run(self._session(transaction))
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:  # ValueError: no recipients
            raise self._translate(exc) from None

    @cached_property
    def _tls_context(self) -> ssl.SSLContext:
        ca_file = self.settings.ca_file
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.host, port=s.port, timeout=s.timeout_s,
            use_tls=s.security == "tls", start_tls=True if s.security == "starttls" else False,
            tls_context=self._tls_context)
        await smtp.connect()
        try:
            await self._login(smtp)
        except BaseException:
            smtp.close()
            raise
        return smtp

    async def _session(self, transaction: Callable[[aiosmtplib.SMTP], Awaitable[T]]) -> T:
        smtp = self._open or await self._connect()
        try:
            result = await transaction(smtp)
        except BaseException:
            self._open = None
            smtp.close()
            raise
        if self._in_session:
            self._open = smtp
        else:
            await self._quit(smtp)
        return result

    async def _quit(self, smtp: aiosmtplib.SMTP) -> None:
        try:
            await smtp.quit()
        except (aiosmtplib.SMTPException, OSError):
            pass  # the message is already accepted; a lost QUIT must not cause a resend
        finally:
            smtp.close()

    async def _login(self, smtp: aiosmtplib.SMTP) -> None:
        if self.settings.username and smtp.is_ehlo_or_helo_needed:
            await smtp.ehlo()  # the extensions say whether the server has AUTH at all
        if not self._logs_in(smtp):
            return
        try:
            password = self.settings.password.value
        except ConfigError as exc:  # unreadable since start-up: keep the mail, try again later
            raise SendUnavailable(f"SMTP {self.address}: {exc}") from None
        await smtp.login(self.settings.username, password)

    def _logs_in(self, smtp: aiosmtplib.SMTP) -> bool:
        """Whether to AUTH: not without a username (a relay that takes mail without a login),
        nor on a loopback relay without AUTH (it accepts mail from this host as it is)."""
        s = self.settings
        return bool(s.username) and (s.security != "none" or smtp.supports_extension("auth"))

    def _translate(self, exc: BaseException) -> SendFailed:
        """The inboxd error for an aiosmtplib, ssl or socket exception."""
        if _untrusted_certificate(exc):
            return SendFailed(f"SMTP {self.address}: the server's TLS certificate is not "
                              f"trusted; set smtp.ca_file to the CA that signed it")
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            return SendFailed(self._message(f"login refused for {self.settings.username!r}", exc))
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            permanent = any(r.code >= 500 for r in exc.recipients)
            kind = SendFailed if permanent else SendUnavailable
            return kind(self._message("recipients refused", exc))
        if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 500:
            return SendFailed(self._message("refused", exc))
        if isinstance(exc, (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPConnectError,
                            aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError,
                            TimeoutError, OSError)):
            return SendUnavailable(self._message("unavailable", exc))
        return SendFailed(self._message("failed", exc))

    def _message(self, what: str, exc: BaseException) -> str:
        detail = self.settings.password.redact(_describe(exc))
        return f"SMTP {self.address}: {what}: {detail}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"
    return str(exc) or type(exc).__name__


def _untrusted_certificate(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False
