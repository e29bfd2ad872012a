"""The OAuth2 adapter: tokens from Microsoft (msal) or Google (requests-oauthlib).

:class:`TokenClient` gets a grant by the configured flow and refreshes it; what it returns is a
:class:`Grant`: the access token, its expiry and the ``state`` to keep (msal's serialized token
cache, or Google's token JSON), which holds the refresh token. Keeping the state is the
caller's job (``inboxd.tokens``): this module stores nothing. The libraries' errors become
``AuthorizationError`` (the provider refused: a person must log in again; the message says
why in the provider's words and what to do) or ``AuthorizationUnavailable`` (the endpoint cannot
be reached: try again later). Tokens never appear in a message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msal
import requests
from oauthlib.oauth2 import OAuth2Error
from requests_oauthlib import OAuth2Session

from inboxd.config.oauth import OAuthSettings
from inboxd.errors import AuthorizationError, AuthorizationUnavailable, ConfigError

TRANSIENT_ERRORS = ("temporarily_unavailable", "server_error", "slow_down")
# Microsoft's AADSTS codes with what to do about them
HINTS = {
    "AADSTS90002": "the tenant was not found: check oauth2.tenant",
    "AADSTS700016": "the application was not found in this tenant: check oauth2.client_id "
                    "and oauth2.tenant",
    "AADSTS65001": "consent is needed: an administrator must grant the API permissions "
                   "(Entra admin center > App registrations > API permissions > Grant admin "
                   "consent)",
    "AADSTS70011": "a scope is missing or not allowed: add IMAP.AccessAsUser.All, SMTP.Send and "
                   "offline_access to the app's API permissions",
    "AADSTS7000218": "the app is not a public client: enable 'Allow public client flows' in "
                     "its Authentication settings",
    "AADSTS50076": "multi-factor sign-in is required: run `inboxd login` again",
    "AADSTS700082": "the refresh token expired after a long inactivity: run `inboxd login`",
    "AADSTS50173": "the grant was revoked (a password change?): run `inboxd login`",
}
GRANT_HINT = "run `inboxd login` again"


@dataclass(frozen=True)
class Grant:
    access_token: str = field(repr=False)
    expires_at: float  # seconds since the epoch
    state: str = field(default="", repr=False)  # what to keep for the next refresh
    account: str = ""  # whom the provider says signed in, when it says

    @property
    def refreshable(self) -> bool:
        return bool(self.state)


@dataclass(frozen=True)
class DeviceLogin:
    """What the person is shown: where to go and the code to type."""

    message: str
    verification_uri: str
    user_code: str
    flow: dict[str, Any] = field(repr=False)


class TokenClient:
    """Speaks to the provider's token endpoint as [oauth2] says."""

    def __init__(self, settings: OAuthSettings,
                 clock_s: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock_s = clock_s
        self.http = requests.Session()
        if settings.ca_file is not None:  # the environment's CA bundle must not win over it
            self.http.trust_env = False
            self.http.verify = str(settings.ca_file)

    # -- Microsoft ---------------------------------------------------------------------------

    def _msal(self, cache: msal.SerializableTokenCache) -> msal.ClientApplication:
        s = self.settings
        common = dict(authority=s.authority, token_cache=cache, http_client=self.http,
                      timeout=s.timeout_s, instance_discovery=s.authority.startswith(
                          "https://login.microsoftonline.com/"))
        return self._call(lambda: msal.ConfidentialClientApplication(
            s.client_id, client_credential=self._secret(), **common) if s.app_only else
            msal.PublicClientApplication(s.client_id, **common))

    def start_device_login(self) -> tuple[DeviceLogin, msal.SerializableTokenCache]:
        cache = msal.SerializableTokenCache()
        app = self._msal(cache)
        flow = self._call(lambda: app.initiate_device_flow(scopes=list(self.settings.scopes)))
        if "user_code" not in flow:
            raise self._refused("the device login could not start", flow)
        return DeviceLogin(flow.get("message", ""), flow.get("verification_uri", ""),
                           flow["user_code"], {"flow": flow, "app": app}), cache

    def finish_device_login(self, login: DeviceLogin,
                            cache: msal.SerializableTokenCache) -> Grant:
        """Wait until the person signed in (or the code expired)."""
        app, flow = login.flow["app"], login.flow["flow"]
        result = self._call(lambda: app.acquire_token_by_device_flow(flow))
        return self._msal_grant(result, cache, "the sign-in did not complete")

    def _msal_grant(self, result: dict[str, Any] | None, cache: msal.SerializableTokenCache,
                    what: str) -> Grant:
        if not result or "access_token" not in result:
            raise self._refused(what, result or {"error": "no_account",
                                                 "error_description": "no stored sign-in"})
        claims = result.get("id_token_claims") or {}
        return Grant(result["access_token"], self.clock_s() + float(result.get("expires_in", 0)),
                     "" if self.settings.app_only else cache.serialize(),
                     claims.get("preferred_username", "") or claims.get("email", ""))

    def _refresh_microsoft(self, state: str) -> Grant:
        cache = msal.SerializableTokenCache()
        cache.deserialize(state)
        app = self._msal(cache)
        accounts = self._call(app.get_accounts)
        if not accounts:
            raise AuthorizationError(f"OAuth2 {self.settings.provider}: the stored sign-in "
                                     f"holds no account; {GRANT_HINT}")
        result = self._call(lambda: app.acquire_token_silent_with_error(
            list(self.settings.scopes), account=accounts[0], force_refresh=True))
        return self._msal_grant(result, cache, "the refresh was refused")

    def app_token(self) -> Grant:
        """Client credentials: a token for the app itself, no person and no refresh token."""
        app = self._msal(msal.SerializableTokenCache())
        result = self._call(lambda: app.acquire_token_for_client(list(self.settings.scopes)))
        return self._msal_grant(result, msal.SerializableTokenCache(), "the app was refused")

    # -- Google --------------------------------------------------------------------------------

    def authorization_url(self) -> tuple[str, OAuth2Session]:
        s = self.settings
        session = OAuth2Session(s.client_id, redirect_uri=s.redirect_uri, scope=list(s.scopes),
                                pkce="S256")
        url, _ = session.authorization_url(s.auth_url, access_type="offline", prompt="consent")
        return url, session

    def finish_authorization(self, session: OAuth2Session, redirected: str) -> Grant:
        """Exchange the code in the URL the browser was sent to (pasted by the person)."""
        query = parse_qs(urlsplit(redirected.strip()).query)
        if "error" in query:
            raise self._refused("the authorization was refused",
                                {"error": query["error"][0],
                                 "error_description": query.get("error_description", [""])[0]})
        if query.get("state", [""])[0] != session._state or "code" not in query:
            raise AuthorizationError("OAuth2 google: that is not the address the sign-in "
                                     "redirected to (no code, or another login's state); "
                                     "paste the whole address from the browser's address bar")
        token = self._google_call(lambda: session.fetch_token(
            self.settings.token_url, code=query["code"][0], client_secret=self._secret(),
            include_client_id=True, verify=self.http.verify, timeout=self.settings.timeout_s))
        return self._google_grant(dict(token), None)

    def _refresh_google(self, state: str) -> Grant:
        old = json.loads(state)
        session = OAuth2Session(self.settings.client_id, token=old)
        session.trust_env = self.http.trust_env
        token = self._google_call(lambda: session.refresh_token(
            self.settings.token_url, refresh_token=old.get("refresh_token"),
            client_id=self.settings.client_id, client_secret=self._secret(),
            verify=self.http.verify, timeout=self.settings.timeout_s))
        return self._google_grant(dict(token), old)

    def _google_grant(self, token: dict[str, Any], old: dict[str, Any] | None) -> Grant:
        if not token.get("refresh_token") and old:  # Google keeps the refresh token as it is
            token["refresh_token"] = old.get("refresh_token")
        if not token.get("refresh_token"):
            raise AuthorizationError("OAuth2 google: no refresh token came back; remove inboxd "
                                     "from the account's third-party access and log in again")
        expires_at = self.clock_s() + float(token.get("expires_in", 0))
        kept = {k: v for k, v in token.items() if k not in ("access_token", "expires_at")}
        return Grant(token["access_token"], expires_at, json.dumps(kept, sort_keys=True))

    def _google_call(self, fn: Callable[[], Any]) -> Any:
        try:
            return self._call(fn)
        except OAuth2Error as exc:
            raise self._refused("the token endpoint refused",
                                {"error": exc.error, "error_description": exc.description})

    # -- both ------------------------------------------------------------------------------------

    def refresh(self, state: str) -> Grant:
        """A new access token from the stored ``state``; its rotated refresh token, if any, is
        in the returned grant's state, which must be saved before the token is used."""
        if self.settings.app_only:
            return self.app_token()
        if not state:
            raise AuthorizationError(f"OAuth2 {self.settings.provider}: not logged in yet; "
                                     f"run `inboxd login`")
        if self.settings.provider == "microsoft":
            return self._refresh_microsoft(state)
        return self._refresh_google(state)

    def _secret(self) -> str | None:
        return self.settings.client_secret.value if self.settings.client_secret else None

    def _call(self, fn: Callable[[], Any]) -> Any:
        where = self.settings.authority or self.settings.token_url
        try:
            return fn()
        except ConfigError:
            raise
        except requests.exceptions.SSLError:
            raise AuthorizationUnavailable(f"OAuth2 {where}: the server's TLS certificate is not "
                                           f"trusted; set oauth2.ca_file") from None
        except (requests.exceptions.RequestException, OSError) as exc:
            raise AuthorizationUnavailable(f"OAuth2 {where}: cannot reach the token endpoint "
                                           f"({type(exc).__name__})") from None
        except ValueError as exc:  # msal: the authority's metadata could not be read
            raise AuthorizationError(f"OAuth2 {where}: {exc}; check oauth2.tenant") from None

    def _refused(self, what: str, result: dict[str, Any]) -> AuthorizationError:
        error = str(result.get("error", "unknown_error"))
        description = str(result.get("error_description", "")).splitlines()[0:1]
        detail = description[0] if description else ""
        hint = next((h for code, h in HINTS.items() if detail.startswith(code + ":")), "")
        if not hint:
            hint = GRANT_HINT if error in ("invalid_grant", "interaction_required",
                                           "expired_token", "no_account") else ""
        kind = AuthorizationUnavailable if error in TRANSIENT_ERRORS else AuthorizationError
        text = f"OAuth2 {self.settings.provider}: {what}: {error}"
        return kind(text + (f" ({detail})" if detail else "") + (f"; {hint}" if hint else ""))
