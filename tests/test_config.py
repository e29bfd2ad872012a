"""A wrong configuration names its TOML key and exits with code 2; a good one loads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from inboxd.cli import main
from inboxd.config import load_config
from inboxd.errors import ConfigError

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


@pytest.mark.parametrize("section", ["imap", "smtp"])
def test_a_ca_file_that_holds_no_certificate_is_named(tmp_path: Path, section: str) -> None:
    (tmp_path / "not-a-ca.pem").write_text("[faq]\nthis is no certificate\n")
    text = GOOD.replace(f"[{section}]\n", f'[{section}]\nca_file = "not-a-ca.pem"\n')
    with pytest.raises(ConfigError) as bad:
        load_config(write(tmp_path, text))
    assert bad.value.key == f"{section}.ca_file"
    assert "holds no certificate" in str(bad.value)


def test_the_faq_file_defaults_to_faq_toml_beside_the_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD.replace('path = "faq.toml"\n', "")))
    assert config.faq.path == tmp_path / "faq.toml"


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
    ("infinite timeout", GOOD.replace("[smtp]", "timeout_s = inf\n\n[smtp]"), "imap.timeout_s",
     "finite"),
    ("duration of ages", GOOD + '[policy]\nclose_after = "99999999d"\n', "policy.close_after",
     "ten years"),
    ("default language", GOOD.replace("[faq]", '[faq]\ndefault_language = "english"'),
     "faq.default_language", "ISO 639-1"),
    ("empty imap username", GOOD.replace('username = "support@example.com"\npassword = "imap',
                                         'username = ""\npassword = "imap'),
     "imap.username", "must not be empty"),
    ("no business days", GOOD.replace('["mon", "tue", "wed", "thu", "fri"]', "[]"),
     "deadlines.business_days", "no business hours in the week"),
    ("no business hours", GOOD.replace('business_hours = "09:00-17:00"', "business_hours = {}"),
     "deadlines.business_hours", "no business hours in the week"),
    ("queue is the inbox", GOOD + '[folders]\nqueue = "INBOX"\n', "folders.queue",
     "the same folder as imap.inbox"),
    ("queue is the inbox in lower case", GOOD + '[folders]\nqueue = "inbox"\n', "folders.queue",
     "the same folder as imap.inbox"),
    ("two folders in one", GOOD + '[folders]\ndone = "Support/Answered"\n', "folders.done",
     "the same folder as folders.answered"),
    ("a folder is a custom inbox", GOOD.replace("[smtp]", 'inbox = "Support"\n\n[smtp]')
     + '[folders]\nautomated = "Support"\n', "folders.automated", "the same folder as imap.inbox"),
    ("password without username", GOOD.replace('username = "support@example.com"\n'
                                               'password_env', "password_env"),
     "smtp.password_env", "is set but smtp.username is not"),
    ("password with empty username", GOOD.replace('username = "support@example.com"\n'
                                                  'password_env', 'username = ""\npassword_env'),
     "smtp.password_env", "remove smtp.password_env to send without a login"),
    ("password file without username", GOOD.replace(
        'username = "support@example.com"\npassword_env = "INBOXD_TEST_SMTP_PASSWORD"',
        'password_file = "smtp-password"'), "smtp.password_file", "smtp.username"),
    ("imap needs a login", GOOD.replace('username = "support@example.com"\npassword = "imap',
                                        'password = "imap'), "imap.username", "missing"),
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



@pytest.mark.parametrize("argv", [["-c", "{path}", "check"], ["check", "-c", "{path}"],
                                  ["check", "--config", "{path}"]])
def test_the_config_option_is_taken_before_or_after_the_command(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    path = write(tmp_path, GOOD.replace('path = "faq.toml"',
                                        'path = "faq.toml"\ntarget_precision = 1.5'))
    assert main([arg.format(path=path) for arg in argv]) == 2
    assert "configuration error: faq.target_precision:" in capsys.readouterr().err

SMTP_LOGIN = 'username = "support@example.com"\npassword_env = "INBOXD_TEST_SMTP_PASSWORD"\n'


@pytest.mark.parametrize("login", ["", 'username = ""\n', 'username = ""\npassword = ""\n'],
                         ids=["omitted", "empty username", "both empty"])
def test_smtp_without_a_username_sends_without_a_login(tmp_path: Path, login: str) -> None:
    config = load_config(write(tmp_path, GOOD.replace(SMTP_LOGIN, login)))
    assert config.smtp.username == "" and config.smtp.password.value == ""
    assert config.imap.username == "support@example.com"


def test_passwords_are_read_when_a_connection_needs_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = GOOD.replace('password = "imap-secret-value"', 'password_file = "imap-password"')
    config = load_config(write(tmp_path, text))  # neither the variable nor the file is needed
    monkeypatch.delenv("INBOXD_TEST_SMTP_PASSWORD")
    with pytest.raises(ConfigError) as unset:
        config.smtp.password.value
    assert unset.value.key == "smtp.password_env"
    assert "INBOXD_TEST_SMTP_PASSWORD is not set" in str(unset.value)
    with pytest.raises(ConfigError) as unreadable:
        config.imap.password.value
    assert unreadable.value.key == "imap.password_file"
    (tmp_path / "imap-password").write_text("from-a-file\n")
    monkeypatch.setenv("INBOXD_TEST_SMTP_PASSWORD", "set-later")
    assert (config.imap.password.value, config.smtp.password.value) == ("from-a-file", "set-later")
    (tmp_path / "imap-password").write_text("first-line\nrotated 2026-11-01 by Kim\n")
    assert config.imap.password.value == "first-line"
    for content, problem in ((b"\xff\xfe\x00pw", "is not UTF-8 text"), (b"\n \n", "is empty")):
        (tmp_path / "imap-password").write_bytes(content)
        with pytest.raises(ConfigError) as bad:
            config.imap.password.value
        assert bad.value.key == "imap.password_file" and problem in str(bad.value)


@pytest.mark.parametrize("command", [["once"], ["once", "--dry-run"], ["run"], ["check"]])
def test_a_command_that_connects_names_the_unset_password_variable(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        command: list[str]) -> None:
    text = GOOD.replace('password = "imap-secret-value"', 'password_env = "INBOXD_TEST_UNSET"') \
        .replace('host = "smtp.example.com"', 'host = "127.0.0.1"\nport = 9')  # nothing there
    monkeypatch.delenv("INBOXD_TEST_UNSET", raising=False)
    (tmp_path / "faq.toml").write_text('[[faq]]\nid = "a"\nexamples = ["x"]\nanswer.en = "A"\n')
    assert main(["-c", str(write(tmp_path, text)), *command]) == 2
    err = capsys.readouterr().err
    assert "imap.password_env: environment variable INBOXD_TEST_UNSET is not set" in err


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
