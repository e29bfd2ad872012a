"""[imap], [smtp] and [folders]: the mail servers, their passwords, the sender and folders."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from inboxd.config.table import Table, positive, resolve_path
from inboxd.errors import ConfigError

SECURITY_MODES = ("tls", "starttls", "none")
AUTH_MODES = ("password", "oauth2")
DEFAULT_DRAFTS = "Drafts"  # folders.drafts when unset and the server announces no \\Drafts
PASSWORD_KEYS = ("password_env", "password_file", "password")


@dataclass(frozen=True)
class Secret:
    """A password, read only when a connection needs it (:attr:`value`), so that commands which
    never connect work on a machine without it. Never shows itself in logs, reprs or tracebacks.

    It is the password itself (``given``), or the name of the environment variable (``env``) or
    the file (``file``) that holds it; ``key`` is the TOML key named when it cannot be read.
    """

    given: str = field(default="", repr=False)
    env: str | None = None
    file: Path | None = None
    key: str = "password"

    @property
    def value(self) -> str:
        """The password; raises :class:`ConfigError` naming the key when it cannot be read."""
        if self.env is not None:
            if self.env not in os.environ:
                raise ConfigError(self.key, f"environment variable {self.env} is not set")
            return os.environ[self.env]
        if self.file is not None:
            return _first_line(self.file, self.key)
        return self.given

    def redact(self, text: str) -> str:
        """``text`` with the password (when it can be read) replaced by asterisks."""
        try:
            value = self.value
        except ConfigError:
            return text
        return text.replace(value, "********") if value else text

    def __str__(self) -> str:
        return "********"


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    security: str
    username: str  # "" for an SMTP server used without a login (no AUTH)
    password: Secret
    ca_file: Path | None
    timeout_s: float
    auth: str = "password"  # or "oauth2": SASL XOAUTH2 with a token of [oauth2]

    @property
    def oauth2(self) -> bool:
        return self.auth == "oauth2"


@dataclass(frozen=True)
class ImapSettings(ServerSettings):
    inbox: str = "INBOX"
    idle: bool = True
    poll_interval_s: float = 60.0


@dataclass(frozen=True)
class SmtpSettings(ServerSettings):
    sender: str = ""  # the `from` key: "Example Support <support@example.com>"


@dataclass(frozen=True)
class FolderSettings:
    answered: str = "Support/Answered"
    queue: str = "Support/Queue"
    sent: str = "Sent"
    automated: str = "Support/Automated"
    overdue: str = "Support/Overdue"
    learn: str = "Support/Learn"  # agents teach by moving a message into <learn>/<faq-id>
    done: str = "Support/Done"  # agents resolve a ticket by moving its message here
    # where suggested answers go as drafts; None: the server's special-use \\Drafts folder,
    # else "Drafts" (see DEFAULT_DRAFTS)
    drafts: str | None = None


def imap_settings(t: Table, base: Path) -> ImapSettings:
    """The [imap] table; the caller rejects unknown keys once [smtp] is read too."""
    return ImapSettings(**_server(t, 993, "tls", base), **_login(t, base),
                        inbox=t.get("inbox", str, "INBOX"),
                        idle=t.get("idle", bool, True),
                        poll_interval_s=positive(t, "poll_interval_s", 60.0))


def smtp_settings(t: Table, base: Path) -> SmtpSettings:
    """The [smtp] table; the caller rejects unknown keys."""
    return SmtpSettings(**_server(t, 587, "starttls", base), **_optional_login(t, base),
                        sender=_sender(t))


def _server(t: Table, default_port: int, default_security: str, base: Path) -> dict[str, Any]:
    host = t.get("host", str)
    if not host.strip():
        raise ConfigError(t.key("host"), "must not be empty")
    port = t.get("port", int, default_port)
    if not 1 <= port <= 65535:
        raise ConfigError(t.key("port"), f"must be between 1 and 65535, got {port}")
    security = t.get("security", str, default_security, choices=SECURITY_MODES)
    if security == "none" and not _is_loopback(host):
        raise ConfigError(t.key("security"),
                          f'"none" sends the login and the mail in clear text; it is allowed only for a '
                          f"loopback host (127.0.0.1, ::1, localhost), not {host!r}")
    ca = t.get("ca_file", str, None)
    ca_file = resolve_path(base, ca) if ca else None
    if ca_file is not None:
        _check_certificates(t.key("ca_file"), ca_file)
    return dict(host=host, port=port, security=security, ca_file=ca_file,
                timeout_s=positive(t, "timeout_s", 30.0))


def _login(t: Table, base: Path) -> dict[str, Any]:
    auth = t.get("auth", str, "password", choices=AUTH_MODES)
    if auth == "oauth2":
        return _oauth2_login(t)
    username = t.get("username", str)
    if not username.strip():
        raise ConfigError(t.key("username"), "must not be empty: the mailbox's login name")
    return dict(username=username, password=_password(t, base), auth=auth)


def _oauth2_login(t: Table) -> dict[str, Any]:
    """The mailbox address to log in as; the token comes from [oauth2], not from a password."""
    username = t.get("username", str)
    if "@" not in username:
        raise ConfigError(t.key("username"), f'with auth = "oauth2" it must be the mailbox '
                                             f"address, got {username!r}")
    for name in PASSWORD_KEYS:
        if name in t.data:
            raise ConfigError(t.key(name), f'is set but {t.key("auth")} is "oauth2": remove '
                                           f"it (the login uses the token of [oauth2])")
    return dict(username=username, password=Secret(key=t.key("password")), auth="oauth2")


def _optional_login(t: Table, base: Path) -> dict[str, Any]:
    """A username and its password, or neither: a relay that takes mail without AUTH."""
    if t.get("username", str, "") or t.get("auth", str, "password") == "oauth2":
        return _login(t, base)
    for name in PASSWORD_KEYS:
        if name in t.data and not (name == "password" and t.get(name, str) == ""):
            raise ConfigError(t.key(name), f"is set but {t.key('username')} is not: set the "
                                           f"username to log in, or remove {t.key(name)} to "
                                           f"send without a login")
    t.used.update(PASSWORD_KEYS)
    return dict(username="", password=Secret(key=t.key("password")))


def _first_line(path: Path, key: str) -> str:
    """The first line of a password file (a comment or a note may follow)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(key, f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(key, f"{path} is not UTF-8 text") from None
    lines = text.strip().splitlines()
    if not lines:
        raise ConfigError(key, f"{path} is empty")
    return lines[0].strip()


def _check_certificates(key: str, path: Path) -> None:
    """``path`` must be a file of PEM certificates that TLS can trust."""
    import ssl

    if not path.is_file():
        raise ConfigError(key, f"file not found: {path}")
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(key, f"{path} holds no certificate TLS can use ({reason}); give the "
                               f"PEM file of the CA that signed the server's certificate") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _password(t: Table, base: Path) -> Secret:
    """Where the password is; it is read when a connection is made (see :class:`Secret`)."""
    given = [k for k in PASSWORD_KEYS if k in t.data]
    if len(given) != 1:
        keys = ", ".join(t.key(k) for k in PASSWORD_KEYS)
        problem = f"set exactly one of {keys}"
        raise t.missing(PASSWORD_KEYS, problem) if not given else \
            ConfigError(t.key("password_env"), problem)
    name = given[0]
    value = t.get(name, str)
    if name == "password":
        return Secret(value, key=t.key(name))
    if name == "password_env":
        return Secret(env=value, key=t.key(name))
    return Secret(file=resolve_path(base, value), key=t.key(name))


def read_passwords(*servers: ServerSettings) -> None:
    """Read the passwords of the servers a command is about to use, so that one it cannot read
    stops the command at once, naming its key (a ConfigError)."""
    for server in servers:
        if server.username and not server.oauth2:
            server.password.value  # noqa: B018 (read for its error)


def _sender(t: Table) -> str:
    sender = t.get("from", str)
    name, addr = parseaddr(sender)
    if "@" not in addr or any(c in sender for c in "\r\n"):
        raise ConfigError(t.key("from"), f'must be an address like "Support <support@example.com>", '
                                         f"got {sender!r}")
    try:
        Address(display_name=name, addr_spec=addr)
    except (ValueError, IndexError) as exc:
        raise ConfigError(t.key("from"), f"is not a valid address: {exc}") from None
    return sender


def folder_settings(t: Table, inbox: str = "INBOX") -> FolderSettings:
    defaults = FolderSettings()
    values = {}
    for name in ("answered", "queue", "sent", "automated", "overdue", "learn", "done"):
        value = t.get(name, str, getattr(defaults, name))
        if not value.strip():
            raise ConfigError(t.key(name), "must not be empty")
        values[name] = value
    drafts = t.get("drafts", str, None)
    if drafts is not None and not drafts.strip():
        raise ConfigError(t.key("drafts"), "must not be empty")
    _check_distinct(t, {**values, "drafts": drafts}, inbox)
    t.reject_unknown()
    return FolderSettings(**values, drafts=drafts)


def _check_distinct(t: Table, folders: dict[str, str | None], inbox: str) -> None:
    """Each folder has one purpose: a queue that is the inbox would be read again as new mail."""
    seen = {_folder_key(inbox): "imap.inbox"}
    for name, folder in folders.items():
        if folder is None:
            continue
        other = seen.setdefault(_folder_key(folder), t.key(name))
        if other != t.key(name):
            raise ConfigError(t.key(name), f"is {folder!r}, the same folder as {other}; "
                                           f"each folder needs a name of its own")


def _folder_key(folder: str) -> str:
    """How a folder name compares: INBOX in any case is the inbox (RFC 3501), others exactly."""
    folder = folder.strip().strip("/")
    return "INBOX" if folder.upper() == "INBOX" else folder
