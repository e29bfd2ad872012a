"""[oauth2]: who issues the tokens inboxd logs in with when ``imap.auth`` or ``smtp.auth`` is
``"oauth2"`` (Microsoft 365 through msal, or Google).

The client secret is a :class:`~inboxd.config.mail.Secret`, read only when a token is asked
for. ``authority`` (Microsoft) and ``auth_url`` / ``token_url`` (Google) default to the
providers' own endpoints; they are keys for a sovereign cloud or a private token server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inboxd.config.mail import Secret
from inboxd.config.table import Table, positive, resolve_path
from inboxd.errors import ConfigError

PROVIDERS = ("microsoft", "google")
FLOWS = {"microsoft": ("device", "client_credentials"), "google": ("installed",)}
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com/{tenant}"
MICROSOFT_USER_SCOPES = ("https://outlook.office.com/IMAP.AccessAsUser.All",
                         "https://outlook.office.com/SMTP.Send")  # msal adds offline_access
MICROSOFT_APP_SCOPES = ("https://outlook.office365.com/.default",)
GOOGLE_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_REVOKE_URL = "https://oauth2.googleapis.com/revoke"
GOOGLE_SCOPES = ("https://mail.google.com/",)
GOOGLE_REDIRECT_URI = "http://127.0.0.1:8080/"


@dataclass(frozen=True)
class OAuthSettings:
    provider: str  # "microsoft" | "google"
    client_id: str
    flow: str  # "device" | "client_credentials" (Microsoft), "installed" (Google)
    tenant: str = ""
    client_secret: Secret | None = None
    authority: str = ""  # Microsoft: https://login.microsoftonline.com/<tenant>
    auth_url: str = GOOGLE_AUTH_URL
    token_url: str = GOOGLE_TOKEN_URL
    redirect_uri: str = GOOGLE_REDIRECT_URI
    scopes: tuple[str, ...] = ()
    ca_file: Path | None = None  # an extra CA for the token endpoint
    timeout_s: float = 30.0
    refresh_ahead_s: float = 300.0  # a token this close to its expiry is refreshed first

    @property
    def app_only(self) -> bool:
        return self.flow == "client_credentials"


def oauth_settings(t: Table, base: Path) -> OAuthSettings:
    provider = t.get("provider", str, choices=PROVIDERS)
    client_id = t.get("client_id", str)
    if not client_id.strip():
        raise ConfigError(t.key("client_id"), "must not be empty")
    flows = FLOWS[provider]
    flow = t.get("flow", str, flows[0], choices=flows)
    secret = _client_secret(t, base)
    ca = t.get("ca_file", str, None)
    ca_file = resolve_path(base, ca) if ca else None
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError(t.key("ca_file"), f"file not found: {ca_file}")
    common = dict(provider=provider, client_id=client_id, flow=flow, client_secret=secret,
                  ca_file=ca_file, timeout_s=positive(t, "timeout_s", 30.0),
                  refresh_ahead_s=positive(t, "refresh_ahead_s", 300.0))
    settings = _microsoft(t, common) if provider == "microsoft" else _google(t, common)
    t.reject_unknown()
    return settings


def _microsoft(t: Table, common: dict) -> OAuthSettings:  # type: ignore[type-arg]
    tenant = t.get("tenant", str)
    if not tenant.strip() or "/" in tenant:
        raise ConfigError(t.key("tenant"), 'must be the directory (tenant) ID or domain, e.g. '
                                           f'"contoso.onmicrosoft.com", got {tenant!r}')
    if common["flow"] == "client_credentials" and common["client_secret"] is None:
        raise ConfigError(t.key("client_secret_env"), 'flow "client_credentials" needs the '
                          "app's secret: set client_secret_env or client_secret_file")
    if common["flow"] == "client_credentials" and tenant in ("common", "organizations",
                                                              "consumers"):
        raise ConfigError(t.key("tenant"), 'flow "client_credentials" needs your own tenant, '
                                           f"not {tenant!r}")
    authority = t.get("authority", str, MICROSOFT_AUTHORITY.format(tenant=tenant)).rstrip("/")
    if not authority.startswith("https://"):
        raise ConfigError(t.key("authority"), f"must be an https:// URL, got {authority!r}")
    scopes = MICROSOFT_APP_SCOPES if common["flow"] == "client_credentials" else \
        MICROSOFT_USER_SCOPES
    return OAuthSettings(tenant=tenant, authority=authority, scopes=scopes, **common)


def _google(t: Table, common: dict) -> OAuthSettings:  # type: ignore[type-arg]
    if common["client_secret"] is None:
        raise ConfigError(t.key("client_secret_env"), "Google's Desktop clients have a secret: "
                          "set client_secret_env or client_secret_file")
    urls = {name: t.get(name, str, default) for name, default in
            (("auth_url", GOOGLE_AUTH_URL), ("token_url", GOOGLE_TOKEN_URL))}
    redirect_uri = t.get("redirect_uri", str, GOOGLE_REDIRECT_URI)
    if not redirect_uri.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
        raise ConfigError(t.key("redirect_uri"), "must be a loopback address such as "
                          f"{GOOGLE_REDIRECT_URI!r}, got {redirect_uri!r}")
    return OAuthSettings(redirect_uri=redirect_uri, scopes=GOOGLE_SCOPES, **urls, **common)


def _client_secret(t: Table, base: Path) -> Secret | None:
    given = [k for k in ("client_secret_env", "client_secret_file") if k in t.data]
    if len(given) > 1:
        raise ConfigError(t.key("client_secret_env"),
                          "set one of client_secret_env and client_secret_file, not both")
    t.used.update(("client_secret_env", "client_secret_file"))
    if not given:
        return None
    name, value = given[0], t.get(given[0], str)
    if name == "client_secret_env":
        return Secret(env=value, key=t.key(name))
    return Secret(file=resolve_path(base, value), key=t.key(name))
