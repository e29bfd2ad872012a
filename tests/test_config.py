"""A wrong configuration names its TOML key and exits with code 2; a good one loads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from inboxd.cli import main
from inboxd.config import load_config

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
[imap]
host = "imap.example.com"
username = "support@example.com"
password = "imap-secret-value"

[smtp]
host = "smtp.example.com"
username = "support@example.com"
password_env = "INBOXD_TEST_SMTP_PASSWORD"
from = "Example Support <support@example.com>"

[faq]
path = "faq.toml"

[deadlines]
timezone = "Europe/Stockholm"
business_hours = "09:00-17:00"
business_days = ["mon", "tue", "wed", "thu", "fri"]
"""


@pytest.fixture(autouse=True)
def smtp_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOXD_TEST_SMTP_PASSWORD", "smtp-secret-value")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inboxd.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_loads_with_defaults_and_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.imap.port == 993 and config.imap.security == "tls"
    assert config.smtp.port == 587 and config.smtp.security == "starttls"
    assert config.imap.password.value == "imap-secret-value"
    assert config.smtp.password.value == "smtp-secret-value"
    assert config.faq.path == tmp_path / "faq.toml"
    assert config.store_path == tmp_path / "inboxd.sqlite3"
    assert config.folders.queue == "Support/Queue"
    assert config.support_address == "support@example.com"
    assert config.deadlines.business_hours["fri"] == "09:00-17:00"
    assert "sat" not in config.deadlines.business_hours


def test_example_config_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOXD_IMAP_PASSWORD", "x")
    monkeypatch.setenv("INBOXD_SMTP_PASSWORD", "y")
    shutil.copy(ROOT / "config.example.toml", tmp_path / "inboxd.toml")
    config = load_config(tmp_path / "inboxd.toml")
    assert config.imap.host == "imap.example.com"
    assert config.faq.threshold == 0.6


def test_passwords_never_show(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert "imap-secret-value" not in repr(config)
    assert "smtp-secret-value" not in str(config)


BAD = [
    ("port", GOOD.replace('host = "imap.example.com"', 'host = "imap.example.com"\nport = "993"'),
     "imap.port", "must be an integer"),
    ("port range", GOOD.replace('host = "imap.example.com"',
                                'host = "imap.example.com"\nport = 70000'), "imap.port", "65535"),
    ("security", GOOD.replace('host = "imap.example.com"',
                              'host = "imap.example.com"\nsecurity = "ssl"'),
     "imap.security", "must be one of"),
    ("clear text remote", GOOD.replace('host = "smtp.example.com"',
                                       'host = "smtp.example.com"\nsecurity = "none"'),
     "smtp.security", "loopback"),
    ("missing host", GOOD.replace('host = "imap.example.com"\n', ""), "imap.host", "missing"),
    ("typo", GOOD.replace("[faq]", "[faq]\ntreshold = 0.7"), "faq.treshold", "unknown key"),
    ("threshold", GOOD.replace("[faq]", "[faq]\nthreshold = 1.5"), "faq.threshold",
     "between 0 and 1"),
    ("timezone", GOOD.replace("Europe/Stockholm", "Mars/Olympus"), "deadlines.timezone",
     "unknown time zone"),
    ("hours", GOOD.replace('"09:00-17:00"', '"17:00-09:00"'), "deadlines.business_hours", ""),
    ("weekday", GOOD.replace('"fri"]', '"friday"]'), "deadlines.business_days[4]",
     "must be one of"),
    ("password env", GOOD.replace("INBOXD_TEST_SMTP_PASSWORD", "INBOXD_NOT_SET_ANYWHERE"),
     "smtp.password_env", "INBOXD_NOT_SET_ANYWHERE is not set"),
    ("two passwords", GOOD.replace('password = "imap-secret-value"',
                                   'password = "a"\npassword_env = "B"'),
     "imap.password_env", "exactly one"),
    ("sender", GOOD.replace('from = "Example Support <support@example.com>"', 'from = "nobody"'),
     "smtp.from", "address"),
    ("backlog", GOOD + '\n[policy]\nbacklog = "answer"\n', "policy.backlog", "must be one of"),
    ("unknown table", GOOD + "\n[imapp]\nhost = 1\n", "imapp", "unknown key"),
    ("not toml", "[imap\nhost=", "config", "not valid TOML"),
    # a misspelt key beside a required one is reported as the unknown key it is
    ("misspelt password key", GOOD.replace('password = "imap-secret-value"',
                                           'pasword_env = "INBOXD_TEST_SMTP_PASSWORD"'),
     "imap.pasword_env", "unknown key"),
    ("misspelt required key", GOOD.replace('host = "imap.example.com"', 'hots = "imap.example.com"'),
     "imap.hots", "unknown key (check its spelling: imap.host?)"),
    ("misspelt required table", GOOD.replace("[imap]", "[imapp]"), "imapp", "unknown key"),
]


@pytest.mark.parametrize("case, text, key, words", BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_the_key_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              case: str, text: str, key: str, words: str) -> None:
    path = write(tmp_path, text)
    assert main(["-c", str(path), "tickets"]) == 2
    err = capsys.readouterr().err
    assert f"configuration error: {key}:" in err
    assert words in err
    assert "imap-secret-value" not in err and "smtp-secret-value" not in err


def test_missing_config_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", str(tmp_path / "nope.toml"), "tickets"]) == 2
    assert "nope.toml" in capsys.readouterr().err


FAQ_BAD = [
    ('[[faq]]\nid = "Bad Id"\nexamples = ["x"]\nanswer.en = "y"\n', "faq[0].id"),
    ('[[faq]]\nid = "a"\nexamples = []\nanswer.en = "y"\n', "faq[0] (a).examples"),
    ('[[faq]]\nid = "a"\nexamples = ["x"]\n', "faq[0] (a).answer"),
    ('[[faq]]\nid = "a"\nexamples = ["x"]\nanswer.english = "y"\n', "faq[0] (a).answer.english"),
    ('[[faq]]\nid = "a"\nexamples = ["x"]\nanswer.en = "y"\n[[faq]]\nid = "a"\n'
     'examples = ["z"]\nanswer.en = "w"\n', "faq[1].id"),
]


@pytest.mark.parametrize("faq, key", FAQ_BAD)
def test_bad_faq_names_the_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str], faq: str,
                                 key: str) -> None:
    (tmp_path / "faq.toml").write_text(faq, encoding="utf-8")
    assert main(["-c", str(write(tmp_path, GOOD)), "train"]) == 2
    assert key in capsys.readouterr().err
