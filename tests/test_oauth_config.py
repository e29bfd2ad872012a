"""[oauth2], imap.auth / smtp.auth and [alert]: good settings load, a wrong one names its key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from inboxd.config import load_config
from inboxd.errors import ConfigError

BASE = """\
[imap]
host = "outlook.office365.com"
username = "support@contoso.com"
auth = "oauth2"

[smtp]
host = "smtp.office365.com"
username = "support@contoso.com"
auth = "oauth2"
from = "Contoso Support <support@contoso.com>"

[faq]
path = "faq.toml"

[deadlines]
timezone = "Europe/Stockholm"
business_hours = "09:00-17:00"
"""
MICROSOFT = """
[oauth2]
provider = "microsoft"
client_id = "11111111-2222-3333-4444-555555555555"
tenant = "contoso.onmicrosoft.com"
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "inboxd.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_microsoft_device_login_and_the_alert_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, BASE + MICROSOFT)
    assert config.imap.oauth2 and config.smtp.oauth2  # type: ignore[attr-defined]
    oauth = config.oauth2  # type: ignore[attr-defined]
    assert (oauth.provider, oauth.flow) == ("microsoft", "device")
    assert oauth.authority == "https://login.microsoftonline.com/contoso.onmicrosoft.com"
    assert "https://outlook.office.com/IMAP.AccessAsUser.All" in oauth.scopes
    alert = config.alert  # type: ignore[attr-defined]
    assert alert.after == timedelta(minutes=15) and alert.folder == "Support/Alerts"


@pytest.mark.parametrize("change, key", [
    (("", ""), "oauth2"),  # auth = "oauth2" without [oauth2]
    (('auth = "oauth2"', 'auth = "oauth2"\npassword = "x"'), "imap.password"),
    (('auth = "oauth2"', 'auth = "kerberos"'), "imap.auth"),
    (('tenant = "contoso.onmicrosoft.com"', 'tenant = ""'), "oauth2.tenant"),
    (('provider = "microsoft"', 'provider = "yahoo"'), "oauth2.provider"),
    (('tenant = "contoso.onmicrosoft.com"',
      'tenant = "contoso.onmicrosoft.com"\nflow = "client_credentials"'),
     "oauth2.client_secret_env"),
    (('tenant = "contoso.onmicrosoft.com"', 'tenant = "x"\nflow = "browser"'), "oauth2.flow"),
    (('tenant = "contoso.onmicrosoft.com"', 'tenant = "x"\nauthority = "http://x"'),
     "oauth2.authority"),
    (('tenant = "contoso.onmicrosoft.com"', 'tenant = "x"\n\n[alert]\nafter = "soon"'),
     "alert.after"),
    (('tenant = "contoso.onmicrosoft.com"', 'tenant = "x"\n\n[alert]\nto = "nobody"'),
     "alert.to"),
    (('tenant = "contoso.onmicrosoft.com"', 'tenant = "x"\nclient_sekret_env = "X"'),
     "oauth2.client_sekret_env"),
])
def test_a_wrong_oauth2_setting_names_its_key(tmp_path: Path, change: tuple[str, str],
                                              key: str) -> None:
    old, new = change
    text = BASE if not old else (BASE + MICROSOFT).replace(old, new, 1)
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert caught.value.key == key, caught.value


def test_google_needs_its_client_secret_and_a_loopback_redirect(tmp_path: Path) -> None:
    google = '\n[oauth2]\nprovider = "google"\nclient_id = "x.apps.googleusercontent.com"\n'
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, BASE.replace("outlook.office365.com", "imap.gmail.com") + google)
    assert caught.value.key == "oauth2.client_secret_env"
    google += 'client_secret_file = "secret.txt"\n'
    config = load(tmp_path, BASE + google)
    assert config.oauth2.scopes == ("https://mail.google.com/",)  # type: ignore[attr-defined]
    assert config.oauth2.redirect_uri.startswith("http://127.0.0.1")  # type: ignore[attr-defined]
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, BASE + google + 'redirect_uri = "https://example.com/cb"\n')
    assert caught.value.key == "oauth2.redirect_uri"


def test_a_password_login_next_to_an_oauth2_one(tmp_path: Path) -> None:
    text = (BASE + MICROSOFT).replace('username = "support@contoso.com"\nauth = "oauth2"\nfrom',
                                      'username = "support@contoso.com"\npassword = "pw"\nfrom')
    config = load(tmp_path, text)
    assert config.imap.oauth2 and not config.smtp.oauth2  # type: ignore[attr-defined]
    assert config.smtp.password.value == "pw"  # type: ignore[attr-defined]
