"""``check`` validates what ``run`` validates: problems that need the FAQ file or a library
(holiday calendars, team names) stop both with the key named and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from inboxd.cli import main

CONFIG = """\
[imap]
host = "127.0.0.1"
port = 9
security = "none"
username = "support@example.test"
password = "x"

[smtp]
host = "127.0.0.1"
port = 9
security = "none"
username = ""
password = ""
from = "Support <support@example.test>"

[faq]
path = "faq.toml"
threshold = 0.5

[deadlines]
timezone = "Europe/Stockholm"
business_hours = "09:00-17:00"
"""

FAQ = """\
[[faq]]
id = "shipping-time"
team = "orders"
examples = ["How long does delivery take?"]
answer.en = "Two days."

[[rule]]
phrases = ["refund*"]
route = "human"
team = "billing"
"""

CASES = [
    ("holidays", CONFIG.replace('timezone =', 'holidays = "XX"\ntimezone ='),
     "deadlines.holidays", 'unknown country code "XX"'),
    ("notify team", CONFIG + '\n[notify]\nteam_addresses.ordres = "orders@example.test"\n',
     "notify.team_addresses.ordres", "no FAQ entry or rule in faq.toml has team 'ordres'"),
    ("relay team", CONFIG + '\n[relay]\ndefault_addresses = ["team@example.test"]\n'
                            'team_addresses.sales = ["sales@example.test"]\n',
     "relay.team_addresses.sales", "teams: billing, orders"),
    ("store in a file", CONFIG + '\n[store]\npath = "faq.toml/inboxd.sqlite3"\n',
     "store.path", "is not a writable folder"),
    ("store is a folder", CONFIG + '\n[store]\npath = "."\n',
     "store.path", "is not a file inboxd can read and write"),
    ("store is another file", CONFIG + '\n[store]\npath = "faq.toml"\n',
     "store.path", "is not an SQLite database"),
]


@pytest.mark.parametrize("command", ["check", "once"])
@pytest.mark.parametrize("case, text, key, words", CASES, ids=[c[0] for c in CASES])
def test_check_and_run_refuse_the_same_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               command: str, case: str, text: str, key: str,
                                               words: str) -> None:
    (tmp_path / "faq.toml").write_text(FAQ, encoding="utf-8")
    (tmp_path / "inboxd.toml").write_text(text, encoding="utf-8")
    assert main(["-c", str(tmp_path / "inboxd.toml"), command]) == 2
    err = capsys.readouterr().err
    assert f"configuration error: {key}:" in err
    assert words in err


def test_team_addresses_of_rule_and_faq_teams_pass(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "faq.toml").write_text(FAQ, encoding="utf-8")
    (tmp_path / "inboxd.toml").write_text(
        CONFIG + '\n[notify]\nteam_addresses.orders = "o@example.test"\n'
                 'team_addresses.billing = "b@example.test"\n', encoding="utf-8")
    main(["-c", str(tmp_path / "inboxd.toml"), "check"])
    out = capsys.readouterr().out
    assert "faq" in out and "ok (1 entries" in out


def test_check_loads_the_model_as_run_does(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "faq.toml").write_text(FAQ, encoding="utf-8")
    (tmp_path / "inboxd.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "faq-model.npz").write_bytes(b"not a model")
    assert main(["-c", str(tmp_path / "inboxd.toml"), "check"]) == 2
    assert "run `inboxd train`" in capsys.readouterr().err
    assert main(["-c", str(tmp_path / "inboxd.toml"), "once"]) == 2
    assert "run `inboxd train`" in capsys.readouterr().err
