"""inboxd's exceptions, in one tree.

    InboxdError                     base of everything inboxd raises on purpose
    ├── ConfigError                 a TOML key is missing or wrong; names the key (exit 2)
    ├── FaqError                    the FAQ file is wrong; names the entry and key (exit 2)
    ├── TemplateError               a reply template does not compile; names file and line (exit 2)
    ├── ModelError                  no trained model, or one that does not fit the FAQ
    ├── StoreError                  the SQLite store cannot be opened or migrated
    │   └── StoreBusy               another inboxd acts on the store (sends, moves) right now
    ├── MailboxError                the IMAP server refused an operation (permanent)
    │   ├── MailboxAuthFailed       login refused
    │   └── MailboxUnavailable      network trouble, timeout, server gone (transient: retry)
    ├── SendFailed                  the SMTP server refused a message (permanent)
    │   ├── SendUnavailable         network trouble, timeout, server gone (transient: retry)
    │   │   ├── SendDeferred        a 4xx answer to this message's recipient or data (retry it)
    │   │   └── SendAuthFailed      login refused: no mail can go out until it is fixed
    │   └── SendUncertain           the answer to the data was lost: it may have been delivered
    └── AuthorizationError          the OAuth2 provider refused the stored grant (log in again)
        └── AuthorizationUnavailable  the token endpoint cannot be reached (transient: retry)

Adapters (``inboxd.mail.imap``, ``inboxd.mail.smtp``, ``inboxd.store``) turn their library's
exceptions into these at their boundary; nothing above them sees an imapclient, aiosmtplib or
sqlite3 exception. The command line maps them to messages and exit codes. Messages never carry
passwords.
"""

from __future__ import annotations


class InboxdError(Exception):
    """Base class of inboxd's own errors."""


class ConfigError(InboxdError):
    """A configuration value is missing or invalid; ``key`` is its dotted TOML path."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class FaqError(ConfigError):
    """The FAQ file is invalid; ``key`` names the entry and field, e.g. ``faq[2].answer``."""


class TemplateError(ConfigError):
    """A reply template does not compile; ``key`` is its file and line, ``file:3``."""


class ModelError(InboxdError):
    """The classifier model is missing, unreadable or out of date."""


class StoreError(InboxdError):
    """The SQLite store cannot be used."""


class StoreBusy(StoreError):
    """Another inboxd process acts on the store: two would send the same pending mail."""


class MailboxError(InboxdError):
    """The IMAP server refused an operation."""


class MailboxAuthFailed(MailboxError):
    """The IMAP server refused the login."""


class MailboxUnavailable(MailboxError):
    """The IMAP server cannot be reached right now; worth retrying."""


class SendFailed(InboxdError):
    """The SMTP server refused a message."""


class SendUnavailable(SendFailed):
    """The SMTP server cannot be reached right now; worth retrying."""


class SendDeferred(SendUnavailable):
    """The SMTP server put this message off (a 4xx answer to its recipient or its data); other
    messages may go through, and this one is tried again later."""


class SendUncertain(SendFailed):
    """The message was sent but the server's answer never came (a lost connection, a timeout):
    it may have been delivered, so it must never be sent again."""


class SendAuthFailed(SendUnavailable):
    """The SMTP server refused the login (a changed password, a revoked token, ``5.7.30``).
    No message is to blame: every mail waits in the outbox until the login works again."""


class AuthorizationError(InboxdError):
    """The OAuth2 provider refused the stored grant (revoked, expired, consent withdrawn), or
    there is none yet: a person must run ``inboxd login``."""


class AuthorizationUnavailable(AuthorizationError):
    """The OAuth2 token endpoint cannot be reached right now; worth retrying."""
