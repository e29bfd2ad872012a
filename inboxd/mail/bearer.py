"""The OAuth2 access token an IMAP or SMTP login hands the server (SASL XOAUTH2)."""

from __future__ import annotations

from collections.abc import Callable

from inboxd.errors import AuthorizationError, AuthorizationUnavailable, InboxdError

TokenSource = Callable[[bool], str]  # an OAuth2 access token; True: a new one, not the cached


def access_token(source: TokenSource | None, fresh: bool, *, server: str, auth_key: str,
                 unavailable: type[InboxdError], refused: type[InboxdError]) -> str:
    """The token of ``source`` (a new one when ``fresh``) for a login to ``server``.

    The provider out of reach raises ``unavailable`` (try again later); a refused grant, or no
    token source at all, raises ``refused`` (a person must sign in again)."""
    if source is None:
        raise refused(f"{server}: {auth_key} is \"oauth2\" but no token source is set up")
    try:
        return source(fresh)
    except AuthorizationUnavailable as exc:
        raise unavailable(f"{server}: {exc}") from None
    except AuthorizationError as exc:
        raise refused(f"{server}: {exc}") from None
