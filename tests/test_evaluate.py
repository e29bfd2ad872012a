"""Offline evaluation: reading labelled CSV files and the consistency of the report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from inboxd.errors import InboxdError
from inboxd.model.evaluate import EvalReport, evaluate, format_report, read_labelled_csv

SHARED = Path(os.environ.get("INBOXD_SHARED",
                             Path(__file__).resolve().parents[1].parent / "shared"))
BANKING77 = SHARED / "data" / "banking77"

TRAIN = [
    ("How do I reset my password?", "password"), ("I forgot my password", "password"),
    ("password reset link is broken", "password"), ("cannot log in to my account", "password"),
    ("I want a refund", "refund"), ("give me my money back", "refund"),
    ("refund the payment please", "refund"), ("how do I get a refund for my order", "refund"),
    ("when will my order arrive", "shipping"), ("how long does shipping take", "shipping"),
    ("my package has not been delivered", "shipping"), ("where is my parcel", "shipping"),
    ("do you sell gift cards", "oos"),  # trained as a message no FAQ answers
]
TEST = [
    ("i forgot the password for my account", "password"),
    ("reset my password please", "password"),
    ("can I get a refund for my order", "refund"),
    ("I want my money back", "refund"),
    ("when does my package arrive", "shipping"),
    ("shipping takes too long, where is my order", "shipping"),
    ("tell me a joke about penguins", "oos"),
    ("what is the weather in Paris", ""),
]


def check_consistent(report: EvalReport, n_test: int) -> None:
    shares = [report.accuracy, report.macro_f1, report.auto_answered, report.auto_precision,
              *report.coverage_at_precision.values()]
    assert all(0.0 <= s <= 1.0 for s in shares)
    coverage = report.coverage_at_precision
    assert list(coverage) == ["0.95", "0.97", "0.99"]
    assert coverage["0.95"] >= coverage["0.97"] >= coverage["0.99"]
    assert report.n_test == n_test
    assert report.train_s >= 0 and report.messages_per_s > 0
    assert json.loads(json.dumps(report.to_json())) == report.to_json()


def test_evaluate_small_set_with_a_given_threshold() -> None:
    report = evaluate(TRAIN, TEST, threshold=0.5)
    check_consistent(report, n_test=8)
    assert report.n_train == 12
    assert report.threshold == 0.5
    assert report.accuracy == 1.0  # every in-scope test row is an easy paraphrase
    assert report.oos_left_to_human is not None
    assert report.oos_left_to_human in (0.0, 0.5, 1.0)  # two out-of-scope rows


@pytest.mark.parametrize("threshold,answered,oos_left", [(0.0, 1.0, 0.0), (1.01, 0.0, 1.0)])
def test_threshold_extremes(threshold: float, answered: float, oos_left: float) -> None:
    report = evaluate(TRAIN, TEST, threshold=threshold)
    assert report.auto_answered == answered
    assert report.oos_left_to_human == oos_left
    assert report.auto_precision == (0.75 if answered else 1.0)  # 6 right of 8 answered


def test_threshold_is_chosen_on_training_rows() -> None:
    report = evaluate(TRAIN, TEST, threshold=None, target_precision=0.97)
    check_consistent(report, n_test=8)
    assert report.threshold > 0.0
    assert report.oos_left_to_human is not None


def test_no_out_of_scope_rows_gives_none() -> None:
    in_scope = [row for row in TEST if row[1] not in ("oos", "")]
    report = evaluate(TRAIN, in_scope, threshold=0.5)
    assert report.oos_left_to_human is None


def test_format_report_names_every_figure() -> None:
    text = format_report(evaluate(TRAIN, TEST, threshold=0.5))
    for label in ("accuracy", "macro F1", "threshold", "auto-answered", "97% precision",
                  "out-of-scope left to a human", "messages/s"):
        assert label in text


def test_training_rows_all_out_of_scope_is_an_error() -> None:
    with pytest.raises(InboxdError, match="no in-scope training rows"):
        evaluate([("hello", "oos")], TEST, threshold=0.5)


def test_read_labelled_csv(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text('category,text\nrefund,"I want a refund, now"\n,hello there\n',
                    encoding="utf-8")
    assert read_labelled_csv(path) == [("I want a refund, now", "refund"), ("hello there", "")]


@pytest.mark.parametrize("content,where", [
    ("text,label\nhi,x\n", ":1: header"),
    ("text,category\nhi,x\nthree,fields,here\n", ":3: expected 2 fields, found 3"),
    ("text,category\nhi,x\n  ,y\n", ":3: empty text"),
])
def test_read_labelled_csv_names_the_bad_line(tmp_path: Path, content: str, where: str) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InboxdError, match=f"rows.csv{where}"):
        read_labelled_csv(path)


def test_read_labelled_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InboxdError, match="absent.csv: cannot read"):
        read_labelled_csv(tmp_path / "absent.csv")


@pytest.fixture(scope="module")
def banking_slice() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """20 BANKING77 intents, 5 of them playing questions no FAQ covers: train and test rows."""
    if not (BANKING77 / "train.csv").exists():
        pytest.skip(f"BANKING77 not found under {SHARED} (set INBOXD_SHARED)")
    train = read_labelled_csv(BANKING77 / "train.csv")
    intents = sorted({c for _, c in train})[:20]
    held_out = set(intents[15:])
    pick = lambda rows: [(t, "oos" if c in held_out else c) for t, c in rows if c in intents]
    return pick(train)[::2], pick(read_labelled_csv(BANKING77 / "test.csv"))


def test_banking77_slice_of_20_intents(banking_slice: tuple[list, list]) -> None:
    train, test = banking_slice
    report = evaluate(train, test, threshold=None)
    check_consistent(report, n_test=len(test))
    assert report.accuracy > 0.8
    assert report.oos_left_to_human is not None and report.oos_left_to_human > 0.3


def test_leaving_intents_out_in_cross_validation_keeps_unknown_questions_away(
        banking_slice: tuple[list, list]) -> None:
    train, test = banking_slice
    closed = evaluate(train, test, threshold=None, unknown_share=0.0)
    wary = evaluate(train, test, threshold=None, unknown_share=0.2)
    assert wary.threshold > closed.threshold
    assert wary.oos_left_to_human is not None and closed.oos_left_to_human is not None
    assert wary.oos_left_to_human > closed.oos_left_to_human
    assert wary.accuracy == closed.accuracy, "the model itself is the same"


def test_eval_command_prints_the_json_fields(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from inboxd.cli import main

    for name, rows in (("train.csv", TRAIN), ("test.csv", TEST)):
        lines = ["text,category"] + [f'"{text}",{label}' for text, label in rows]
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = main(["eval", "--train", str(tmp_path / "train.csv"), "--test",
                 str(tmp_path / "test.csv"), "--target-precision", "0.97", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("accuracy", "macro_f1", "threshold", "auto_answered", "auto_precision",
                "coverage_at_precision", "oos_left_to_human", "train_s", "messages_per_s"):
        assert key in report
    assert set(report["coverage_at_precision"]) == {"0.95", "0.97", "0.99"}
    assert 0.0 <= report["accuracy"] <= 1.0 and report["messages_per_s"] > 0
    from inboxd.model import encoder
    assert report["encoder"] == encoder.NAME  # the model used words and meaning
    assert main(["eval", "--train", str(tmp_path / "train.csv"), "--test",
                 str(tmp_path / "test.csv"), "--words-only", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["encoder"] == ""


def test_eval_compares_with_the_answers_of_an_faq_file(tmp_path: Path, embedding_cache: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    from inboxd.cli import main
    from inboxd.model import encoder

    for name, rows in (("train.csv", TRAIN), ("test.csv", TEST)):
        lines = ["text,category"] + [f'"{text}",{label}' for text, label in rows]
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    answer = "Click Forgot password on the login page: we e-mail you a link for a new one."
    (tmp_path / "faq.toml").write_text(
        f'[[faq]]\nid = "password"\nexamples = ["I forgot my password"]\n'
        f'answer.en = "{answer}"\n', encoding="utf-8")
    args = ["eval", "--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv"),
            "--json", "--answers-from"]
    assert main(args + [str(tmp_path / "missing.toml")]) == 2
    assert "FAQ file not found" in capsys.readouterr().err
    assert main(args + [str(tmp_path / "faq.toml")]) == 0
    assert json.loads(capsys.readouterr().out)["encoder"] == encoder.NAME
    with sqlite3.connect(embedding_cache) as db:  # the answer was embedded, as a passage
        assert db.execute("SELECT count(*) FROM embedding WHERE encoder = ? AND text = ?",
                          (encoder.PASSAGE_NAME, answer)).fetchone() == (1,)


def test_suggestions_below_the_threshold() -> None:
    report = evaluate(TRAIN, TEST, threshold=1.01, suggest_threshold=0.01)
    s = report.suggestions
    assert s is not None and s.below_threshold == 8, "nothing is answered at 1.01"
    assert s.suggested == 1.0 and s.right == 0.75, "the six in-scope rows are right, oos not"
    assert s.right_of_below == 1.0
    off = evaluate(TRAIN, TEST, threshold=1.01, suggest_threshold=0.0).suggestions
    assert off is not None and (off.suggested, off.right, off.right_of_below) == (0.0, 1.0, 0.0)
    assert evaluate(TRAIN, TEST, threshold=0.5).suggestions is None
    assert "drafts with the right FAQ" in format_report(report)


def test_out_of_scope_training_rows_teach_what_no_faq_answers() -> None:
    off_topic = [("tell me a joke about penguins", "oos"), ("a joke about cats please", "oos"),
                 ("do you know a good joke", "oos"), ("tell me a funny joke", "oos")]
    asked = [("tell me a joke about dogs", "oos"), ("any joke about a cat?", "")]
    without = evaluate(TRAIN[:-1], asked, threshold=0.5)
    taught = evaluate(TRAIN[:-1] + off_topic, asked, threshold=0.5)
    assert taught.n_train == without.n_train == len(TRAIN) - 1  # in-scope rows only
    assert without.oos_left_to_human == 0.0  # nearest FAQ answered: nothing said otherwise
    assert taught.oos_left_to_human == 1.0
