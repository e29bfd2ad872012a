"""The command line as an operator meets it: help, check against real servers, classify from stdin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from harness import Installation, mail
from servers import Dovecot, SmtpServer

from inboxd.cli import build_parser, main

COMMANDS = ["run", "once", "train", "classify", "tickets", "ticket", "check", "demo", "eval",
            "gaps", "forget"]


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


def test_check_logs_in_to_both_servers(tmp_path: Path, fresh_dovecot: Dovecot,
                                       fresh_smtp: SmtpServer,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp)
    setup.train()
    capsys.readouterr()
    assert setup.run("check") == 0
    out = capsys.readouterr().out
    assert "imap support@example.test" in out and "login ok" in out
    assert "smtp" in out and "model" in out


def test_check_reports_a_refused_login_without_the_password(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp,
                         imap={"password": "wrong-Pa55word"})
    setup.train()
    capsys.readouterr()
    assert setup.run("check") == 1
    captured = capsys.readouterr()
    assert "imap" in captured.err
    assert "wrong-Pa55word" not in captured.err + captured.out


def test_check_without_a_model_says_to_train(tmp_path: Path, fresh_dovecot: Dovecot,
                                             fresh_smtp: SmtpServer,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp)
    assert setup.run("check") == 2  # a model problem, as the README says
    captured = capsys.readouterr()
    assert "missing: run `inboxd train`" in captured.err
    assert "imap support@example.test" in captured.out and "login ok" in captured.out  # tried


def test_run_without_a_model_is_a_clear_error(tmp_path: Path, fresh_dovecot: Dovecot,
                                              fresh_smtp: SmtpServer,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp)
    assert setup.run("once") == 2
    assert "inboxd train" in capsys.readouterr().err


def test_classify_reads_standard_input(tmp_path: Path, fresh_dovecot: Dovecot,
                                       fresh_smtp: SmtpServer) -> None:
    setup = Installation(tmp_path, fresh_dovecot, fresh_smtp)
    setup.train()
    question = mail("customer@example.test", "Lösenord", "Jag har glömt mitt lösenord, hjälp!")
    result = subprocess.run([sys.executable, "-m", "inboxd", "-c", str(setup.config_path),
                             "classify", "-", "--json"], input=question, capture_output=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert (decision["decision"], decision["faq"], decision["language"]) == \
        ("AutoAnswer", "password-reset", "sv")


def trained_with_template(tmp_path: Path, dovecot: Dovecot, smtp: SmtpServer, name: str,
                          text: str) -> tuple[Installation, Path]:
    """An installation with a templates folder holding one operator template, trained; and
    that template's path."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / name).write_text(text)
    setup = Installation(tmp_path, dovecot, smtp, templates={"path": str(templates)})
    setup.train()
    return setup, templates / name


def test_check_names_a_broken_operator_template(tmp_path: Path, fresh_dovecot: Dovecot,
                                                fresh_smtp: SmtpServer,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    setup, _ = trained_with_template(tmp_path, fresh_dovecot, fresh_smtp, "auto_answer.sv.txt.j2",
                                     "Hej {{ customer_name }\n")
    capsys.readouterr()
    assert setup.run("check") == 2  # a configuration problem, like a wrong key
    captured = capsys.readouterr()
    assert "auto_answer.sv.txt.j2:1:" in captured.err
    assert "templates: 1 with errors" in captured.out


def test_check_names_a_template_variable_inboxd_does_not_give(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup, typo = trained_with_template(
        tmp_path, fresh_dovecot, fresh_smtp, "acknowledgement.en.txt.j2",
        "Hello {{ customer_name }},\nyour ticket is #{{ ticket_number }}.\n")
    capsys.readouterr()
    assert setup.run("check") == 2
    captured = capsys.readouterr()
    assert f"{typo}:2: unknown variable 'ticket_number'" in captured.err
    assert "templates: 1 with errors" in captured.out
    setup.send(mail("customer@example.test", "Lamp", "My lamp arrived broken."))
    assert setup.run("once") == 2  # refused at start, not every acknowledgement failing
    assert fresh_smtp.received == []


def test_once_and_run_refuse_to_start_with_a_broken_template(
        tmp_path: Path, fresh_dovecot: Dovecot, fresh_smtp: SmtpServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    setup, broken = trained_with_template(
        tmp_path, fresh_dovecot, fresh_smtp, "acknowledgement.en.txt.j2",
        "Hello {{ customer_name }},\n{% if ticket_id %}\nyour ticket\n")
    setup.send(mail("customer@example.test", "Lamp", "My lamp arrived broken."))
    capsys.readouterr()
    assert setup.run("once") == 2
    err = capsys.readouterr().err
    assert f"inboxd: configuration error: {broken}:2: " in err and "endif" in err
    run = setup.run_process("run", timeout_s=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{broken}:2: " in run.stderr and "watching" not in run.stderr
    assert fresh_smtp.received == [], "nothing was sent"
    assert setup.run("once", "--dry-run") == 0  # looking is still possible


def test_tickets_with_an_unknown_state_names_the_valid_ones(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["-c", str(tmp_path / "inboxd.toml"), "tickets", "--state", "bogus"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "'bogus'" in err
    for state in ("open", "answered", "resolved", "closed"):
        assert state in err


def test_common_options_given_before_the_command_are_kept_when_not_repeated_after() -> None:
    args = build_parser().parse_args(["-c", "a.toml", "-v", "-q", "tickets"])
    assert (args.config, args.verbose, args.quiet) == (Path("a.toml"), 1, True)
    args = build_parser().parse_args(["tickets", "-vv"])
    assert (args.config, args.verbose, args.quiet) == (None, 2, False)


def offline_config(tmp_path: Path, extra: str = "") -> str:
    """A valid configuration for commands that only read files and the store."""
    from test_config import GOOD, write

    (tmp_path / "faq.toml").write_text('[[faq]]\nid = "a"\nexamples = ["x"]\nanswer.en = "A"\n')
    return str(write(tmp_path, GOOD + extra))


@pytest.mark.parametrize("argv, words", [
    (["tickets"], "no store yet"),
    (["ticket", "3"], "no store yet"),
    (["gaps"], "no store yet"),
    (["classify", "{tmp}/missing.eml"], "cannot read"),
    (["classify", "{tmp}"], "cannot read"),
])
def test_a_command_on_a_missing_file_says_so_without_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    config = offline_config(tmp_path)
    assert main(["-c", config, *(a.format(tmp=tmp_path) for a in argv)]) == 1
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (tmp_path / "inboxd.sqlite3").exists(), "a reading command creates no store"


def test_a_store_or_model_path_through_a_file_is_a_clear_error(tmp_path: Path) -> None:
    from inboxd.errors import ModelError, StoreError
    from inboxd.model.modelfile import training_lock
    from inboxd.store import Store

    (tmp_path / "faq.toml").write_text("")
    with pytest.raises(StoreError, match="cannot open the store .*check store.path"):
        Store(tmp_path / "faq.toml" / "inboxd.sqlite3")
    with pytest.raises(ModelError, match="cannot write the model .*check faq.model"):
        with training_lock(tmp_path / "faq.toml" / "model.npz"):
            pass


@pytest.mark.parametrize("argv", [
    ["ticket", "99999999999999999999"], ["ticket", "0"], ["gaps", "--days", "-1"],
    ["gaps", "--top", "0"], ["gaps", "--days", "99999999"], ["report", "--days", "99999999"],
    ["tickets", "--due-within", "99999999d"],
    ["eval", "--train", "a.csv", "--test", "b.csv", "--threshold", "2"],
    ["eval", "--train", "a.csv", "--test", "b.csv", "--target-precision", "5"],
])
def test_numbers_out_of_range_are_refused_by_the_command_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["-c", str(tmp_path / "inboxd.toml"), *argv])
    assert exit_info.value.code == 2
    assert "argument" in capsys.readouterr().err
