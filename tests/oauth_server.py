"""A small OAuth2 token server on 127.0.0.1 for the tests, speaking HTTPS (a trustme CA).

It plays Microsoft's identity platform for msal (OpenID metadata, the device authorization
grant, refresh with rotating one-time refresh tokens, client credentials) and Google's
installed-app flow (authorization code with PKCE and a loopback redirect; refresh without
rotation). Access tokens are JWTs signed with the HS256 key that Dovecot's ``oauth2`` passdb and
the SMTP server check them with; they expire after ``access_lifetime_s``. Tests play the person
(``approve``), revoke a grant (``revoke``) and read what happened (``refreshes``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import trustme

TENANT = "contoso-tenant"
CLIENT_ID = "inboxd-test-client"
CLIENT_SECRET = "test-client-secret"


@dataclass
class _Refresh:
    user: str
    scope: str
    rotates: bool  # Microsoft: a new refresh token on every refresh; Google: the same one
    valid: bool = True


@dataclass
class _DeviceCode:
    user_code: str
    scope: str
    expires_at: float
    user: str | None = None
    denied: bool = False


@dataclass
class TokenServer:
    key: bytes  # the HS256 key of the access tokens
    access_lifetime_s: float = 3600.0
    app_user: str = ""  # whose mailbox client-credentials tokens are for
    refresh_tokens: dict[str, _Refresh] = field(default_factory=dict)
    device_codes: dict[str, _DeviceCode] = field(default_factory=dict)
    auth_codes: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # code -> user, challenge, scope
    google_user: str = ""  # who "signs in" at the authorize endpoint
    refreshes: int = 0  # refresh grants answered with a token
    refused_refreshes: int = 0
    issued: list[float] = field(default_factory=list)  # expiry of every access token issued

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.dir = Path(__import__("tempfile").mkdtemp(prefix="inboxd-oauth-"))
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1")
        self.ca_file = self.dir / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        return f"{self.base}/{TENANT}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- what tests do -----------------------------------------------------------------------

    def approve(self, user: str, timeout_s: float = 10.0) -> str:
        """Play the person typing the code shown: waits for a device login, signs in ``user``;
        returns the user code."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                waiting = [c for c in self.device_codes.values() if c.user is None]
                if waiting:
                    waiting[-1].user = user
                    return waiting[-1].user_code
            time.sleep(0.05)
        raise AssertionError("no device login was started")

    def approve_soon(self, user: str) -> threading.Thread:
        thread = threading.Thread(target=self.approve, args=(user,), daemon=True)
        thread.start()
        return thread

    def revoke(self, user: str) -> None:
        """The grant dies (a password change, consent withdrawn): every refresh token of
        ``user`` is refused from now on."""
        with self.lock:
            for grant in self.refresh_tokens.values():
                if grant.user == user:
                    grant.valid = False

    def valid_refresh_tokens(self, user: str) -> list[str]:
        with self.lock:
            return [rt for rt, g in self.refresh_tokens.items() if g.user == user and g.valid]

    def access_token(self, user: str, lifetime_s: float | None = None) -> str:
        now = time.time()
        exp = now + (self.access_lifetime_s if lifetime_s is None else lifetime_s)
        self.issued.append(exp)
        return jwt.encode({"sub": user, "email": user, "iat": int(now) - 1, "exp": int(exp),
                           "iss": f"{self.authority}/v2.0"},
                          self.key, algorithm="HS256", headers={"typ": "JWT"})

    # -- the protocol --------------------------------------------------------------------------

    def metadata(self) -> dict[str, str]:
        a = self.authority
        return {"issuer": f"{a}/v2.0", "authorization_endpoint": f"{a}/oauth2/v2.0/authorize",
                "token_endpoint": f"{a}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{a}/oauth2/v2.0/devicecode"}

    def device_code(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        if form.get("client_id") != CLIENT_ID:
            return 400, {"error": "unauthorized_client",
                         "error_description": "AADSTS700016: Application not found"}
        code, user_code = secrets.token_urlsafe(16), secrets.token_hex(4).upper()
        with self.lock:
            self.device_codes[code] = _DeviceCode(user_code, form.get("scope", ""),
                                                  time.time() + 300)
        return 200, {"device_code": code, "user_code": user_code,
                     "verification_uri": f"{self.base}/devicelogin", "expires_in": 300,
                     "interval": 1,
                     "message": f"To sign in, open {self.base}/devicelogin and enter the code "
                                f"{user_code} to authenticate."}

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        grant = form.get("grant_type", "")
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            return self._device_token(form)
        if grant == "refresh_token":
            return self._refresh(form)
        if grant == "authorization_code":
            return self._code(form)
        if grant == "client_credentials":
            if form.get("client_secret") != CLIENT_SECRET:
                return 401, {"error": "invalid_client",
                             "error_description": "AADSTS7000215: Invalid client secret"}
            return 200, {"token_type": "Bearer", "expires_in": int(self.access_lifetime_s),
                         "access_token": self.access_token(self.app_user)}
        return 400, {"error": "unsupported_grant_type"}

    def _device_token(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        with self.lock:
            code = self.device_codes.get(form.get("device_code", ""))
            if code is None or code.expires_at < time.time():
                return 400, {"error": "expired_token"}
            if code.denied:
                return 400, {"error": "access_denied"}
            if code.user is None:
                return 400, {"error": "authorization_pending"}
            del self.device_codes[form["device_code"]]
        return 200, self._tokens(code.user, code.scope, rotate=True)

    def _refresh(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        with self.lock:
            grant = self.refresh_tokens.get(form.get("refresh_token", ""))
            if grant is None or not grant.valid:
                self.refused_refreshes += 1
                return 400, {"error": "invalid_grant", "error_description":
                             "AADSTS50173: The provided grant has expired due to it being "
                             "revoked, a fresh auth token is needed."}
            if grant.rotates:
                grant.valid = False  # one use each
            self.refreshes += 1
        return 200, self._tokens(grant.user, grant.scope, rotate=grant.rotates)

    def _code(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        with self.lock:
            found = self.auth_codes.pop(form.get("code", ""), None)
        if found is None or form.get("client_secret") != CLIENT_SECRET:
            return 400, {"error": "invalid_grant", "error_description": "Bad code or secret"}
        user, challenge, scope = found
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if digest.rstrip(b"=").decode() != challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE check failed"}
        return 200, self._tokens(user, scope, rotate=False, first=True)

    def authorize(self, query: dict[str, str]) -> str:
        """No login page: the person "signs in" as ``google_user`` at once; the redirect."""
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.auth_codes[code] = (self.google_user, query.get("code_challenge", ""),
                                     query.get("scope", ""))
        return query["redirect_uri"] + "?" + urlencode({"code": code,
                                                        "state": query.get("state", "")})

    def _tokens(self, user: str, scope: str, rotate: bool,
                first: bool = False) -> dict[str, object]:
        now = int(time.time())
        answer: dict[str, object] = {
            "token_type": "Bearer", "scope": scope, "expires_in": int(self.access_lifetime_s),
            "access_token": self.access_token(user)}
        if rotate or first:
            refresh = secrets.token_urlsafe(24)
            with self.lock:
                self.refresh_tokens[refresh] = _Refresh(user, scope, rotates=rotate)
            answer["refresh_token"] = refresh
        uid = hashlib.sha1(user.encode()).hexdigest()
        answer["id_token"] = jwt.encode(
            {"iss": f"{self.authority}/v2.0", "sub": uid, "oid": uid, "tid": TENANT,
             "aud": CLIENT_ID, "iat": now, "exp": now + 3600, "preferred_username": user},
            "id-token-signature-not-checked-by-msal", algorithm="HS256")
        answer["client_info"] = base64.urlsafe_b64encode(
            json.dumps({"uid": uid, "utid": TENANT}).encode()).decode().rstrip("=")
        return answer


def _handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            if url.path.endswith("/v2.0/.well-known/openid-configuration"):
                if not url.path.startswith(f"/{TENANT}/"):
                    return self._json(400, {"error": "invalid_tenant", "error_description":
                                            "AADSTS90002: Tenant not found."})
                return self._json(200, server.metadata())
            if url.path.endswith("/authorize"):
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                self.send_response(302)
                self.send_header("Location", server.authorize(query))
                self.end_headers()
                return None
            return self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):  # client_secret_basic
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                form.setdefault("client_id", client_id)
                form.setdefault("client_secret", secret)
            path = urlsplit(self.path).path
            if path.endswith("/devicecode"):
                return self._json(*server.device_code(form))
            if path.endswith("/token"):
                return self._json(*server.token(form))
            return self._json(404, {"error": "not_found"})

        def _json(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
