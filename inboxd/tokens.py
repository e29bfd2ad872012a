"""The OAuth2 access token of the mailbox, kept in the store and refreshed ahead of its expiry.

:class:`TokenKeeper` is what the IMAP and SMTP adapters ask for a token (``token(fresh)``).
It reads the store on every call, so a new login written by ``inboxd login`` in another process
is taken up at the next connection without a restart. A token closer to its expiry than
``oauth2.refresh_ahead_s`` (or half its lifetime, for short-lived ones) is refreshed first, and
``fresh=True`` (after the server refused a token) refreshes whatever the clock says.

A refresh may rotate the refresh token (Microsoft does on every refresh, and the old one then
dies): the grant is committed to the store before the access token is handed out, so the
rotated refresh token is on disk before anything uses it. A crash in between (crash point
``oauth-refreshed``) leaves the previous row whole; the provider decides whether its refresh
token still works, and if not the login is refused, which raises the alarm.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

from inboxd.config.oauth import OAuthSettings
from inboxd.errors import AuthorizationError, AuthorizationUnavailable
from inboxd.faults import crash_point
from inboxd.mail.oauth import Grant, TokenClient
from inboxd.store import Store
from inboxd.store_oauth import StoredToken, note_token_error, save_token, stored_token


class TokenKeeper:
    def __init__(self, store: Store, settings: OAuthSettings, account: str,
                 client: TokenClient | None = None,
                 clock_s: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settings = settings
        self.account = account.lower()
        self.client = client or TokenClient(settings, clock_s)
        self.clock_s = clock_s

    def token(self, fresh: bool = False) -> str:
        """A valid access token; AuthorizationError when the provider refuses the grant."""
        row = stored_token(self.store, self.account)
        if row is not None and not fresh and self._still_good(row):
            return row.access_token
        return self.refresh(row).access_token

    __call__ = token

    def _still_good(self, row: StoredToken) -> bool:
        lifetime_s = max(row.expires_at - row.issued_at, 0.0)
        ahead_s = min(self.settings.refresh_ahead_s, lifetime_s / 2)
        return bool(row.access_token) and row.expires_at - ahead_s > self.clock_s()

    def refresh(self, row: StoredToken | None = None) -> Grant:
        """Refresh, save (committed), then return the new grant."""
        row = row if row is not None else stored_token(self.store, self.account)
        try:
            grant = self.client.refresh(row.state if row else "")
        except AuthorizationUnavailable:
            raise
        except AuthorizationError as exc:
            if row is not None:
                note_token_error(self.store, self.account, str(exc), self._now())
            raise
        crash_point("oauth-refreshed")  # the rotated refresh token exists only in memory here
        if not self.save(grant, row.generation if row else None):
            newer = stored_token(self.store, self.account)  # a login saved meanwhile wins
            if newer is not None and self._still_good(newer):
                return Grant(newer.access_token, newer.expires_at, newer.state)
        return grant

    def save(self, grant: Grant, generation: int | None = None) -> bool:
        values = {"state": grant.state, "access_token": grant.access_token,
                  "issued_at": self.clock_s(), "expires_at": grant.expires_at}
        return save_token(self.store, self.account, self.settings.provider, values, generation,
                          self._now())

    def stored(self) -> StoredToken | None:
        return stored_token(self.store, self.account)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock_s(), timezone.utc)
