"""The SMTP adapter: aiosmtplib behind a synchronous interface.

Each ``send`` uses a connection of its own, unless it runs inside ``with sender.session():``,
which keeps one connection for a batch of messages (a dropped connection ends the session with
``SendUnavailable``; the next batch connects anew).

A message goes out in two parts. The envelope (connect, EHLO, login, MAIL FROM, RCPT TO) hands
the server nothing it could deliver, so any failure there can be retried. Then the data: once
the DATA command is sent, a lost connection or a timeout waiting for the server's answer leaves
the outcome unknown (the server may have accepted the message), which is ``SendUncertain``.

aiosmtplib's exceptions become inboxd's here: a 5xx answer or a refused login -> ``SendFailed``
(do not retry the same message), a 4xx answer to a recipient or to the data -> ``SendDeferred``
(retry this message later), another 4xx answer, a timeout or network trouble before the data
-> ``SendUnavailable`` (retry later), a timeout or network trouble after the data was sent ->
``SendUncertain`` (never send it again).
Certificates are always verified; an untrusted one is a ``SendFailed``.
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
from aiosmtplib.email import extract_recipients, extract_sender, flatten_message

from inboxd.config import SmtpSettings
from inboxd.errors import (ConfigError, SendAuthFailed, SendDeferred, SendFailed, SendUncertain,
                           SendUnavailable)
from inboxd.mail.bearer import TokenSource, access_token

log = logging.getLogger(__name__)
T = TypeVar("T")


class Sender:
    """Sends mail through the configured SMTP server; safe to share between threads."""

    def __init__(self, settings: SmtpSettings, token: TokenSource | None = None) -> None:
        self.settings = settings
        self.token = token  # for smtp.auth = "oauth2"
        self._runner = asyncio.Runner()
        self._lock = threading.Lock()  # one event loop, one transaction at a time
        self._in_session = False
        self._open: aiosmtplib.SMTP | None = None  # the connection of the current session

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def send(self, message: email.message.EmailMessage, *, sender: str | None = None,
             recipients: Sequence[str] | None = None,
             before_data: Callable[[], None] | None = None) -> None:
        """Send ``message``; envelope sender and recipients default to its headers (Bcc dropped).

        ``before_data`` is called once the server has accepted the envelope, just before the
        message goes out: a failure before that point left nothing on the server."""
        async def transaction(smtp: aiosmtplib.SMTP) -> None:
            data = await self._envelope(smtp, message, sender, recipients)
            if before_data is not None:
                before_data()
            await self._data(smtp, data)

        self._run(transaction)

    async def _envelope(self, smtp: aiosmtplib.SMTP, message: email.message.EmailMessage,
                        sender: str | None, recipients: Sequence[str] | None) -> bytes:
        """MAIL FROM and RCPT TO; returns the message's bytes as they will be sent."""
        sender = sender or extract_sender(message)
        to = list(recipients) if recipients else extract_recipients(message)
        if not sender or not to:
            raise ValueError("the message names no sender or no recipient")
        await _greet(smtp)
        utf8 = not (sender + "".join(to)).isascii()
        eight_bit = smtp.supports_extension("8BITMIME")
        encoding = "utf-8" if utf8 else "ascii"
        await smtp.mail(sender, options=_mail_options(smtp, utf8, eight_bit), encoding=encoding)
        refused = await _recipients(smtp, to, encoding)
        if refused:
            log.warning("SMTP %s refused some recipients of %s: %s", self.address,
                        message.get("Message-ID", "a message"), ", ".join(refused))
        return flatten_message(message, utf8=utf8, cte_type="8bit" if eight_bit else "7bit")

    async def _data(self, smtp: aiosmtplib.SMTP, data: bytes) -> None:
        """DATA and the message: an answer is final; no answer leaves the outcome unknown."""
        try:
            await smtp.data(data)
        except aiosmtplib.SMTPResponseException:
            raise  # the server answered (4xx, 5xx): it did not take the message
        except (aiosmtplib.SMTPException, OSError) as exc:  # lost connection, timeout
            raise SendUncertain(self._message(
                "no answer after the message was sent, so it may have been delivered",
                exc)) from None

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
        if self.settings.oauth2:
            await self._oauth2_login(smtp)
            return
        try:
            password = self.settings.password.value
        except ConfigError as exc:  # unreadable since start-up: keep the mail, try again later
            raise SendUnavailable(f"SMTP {self.address}: {exc}") from None
        await smtp.login(self.settings.username, password)

    async def _oauth2_login(self, smtp: aiosmtplib.SMTP) -> None:
        """SASL XOAUTH2; a refused token is refreshed and tried once more."""
        try:
            await smtp.auth_xoauth2(self.settings.username, self._token(False))
        except aiosmtplib.SMTPAuthenticationError:
            await smtp.auth_xoauth2(self.settings.username, self._token(True))

    def _token(self, fresh: bool) -> str:
        return access_token(self.token, fresh, server=f"SMTP {self.address}",
                            auth_key="smtp.auth", unavailable=SendUnavailable,
                            refused=SendAuthFailed)

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
            return SendAuthFailed(self._message(f"login refused for {self.settings.username!r}",
                                                exc))
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            permanent = any(r.code >= 500 for r in exc.recipients)
            kind = SendFailed if permanent else SendDeferred
            return kind(self._message("recipients refused", exc))
        if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 500:
            return SendFailed(self._message("refused", exc))
        if isinstance(exc, aiosmtplib.SMTPDataError):
            return SendDeferred(self._message("deferred", exc))
        if isinstance(exc, (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPConnectError,
                            aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError,
                            TimeoutError, OSError)):
            return SendUnavailable(self._message("unavailable", exc))
        return SendFailed(self._message("failed", exc))

    def _message(self, what: str, exc: BaseException) -> str:
        detail = self.settings.password.redact(_describe(exc))
        return f"SMTP {self.address}: {what}: {detail}"


async def _greet(smtp: aiosmtplib.SMTP) -> None:
    """EHLO (HELO where the server has no ESMTP), unless done on this connection already."""
    if smtp.is_ehlo_or_helo_needed:
        try:
            await smtp.ehlo()
        except aiosmtplib.SMTPHeloError:
            await smtp.helo()


def _mail_options(smtp: aiosmtplib.SMTP, utf8: bool, eight_bit: bool) -> list[str]:
    if utf8 and not smtp.supports_extension("SMTPUTF8"):
        raise aiosmtplib.SMTPNotSupported("the server cannot take non-ASCII addresses")
    return ["SMTPUTF8"] * utf8 + ["BODY=8BITMIME"] * eight_bit


async def _recipients(smtp: aiosmtplib.SMTP, to: list[str], encoding: str) -> list[str]:
    """RCPT TO each address; returns those refused, unless all were (then it raises)."""
    refused = []
    for address in to:
        try:
            await smtp.rcpt(address, encoding=encoding)
        except aiosmtplib.SMTPRecipientRefused as exc:
            refused.append(exc)
    if len(refused) == len(to):
        raise aiosmtplib.SMTPRecipientsRefused(refused)
    return [r.recipient for r in refused]


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
