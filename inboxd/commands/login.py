"""``inboxd login``: authorise inboxd to the mailbox with OAuth2, over SSH, no web server.

Microsoft, ``flow = "device"``: prints the address and the code, waits while the person signs
in on any device, keeps the tokens. ``"client_credentials"``: gets an app-only token with the
client secret. Google: prints the sign-in address; the browser is then sent to the loopback
``redirect_uri``, where nothing listens: the person pastes that address back here. The tokens
go to the store; a running daemon takes them up at its next connection, without a restart.
``--status`` says, for each server, which login it uses, until when the token is valid and
whether a refresh works (that refresh is kept, as any other).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Any

from inboxd.commands.common import EXIT_RUNTIME, config_from
from inboxd.config import Config
from inboxd.errors import AuthorizationError, ConfigError
from inboxd.mail.oauth import Grant
from inboxd.runtime import token_keeper
from inboxd.store import Store
from inboxd.tokens import TokenKeeper


def register(sub: Any) -> None:
    p = sub.add_parser("login", help="authorise inboxd to the mailbox with OAuth2 ([oauth2])")
    p.add_argument("--status", action="store_true",
                   help="show each server's login, the token's expiry and whether a refresh works")
    p.set_defaults(handler=cmd_login)


def cmd_login(args: argparse.Namespace) -> int:
    config = config_from(args)
    if config.oauth2 is None:
        raise ConfigError("oauth2", 'inboxd logs in with passwords here (imap.auth and smtp.auth '
                                    'are "password"): there is nothing to authorise')
    store = Store(config.store_path)
    try:
        keeper = token_keeper(config, store)
        assert keeper is not None
        if args.status:
            lines, ok = login_status(config, keeper)
            print("\n".join(lines))
            return 0 if ok else EXIT_RUNTIME
        return _login(config, keeper)
    finally:
        store.close()


def _login(config: Config, keeper: TokenKeeper) -> int:
    settings = config.oauth2
    assert settings is not None
    try:
        grant = _grant(keeper)
    except AuthorizationError as exc:
        print(f"login failed: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    keeper.save(grant)
    print(f"logged in{f' as {grant.account}' if grant.account else ''}; the token is kept in "
          f"{config.store_path} and valid until {_when(grant.expires_at)}")
    if grant.account and grant.account.lower() != keeper.account:
        print(f"WARNING: signed in as {grant.account}, but the mailbox is {keeper.account}: "
              f"the mail servers will refuse this token unless that account may use the "
              f"mailbox", file=sys.stderr)
    print("a running inboxd takes the new token up at its next connection")
    return 0


def _grant(keeper: TokenKeeper) -> Grant:
    client, settings = keeper.client, keeper.settings
    if settings.app_only:
        print(f"getting an app-only token for {settings.client_id} in tenant {settings.tenant}")
        return client.app_token()
    if settings.provider == "microsoft":
        login, cache = client.start_device_login()
        print(login.message or f"open {login.verification_uri} and enter {login.user_code}")
        print(f"sign in as {keeper.account}; waiting ...", flush=True)
        return client.finish_device_login(login, cache)
    url, session = client.authorization_url()
    print("1. open this address in a browser on any computer and sign in as "
          f"{keeper.account}:\n\n{url}\n")
    print(f"2. allow access; the browser then tries to open {settings.redirect_uri} and shows "
          "an error page (nothing listens there): that is expected.")
    print("3. copy the whole address from the browser's address bar and paste it here:")
    redirected = sys.stdin.readline()
    return client.finish_authorization(session, redirected)


def login_status(config: Config, keeper: TokenKeeper) -> tuple[list[str], bool]:
    """One line per server and one on the token: login kind, expiry, whether a refresh works."""
    settings = keeper.settings
    lines = [f"{name} {server.username}@{server.host}:{server.port}: "
             f"{_kind(server.auth, settings.provider, settings.flow)}"
             for name, server in (("imap", config.imap), ("smtp", config.smtp))]
    row = keeper.stored()
    if row is None and not settings.app_only:
        return [*lines, f"token: none yet for {keeper.account}; run `inboxd login`"], False
    before = f"valid until {_when(row.expires_at)}" if row and row.access_token else "none"
    try:
        grant = keeper.refresh(row)
    except AuthorizationError as exc:
        return [*lines, f"token for {keeper.account}: {before}; refresh FAILED: {exc}"], False
    return [*lines, f"token for {keeper.account}: {before}; refresh ok (the new one is valid "
                    f"until {_when(grant.expires_at)})"], True


def _kind(auth: str, provider: str, flow: str) -> str:
    return f"oauth2 ({provider}, {flow})" if auth == "oauth2" else "password"


def _when(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
